//! Tool use in a turn: the tools offered through the chat template, the model's calls
//! found as its answer streams (text before a call shown as it comes, the call named
//! while it forms), each call prepared, allowed (reads freely; edits and commands by the
//! face's answer to [`TurnEvent::Approve`]) and run, its result sent back as the
//! template's tool message — until the model answers without a call or the step limit.

use std::sync::mpsc;

use super::callgrammar::call_spec;
use super::chat::{Assistant, TurnEvent};
use super::tools::{
    Action, Class, CommandSpec, Decision, Kind, Limits, Outcome, Permissions, Refused, Workspace,
};
use crate::chat::toolcall::{call_id, Parsed, Scanner};
use crate::chat::{CallFormat, Message, ToolCall};
use crate::context::edits::FileChange;
use crate::engine::grammar::{CallGrammar, Constraint, Grammar, Grammars, Whole};
use crate::error::Result;
use std::sync::Arc;

/// What the system prompt gains when tools are on.
pub const TOOLS_PROMPT: &str = include_str!("../../prompts/tools-system.md");

/// Steps (answers with calls) one turn may take unless told otherwise.
pub const DEFAULT_MAX_STEPS: usize = 16;

/// How a conversation uses tools.
#[derive(Clone)]
pub struct ToolUse {
    pub format: CallFormat,
    pub permissions: Permissions,
    pub max_steps: usize,
    pub limits: Limits,
    /// The grammar calls follow, when the format has one and the grammar is on.
    pub grammar: Option<CallGrammar>,
    /// Offer commands to the face before running them here ([`TurnEvent::Execute`]).
    pub delegate_commands: bool,
    /// The last call of this turn (name, arguments), and how many times in a row it was
    /// made again.
    pub last_call: Option<(String, String)>,
    pub repeats: usize,
}

/// Times in a row the same call may be repeated (and refused) before the turn stops.
const MAX_REPEATS: usize = 2;

/// What a call made again right after itself gets instead of a second run.
const REPEATED: &str = "You made this same call just before and nothing changed since: its \
                        result is above. Answer the user now, or make a different call.";

/// A call about to run (or refused), as faces show it.
#[derive(Debug, Clone)]
pub struct ToolActivity {
    /// The call's id, to pair it with its result.
    pub id: String,
    pub name: String,
    /// One line: `read src/main.rs`.
    pub title: String,
    pub kind: Kind,
    /// An edit's diff, a command line.
    pub detail: Option<String>,
    /// An edit's change.
    pub change: Option<FileChange>,
}

/// A command for the face to run where the user sees it (an editor's terminal): answer
/// with what it gave on `reply`, or drop `reply` and the assistant runs it itself.
#[derive(Debug)]
pub struct Execution {
    pub activity: ToolActivity,
    pub command: CommandSpec,
    pub reply: mpsc::Sender<Outcome>,
}

/// A question for the face: may this call run? Answer on `reply` (dropping it is a no).
#[derive(Debug)]
pub struct Approval {
    pub activity: ToolActivity,
    pub class: Class,
    pub reply: mpsc::Sender<Decision>,
}

impl Assistant {
    /// Offers the tools to the model from now on, when its chat template knows how to
    /// render them; returns the call format, or `None` (the template has no tool support,
    /// and the conversation goes on without tools).
    pub fn enable_tools(
        &mut self,
        permissions: Permissions,
        max_steps: usize,
    ) -> Option<CallFormat> {
        let format = CallFormat::detect(self.format.template.text())?;
        let spec = call_spec(format, self.format.template.text());
        let grammar = match spec.filter(|_| self.grammar_on) {
            Some(spec) => {
                let made = self.grammars().and_then(|gs| CallGrammar::new(&gs, spec));
                made.map_err(|e| self.info(format!("tool calls are not constrained: {e}"))).ok()
            }
            None => None,
        };
        self.format.opts.tools = Some(super::tools::definitions());
        if self.config.prompt.system_prompt.is_none() && !self.system.contains(TOOLS_PROMPT.trim())
        {
            self.system = format!("{}\n\n{}", self.system, TOOLS_PROMPT.trim());
        }
        let limits = Limits::default();
        self.tools = Some(ToolUse {
            format,
            permissions,
            max_steps,
            limits,
            grammar,
            delegate_commands: false,
            last_call: None,
            repeats: 0,
        });
        Some(format)
    }

