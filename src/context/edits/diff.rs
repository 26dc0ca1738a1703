//! A line diff (Myers' O(ND) algorithm) rendered as a unified diff with 3 lines of
//! context, as structured lines the UI can colour and as plain text.

use std::collections::HashMap;

/// Lines of unchanged context around each change.
const CONTEXT: usize = 3;
/// Past this many differing lines the diff stops looking for the shortest edit script
/// and replaces the rest wholesale: still a correct diff, and memory stays bounded.
const MAX_EDIT_DISTANCE: usize = 1000;

/// What a line of a unified diff is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffKind {
    /// `--- a/path` or `+++ b/path`.
    Header,
    /// `@@ -l,n +l,n @@`.
    Hunk,
    Context,
    Added,
    Removed,
    /// `\ No newline at end of file`, after the line it is about.
    NoNewline,
}

/// One line of a unified diff, with its prefix (`+`, `-`, ` `), without a newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    pub kind: DiffKind,
    pub text: String,
}

impl DiffLine {
    fn new(kind: DiffKind, text: impl Into<String>) -> DiffLine {
        DiffLine { kind, text: text.into() }
    }
}

/// The unified diff turning `old` into `new` for `path` (`None` on a side: the file does
/// not exist there, shown as `/dev/null`). Empty when nothing changed.
pub fn unified_diff(path: &str, old: Option<&str>, new: Option<&str>) -> Vec<DiffLine> {
    let a: Vec<&str> = old.unwrap_or("").split_inclusive('\n').collect();
    let b: Vec<&str> = new.unwrap_or("").split_inclusive('\n').collect();
    if old == new {
        return Vec::new();
    }
    let ops = diff_lines(&a, &b);
    let mut out = vec![
        DiffLine::new(
            DiffKind::Header,
            old.map_or("--- /dev/null".into(), |_| format!("--- a/{path}")),
        ),
        DiffLine::new(
            DiffKind::Header,
            new.map_or("+++ /dev/null".into(), |_| format!("+++ b/{path}")),
        ),
    ];
    for (lo, hi) in hunk_ranges(&ops) {
        push_hunk(&mut out, &ops[lo..hi], &a, &b);
    }
    out
}

/// The diff as text, one line each, ending with a newline.
pub fn diff_text(lines: &[DiffLine]) -> String {
    let mut s = String::new();
    for line in lines {
        s.push_str(&line.text);
        s.push('\n');
    }
    s
}

/// One step of an edit script, with the line indices it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Equal { old: usize, new: usize },
    Delete { old: usize },
    Insert { new: usize },
}

/// Groups the changes of `ops` into hunks: index ranges with `CONTEXT` equal lines
/// around changes, merged when their context would touch.
fn hunk_ranges(ops: &[Op]) -> Vec<(usize, usize)> {
    let changes: Vec<usize> =
        (0..ops.len()).filter(|&i| !matches!(ops[i], Op::Equal { .. })).collect();
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for &c in &changes {
        let lo = c.saturating_sub(CONTEXT);
        let hi = (c + 1 + CONTEXT).min(ops.len());
        match ranges.last_mut() {
            Some(last) if lo <= last.1 => last.1 = hi,
            _ => ranges.push((lo, hi)),
        }
    }
    ranges
}

fn push_hunk(out: &mut Vec<DiffLine>, ops: &[Op], a: &[&str], b: &[&str]) {
    // Where the hunk starts on each side: its first line there. A hunk covering no line
    // of a side has no context either, so it is the whole diff and that side is empty:
    // it starts at 0, as diff writes it (`@@ -0,0 +1,3 @@`).
    let old_count = ops.iter().filter(|op| !matches!(op, Op::Insert { .. })).count();
    let new_count = ops.iter().filter(|op| !matches!(op, Op::Delete { .. })).count();
    let old_first = ops.iter().find_map(|op| match *op {
        Op::Equal { old, .. } | Op::Delete { old } => Some(old),
        Op::Insert { .. } => None,
    });
    let new_first = ops.iter().find_map(|op| match *op {
        Op::Equal { new, .. } | Op::Insert { new } => Some(new),
        Op::Delete { .. } => None,
    });
    let old_start = old_first.map_or(0, |i| i + 1);
    let new_start = new_first.map_or(0, |i| i + 1);
    out.push(DiffLine::new(
        DiffKind::Hunk,
        format!("@@ -{} +{} @@", range(old_start, old_count), range(new_start, new_count)),
    ));
    for op in ops {
        let (kind, prefix, line) = match *op {
            Op::Equal { old, .. } => (DiffKind::Context, ' ', a[old]),
            Op::Delete { old } => (DiffKind::Removed, '-', a[old]),
            Op::Insert { new } => (DiffKind::Added, '+', b[new]),
        };
        out.push(DiffLine::new(
            kind,
            format!("{prefix}{}", line.strip_suffix('\n').unwrap_or(line)),
        ));
        if !line.ends_with('\n') {
            out.push(DiffLine::new(DiffKind::NoNewline, "\\ No newline at end of file"));
        }
    }
}

