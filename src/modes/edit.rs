//! `hearth edit "INSTRUCTION"`: a text filter for editors. The text comes on stdin (or
//! `-f`, or `--in-place FILE`), the model proposes the change, and only the new text goes
//! to stdout — untouched lines byte for byte — or a diff (`--diff`), or the file is
//! rewritten atomically (`--in-place`). Nothing is lost: on any failure the input goes
//! back to stdout unchanged (in filter mode), one line on stderr says why, and the exit
//! code says what failed (1 the model's answer or run, 2 bad input, 130 Ctrl-C).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::{ask, input, output};
use crate::assistant::prompt::context_block;
use crate::assistant::{edit_text, Assistant, TurnEvent};
use crate::cli::{EditArgs, EditFormat};
use crate::context::edits::{diff_text, unified_diff, write_atomic};
use crate::context::{fence_for, language_for};
use crate::engine::stream::Event;
use crate::error::{Error, ErrorKind, Result};

/// The built-in system prompt of `edit`.
pub const SYSTEM_PROMPT: &str = include_str!("../../prompts/edit-system.md");

/// Texts up to this many lines are asked for whole; longer ones as SEARCH/REPLACE blocks.
const WHOLE_MAX_LINES: usize = 80;

/// How `edit` says a text does not fit.
const BUDGET_HINT: &str = "raise -c, or select less text";

/// The text to edit and what it is called.
struct Input {
    text: String,
    /// The name edits are made to (`--path`, the file's name, else `input`).
    name: String,
    /// Whether the name is the text's own (not the made-up `input`).
    named: bool,
}

pub fn run(args: &EditArgs) -> Result<()> {
    let (cancel, interrupted) = interrupt_flags()?;
    let instruction = args.instruction.join(" ");
    let input = match read_input(args) {
        Ok(input) => input,
        Err(unread) => {
            let Unread { bytes, more, error: e } = *unread;
            // Text we cannot read still goes back whole.
            if args.diff || args.in_place.is_some() {
                return Err(e);
            }
            output::print_bytes(&bytes)?;
            if more {
                // Too long to edit, not too long to give back: the rest streams through.
                output::pass_through_stdin()?;
            }
            return Err(e);
        }
    };
    let result = if instruction.trim().is_empty() {
        Err(Error::usage("the instruction is empty"))
    } else {
        edit(args, &input, &instruction, cancel)
    };
    // A Ctrl-C that came after the answer but before any output still means "stop".
    let result = match result {
        Ok(_) if interrupted.load(Ordering::SeqCst) => Err(interrupted_error()),
        other => other,
    };
    match result {
        Ok(new_text) => emit(args, &input, &new_text),
        Err(e) => {
            // An editor replaces the selection with what we print: give it back intact.
            if args.diff || args.in_place.is_some() {
                return Err(e);
            }
            output::print(&input.text)?;
            Err(e)
        }
    }
}

/// Two flags set by Ctrl-C: the cancel flag, which stops generation at its next token
/// (the turn clears it when it ends), and one that stays set, so that a Ctrl-C at any
/// point before the output ends the edit as every failure does: input given back, 130.
fn interrupt_flags() -> Result<(Arc<AtomicBool>, Arc<AtomicBool>)> {
    let cancel = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicBool::new(false));
    let (c, s) = (Arc::clone(&cancel), Arc::clone(&seen));
    ctrlc::set_handler(move || {
        s.store(true, Ordering::SeqCst);
        c.store(true, Ordering::SeqCst);
    })
    .map_err(|e| Error::failed(format!("cannot handle Ctrl-C: {e}")))?;
    Ok((cancel, seen))
}

fn interrupted_error() -> Error {
    Error::new(ErrorKind::Interrupted, "interrupted; the text is unchanged")
}

/// Input that could not be taken as text: the bytes read (to give back), whether more
/// follows on stdin, and why.
struct Unread {
    bytes: Vec<u8>,
    more: bool,
    error: Error,
}

impl Unread {
    fn nothing(error: Error) -> Box<Unread> {
        Box::new(Unread { bytes: Vec::new(), more: false, error })
    }
}

/// The text to edit, or what was read of it and why it cannot be edited.
fn read_input(args: &EditArgs) -> std::result::Result<Input, Box<Unread>> {
    let file = args.in_place.as_ref().or(args.file.as_ref());
    let text = match file {
        Some(path) => input::read_text_file(path).map_err(Unread::nothing)?,
        None => {
            let read = input::read_piped_stdin_up_to_cap().map_err(Unread::nothing)?;
            let (bytes, over) = read.ok_or_else(|| {
                let why = "give the text to edit on stdin, or with -f FILE or --in-place FILE";
                Unread::nothing(Error::usage(why))
            })?;
            if over {
                let error = input::over_cap(Path::new("<stdin>"));
                return Err(Box::new(Unread { bytes, more: true, error }));
            }
            String::from_utf8(bytes).map_err(|e| {
                let at = e.utf8_error().valid_up_to();
                let why = format!("stdin is not valid UTF-8 (at byte {at})");
                Box::new(Unread {
                    bytes: e.into_bytes(),
                    more: false,
                    error: Error::bad_input(why),
                })
            })?
        }
    };
    let from_file = file.and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned());
    let given = args.path.clone().or(from_file);
    let named = given.is_some();
    let name = given.unwrap_or_else(|| "input".to_string());
    Ok(Input { text, name, named })
}

