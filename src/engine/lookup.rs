//! Drafts for speculative decoding from the context itself: the last few tokens of the
//! history looked up earlier in it (longest n-gram first, the latest occurrence), and the
//! tokens that followed there proposed as the continuation. Answers that repeat their
//! context — an edited file, a quoted block, identifiers — get long drafts for free.
//! A draft only proposes; the verifier (`generate`) keeps what the model agrees with.

/// Proposes the next tokens of a history.
pub trait Drafter {
    /// Up to `max` tokens likely to follow `history` (none when it has no guess).
    fn draft(&mut self, history: &[u32], max: usize) -> Vec<u32>;
}

/// N-gram lookup in the history.
#[derive(Debug, Clone, Copy)]
pub struct Lookup {
    /// The longest and shortest n-grams matched.
    pub n_max: usize,
    pub n_min: usize,
}

impl Default for Lookup {
    fn default() -> Lookup {
        Lookup { n_max: 4, n_min: 2 }
    }
}

impl Drafter for Lookup {
    fn draft(&mut self, history: &[u32], max: usize) -> Vec<u32> {
        if max == 0 {
            return Vec::new();
        }
        for n in (self.n_min..=self.n_max).rev() {
            if history.len() <= n {
                continue;
            }
            let tail = &history[history.len() - n..];
            // The latest earlier occurrence whose continuation is in the history.
            let found = (0..history.len() - n).rev().find(|&i| &history[i..i + n] == tail);
            if let Some(i) = found {
                let from = i + n;
                return history[from..(from + max).min(history.len())].to_vec();
            }
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_latest_match_proposes_what_followed_it() {
        let mut l = Lookup::default();
        // "1 2 3 4 5 ... 1 2 3" → 4 5 follow the 3-gram.
        let h = [1, 2, 3, 4, 5, 9, 1, 2, 3];
        assert_eq!(l.draft(&h, 2), [4, 5]);
        assert_eq!(l.draft(&h, 10), [4, 5, 9, 1, 2, 3]);
        // The later of two occurrences wins.
        let h = [7, 8, 1, 7, 8, 2, 7, 8];
        assert_eq!(l.draft(&h, 1), [2]);
        // No repeated bigram: nothing.
        assert!(l.draft(&[1, 2, 3, 4], 4).is_empty());
        assert!(l.draft(&h, 0).is_empty());
    }
}