/// `l,n`, or `l` alone when the range is one line, as diff writes it.
fn range(start: usize, count: usize) -> String {
    if count == 1 {
        start.to_string()
    } else {
        format!("{start},{count}")
    }
}

/// The shortest edit script from `a` to `b` (Myers), common prefix and suffix first.
pub(super) fn diff_lines(a: &[&str], b: &[&str]) -> Vec<Op> {
    // Lines become ids so comparisons are cheap.
    let mut ids: HashMap<&str, u32> = HashMap::new();
    let mut id = |s| {
        let n = ids.len() as u32;
        *ids.entry(s).or_insert(n)
    };
    let a_ids: Vec<u32> = a.iter().map(|s| id(*s)).collect();
    let b_ids: Vec<u32> = b.iter().map(|s| id(*s)).collect();
    let prefix = a_ids.iter().zip(&b_ids).take_while(|(x, y)| x == y).count();
    let suffix = a_ids[prefix..]
        .iter()
        .rev()
        .zip(b_ids[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let mut ops: Vec<Op> = (0..prefix).map(|i| Op::Equal { old: i, new: i }).collect();
    let (a_mid, b_mid) = (&a_ids[prefix..a.len() - suffix], &b_ids[prefix..b.len() - suffix]);
    let middle = myers(a_mid, b_mid).unwrap_or_else(|| {
        let deletes = (0..a_mid.len()).map(|old| Op::Delete { old });
        deletes.chain((0..b_mid.len()).map(|new| Op::Insert { new })).collect()
    });
    ops.extend(middle.into_iter().map(|op| match op {
        Op::Equal { old, new } => Op::Equal { old: old + prefix, new: new + prefix },
        Op::Delete { old } => Op::Delete { old: old + prefix },
        Op::Insert { new } => Op::Insert { new: new + prefix },
    }));
    let (a_end, b_end) = (a.len() - suffix, b.len() - suffix);
    ops.extend((0..suffix).map(|i| Op::Equal { old: a_end + i, new: b_end + i }));
    ops
}

/// Myers' greedy forward search, keeping each round's frontier to walk back the path;
/// `None` past `MAX_EDIT_DISTANCE`. Deletions come before insertions in a change.
fn myers(a: &[u32], b: &[u32]) -> Option<Vec<Op>> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    let max = (a.len() + b.len()).min(MAX_EDIT_DISTANCE) as isize;
    let offset = max + 1;
    // v[offset + k]: the furthest x reached on diagonal k = x - y.
    let mut v = vec![0isize; 2 * offset as usize + 1];
    // trace[d]: v over diagonals -(d+1)..=d+1 before round d.
    let mut trace: Vec<Vec<isize>> = Vec::new();
    for d in 0..=max {
        trace.push(v[(offset - d - 1) as usize..=(offset + d + 1) as usize].to_vec());
        for k in (-d..=d).step_by(2) {
            let at = |k: isize| v[(offset + k) as usize];
            let mut x = if k == -d || (k != d && at(k - 1) < at(k + 1)) {
                at(k + 1)
            } else {
                at(k - 1) + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[(offset + k) as usize] = x;
            if x >= n && y >= m {
                return Some(backtrack(&trace, n, m));
            }
        }
    }
    None
}

fn backtrack(trace: &[Vec<isize>], n: isize, m: isize) -> Vec<Op> {
    let mut ops = Vec::new();
    let (mut x, mut y) = (n, m);
    for d in (0..trace.len() as isize).rev() {
        let v = &trace[d as usize];
        // trace[d] starts at diagonal -(d+1).
        let at = |k: isize| v[(k + d + 1) as usize];
        let k = x - y;
        let prev_k = if k == -d || (k != d && at(k - 1) < at(k + 1)) { k + 1 } else { k - 1 };
        let prev_x = if d == 0 { 0 } else { at(prev_k) };
        let prev_y = if d == 0 { 0 } else { prev_x - prev_k };
        while x > prev_x && y > prev_y {
            x -= 1;
            y -= 1;
            ops.push(Op::Equal { old: x as usize, new: y as usize });
        }
        if d > 0 {
            if x == prev_x {
                ops.push(Op::Insert { new: prev_y as usize });
            } else {
                ops.push(Op::Delete { old: prev_x as usize });
            }
        }
        x = prev_x;
        y = prev_y;
    }
    ops.reverse();
    ops
}
