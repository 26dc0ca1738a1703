//! The REPL's input buffer: multi-line text with a cursor (a byte offset on a char
//! boundary), editing by character, word and line, and the history of sent messages that
//! Up and Down walk through (the draft being typed is kept while walking).

/// The text being typed, its cursor, and the messages sent before.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InputBox {
    text: String,
    /// Byte offset into `text`, always on a char boundary.
    cursor: usize,
    history: Vec<String>,
    /// The history entry shown, while walking the history.
    walking: Option<usize>,
    /// What was typed before walking the history started.
    draft: String,
}

impl InputBox {
    pub fn new() -> InputBox {
        InputBox::default()
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    pub fn history(&self) -> &[String] {
        &self.history
    }

    /// Replaces the text; the cursor goes to its end.
    pub fn set(&mut self, text: impl Into<String>) {
        self.text = text.into();
        self.cursor = self.text.len();
        self.walking = None;
    }

    /// Takes the text out (recording it in the history when not blank), leaving it empty.
    pub fn take(&mut self) -> String {
        let text = std::mem::take(&mut self.text);
        self.cursor = 0;
        self.walking = None;
        self.draft.clear();
        if !text.trim().is_empty() && self.history.last() != Some(&text) {
            self.history.push(text.clone());
        }
        text
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.cursor = 0;
        self.walking = None;
    }

    pub fn insert_char(&mut self, c: char) {
        self.text.insert(self.cursor, c);
        self.cursor += c.len_utf8();
    }

    /// Inserts `s` at the cursor; `\r\n` and lone `\r` (as pasted from some terminals)
    /// become `\n`, and tabs are kept.
    pub fn insert_str(&mut self, s: &str) {
        let s = s.replace("\r\n", "\n").replace('\r', "\n");
        self.text.insert_str(self.cursor, &s);
        self.cursor += s.len();
    }

    fn prev_boundary(&self) -> usize {
        self.text[..self.cursor].char_indices().next_back().map_or(0, |(i, _)| i)
    }

    fn next_boundary(&self) -> usize {
        self.text[self.cursor..].chars().next().map_or(self.cursor, |c| self.cursor + c.len_utf8())
    }

    pub fn backspace(&mut self) {
        let start = self.prev_boundary();
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
    }

    pub fn delete(&mut self) {
        let end = self.next_boundary();
        self.text.replace_range(self.cursor..end, "");
    }

    /// Deletes the word before the cursor (Ctrl-W): trailing spaces, then non-spaces.
    pub fn delete_word(&mut self) {
        let before = &self.text[..self.cursor];
        let trimmed = before.trim_end_matches([' ', '\t']);
        let start = trimmed.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
    }

    /// Deletes from the start of the cursor's line to the cursor (Ctrl-U).
    pub fn delete_to_line_start(&mut self) {
        let start = self.line_start();
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
    }

    pub fn left(&mut self) {
        self.cursor = self.prev_boundary();
    }

    pub fn right(&mut self) {
        self.cursor = self.next_boundary();
    }

    fn line_start(&self) -> usize {
        self.text[..self.cursor].rfind('\n').map_or(0, |i| i + 1)
    }

    fn line_end(&self) -> usize {
        self.text[self.cursor..].find('\n').map_or(self.text.len(), |i| self.cursor + i)
    }

    pub fn home(&mut self) {
        self.cursor = self.line_start();
    }

    pub fn end(&mut self) {
        self.cursor = self.line_end();
    }

    /// The cursor's line and column (in chars).
    pub fn line_col(&self) -> (usize, usize) {
        let before = &self.text[..self.cursor];
        let line = before.matches('\n').count();
        (line, before[self.line_start()..].chars().count())
    }

    /// Moves to `col` (chars, clamped) of the line starting at byte `start`.
    fn goto_col(&mut self, start: usize, col: usize) {
        let line = &self.text[start..];
        let line = &line[..line.find('\n').unwrap_or(line.len())];
        self.cursor = start + line.char_indices().nth(col).map_or(line.len(), |(i, _)| i);
    }

    /// Moves up a line; `false` when the cursor is on the first line.
    pub fn up(&mut self) -> bool {
        let start = self.line_start();
        if start == 0 {
            return false;
        }
        let (_, col) = self.line_col();
        let prev_start = self.text[..start - 1].rfind('\n').map_or(0, |i| i + 1);
        self.goto_col(prev_start, col);
        true
    }

    /// Moves down a line; `false` when the cursor is on the last line.
    pub fn down(&mut self) -> bool {
        let end = self.line_end();
        if end == self.text.len() {
            return false;
        }
        let (_, col) = self.line_col();
        self.goto_col(end + 1, col);
        true
    }

    /// Shows the previous history entry (the draft is kept); `false` at the oldest.
    pub fn history_prev(&mut self) -> bool {
        let next = match self.walking {
            None if self.history.is_empty() => return false,
            None => {
                self.draft = self.text.clone();
                self.history.len() - 1
            }
            Some(0) => return false,
            Some(i) => i - 1,
        };
        self.walking = Some(next);
        self.text = self.history[next].clone();
        self.cursor = self.text.len();
        true
    }

    /// Shows the next history entry, or the draft after the newest; `false` when not
    /// walking the history.
    pub fn history_next(&mut self) -> bool {
        let Some(i) = self.walking else { return false };
        if i + 1 < self.history.len() {
            self.walking = Some(i + 1);
            self.text = self.history[i + 1].clone();
        } else {
            self.walking = None;
            self.text = std::mem::take(&mut self.draft);
        }
        self.cursor = self.text.len();
        true
    }

    /// The word the cursor ends (from the last whitespace before it) and where it starts.
    pub fn word_before_cursor(&self) -> (usize, &str) {
        let before = &self.text[..self.cursor];
        let start = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        (start, &before[start..])
    }

    /// Replaces the bytes `start..cursor` with `with`, the cursor after it.
    pub fn replace_before_cursor(&mut self, start: usize, with: &str) {
        self.text.replace_range(start..self.cursor, with);
        self.cursor = start + with.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(s: &str) -> InputBox {
        let mut b = InputBox::new();
        b.insert_str(s);
        b
    }

    #[test]
    fn editing_keeps_the_cursor_on_char_boundaries() {
        let mut b = typed("héllo");
        b.left();
        b.left();
        b.left();
        b.left();
        assert_eq!(b.cursor(), 1);
        b.delete();
        assert_eq!(b.text(), "hllo");
        b.insert_char('é');
        b.backspace();
        b.backspace();
        assert_eq!(b.text(), "llo");
        b.end();
        b.insert_str(" a\r\nb");
        assert_eq!(b.text(), "llo a\nb");
        b.delete_word();
        assert_eq!(b.text(), "llo a\n");
    }

    #[test]
    fn up_and_down_move_between_lines_keeping_the_column() {
        let mut b = typed("abcdef\nxy\nlong line");
        assert_eq!(b.line_col(), (2, 9));
        assert!(b.up());
        assert_eq!(b.line_col(), (1, 2));
        assert!(b.up());
        assert_eq!(b.line_col(), (0, 2));
        assert!(!b.up());
        assert!(b.down());
        assert!(b.down());
        assert!(!b.down());
        b.home();
        assert_eq!(b.line_col(), (2, 0));
        b.delete_to_line_start();
        assert_eq!(b.text(), "abcdef\nxy\nlong line");
    }

    #[test]
    fn history_walk_keeps_the_draft() {
        let mut b = typed("first");
        assert_eq!(b.take(), "first");
        b.insert_str("second");
        b.take();
        b.insert_str("draft");
        assert!(b.history_prev());
        assert_eq!(b.text(), "second");
        assert!(b.history_prev());
        assert_eq!(b.text(), "first");
        assert!(!b.history_prev());
        assert!(b.history_next());
        assert!(b.history_next());
        assert_eq!(b.text(), "draft");
        assert!(!b.history_next());
        // Blank messages and repeats are not recorded.
        b.set("  ");
        b.take();
        b.set("second");
        b.take();
        assert_eq!(b.history(), ["first", "second"]);
    }

    #[test]
    fn word_before_cursor_for_completion() {
        let mut b = typed("look at @src/ma");
        assert_eq!(b.word_before_cursor(), (8, "@src/ma"));
        b.replace_before_cursor(8, "@src/main.rs");
        assert_eq!(b.text(), "look at @src/main.rs");
        assert_eq!(b.cursor(), b.text().len());
    }
}
