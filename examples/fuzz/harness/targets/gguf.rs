//! The GGUF reader and what reads a file's metadata first: any bytes give a validated
//! file or a one-line error. A file that parses keeps its promises: every tensor's data
//! view has its byte size, lies in the file and is found by name; every metadata value
//! renders; hparams, the tokenizer and the chat template load or fail with a one-line
//! error, and what loads works (a text encodes and decodes, a conversation renders).

use hearth::chat::{ChatTemplate, Message, RenderOptions};
use hearth::gguf::{file_type_name, GgufFile, Metadata, Value};
use hearth::model::HParams;
use hearth::tokenizer::Tokenizer;

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
        if file.metadata().contains("tokenizer.ggml.model") {
            class.push_str(&tokenizer(file.metadata()));
        }
        let template = file.metadata().get_str_opt("tokenizer.chat_template");
        if template.is_ok_and(|t| t.is_some_and(|t| t.len() <= MAX_TEMPLATE)) {
            class.push_str(&chat(file.metadata()));
        }
        class
    }
}

/// Templates longer than this are not rendered (rendering is the slow part).
const MAX_TEMPLATE: usize = 8 << 10;

/// Loads the tokenizer; one that loads encodes and decodes a text with special tokens.
fn tokenizer(meta: &Metadata) -> String {
    let tok = match Tokenizer::from_gguf(meta) {
        Ok(tok) => tok,
        Err(e) => {
            one_line("tokenizer", e.to_string());
            return format!("\ntokenizer: {}", class_of(e.message()));
        }
    };
    for special in [false, true] {
        if let Ok(ids) = tok.encode("Hello wörld <|im_start|><s>\n\t 12", true, special) {
            assert!(ids.iter().all(|&id| (id as usize) < tok.n_vocab()), "{ids:?}");
            let _ = tok.decode(&ids);
        }
    }
    let mut stream = tok.stream_decoder();
    for id in 0..tok.n_vocab().min(300) as u32 {
        let _ = stream.push(id);
    }
    let _ = stream.finish();
    format!("\ntokenizer {} loads", tok.model().name())
}

/// Loads the chat template and renders a short conversation.
fn chat(meta: &Metadata) -> String {
    let loaded =
        ChatTemplate::from_gguf(meta).and_then(|t| Ok((t, RenderOptions::from_gguf(meta)?)));
    let (template, opts) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            one_line("chat template", e.to_string());
            return format!("\nchat template: {}", class_of(e.message()));
        }
    };
    let messages = [Message::system("s"), Message::user("u"), Message::assistant("a")];
    match template.render(&messages, &opts) {
        Ok(_) => "\nchat template renders".into(),
        Err(e) => format!("\nchat template fails: {}", class_of(e.message())),
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
