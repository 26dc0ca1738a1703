//! `hearth inspect`: what a GGUF file holds — a model summary, the metadata, a tensor
//! table with a per-type summary — as text tables or one JSON object.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::json;

use crate::cli::{resolve_model, InspectArgs};
use crate::error::Result;
use crate::gguf::{file_type_name, GgufFile, Metadata, Value};
use crate::modes::output;
use crate::quant::GgmlType;

pub fn run(args: &InspectArgs) -> Result<()> {
    let path = resolve_model(&args.model)?;
    let file = GgufFile::open(&path)?;
    if args.json {
        output::print_json(&to_json(&file))
    } else {
        output::print(&to_text(&file, args.full))
    }
}

/// Per-type totals: number of tensors, elements, bytes.
fn type_summary(file: &GgufFile) -> BTreeMap<GgmlType, (usize, u64, u64)> {
    let mut by_type = BTreeMap::new();
    for t in file.tensors() {
        let e = by_type.entry(t.ty).or_insert((0, 0, 0));
        *e = (e.0 + 1, e.1 + t.n_elems, e.2 + t.n_bytes);
    }
    by_type
}

/// The model-level facts a user asks first, as (label, value) pairs.
fn summary(file: &GgufFile) -> Vec<(&'static str, String)> {
    let m = file.metadata();
    let arch = m.get_str_opt("general.architecture").ok().flatten().unwrap_or("?");
    let arch_key = |k: &str| m.get(&format!("{arch}.{k}")).map(|v| v.summary(40));
    let mut rows = vec![
        ("architecture", arch.to_string()),
        ("name", m.get_str_opt("general.name").ok().flatten().unwrap_or("-").to_string()),
        ("parameters", human_count(file.n_params())),
        ("file type", file_type(m)),
    ];
    let hparams = [
        ("context length", "context_length"),
        ("layers", "block_count"),
        ("embedding", "embedding_length"),
        ("feed forward", "feed_forward_length"),
        ("heads", "attention.head_count"),
        ("kv heads", "attention.head_count_kv"),
        ("experts", "expert_count"),
        ("experts used", "expert_used_count"),
    ];
    for (label, key) in hparams {
        if let Some(v) = arch_key(key) {
            rows.push((label, v));
        }
    }
    if let Some(pattern) = layer_pattern(m) {
        rows.push(("layer pattern", pattern));
    }
    rows.push(("tokenizer", tokenizer_summary(m)));
    rows.push(("chat template", chat_template_summary(m)));
    rows
}

/// A hybrid model's layers: how many are gated DeltaNet (R) and attention (A), the
/// repeating unit, and the multi-token-prediction blocks hearth does not run.
fn layer_pattern(m: &Metadata) -> Option<String> {
    let hp = crate::model::HParams::from_metadata(m).ok()?;
    hp.ssm.as_ref()?;
    let marks: Vec<&str> =
        (0..hp.n_layer).map(|il| if hp.is_recurrent(il) { "R" } else { "A" }).collect();
    let n_rec = marks.iter().filter(|&&x| x == "R").count();
    let unit = (1..=marks.len())
        .find(|&u| marks.len().is_multiple_of(u) && marks.chunks(u).all(|c| c == &marks[..u]))
        .unwrap_or(marks.len());
    let times = marks.len() / unit.max(1);
    let repeat = if times > 1 { format!(" ×{times}") } else { String::new() };
    let mtp =
        if hp.n_layer_nextn > 0 { format!(", {} MTP", hp.n_layer_nextn) } else { String::new() };
    Some(format!(
        "{n_rec} gated DeltaNet + {} attention ({}){repeat}{mtp}",
        marks.len() - n_rec,
        marks[..unit].join(" ")
    ))
}

fn file_type(m: &Metadata) -> String {
    match m.get_u32_opt("general.file_type") {
        Ok(Some(ft)) => match file_type_name(ft) {
            Some(name) => name.to_string(),
            None => format!("unknown ({ft})"),
        },
        _ => "-".to_string(),
    }
}