    /// Streams an answer's text to `on`, holding back what belongs to a call; names the
    /// tool once a forming call writes its name.
    pub(super) fn scan_text(
        scanner: &mut Option<Scanner>,
        named: &mut bool,
        text: String,
        on: &mut dyn FnMut(TurnEvent),
    ) {
        let Some(s) = scanner.as_mut() else { return on(TurnEvent::Text(text)) };
        let shown = s.push(&text);
        if !shown.is_empty() {
            on(TurnEvent::Text(shown));
        }
        if !*named {
            if let Some(name) = s.forming_name() {
                *named = true;
                on(TurnEvent::Forming(name));
            }
        }
    }

    /// The calls of a finished answer, when tools are on and it made any.
    pub(super) fn calls_in(&self, answer: &str) -> Option<Parsed> {
        let parsed = self.tools.as_ref()?.format.parse(answer);
        (!parsed.calls.is_empty()).then_some(parsed)
    }

    /// Records one step: the answer's calls join the history, each is run (or refused)
    /// and its result follows as a tool message. Calls that do not parse are answered
    /// with what was wrong, so the model can write them again.
    pub(super) fn run_step(&mut self, answer: &str, parsed: Parsed, on: &mut dyn FnMut(TurnEvent)) {
        let mut calls: Vec<ToolCall> = Vec::new();
        let mut problems: Vec<String> = Vec::new();
        for (i, c) in parsed.calls.into_iter().enumerate() {
            match c {
                Ok(mut call) => {
                    // Unique in the conversation, whatever the model wrote.
                    call.id = call_id(self.history.len() * 16 + i);
                    calls.push(call);
                }
                Err(why) => problems.push(why),
            }
        }
        for why in &problems {
            let outcome = Outcome::refused(Refused::Invalid(why.clone()));
            on(TurnEvent::ToolResult(bad_call_activity(), outcome));
        }
        if calls.is_empty() {
            // Nothing to run: the answer as written, and what was wrong with it.
            self.history.push(Message::assistant(answer.trim_end()));
            let why = problems.join("; ");
            self.history.push(Message::user(format!(
                "Your tool call could not be read ({why}). Write it again in the format the \
                 tools were described with."
            )));
            return;
        }
        self.history.push(Message::with_calls(parsed.content, calls.clone()));
        for call in &calls {
            let mut outcome = match self.repeated(call) {
                true => {
                    let outcome = Outcome::error(REPEATED);
                    let title = format!("{} (repeated)", call.name);
                    on(TurnEvent::ToolResult(
                        ToolActivity::of(call, title, Kind::Read),
                        outcome.clone(),
                    ));
                    outcome
                }
                false => self.run_call(call, on),
            };
            if let Some(why) = problems.first() {
                outcome
                    .text
                    .push_str(&format!("\n(another call of this answer could not be read: {why})"));
            }
            self.history.push(Message::tool_result(call, outcome.text));
        }
    }

    /// Whether `call` is the turn's last call made again (counted).
    fn repeated(&mut self, call: &ToolCall) -> bool {
        let Some(tools) = self.tools.as_mut() else { return false };
        let key = (call.name.clone(), call.arguments_value().to_string());
        let same = tools.last_call.as_ref() == Some(&key);
        tools.repeats = if same { tools.repeats + 1 } else { 0 };
        tools.last_call = Some(key);
        same
    }

    /// A new turn: no call made yet.
    pub(super) fn forget_calls(&mut self) {
        if let Some(t) = self.tools.as_mut() {
            (t.last_call, t.repeats) = (None, 0);
        }
    }

    /// The model keeps making the same call after being told: the turn should stop.
    pub(super) fn stuck(&self) -> bool {
        self.tools.as_ref().is_some_and(|t| t.repeats >= MAX_REPEATS)
    }

