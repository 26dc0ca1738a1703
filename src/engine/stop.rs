//! Stop strings over streamed text: shows what is safe to show, holds back a tail that
//! could be the start of a stop string, and reports when one is complete.

/// What a piece of streamed text released.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StopOutput {
    /// Text that can be shown now (never any part of a stop string).
    pub emit: String,
    /// A stop string is complete: `emit` holds the text before it, and generation should end.
    pub stopped: bool,
}

/// Watches streamed text for user stop strings.
///
/// Text is released as soon as no stop string can begin in it; a tail that is a proper
/// prefix of some stop string waits for the next piece. When a stop string completes, the
/// text before its first occurrence is released and the stop string itself is not. The
/// held-back tail always starts on a char boundary (stop strings are `str`s, so any
/// occurrence starts and ends on one).
#[derive(Debug, Clone, Default)]
pub struct StopStrings {
    /// Non-empty stop strings; empty ones would match everywhere and are dropped.
    stops: Vec<String>,
    /// Text received but not yet released.
    held: String,
    stopped: bool,
}

impl StopStrings {
    /// Watches for `stops`; empty strings in it are ignored.
    pub fn new(stops: Vec<String>) -> Self {
        let stops = stops.into_iter().filter(|s| !s.is_empty()).collect();
        StopStrings { stops, held: String::new(), stopped: false }
    }

    /// Whether a stop string has been seen. After that, `push` releases nothing.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Takes the next streamed piece and returns what can be shown now.
    pub fn push(&mut self, piece: &str) -> StopOutput {
        if self.stopped {
            return StopOutput { emit: String::new(), stopped: true };
        }
        self.held.push_str(piece);
        if let Some(at) = self.first_match() {
            self.held.truncate(at);
            self.stopped = true;
            return StopOutput { emit: std::mem::take(&mut self.held), stopped: true };
        }
        let keep = self.partial_tail_start();
        let tail = self.held.split_off(keep);
        StopOutput { emit: std::mem::replace(&mut self.held, tail), stopped: false }
    }

    /// Releases the held-back tail at the end of generation (nothing once stopped).
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// The byte offset of the earliest complete stop string in the held text.
    fn first_match(&self) -> Option<usize> {
        self.stops.iter().filter_map(|s| self.held.find(s.as_str())).min()
    }

    /// Where the longest tail of the held text that is a proper prefix of a stop string
    /// begins; the held text's length when there is none.
    fn partial_tail_start(&self) -> usize {
        let longest = self.stops.iter().map(|s| s.len()).max().unwrap_or(0);
        let from = self.held.len().saturating_sub(longest.saturating_sub(1));
        (from..self.held.len())
            .filter(|&i| self.held.is_char_boundary(i))
            .find(|&i| {
                let tail = &self.held[i..];
                self.stops.iter().any(|s| s.len() > tail.len() && s.starts_with(tail))
            })
            .unwrap_or(self.held.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stops(list: &[&str]) -> StopStrings {
        StopStrings::new(list.iter().map(|s| s.to_string()).collect())
    }

    /// Feeds `pieces`, returning everything emitted, whether it stopped, and after which
    /// piece (index) it stopped.
    fn feed(s: &mut StopStrings, pieces: &[&str]) -> (String, Option<usize>) {
        let mut out = String::new();
        for (i, p) in pieces.iter().enumerate() {
            let o = s.push(p);
            out += &o.emit;
            if o.stopped {
                return (out, Some(i));
            }
        }
        out += &s.finish();
        (out, None)
    }

    #[test]
    fn no_stop_strings_passes_everything_through() {
        let mut s = stops(&[]);
        assert_eq!(s.push("hello").emit, "hello");
        assert_eq!(s.push("").emit, "");
        assert_eq!(s.finish(), "");
        let mut s = stops(&[""]);
        assert_eq!(s.push("a").emit, "a");
    }

    #[test]
    fn stop_inside_one_piece() {
        let mut s = stops(&["END"]);
        let o = s.push("abcENDdef");
        assert_eq!(o, StopOutput { emit: "abc".into(), stopped: true });
        assert!(s.is_stopped());
        assert_eq!(s.push("more"), StopOutput { emit: String::new(), stopped: true });
        assert_eq!(s.finish(), "");
    }

    #[test]
    fn stop_across_pieces_never_emits_a_partial_stop() {
        let mut s = stops(&["</code>"]);
        assert_eq!(s.push("x = 1</").emit, "x = 1");
        assert_eq!(s.push("co").emit, "");
        let o = s.push("de> tail");
        assert_eq!(o, StopOutput { emit: String::new(), stopped: true });

        let mut s = stops(&["###"]);
        assert_eq!(feed(&mut s, &["a#", "#", "b", "#", "#", "#", "c"]), ("a##b".into(), Some(5)));
    }

    #[test]
    fn a_false_start_is_released() {
        let mut s = stops(&["STOP"]);
        assert_eq!(s.push("ST").emit, "");
        assert_eq!(s.push("ART").emit, "START");
        assert_eq!(s.push("STO").emit, "");
        assert_eq!(s.finish(), "STO");
    }

    #[test]
    fn overlapping_prefix_keeps_the_right_tail() {
        // "aab" then "c": the stop "abc" starts at the second 'a'.
        let mut s = stops(&["abc"]);
        assert_eq!(s.push("aab").emit, "a");
        assert_eq!(s.push("c"), StopOutput { emit: String::new(), stopped: true });
        // Self-overlapping stop: "aaab" inside "aaaab".
        let mut s = stops(&["aaab"]);
        assert_eq!(feed(&mut s, &["a", "a", "a", "a", "b"]), ("a".into(), Some(4)));
    }

    #[test]
    fn earliest_of_several_stop_strings_wins() {
        let mut s = stops(&["world", "lo w"]);
        assert_eq!(s.push("hello world"), StopOutput { emit: "hel".into(), stopped: true });
        let mut s = stops(&["\n\n", "User:"]);
        assert_eq!(feed(&mut s, &["Hi", "\n", "Us", "er:", "x"]), ("Hi\n".into(), Some(3)));
        // The longer stop's prefix is held even when a shorter stop does not match.
        let mut s = stops(&["xyz", "q"]);
        assert_eq!(s.push("axy").emit, "a");
        assert_eq!(s.push("w").emit, "xyw");
    }

    #[test]
    fn unicode_is_never_split() {
        let mut s = stops(&["→END", "é!"]);
        assert_eq!(s.push("café").emit, "caf");
        assert_eq!(s.push("s →").emit, "és ");
        assert_eq!(s.push("EN").emit, "");
        assert_eq!(s.push("D"), StopOutput { emit: String::new(), stopped: true });
        // A stop whose first char shares a leading byte with the text's last char.
        let mut s = stops(&["é"]);
        assert_eq!(s.push("è").emit, "è");
        let mut s = stops(&["日本語"]);
        assert_eq!(feed(&mut s, &["これは日", "本", "だ"]), ("これは日本だ".into(), None));
    }

    #[test]
    fn finish_flushes_the_held_tail() {
        let mut s = stops(&["<|end|>"]);
        assert_eq!(s.push("done <|en").emit, "done ");
        assert_eq!(s.finish(), "<|en");
        assert_eq!(s.finish(), "");
    }
}