fn tokenizer_summary(m: &Metadata) -> String {
    let Ok(Some(model)) = m.get_str_opt("tokenizer.ggml.model") else {
        return "none".to_string();
    };
    let n_vocab = m.get_array("tokenizer.ggml.tokens").map(|a| a.len()).unwrap_or(0);
    match m.get_str_opt("tokenizer.ggml.pre") {
        Ok(Some(pre)) => format!("{model} (pre {pre}), {n_vocab} tokens"),
        _ => format!("{model}, {n_vocab} tokens"),
    }
}

fn chat_template_summary(m: &Metadata) -> String {
    match m.get_str_opt("tokenizer.chat_template") {
        Ok(Some(t)) => format!("yes ({} bytes)", t.len()),
        _ => "no".to_string(),
    }
}

fn human_count(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.2} B", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.2} M", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.2} K", n as f64 / 1e3),
        n => n.to_string(),
    }
}

fn shape(dims: &[u64]) -> String {
    let parts: Vec<String> = dims.iter().map(u64::to_string).collect();
    format!("[{}]", parts.join(", "))
}

fn to_text(file: &GgufFile, full: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: GGUF v{}, {}, {} metadata keys, {} tensors, alignment {}\n",
        file.path().display(),
        file.version(),
        output::human_bytes(file.file_size()),
        file.metadata().len(),
        file.tensors().len(),
        file.alignment()
    );
    for (label, value) in summary(file) {
        let _ = writeln!(s, "{label:>15}: {value}");
    }
    let _ = writeln!(s, "\nmetadata:");
    for (key, value) in file.metadata().iter() {
        let shown = if full { full_value(value) } else { value.summary(60) };
        let _ = writeln!(s, "  {key:<44} {:<14} {shown}", value.type_name());
    }
    let _ = writeln!(s, "\ntensors:");
    let name_w = file.tensors().iter().map(|t| t.name.len()).max().unwrap_or(4).max(4);
    let _ = writeln!(s, "  {:<name_w$}  {:<22} {:<8} {:>12}", "name", "shape", "type", "bytes");
    for t in file.tensors() {
        let _ = writeln!(
            s,
            "  {:<name_w$}  {:<22} {:<8} {:>12}",
            t.name,
            shape(&t.dims),
            t.ty.name(),
            t.n_bytes
        );
    }
    let _ = writeln!(s, "\nby type:");
    let total: u64 = file.tensors().iter().map(|t| t.n_bytes).sum();
    for (ty, (count, elems, bytes)) in type_summary(file) {
        let pct = 100.0 * bytes as f64 / total.max(1) as f64;
        let _ = writeln!(
            s,
            "  {:<8} {count:>5} tensors {:>12} params {:>12} {pct:>5.1}%",
            ty.name(),
            human_count(elems),
            output::human_bytes(bytes)
        );
    }
    s
}

fn full_value(value: &Value) -> String {
    match value {
        Value::String(text) => format!("{text:?}"),
        other => other.to_json().to_string(),
    }
}

fn to_json(file: &GgufFile) -> serde_json::Value {
    let m = file.metadata();
    let metadata: serde_json::Map<String, serde_json::Value> =
        m.iter().map(|(k, v)| (k.to_string(), v.to_json())).collect();
    let tensors: Vec<serde_json::Value> = file
        .tensors()
        .iter()
        .map(|t| {
            json!({"name": t.name, "shape": t.dims, "type": t.ty.name(),
                   "offset": t.offset, "bytes": t.n_bytes})
        })
        .collect();
    let by_type: serde_json::Map<String, serde_json::Value> = type_summary(file)
        .into_iter()
        .map(|(ty, (count, elems, bytes))| {
            (ty.name().to_string(), json!({"tensors": count, "params": elems, "bytes": bytes}))
        })
        .collect();
    json!({
        "file": file.path().display().to_string(),
        "version": file.version(),
        "file_size": file.file_size(),
        "alignment": file.alignment(),
        "data_offset": file.data_offset(),
        "architecture": m.get_str_opt("general.architecture").ok().flatten(),
        "name": m.get_str_opt("general.name").ok().flatten(),
        "n_params": file.n_params(),
        "file_type": m.get_u32_opt("general.file_type").ok().flatten().and_then(file_type_name),
        "chat_template": m.contains("tokenizer.chat_template"),
        "tensor_count": file.tensors().len(),
        "metadata": metadata,
        "tensors": tensors,
        "by_type": by_type,
    })
}
