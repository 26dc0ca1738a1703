//! Structure-aware GGUF mutations: a lenient walk over a (maybe broken) header that
//! finds where each count, string length, type tag, dimension, offset and the
//! alignment value sit, then rewrites one of them with a value chosen for its kind, or
//! drops or duplicates a whole metadata entry or tensor info.

use std::ops::Range;

use super::super::mutate::{Rng, INTERESTING};

/// What a header field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Version,
    /// The tensor or metadata count.
    Count,
    StrLen,
    ValueType,
    ArrayLen,
    NDims,
    Dim,
    GgmlType,
    Offset,
    Alignment,
    Scalar,
}

/// A field of `width` bytes at `at`.
#[derive(Debug, Clone, Copy)]
struct Spot {
    at: usize,
    width: usize,
    kind: Kind,
}

/// The fields found, and the byte ranges of whole metadata entries and tensor infos.
#[derive(Debug, Default)]
struct Layout {
    spots: Vec<Spot>,
    entries: Vec<Range<usize>>,
}

/// Walks no further than this many items of any list (seeds are small).
const MAX_ITEMS: u64 = 4096;

struct Walk<'a> {
    data: &'a [u8],
    pos: usize,
    out: Layout,
}

impl Walk<'_> {
    fn field(&mut self, width: usize, kind: Kind) -> Option<u64> {
        let bytes = self.data.get(self.pos..self.pos + width)?;
        let mut buf = [0u8; 8];
        buf[..width].copy_from_slice(bytes);
        self.out.spots.push(Spot { at: self.pos, width, kind });
        self.pos += width;
        Some(u64::from_le_bytes(buf))
    }

    fn string(&mut self) -> Option<&[u8]> {
        let len = self.field(8, Kind::StrLen)?;
        let end = self.pos.checked_add(usize::try_from(len).ok()?)?;
        let s = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn value(&mut self, ty: u64, kind: Kind, depth: u32) -> Option<()> {
        match ty {
            0 | 1 | 7 => self.field(1, kind).map(drop),
            2 | 3 => self.field(2, kind).map(drop),
            4..=6 => self.field(4, kind).map(drop),
            10..=12 => self.field(8, kind).map(drop),
            8 => self.string().map(drop),
            9 if depth < 4 => {
                let elem = self.field(4, Kind::ValueType)?;
                let len = self.field(8, Kind::ArrayLen)?;
                for _ in 0..len.min(MAX_ITEMS) {
                    self.value(elem, Kind::Scalar, depth + 1)?;
                }
                Some(())
            }
            _ => None,
        }
    }

    fn header(&mut self) -> Option<()> {
        self.pos = 4;
        self.field(4, Kind::Version)?;
        let n_tensors = self.field(8, Kind::Count)?;
        let n_kv = self.field(8, Kind::Count)?;
        for _ in 0..n_kv.min(MAX_ITEMS) {
            let start = self.pos;
            let key = self.string()?;
            let alignment = key == b"general.alignment";
            let ty = self.field(4, Kind::ValueType)?;
            self.value(ty, if alignment { Kind::Alignment } else { Kind::Scalar }, 0)?;
            self.out.entries.push(start..self.pos);
        }
        for _ in 0..n_tensors.min(MAX_ITEMS) {
            let start = self.pos;
            self.string()?;
            let n_dims = self.field(4, Kind::NDims)?;
            for _ in 0..n_dims.min(8) {
                self.field(8, Kind::Dim)?;
            }
            self.field(4, Kind::GgmlType)?;
            self.field(8, Kind::Offset)?;
            self.out.entries.push(start..self.pos);
        }
        Some(())
    }
}

fn layout(data: &[u8]) -> Layout {
    let mut walk = Walk { data, pos: 0, out: Layout::default() };
    walk.header();
    walk.out
}

