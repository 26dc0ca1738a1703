//! Keys to actions: one table per place the keys go (the prompt, a diff pane), so
//! `update` deals in what the user means, never in key codes.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// What a key asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Insert(char),
    /// Enter: send the message or run the command.
    Submit,
    Newline,
    Backspace,
    Delete,
    DeleteWord,
    DeleteToLineStart,
    Left,
    Right,
    Home,
    End,
    /// Up: previous line, else the previous history entry.
    Up,
    Down,
    PageUp,
    PageDown,
    Complete,
    /// Esc: stop generating; close a diff pane.
    Escape,
    /// Ctrl-C: stop generating; on an idle prompt, clear it, and a second time exit.
    Interrupt,
    /// Ctrl-D on an empty prompt.
    Eof,
    /// Ctrl-G: edit the message in `$EDITOR`.
    Editor,
    /// Ctrl-O: show tool results whole, or one line each.
    ToggleTools,
    /// Ctrl-L: redraw.
    Redraw,
    /// y in a confirmation.
    Yes,
    /// n in a confirmation.
    No,
    /// a in a tool call's confirmation: yes for the rest of the session.
    Always,
}

/// Where keys go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    Prompt,
    /// A diff pane; `confirm` when it asks y/n, `always` when a (always) is an answer.
    Diff {
        confirm: bool,
        always: bool,
    },
}

/// The action of `key` in `focus`, or `None` for keys that do nothing there (and key
/// releases, which terminals with the kitty protocol report too).
pub fn action(key: KeyEvent, focus: Focus) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    // Keys that mean the same everywhere.
    match key.code {
        KeyCode::Char('c') if ctrl => return Some(Action::Interrupt),
        KeyCode::Char('l') if ctrl => return Some(Action::Redraw),
        KeyCode::PageUp => return Some(Action::PageUp),
        KeyCode::PageDown => return Some(Action::PageDown),
        KeyCode::Esc => return Some(Action::Escape),
        _ => {}
    }
    match focus {
        Focus::Prompt => prompt_action(key, ctrl),
        Focus::Diff { confirm, always } => diff_action(key, confirm, always),
    }
}

fn prompt_action(key: KeyEvent, ctrl: bool) -> Option<Action> {
    let m = key.modifiers;
    Some(match key.code {
        KeyCode::Enter if m.intersects(KeyModifiers::SHIFT | KeyModifiers::ALT) => Action::Newline,
        KeyCode::Enter => Action::Submit,
        KeyCode::Char('j') if ctrl => Action::Newline,
        KeyCode::Char('d') if ctrl => Action::Eof,
        KeyCode::Char('g') if ctrl => Action::Editor,
        KeyCode::Char('o') if ctrl => Action::ToggleTools,
        KeyCode::Char('w') if ctrl => Action::DeleteWord,
        KeyCode::Char('u') if ctrl => Action::DeleteToLineStart,
        KeyCode::Char('a') if ctrl => Action::Home,
        KeyCode::Char('e') if ctrl => Action::End,
        KeyCode::Char(_) if ctrl => return None,
        KeyCode::Char(c) => Action::Insert(c),
        KeyCode::Tab => Action::Complete,
        KeyCode::Backspace if m.contains(KeyModifiers::ALT) => Action::DeleteWord,
        KeyCode::Backspace => Action::Backspace,
        KeyCode::Delete => Action::Delete,
        KeyCode::Left => Action::Left,
        KeyCode::Right => Action::Right,
        KeyCode::Home => Action::Home,
        KeyCode::End => Action::End,
        KeyCode::Up => Action::Up,
        KeyCode::Down => Action::Down,
        _ => return None,
    })
}

fn diff_action(key: KeyEvent, confirm: bool, always: bool) -> Option<Action> {
    Some(match key.code {
        KeyCode::Char('a' | 'A') if always => Action::Always,
        KeyCode::Char('y' | 'Y') if confirm => Action::Yes,
        KeyCode::Char('n' | 'N') if confirm => Action::No,
        KeyCode::Char('q') | KeyCode::Enter if !confirm => Action::Escape,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, m)
    }

    #[test]
    fn enter_sends_and_modified_enter_breaks_the_line() {
        let p = Focus::Prompt;
        assert_eq!(action(key(KeyCode::Enter, KeyModifiers::NONE), p), Some(Action::Submit));
        assert_eq!(action(key(KeyCode::Enter, KeyModifiers::SHIFT), p), Some(Action::Newline));
        assert_eq!(action(key(KeyCode::Enter, KeyModifiers::ALT), p), Some(Action::Newline));
        assert_eq!(
            action(key(KeyCode::Char('j'), KeyModifiers::CONTROL), p),
            Some(Action::Newline)
        );
    }

    #[test]
    fn control_keys_and_releases() {
        let p = Focus::Prompt;
        let ctrl = KeyModifiers::CONTROL;
        assert_eq!(action(key(KeyCode::Char('c'), ctrl), p), Some(Action::Interrupt));
        assert_eq!(action(key(KeyCode::Char('g'), ctrl), p), Some(Action::Editor));
        assert_eq!(action(key(KeyCode::Char('x'), ctrl), p), None);
        let mut release = key(KeyCode::Char('a'), KeyModifiers::NONE);
        release.kind = KeyEventKind::Release;
        assert_eq!(action(release, p), None);
        assert_eq!(
            action(key(KeyCode::Char('A'), KeyModifiers::SHIFT), p),
            Some(Action::Insert('A'))
        );
    }

    #[test]
    fn diff_pane_keys() {
        let confirm = Focus::Diff { confirm: true, always: false };
        let none = KeyModifiers::NONE;
        assert_eq!(action(key(KeyCode::Char('y'), none), confirm), Some(Action::Yes));
        assert_eq!(action(key(KeyCode::Char('n'), none), confirm), Some(Action::No));
        assert_eq!(action(key(KeyCode::Esc, none), confirm), Some(Action::Escape));
        assert_eq!(
            action(key(KeyCode::Char('q'), none), Focus::Diff { confirm: false, always: false }),
            Some(Action::Escape)
        );
        assert_eq!(
            action(key(KeyCode::Char('y'), none), Focus::Diff { confirm: false, always: false }),
            None
        );
    }
}
