//! `hearth ask`: one chat-templated question with a coding-assistant system prompt;
//! files given with -f and piped stdin go in as context; the answer streams to stdout.
//! With `--session`, the conversation goes on in a stored session.

use super::{input, output};
use crate::assistant::prompt::user_message;
use crate::assistant::tools::{Decision, Permissions};
use crate::assistant::{Assistant, Config, Notice, Setup, TurnEvent};
use crate::cli::AskArgs;
use crate::engine::stream::Event;
use crate::error::{Error, Result};

/// The built-in system prompt of `ask`.
pub const SYSTEM_PROMPT: &str = include_str!("../../prompts/ask-system.md");

/// How `ask` says a question does not fit.
const BUDGET_HINT: &str = "raise -c or give less";

pub fn run(args: &AskArgs) -> Result<()> {
    let question = args.question.join(" ");
    if question.trim().is_empty() {
        return Err(Error::usage("the question is empty"));
    }
    let files = args
        .files
        .iter()
        .map(|p| Ok((p.display().to_string(), input::read_text_file(p)?)))
        .collect::<Result<Vec<_>>>()?;
    let stdin = input::read_piped_stdin()?;
    let tools = args.tools || !args.allow.is_empty();
    if let Some(url) = args.remote.as_ref().filter(|_| !tools && args.session.is_none()) {
        // A plain question: the local model is not even loaded.
        let message = user_message(&question, &files, stdin.as_deref());
        return super::ask_remote::run(args, url, message);
    }
    let config = args.config();
    let mut assistant = open(&config, SYSTEM_PROMPT, BUDGET_HINT)?;
    if let Some((grammar, path)) = input::output_grammar(&args.json_schema, &args.grammar)? {
        assistant.set_output_grammar(grammar).map_err(|e| e.with_file(path))?;
    }
    assistant.set_call_grammar(!args.no_grammar);
    assistant.set_spec(args.spec.draft_max_on());
    if let Some(spec) = &args.remote {
        // Tools or a stored session: the assistant's loop, its answers from the remote.
        assistant.set_remote(crate::remote::config::resolve(spec, args.remote_model.clone())?);
        assistant.escalate(None)?;
    }
    if args.tools || !args.allow.is_empty() {
        let allow = Permissions::parse_list(&args.allow.join(",")).map_err(Error::usage)?;
        assistant.enable_tools(Permissions::new(allow), args.max_steps.max(1));
    }
    let message = user_message(&question, &files, stdin.as_deref());
    answer(&mut assistant, message)
}

/// The calls of a question, counted (printed with `HEARTH_VERBOSE`).
#[derive(Debug, Default)]
struct Tally {
    /// Every call the model made, well-formed or not.
    calls: usize,
    /// Calls that did not parse, named no tool, or had arguments off the schema.
    invalid: usize,
    /// Calls refused for want of a permission.
    refused: usize,
}

impl Tally {
    fn line(&self) -> String {
        let valid = self.calls - self.invalid;
        format!("tools: {} calls, {valid} valid, {} refused", self.calls, self.refused)
    }
}

/// Tool activity on stderr, one line each; a call that needs a permission not given is
/// refused, with what it would have done.
fn show_tool_event(ev: TurnEvent, tally: &mut Tally) {
    // Every call ends in one result: run, refused, or not prepared.
    if let TurnEvent::ToolResult(_, o) = &ev {
        tally.calls += 1;
        tally.invalid += usize::from(o.invalid);
    }
    match ev {
        TurnEvent::ToolCall(a) => eprintln!("hearth: {}", a.title),
        TurnEvent::Approve(ap) => {
            tally.refused += 1;
            let class = ap.class.name();
            eprintln!(
                "hearth: not allowed: {} (pass --allow {class}); it would have done:",
                ap.activity.title
            );
            if let Some(detail) = &ap.activity.detail {
                eprintln!("{}", detail.trim_end());
            }
            let _ = ap.reply.send(Decision::No);
        }
        TurnEvent::ToolResult(a, o) if o.failed => {
            let first = o.text.lines().next().unwrap_or_default();
            eprintln!("hearth: {}: {first}", a.title);
        }
        _ => {}
    }
}

/// The conversation of a one-shot face: `system` as its prompt, the stored session when
/// `config` names one (refusing a new system prompt for a session that has one).
pub(crate) fn open(config: &Config, system: &str, hint: &str) -> Result<Assistant> {
    let cwd = std::env::current_dir().map_err(|e| Error::io(std::path::Path::new("."), e))?;
    let setup = Setup {
        system: system.trim().to_string(),
        cwd,
        notes: false,
        reserve_answer: false,
        budget_hint: hint.to_string(),
    };
    let mut assistant = Assistant::open(config, setup)?;
    if config.prompt.system_prompt.is_some() && !assistant.history().is_empty() {
        return Err(Error::usage(
            "--system-prompt: this session already has one (start a new session to change it)",
        ));
    }
    warn(assistant.take_notices().into_iter().filter(|n| matches!(n, Notice::Error(_))));
    Ok(assistant)
}

/// Streams the answer to `message` to stdout; a failed turn or save is the error.
fn answer(assistant: &mut Assistant, message: String) -> Result<()> {
    let mut printed: Result<()> = Ok(());
    let mut tally = Tally::default();
    // A reader that went away (`hearth ask … | head`) stops the answer.
    let cancel = assistant.cancel_flag();
    let end = assistant.ask(message, &mut |ev| match (&ev, &printed) {
        (TurnEvent::Text(t), Ok(())) => {
            printed = output::print(t);
            if output::stdout_closed() {
                cancel.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        _ => show_tool_event(ev, &mut tally),
    });
    printed?;
    if output::stdout_closed() {
        return end.save_error.map_or(Ok(()), Err);
    }
    let verbose = std::env::var_os("HEARTH_VERBOSE").is_some();
    if verbose && tally.calls > 0 {
        eprintln!("{}", tally.line());
    }
    let stats = match end.end {
        Event::Done(stats) => stats,
        Event::Error(e) => return Err(e),
        Event::Text(_) => return Err(Error::failed("the answer ended without a result")),
    };
    output::print("\n")?;
    if verbose {
        eprintln!("{}", stats.summary());
    }
    match end.save_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Prints notices as warnings on stderr.
pub(crate) fn warn(notices: impl Iterator<Item = Notice>) {
    for n in notices {
        match n {
            Notice::Info(s) | Notice::Error(s) => eprintln!("hearth: warning: {s}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_prompt_is_not_empty() {
        assert!(SYSTEM_PROMPT.contains("coding assistant"));
    }
}