    /// Prepares, asks when needed, and runs one call.
    fn run_call(&mut self, call: &ToolCall, on: &mut dyn FnMut(TurnEvent)) -> Outcome {
        let Some(tools) = self.tools.as_ref() else { return Outcome::error("tools are off") };
        let limits = tools.limits;
        let count = |s: &str| self.loaded.count_tokens(s);
        let ws = Workspace { files: &mut self.files, log: &mut self.log, count: &count, limits };
        let action = match Action::prepare(call, &ws) {
            Ok(action) => action,
            Err(refused) => {
                let kind = super::tools::find(&call.name).map_or(Kind::Read, |t| t.kind);
                let activity = ToolActivity::of(call, call.name.clone(), kind);
                let outcome = Outcome::refused(refused);
                on(TurnEvent::ToolResult(activity, outcome.clone()));
                return outcome;
            }
        };
        let activity = ToolActivity {
            detail: action.prepared.detail.clone(),
            change: action.prepared.change.clone(),
            ..ToolActivity::of(call, action.prepared.title.clone(), action.tool.kind)
        };
        let class = action.tool.class;
        let allowed = self.tools.as_ref().is_some_and(|t| t.permissions.allows(class));
        if !allowed {
            let (reply, answer) = mpsc::channel();
            on(TurnEvent::Approve(Approval { activity: activity.clone(), class, reply }));
            match answer.recv() {
                Ok(Decision::Yes) => {}
                Ok(Decision::Always) => {
                    if let Some(t) = self.tools.as_mut() {
                        t.permissions.allow(class);
                    }
                }
                Ok(Decision::No) | Err(_) => {
                    let outcome = Outcome::error(format!(
                        "the user did not allow this ({}); nothing was done",
                        activity.title
                    ));
                    on(TurnEvent::ToolResult(activity, outcome.clone()));
                    return outcome;
                }
            }
        }
        on(TurnEvent::ToolCall(activity.clone()));
        let delegate = self.tools.as_ref().is_some_and(|t| t.delegate_commands);
        if let Some(command) = action.prepared.command.clone().filter(|_| delegate) {
            let (reply, answer) = mpsc::channel();
            on(TurnEvent::Execute(Execution { activity: activity.clone(), command, reply }));
            if let Ok(outcome) = answer.recv() {
                on(TurnEvent::ToolResult(activity, outcome.clone()));
                return outcome;
            }
        }
        let count = |s: &str| self.loaded.count_tokens(s);
        let mut ws =
            Workspace { files: &mut self.files, log: &mut self.log, count: &count, limits };
        let outcome = action.run(&mut ws);
        on(TurnEvent::ToolResult(activity, outcome.clone()));
        outcome
    }
}

impl ToolActivity {
    /// `call` shown as `title`, with no detail.
    fn of(call: &ToolCall, title: String, kind: Kind) -> ToolActivity {
        let (id, name) = (call.id.clone(), call.name.clone());
        ToolActivity { id, name, title, kind, detail: None, change: None }
    }
}

/// The activity shown for calls that could not be read.
fn bad_call_activity() -> ToolActivity {
    let unread = ToolCall { id: String::new(), name: String::new(), arguments: String::new() };
    ToolActivity::of(&unread, "a tool call that could not be read".to_string(), Kind::Read)
}

impl Assistant {
    /// Offers each command to the face before running it (`TurnEvent::Execute`); call
    /// after `enable_tools`.
    pub fn delegate_commands(&mut self) {
        if let Some(t) = self.tools.as_mut() {
            t.delegate_commands = true;
        }
    }

    /// Turns the grammar of tool calls off (on by default), to measure what it changes;
    /// call before `enable_tools`.
    pub fn set_call_grammar(&mut self, on: bool) {
        self.grammar_on = on;
    }

    /// Makes every answer follow `grammar` (`--json-schema`); the error says what is
    /// wrong with the grammar.
    pub fn set_output_grammar(&mut self, grammar: Grammar) -> Result<()> {
        let grammars = self.grammars()?;
        grammars.matcher(&grammar)?;
        self.output_grammar = Some((grammars, grammar));
        Ok(())
    }

    /// The model's vocabulary compiled for grammars, built on first use.
    fn grammars(&mut self) -> Result<Grammars> {
        if let Some(g) = &self.grammars {
            return Ok(g.clone());
        }
        let g = Grammars::new(Arc::clone(&self.loaded.tokenizer))?;
        self.grammars = Some(g.clone());
        Ok(g)
    }

    /// The constraint of this generation: the output grammar, else the tool-call grammar
    /// armed by its trigger.
    pub(super) fn call_constraint(&self) -> Result<Option<Box<dyn Constraint>>> {
        if let Some((grammars, grammar)) = &self.output_grammar {
            return Ok(Some(Box::new(Whole::new(grammars, grammar)?)));
        }
        let spec = self.tools.as_ref().and_then(|t| t.grammar.as_ref());
        let tok = &self.loaded.tokenizer;
        Ok(spec.map(|g| Box::new(g.constraint(Arc::clone(tok))) as Box<dyn Constraint>))
    }
}
