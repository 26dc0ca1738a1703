//! Unit tests of chat templates: built-ins, fallback choice, errors that name the template.
//! Expected texts were rendered by jinja2 3.1.6 with HF's settings.

use super::*;
use crate::error::ErrorKind;
use crate::gguf::{Array, Value};

fn conversation() -> Vec<Message> {
    vec![
        Message::system("Be brief."),
        Message::user("  Hi  "),
        Message::assistant("Hello!"),
        Message::user("Bye"),
    ]
}

fn opts(bos: &str) -> RenderOptions {
    RenderOptions {
        add_generation_prompt: true,
        bos_token: bos.into(),
        eos_token: "E".into(),
        ..Default::default()
    }
}

fn render_builtin(name: &str, messages: &[Message], opts: &RenderOptions) -> Result<String> {
    ChatTemplate::builtin(name)?.render(messages, opts)
}

#[test]
fn builtin_chatml_renders_known_text() {
    let out = render_builtin("chatml", &conversation(), &opts("<s>")).unwrap();
    let want = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n  Hi  <|im_end|>\n\
                <|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n";
    assert_eq!(out, want);
    let one = RenderOptions { add_generation_prompt: false, ..opts("B") };
    assert_eq!(
        render_builtin("chatml", &conversation()[1..2], &one).unwrap(),
        "<|im_start|>user\n  Hi  <|im_end|>\n"
    );
}

#[test]
fn builtin_llama3_renders_known_text() {
    let out = render_builtin("llama3", &conversation(), &opts("<|begin_of_text|>")).unwrap();
    let want = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>\
                <|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>\
                <|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>\
                <|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>\
                <|start_header_id|>assistant<|end_header_id|>\n\n";
    assert_eq!(out, want);
    let one = RenderOptions { add_generation_prompt: false, ..opts("B") };
    let want = "B<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>";
    assert_eq!(render_builtin("llama3", &conversation()[1..2], &one).unwrap(), want);
}

#[test]
fn builtin_gemma_renders_known_text() {
    let out = render_builtin("gemma", &conversation(), &opts("<bos>")).unwrap();
    let want = "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n\
                <start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n";
    assert_eq!(out, want);
}

#[test]
fn raise_exception_is_an_error_naming_the_template() {
    let messages = [Message::user("a"), Message::user("b")];
    let err = render_builtin("gemma", &messages, &opts("<bos>")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadInput);
    let msg = err.to_string();
    assert!(
        msg.starts_with("chat template (built-in gemma): the template raised an error: "),
        "{msg}"
    );
    assert!(
        msg.contains("Conversation roles must alternate user/assistant/user/assistant/..."),
        "{msg}"
    );
}

#[test]
fn broken_template_is_an_error_naming_it() {
    let err =
        ChatTemplate::new(TemplateSource::Gguf, "{% for m in messages %}{{ m.role }").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadInput);
    assert_eq!(err.key(), Some(KEY_CHAT_TEMPLATE));
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "key 'tokenizer.chat_template': chat template (from tokenizer.chat_template): "
        ),
        "{msg}"
    );
    assert!(msg.contains("syntax error"), "{msg}");
}

#[test]
fn render_failure_is_an_error_not_a_panic() {
    let t = ChatTemplate::new(TemplateSource::Gguf, "{{ messages[0].content.missing.deeper }}")
        .unwrap();
    let err = t.render(&[Message::user("x")], &opts("")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadInput);
    assert!(err.to_string().contains("chat template (from tokenizer.chat_template): "), "{err}");
    let t = ChatTemplate::new(TemplateSource::Gguf, "{{ messages[5] + 1 }}").unwrap();
    assert!(t.render(&[], &opts("")).is_err());
}

#[test]
fn tools_reach_the_template_and_tojson() {
    let text = "{% if tools %}{% for t in tools %}{{ t | tojson }}\n{% endfor %}{% endif %}{{ tools is none }}";
    let t = ChatTemplate::new(TemplateSource::Builtin("test"), text).unwrap();
    let tools = serde_json::json!([{"name": "ls", "parameters": {"path": "é/<x>"}}]);
    let with = RenderOptions { tools: Some(tools), ..opts("") };
    assert_eq!(
        t.render(&[], &with).unwrap(),
        "{\"name\": \"ls\", \"parameters\": {\"path\": \"é/<x>\"}}\nFalse"
    );
    assert_eq!(t.render(&[], &opts("")).unwrap(), "True");
}

