//! Byte-level mutations (bit flips, interesting integers, inserts, deletes, splices,
//! dictionary words, line shuffles) and the small seeded random generator that picks them.

/// xorshift64*: fast, seedable, good enough to pick mutations.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, so that 0 and small seeds start well mixed.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next() % n as u64) as usize
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    /// A length favouring small values: 1, 2, 4, … up to `max`.
    pub fn small_len(&mut self, max: usize) -> usize {
        let bits = self.below(usize::BITS as usize - max.max(1).leading_zeros() as usize + 1);
        (self.below(1 << bits) + 1).min(max.max(1))
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len()))
    }
}

/// Integers that tend to sit on boundaries: sizes, counts, signs, powers of two.
pub const INTERESTING: &[u64] = &[
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    16,
    31,
    32,
    64,
    127,
    128,
    255,
    256,
    1023,
    1024,
    4096,
    32767,
    32768,
    65535,
    65536,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    1 << 40,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX,
    u64::MAX - 1,
];

/// Applies 1 to 16 stacked mutations to `data`, keeping it at most `max_len` bytes.
/// `other` is another corpus entry to splice from; `dict` holds words worth inserting.
pub fn mutate(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8], dict: &[Vec<u8>], max_len: usize) {
    let rounds = 1 << rng.below(5);
    for _ in 0..rounds {
        mutate_once(rng, data, other, dict);
    }
    data.truncate(max_len);
}

fn mutate_once(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8], dict: &[Vec<u8>]) {
    match rng.below(14) {
        0 => flip_bit(rng, data),
        1 => set_byte(rng, data),
        2 | 3 => set_interesting(rng, data),
        4 => add_delta(rng, data),
        5 => delete_range(rng, data),
        6 => insert_bytes(rng, data),
        7 => insert_run(rng, data),
        8 => copy_range(rng, data),
        9 => splice(rng, data, other),
        10 | 11 => insert_word(rng, data, dict),
        12 => shuffle_lines(rng, data),
        _ => truncate(rng, data),
    }
}

fn flip_bit(rng: &mut Rng, data: &mut [u8]) {
    if !data.is_empty() {
        let i = rng.below(data.len());
        data[i] ^= 1 << rng.below(8);
    }
}

fn set_byte(rng: &mut Rng, data: &mut [u8]) {
    if !data.is_empty() {
        let i = rng.below(data.len());
        data[i] = rng.next() as u8;
    }
}

/// Writes an interesting integer, 1 to 8 bytes wide, little-endian, maybe negated.
fn set_interesting(rng: &mut Rng, data: &mut [u8]) {
    let width = [1, 2, 4, 8][rng.below(4)];
    if data.len() < width {
        return;
    }
    let mut v = *rng.pick(INTERESTING).unwrap_or(&0);
    if rng.chance(4) {
        v = v.wrapping_neg();
    }
    let at = rng.below(data.len() - width + 1);
    data[at..at + width].copy_from_slice(&v.to_le_bytes()[..width]);
}

/// Adds or subtracts a small number to a 1, 4 or 8-byte little-endian integer.
fn add_delta(rng: &mut Rng, data: &mut [u8]) {
    let width = [1, 4, 8][rng.below(3)];
    if data.len() < width {
        return;
    }
    let at = rng.below(data.len() - width + 1);
    let mut buf = [0u8; 8];
    buf[..width].copy_from_slice(&data[at..at + width]);
    let delta = rng.below(35) as u64 + 1;
    let v = u64::from_le_bytes(buf);
    let v = if rng.chance(2) { v.wrapping_add(delta) } else { v.wrapping_sub(delta) };
    data[at..at + width].copy_from_slice(&v.to_le_bytes()[..width]);
}

fn delete_range(rng: &mut Rng, data: &mut Vec<u8>) {
    if !data.is_empty() {
        let at = rng.below(data.len());
        let n = rng.small_len(data.len() - at);
        data.drain(at..at + n);
    }
}

fn insert_bytes(rng: &mut Rng, data: &mut Vec<u8>) {
    let at = rng.below(data.len() + 1);
    let n = rng.small_len(32);
    let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
    data.splice(at..at, bytes);
}

/// A long run of one byte (a character repeated, zeros, 0xff).
fn insert_run(rng: &mut Rng, data: &mut Vec<u8>) {
    let at = rng.below(data.len() + 1);
    let n = rng.small_len(4096);
    let byte = match rng.below(3) {
        0 => data.get(rng.below(data.len())).copied().unwrap_or(b'a'),
        1 => [0, 0xff, b' ', b'\n', b'a', b'{', b'[', b'<'][rng.below(8)],
        _ => rng.next() as u8,
    };
    data.splice(at..at, std::iter::repeat_n(byte, n));
}

/// Copies a range of the input to another place (overwriting or inserting).
fn copy_range(rng: &mut Rng, data: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    let from = rng.below(data.len());
    let n = rng.small_len(data.len() - from);
    let chunk = data[from..from + n].to_vec();
    let to = rng.below(data.len() + 1);
    if rng.chance(2) {
        data.splice(to..to, chunk);
    } else {
        let end = (to + n).min(data.len());
        data.splice(to..end, chunk);
    }
}

/// Crosses over with another corpus entry: a chunk of it inserted, or its tail taken.
fn splice(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
    if other.is_empty() {
        return;
    }
    let from = rng.below(other.len());
    let at = rng.below(data.len() + 1);
    if rng.chance(2) {
        data.truncate(at);
        data.extend_from_slice(&other[from..]);
    } else {
        let n = rng.small_len(other.len() - from);
        data.splice(at..at, other[from..from + n].iter().copied());
    }
}

fn insert_word(rng: &mut Rng, data: &mut Vec<u8>, dict: &[Vec<u8>]) {
    let Some(word) = rng.pick(dict) else { return insert_bytes(rng, data) };
    let at = rng.below(data.len() + 1);
    if rng.chance(3) && at < data.len() {
        let end = (at + word.len()).min(data.len());
        data.splice(at..end, word.iter().copied());
    } else {
        data.splice(at..at, word.iter().copied());
    }
}

/// Duplicates, drops or swaps whole lines.
fn shuffle_lines(rng: &mut Rng, data: &mut Vec<u8>) {
    let mut lines: Vec<Vec<u8>> =
        data.split_inclusive(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    if lines.is_empty() {
        return;
    }
    let i = rng.below(lines.len());
    match rng.below(3) {
        0 => {
            let line = lines[i].clone();
            lines.insert(rng.below(lines.len() + 1), line);
        }
        1 => {
            lines.remove(i);
        }
        _ => {
            let j = rng.below(lines.len());
            lines.swap(i, j);
        }
    }
    *data = lines.concat();
}

fn truncate(rng: &mut Rng, data: &mut Vec<u8>) {
    let n = rng.below(data.len() + 1);
    data.truncate(n);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_stay_within_the_length_limit() {
        let mut rng = Rng::new(7);
        let dict = vec![b"word".to_vec()];
        for _ in 0..10_000 {
            let mut data = b"line one\nline two\n".to_vec();
            mutate(&mut rng, &mut data, b"other", &dict, 64);
            assert!(data.len() <= 64);
        }
    }
}