/// Applies one structure-aware mutation; false when the input has no header to work on.
pub fn mutate(rng: &mut Rng, data: &mut Vec<u8>) -> bool {
    let layout = layout(data);
    if layout.spots.is_empty() {
        return false;
    }
    if rng.chance(6) && !layout.entries.is_empty() {
        let entry = layout.entries[rng.below(layout.entries.len())].clone();
        match rng.chance(2) {
            true => drop(data.drain(entry)),
            false => {
                let copy = data[entry.clone()].to_vec();
                data.splice(entry.end..entry.end, copy);
            }
        }
        return true;
    }
    let spot = layout.spots[rng.below(layout.spots.len())];
    let mut buf = [0u8; 8];
    buf[..spot.width].copy_from_slice(&data[spot.at..spot.at + spot.width]);
    let old = u64::from_le_bytes(buf);
    let offsets: Vec<u64> =
        layout.spots.iter().filter(|s| s.kind == Kind::Offset).map(|s| read(data, s)).collect();
    let left = (data.len() - spot.at) as u64;
    let new = value_for(rng, spot.kind, old, left, &offsets);
    data[spot.at..spot.at + spot.width].copy_from_slice(&new.to_le_bytes()[..spot.width]);
    true
}

fn read(data: &[u8], spot: &Spot) -> u64 {
    let mut buf = [0u8; 8];
    buf[..spot.width].copy_from_slice(&data[spot.at..spot.at + spot.width]);
    u64::from_le_bytes(buf)
}

/// A new value for a field of `kind` that held `old`, `left` bytes before the end.
fn value_for(rng: &mut Rng, kind: Kind, old: u64, left: u64, offsets: &[u64]) -> u64 {
    let near = |rng: &mut Rng| match rng.below(6) {
        0 => old.wrapping_add(1),
        1 => old.wrapping_sub(1),
        2 => old.wrapping_mul(2),
        3 => old / 2,
        4 => old.wrapping_add(rng.below(64) as u64),
        _ => *rng.pick(INTERESTING).unwrap_or(&0),
    };
    match kind {
        Kind::Version => [0, 1, 2, 3, 4, 0x0300_0000, 0x0200_0000, u32::MAX as u64][rng.below(8)],
        Kind::ValueType => rng.below(15) as u64 | if rng.chance(20) { 0xffff_ff00 } else { 0 },
        Kind::NDims => rng.below(7) as u64,
        Kind::GgmlType => rng.below(45) as u64,
        Kind::Alignment => [0, 1, 2, 3, 8, 16, 64, 4096, 1 << 20, 1 << 21, 1 << 31][rng.below(11)],
        Kind::Count | Kind::StrLen | Kind::ArrayLen => match rng.below(5) {
            0 => left,
            1 => left + 1,
            2 => u64::MAX / 8 + 1 + rng.below(8) as u64,
            _ => near(rng),
        },
        Kind::Dim => match rng.below(4) {
            0 => [0, 1, 31, 32, 33, 256, 1 << 32, i64::MAX as u64][rng.below(8)],
            _ => near(rng),
        },
        Kind::Offset => match rng.below(4) {
            0 => *rng.pick(offsets).unwrap_or(&0),
            1 => old.wrapping_add([32, 16, 1 << 20][rng.below(3)]),
            _ => near(rng),
        },
        Kind::Scalar => near(rng),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_finds_every_field_of_a_written_file() {
        let mut w = hearth::gguf::GgufWriter::new();
        w.set_u32("general.alignment", 64).set_str("general.architecture", "llama");
        w.add_f32("t", &[2], &[1.0, 2.0]).unwrap();
        let bytes = w.to_bytes().unwrap();
        let l = layout(&bytes);
        let kinds: Vec<Kind> = l.spots.iter().map(|s| s.kind).collect();
        use Kind::*;
        let expected = [
            Version, Count, Count, StrLen, ValueType, Alignment, StrLen, ValueType, StrLen, StrLen,
            NDims, Dim, GgmlType, Offset,
        ];
        assert_eq!(kinds, expected);
        assert_eq!(l.entries.len(), 3);
    }
}
