//! The built-in chat templates (texts under `prompts/templates/`) and the choice of one for
//! a GGUF file that carries no `tokenizer.chat_template`.

use crate::error::Result;
use crate::gguf::Metadata;

/// A built-in template: its name and its text.
pub(super) struct Builtin {
    pub name: &'static str,
    pub text: &'static str,
}

/// Every built-in template, by name. ChatML first: it is the default fallback.
pub(super) const BUILTINS: &[Builtin] = &[
    Builtin { name: "chatml", text: include_str!("../../prompts/templates/chatml.jinja") },
    Builtin { name: "gemma", text: include_str!("../../prompts/templates/gemma.jinja") },
    Builtin { name: "llama3", text: include_str!("../../prompts/templates/llama3.jinja") },
];

/// The names of the built-in templates, for help texts and error messages.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|b| b.name)
}

pub(super) fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// Picks the fallback for a file without a template: gemma for the gemma family (by
/// architecture or its turn tokens), llama3 where the Llama 3 header/eot tokens exist,
/// ChatML otherwise.
pub(super) fn fallback_name(meta: &Metadata) -> Result<&'static str> {
    let arch = meta.get_str_opt("general.architecture")?.unwrap_or_default();
    if arch.starts_with("gemma") {
        return Ok("gemma");
    }
    let tokens = meta.get_str_array_opt("tokenizer.ggml.tokens")?.unwrap_or_default();
    let has = |wanted: &[&str]| wanted.iter().all(|w| tokens.iter().any(|t| t == w));
    Ok(if has(&["<start_of_turn>", "<end_of_turn>"]) {
        "gemma"
    } else if has(&["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]) {
        "llama3"
    } else {
        "chatml"
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::{Array, Value};

    fn meta(arch: &str, tokens: &[&str]) -> Metadata {
        let mut m = Metadata::new();
        m.insert("general.architecture", Value::String(arch.into()));
        let tokens = tokens.iter().map(|t| t.to_string()).collect();
        m.insert("tokenizer.ggml.tokens", Value::Array(Array::String(tokens)));
        m
    }

    #[test]
    fn fallback_follows_architecture_then_tokens() {
        assert_eq!(fallback_name(&meta("gemma3", &[])).unwrap(), "gemma");
        assert_eq!(fallback_name(&meta("gemma2", &[])).unwrap(), "gemma");
        let llama3 =
            ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"];
        assert_eq!(fallback_name(&meta("llama", &llama3)).unwrap(), "llama3");
        let turns = ["<start_of_turn>", "<end_of_turn>"];
        assert_eq!(fallback_name(&meta("somearch", &turns)).unwrap(), "gemma");
        assert_eq!(fallback_name(&meta("qwen2", &["<|im_start|>"])).unwrap(), "chatml");
        assert_eq!(fallback_name(&Metadata::new()).unwrap(), "chatml");
    }

    #[test]
    fn every_builtin_is_found_by_name() {
        for name in builtin_names() {
            assert_eq!(find(name).unwrap().name, name);
            assert!(!find(name).unwrap().text.is_empty());
        }
        assert!(find("vicuna").is_none());
    }
}