/// Asks the model and returns the new text.
fn edit(
    args: &EditArgs,
    input: &Input,
    instruction: &str,
    cancel: Arc<AtomicBool>,
) -> Result<String> {
    let context = args
        .context
        .iter()
        .map(|p| Ok((p.display().to_string(), input::read_text_file(p)?)))
        .collect::<Result<Vec<_>>>()?;
    let config = args.config();
    let whole = match args.format {
        EditFormat::Whole => true,
        EditFormat::Blocks => false,
        EditFormat::Auto => input.text.lines().count() <= WHOLE_MAX_LINES,
    };
    let mut assistant = ask::open(&config, SYSTEM_PROMPT, BUDGET_HINT)?;
    if let Some(spec) = &args.remote {
        assistant.set_remote(crate::remote::config::resolve(spec, None)?);
        assistant.escalate(None)?;
    }
    if whole && args.prompt.n_predict.is_none() {
        // The whole text comes back: leave room for it.
        let n_text = assistant.loaded().count_tokens(&input.text);
        assistant.set_n_predict(config.prompt.n_predict.max(n_text + n_text / 2 + 64));
    }
    assistant.set_cancel_flag(cancel);
    assistant.set_spec(args.spec.draft_max_on());
    let message = edit_message(args, input, instruction, &context, whole);
    let answer = generate(&mut assistant, message)?;
    edit_text(&answer, &input.name, &input.text)
}

/// The user message: the context files, the text in a fence tagged with its language
/// (under its name when the editor gave one), the instruction, and the form the answer
/// must take.
fn edit_message(
    args: &EditArgs,
    input: &Input,
    instruction: &str,
    context: &[(String, String)],
    whole: bool,
) -> String {
    let mut msg = String::new();
    for (path, text) in context {
        msg.push_str(&context_block(&format!("File `{path}` (read-only, for reference)"), text));
    }
    let lang = args.lang.as_deref().unwrap_or_else(|| language_for(&input.name));
    let fence = fence_for(&input.text);
    let body = input.text.trim_end_matches('\n');
    // A made-up name reads as part of the code to a small model: name only real ones.
    let named = input.named.then(|| format!("`{}`", input.name));
    if let Some(name) = &named {
        msg.push_str(&format!("File {name}:\n"));
    }
    msg.push_str(&format!("{fence}{lang}\n{body}\n{fence}\n\n"));
    let instruction = instruction.trim();
    msg.push_str(instruction);
    if !instruction.ends_with(['.', '!', '?']) {
        msg.push('.');
    }
    let what = named.as_deref().unwrap_or("the code");
    msg.push_str(&match whole {
        true => format!(
            " Reply with the complete new content of {what} in one fenced code block, and nothing else."
        ),
        false => format!(
            " Reply only with SEARCH/REPLACE blocks for {what}, each quoting the exact lines to \
             replace:\n\n<<<<<<< SEARCH\nthe exact lines to replace\n=======\nthe new lines\n\
             >>>>>>> REPLACE"
        ),
    });
    msg
}

/// Runs the turn; the answer, or why there is none.
fn generate(assistant: &mut Assistant, message: String) -> Result<String> {
    let end = assistant.ask(message, &mut |_: TurnEvent| {});
    ask::warn(assistant.take_notices().into_iter());
    if std::env::var_os("HEARTH_VERBOSE").is_some() {
        if let Some(stats) = end.stats() {
            eprintln!("{}", stats.summary());
        }
    }
    if let Some(e) = end.save_error {
        eprintln!("hearth: warning: the edit was not saved to the session: {e}");
    }
    match end.end {
        Event::Done(_) => Ok(end.answer),
        Event::Error(e) if e.kind() == ErrorKind::Interrupted => Err(interrupted_error()),
        Event::Error(e) => Err(e),
        Event::Text(_) => Err(Error::failed("the answer ended without a result")),
    }
}

/// Prints the new text or its diff, or writes the file.
fn emit(args: &EditArgs, input: &Input, new_text: &str) -> Result<()> {
    if let Some(path) = &args.in_place {
        return write_in_place(path, &input.text, new_text);
    }
    match args.diff {
        true => {
            output::print(&diff_text(&unified_diff(&input.name, Some(&input.text), Some(new_text))))
        }
        false => output::print(new_text),
    }
}

/// Writes `new_text` over `path` atomically (a temp file renamed over it, permissions
/// kept), after checking that it still holds `old_text`.
fn write_in_place(path: &Path, old_text: &str, new_text: &str) -> Result<()> {
    if old_text == new_text {
        return Ok(());
    }
    let now = input::read_text_file(path)?;
    if now != old_text {
        return Err(Error::failed("changed while the edit was made; not written").with_file(path));
    }
    write_atomic(path, new_text).map_err(|e| Error::io(path, e))
}
