//! A bounds-checked little-endian reader over the header bytes of a GGUF file.

use crate::error::{Error, Result};

/// Reads primitives from a byte slice, refusing to read past its end.
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor { buf, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Takes `n` bytes, or fails naming what was being read.
    pub fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() as u64 {
            return Err(Error::bad_input(format!(
                "truncated: {what} at byte {} needs {n} bytes, {} left",
                self.pos,
                self.remaining()
            )));
        }
        let n = n as usize;
        let bytes = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let bytes = self.take(N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    pub fn u16(&mut self, what: &str) -> Result<u16> {
        self.array(what).map(u16::from_le_bytes)
    }

    pub fn u32(&mut self, what: &str) -> Result<u32> {
        self.array(what).map(u32::from_le_bytes)
    }

    pub fn u64(&mut self, what: &str) -> Result<u64> {
        self.array(what).map(u64::from_le_bytes)
    }

    pub fn i8(&mut self, what: &str) -> Result<i8> {
        Ok(self.u8(what)? as i8)
    }

    pub fn i16(&mut self, what: &str) -> Result<i16> {
        Ok(self.u16(what)? as i16)
    }

    pub fn i32(&mut self, what: &str) -> Result<i32> {
        Ok(self.u32(what)? as i32)
    }

    pub fn i64(&mut self, what: &str) -> Result<i64> {
        Ok(self.u64(what)? as i64)
    }

    pub fn f32(&mut self, what: &str) -> Result<f32> {
        Ok(f32::from_bits(self.u32(what)?))
    }

    pub fn f64(&mut self, what: &str) -> Result<f64> {
        Ok(f64::from_bits(self.u64(what)?))
    }

    pub fn bool(&mut self, what: &str) -> Result<bool> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(Error::bad_input(format!(
                "{what} at byte {} is a bool with value {b} (must be 0 or 1)",
                self.pos - 1
            ))),
        }
    }

    /// A GGUF string: u64 length, then that many bytes of UTF-8.
    pub fn string(&mut self, what: &str) -> Result<String> {
        let start = self.pos;
        let len = self.u64(what)?;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|e| {
            Error::bad_input(format!("{what} at byte {start} is not valid UTF-8 ({e})"))
        })
    }

    /// Checks that `count` items of at least `min_size` bytes each can fit in what is
    /// left, so that nothing is allocated for a count the file cannot hold.
    pub fn check_count(&self, count: u64, min_size: u64, what: &str) -> Result<usize> {
        let needed = count.checked_mul(min_size);
        match needed {
            Some(n) if n <= self.remaining() as u64 => Ok(count as usize),
            _ => Err(Error::bad_input(format!(
                "{what} count {count} at byte {} cannot fit in the {} bytes left",
                self.pos,
                self.remaining()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian_and_stops_at_end() {
        let mut c = Cursor::new(&[1, 0, 0, 0, 2]);
        assert_eq!(c.u32("x").unwrap(), 1);
        let e = c.u32("the count").unwrap_err();
        assert_eq!(e.to_string(), "truncated: the count at byte 4 needs 4 bytes, 1 left");
    }

    #[test]
    fn huge_string_length_is_refused_without_allocating() {
        let mut bytes = u64::MAX.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"abc");
        let e = Cursor::new(&bytes).string("key").unwrap_err();
        assert!(e.to_string().contains("needs 18446744073709551615 bytes, 3 left"), "{e}");
    }

    #[test]
    fn counts_are_checked_against_bytes_left() {
        let c = Cursor::new(&[0; 16]);
        assert_eq!(c.check_count(2, 8, "array").unwrap(), 2);
        assert!(c.check_count(3, 8, "array").is_err());
        assert!(c.check_count(u64::MAX, 8, "array").is_err());
    }
}