#[test]
fn messages_tojson_keeps_role_then_content() {
    let t = ChatTemplate::new(TemplateSource::Builtin("test"), "{{ messages | tojson }}").unwrap();
    let out = t.render(&[Message::user("hi \"you\"")], &opts("")).unwrap();
    assert_eq!(out, r#"[{"role": "user", "content": "hi \"you\""}]"#);
}

fn meta(arch: &str, template: Option<&str>) -> Metadata {
    let mut m = Metadata::new();
    m.insert("general.architecture", Value::String(arch.into()));
    let tokens = ["<pad>", "<eos>", "<bos>"].iter().map(|t| t.to_string()).collect();
    m.insert("tokenizer.ggml.tokens", Value::Array(Array::String(tokens)));
    m.insert("tokenizer.ggml.bos_token_id", Value::U32(2));
    m.insert("tokenizer.ggml.eos_token_id", Value::U32(1));
    if let Some(t) = template {
        m.insert(KEY_CHAT_TEMPLATE, Value::String(t.into()));
    }
    m
}

#[test]
fn from_gguf_prefers_the_file_template_and_names_the_fallback() {
    let own = ChatTemplate::from_gguf(&meta("gemma3", Some("{{ bos_token }}"))).unwrap();
    assert_eq!(
        (own.name(), own.source(), own.is_builtin()),
        ("tokenizer.chat_template", &TemplateSource::Gguf, false)
    );
    let fallback = ChatTemplate::from_gguf(&meta("gemma3", None)).unwrap();
    assert_eq!((fallback.name(), fallback.is_builtin()), ("gemma", true));
    assert_eq!(ChatTemplate::from_gguf(&meta("qwen2", None)).unwrap().name(), "chatml");
    let mut wrong = meta("llama", None);
    wrong.insert(KEY_CHAT_TEMPLATE, Value::U32(3));
    assert_eq!(ChatTemplate::from_gguf(&wrong).unwrap_err().key(), Some(KEY_CHAT_TEMPLATE));
}

#[test]
fn render_options_find_bos_and_eos_text() {
    let o = RenderOptions::from_gguf(&meta("gemma3", None)).unwrap();
    assert_eq!(
        (o.bos_token.as_str(), o.eos_token.as_str(), o.add_generation_prompt),
        ("<bos>", "<eos>", true)
    );
    let mut bad = meta("gemma3", None);
    bad.insert("tokenizer.ggml.eos_token_id", Value::U32(99));
    let err = RenderOptions::from_gguf(&bad).unwrap_err();
    assert_eq!(err.key(), Some("tokenizer.ggml.eos_token_id"));
    assert_eq!(RenderOptions::from_gguf(&Metadata::new()).unwrap().bos_token, "");
}

#[test]
fn unknown_builtin_lists_the_known_ones() {
    let err = ChatTemplate::builtin("vicuna").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage);
    assert!(err.to_string().contains("known: chatml, gemma, llama3"), "{err}");
}

#[test]
fn from_file_reads_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("t.jinja");
    std::fs::write(&good, "{% for m in messages %}[{{ m.role }}]{% endfor %}\n").unwrap();
    let t = ChatTemplate::from_file(&good).unwrap();
    assert_eq!(t.source(), &TemplateSource::File(good.clone()));
    assert_eq!(t.render(&[Message::user("x")], &opts("")).unwrap(), "[user]");
    let broken = dir.path().join("broken.jinja");
    std::fs::write(&broken, "{% if %}").unwrap();
    let err = ChatTemplate::from_file(&broken).unwrap_err();
    assert_eq!((err.kind(), err.file()), (ErrorKind::BadInput, Some(broken.as_path())));
    assert!(err.to_string().contains("chat template (from file): syntax error"), "{err}");
    let missing = ChatTemplate::from_file(dir.path().join("nope.jinja")).unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::BadInput);
    std::fs::write(&broken, b"\xff\xfe").unwrap();
    assert_eq!(ChatTemplate::from_file(&broken).unwrap_err().kind(), ErrorKind::BadInput);
}
