//! A `session/prompt`'s content blocks as one user message: text as it is; embedded
//! `resource`s (the editor's text of a file) and `resource_link`s (read through the
//! client, else from disk inside `cwd`) as labelled context blocks before the question;
//! a prompt that is just `/command` is that slash command.

use agent_client_protocol_schema::v1 as acp;

use super::backend::COMMANDS;
use super::files::Fs;
use super::rpc::RpcError;
use crate::assistant::prompt::context_block;

/// What a prompt asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// A slash command, by name.
    Command(String),
    /// A user message, and the files it showed the model (relative to `cwd`).
    Message { text: String, shown: Vec<String> },
}

/// Reads the blocks of a prompt. Refused (invalid params, naming the block): content
/// types hearth does not take (image, audio), links outside `cwd` or to missing files.
pub fn build(blocks: &[acp::ContentBlock], fs: &Fs) -> Result<Input, RpcError> {
    let mut context = String::new();
    let mut question = String::new();
    let mut shown = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let bad = |what: String| RpcError::invalid_params(format!("prompt[{i}]: {what}"));
        match block {
            acp::ContentBlock::Text(t) => {
                if !question.is_empty() && !question.ends_with('\n') {
                    question.push('\n');
                }
                question.push_str(&t.text);
            }
            acp::ContentBlock::Resource(r) => match &r.resource {
                acp::EmbeddedResourceResource::TextResourceContents(t) => {
                    let label = match fs.resolve(&t.uri) {
                        Ok(abs) => {
                            let rel = fs.relative(&abs);
                            shown.push(rel.clone());
                            format!("File `{rel}`")
                        }
                        Err(_) => format!("Resource `{}`", t.uri),
                    };
                    context.push_str(&context_block(&label, &t.text));
                }
                acp::EmbeddedResourceResource::BlobResourceContents(b) => {
                    return Err(bad(format!("{}: binary resources are not supported", b.uri)))
                }
                _ => return Err(bad("this kind of resource is not supported".into())),
            },
            acp::ContentBlock::ResourceLink(link) => {
                let abs = fs.resolve(&link.uri).map_err(bad)?;
                let text = fs.read(&abs).map_err(bad)?;
                let text = text.ok_or_else(|| bad(format!("{}: no such file", link.uri)))?;
                let rel = fs.relative(&abs);
                context.push_str(&context_block(&format!("File `{rel}`"), &text));
                shown.push(rel);
            }
            acp::ContentBlock::Image(_) => {
                return Err(bad(
                    "images are not supported (promptCapabilities.image is false)".into()
                ))
            }
            acp::ContentBlock::Audio(_) => {
                return Err(
                    bad("audio is not supported (promptCapabilities.audio is false)".into()),
                )
            }
            _ => return Err(bad("this content type is not supported".into())),
        }
    }
    if context.is_empty() {
        if let Some(name) = command(&question) {
            return Ok(Input::Command(name));
        }
    }
    if context.is_empty() && question.trim().is_empty() {
        return Err(RpcError::invalid_params("prompt: the message is empty"));
    }
    context.push_str(&question);
    Ok(Input::Message { text: context, shown })
}

/// The slash command `text` is, when it is one of [`COMMANDS`] alone.
fn command(text: &str) -> Option<String> {
    let name = text.trim().strip_prefix('/')?;
    COMMANDS.iter().find(|(c, _)| *c == name).map(|(c, _)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modes::acp::rpc::Peer;
    use crate::modes::acp::server::ClientCaps;
    use std::sync::atomic::AtomicBool;

    fn blocks(v: serde_json::Value) -> Vec<acp::ContentBlock> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn resources_become_context_blocks_before_the_question() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().canonicalize().unwrap();
        std::fs::write(cwd.join("b.py"), "x = 1\n").unwrap();
        let peer = Peer::new(Box::new(std::io::sink()));
        let cancel = AtomicBool::new(false);
        let fs = Fs {
            peer: &peer,
            caps: ClientCaps::default(),
            session_id: "s",
            cwd: &cwd,
            cancel: &cancel,
        };
        let uri = format!("file://{}/a.rs", cwd.display());
        let input = build(
            &blocks(serde_json::json!([
                {"type": "text", "text": "fix it"},
                {"type": "resource", "resource": {"uri": uri, "text": "fn a() {}\n"}},
                {"type": "resource_link", "uri": "b.py", "name": "b.py"},
            ])),
            &fs,
        )
        .unwrap();
        assert_eq!(
            input,
            Input::Message {
                text:
                    "File `a.rs`:\n```\nfn a() {}\n```\n\nFile `b.py`:\n```\nx = 1\n```\n\nfix it"
                        .into(),
                shown: vec!["a.rs".into(), "b.py".into()],
            }
        );
        let err = build(
            &blocks(
                serde_json::json!([{"type": "resource_link", "uri": "/etc/passwd", "name": "p"}]),
            ),
            &fs,
        )
        .unwrap_err();
        assert!(
            err.message.starts_with("prompt[0]: ") && err.message.contains("outside"),
            "{err:?}"
        );
        assert_eq!(
            build(&blocks(serde_json::json!([{"type": "text", "text": " /tokens "}])), &fs)
                .unwrap(),
            Input::Command("tokens".into())
        );
        assert!(build(&blocks(serde_json::json!([])), &fs).is_err());
    }
}
