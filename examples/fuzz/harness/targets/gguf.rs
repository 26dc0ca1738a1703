//! The GGUF reader: any bytes give a validated file or a one-line error. A file that
//! parses keeps its promises: every tensor's data view has its byte size, lies in the
//! file and is found by name; every metadata value renders; hparams read or fail cleanly.

use hearth::gguf::{file_type_name, GgufFile, Value};
use hearth::model::HParams;

use super::super::mutate::Rng;
use super::super::{class_of, Target};
use super::gguf_fields;

pub struct Gguf;

/// An error as the user sees it: one line.
fn one_line(what: &str, message: String) {
    assert!(!message.contains(['\n', '\r']), "{what} error is not one line: {message:?}");
}

impl Target for Gguf {
    fn name(&self) -> &'static str {
        "gguf"
    }

    fn max_len(&self) -> usize {
        64 << 10
    }

    fn dictionary(&self) -> Vec<Vec<u8>> {
        let words: &[&[u8]] = &[
            b"GGUF",
            b"general.alignment",
            b"general.architecture",
            b"llama",
            b"tokenizer.ggml.tokens",
            b"\x08\x00\x00\x00",
            b"\x09\x00\x00\x00",
            b"\x20\x00\x00\x00\x00\x00\x00\x00",
        ];
        words.iter().map(|w| w.to_vec()).collect()
    }

    fn mutate(&self, rng: &mut Rng, data: &mut Vec<u8>) -> bool {
        gguf_fields::mutate(rng, data)
    }

    fn run(&mut self, input: &[u8]) -> String {
        let file = match GgufFile::from_bytes("fuzz.gguf", input.to_vec()) {
            Ok(file) => file,
            Err(e) => {
                one_line("reader", e.to_string());
                return class_of(e.message());
            }
        };
        check_tensors(&file);
        // Features of a file that parses: its version, alignment, types of tensors and values.
        let mut class = format!("ok v{} align {}", file.version(), file.alignment());
        for t in file.tensors() {
            class.push_str(&format!("\ntensor {}", t.ty.name()));
        }
        for (key, value) in file.metadata().iter() {
            class.push_str(&format!("\nvalue {}", value.type_name()));
            render(key, value);
            let _ = file.metadata().get_u32(key);
            let _ = file.metadata().get_str_array(key);
            let _ = file.metadata().get_f32(key);
        }
        if let Ok(Some(ftype)) = file.metadata().get_u32_opt("general.file_type") {
            let _ = file_type_name(ftype);
        }
        match HParams::from_metadata(file.metadata()) {
            Ok(hp) => {
                let _ = (hp.n_embd_k_gqa(), hp.n_embd_v_gqa(), hp.is_moe());
                class.push_str(&format!("\nhparams of {}", class_of(&hp.arch)));
            }
            Err(e) => {
                one_line("hparams", e.to_string());
                class.push_str(&format!("\nhparams: {}", class_of(e.message())));
            }
        }
        class
    }
}

fn check_tensors(file: &GgufFile) {
    let mut total = 0u64;
    for t in file.tensors() {
        let data = file.tensor_data(t);
        assert_eq!(data.len() as u64, t.n_bytes, "tensor {:?}", t.name);
        assert_eq!(t.row_bytes() * t.n_rows(), t.n_bytes, "tensor {:?}", t.name);
        assert!(file.tensor(&t.name).is_some_and(|u| u == t), "tensor {:?} by name", t.name);
        assert!(file.data_offset() + t.offset + t.n_bytes <= file.file_size());
        total += t.n_bytes;
    }
    assert!(total <= file.file_size());
    assert_eq!(file.n_params(), file.tensors().iter().map(|t| t.n_elems).sum::<u64>());
    let _ = file.architecture();
}

fn render(key: &str, value: &Value) {
    let summary = value.summary(60);
    assert!(summary.chars().count() <= 60 + 40, "{key}: summary too long: {summary}");
    let _ = value.to_json().to_string();
    let _ = value.type_name();
}
