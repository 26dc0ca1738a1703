//! Records read straight from the pages of a database file, without SQLite, for
//! `hearth sessions repair`: every cell of every b-tree page that is not on the free
//! list is decoded on its own, so a damaged page loses only the rows stored on it —
//! where SQLite, reading down from the roots, loses a whole subtree below a damaged
//! interior page, and everything when page 1 is damaged.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use rusqlite::types::Value;

use crate::error::{Error, Result};

/// The page size SQLite gives a new database, assumed when page 1 is unreadable.
const DEFAULT_PAGE_SIZE: usize = 4096;

/// One record found on a page: its rowid when it is a table row (`None` in an index,
/// where the rows of a `WITHOUT ROWID` table live), its values in column order.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub rowid: Option<i64>,
    pub values: Vec<Value>,
}

/// The database file, page by page.
struct Pages {
    file: File,
    page_size: usize,
    /// Bytes of a page SQLite uses (the page size less the reserved tail).
    usable: usize,
    n_pages: u32,
}

/// Reads every record stored on the live b-tree pages of the database at `path`.
pub fn scan(path: &Path) -> Result<Vec<Record>> {
    let mut pages = Pages::open(path).map_err(|e| Error::io(path, e))?;
    let free = pages.free_list();
    let mut records = Vec::new();
    for n in 1..=pages.n_pages {
        if free.contains(&n) {
            continue;
        }
        if let Some(page) = pages.read(n) {
            pages.cells(n, &page, &mut records);
        }
    }
    Ok(records)
}

impl Pages {
    fn open(path: &Path) -> std::io::Result<Pages> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut head = [0u8; 100];
        let whole = file.read_exact(&mut head).is_ok();
        let (page_size, reserved) = match whole && head.starts_with(b"SQLite format 3\0") {
            true => {
                let size = match u16::from_be_bytes([head[16], head[17]]) {
                    1 => 65536,
                    s => s as usize,
                };
                match size.is_power_of_two() && (512..=65536).contains(&size) {
                    true => (size, head[20] as usize),
                    false => (DEFAULT_PAGE_SIZE, 0),
                }
            }
            false => (DEFAULT_PAGE_SIZE, 0),
        };
        let usable = page_size.saturating_sub(reserved).max(480);
        let n_pages = (len / page_size as u64).min(u32::MAX as u64) as u32;
        Ok(Pages { file, page_size, usable, n_pages })
    }

    /// Page `n` (1-based), or `None` past the end or when it cannot be read.
    fn read(&mut self, n: u32) -> Option<Vec<u8>> {
        if n == 0 || n > self.n_pages {
            return None;
        }
        let mut buf = vec![0u8; self.page_size];
        self.file.seek(SeekFrom::Start((n as u64 - 1) * self.page_size as u64)).ok()?;
        self.file.read_exact(&mut buf).ok()?;
        Some(buf)
    }

    /// The pages on the free list (trunks and leaves), as far as it can be followed:
    /// freed pages keep their old content, which must not come back.
    fn free_list(&mut self) -> HashSet<u32> {
        let mut free = HashSet::new();
        let Some(first) = self.read(1) else { return free };
        if !first.starts_with(b"SQLite format 3\0") {
            return free;
        }
        let mut trunk = be32(&first, 32);
        let max_leaves = self.usable / 4 - 2;
        while trunk >= 2 && trunk <= self.n_pages && free.insert(trunk) {
            let Some(page) = self.read(trunk) else { break };
            let n_leaves = be32(&page, 4) as usize;
            if n_leaves > max_leaves {
                break;
            }
            for i in 0..n_leaves {
                free.insert(be32(&page, 8 + 4 * i));
            }
            trunk = be32(&page, 0);
        }
        free
    }

    /// Appends the records of page `n`'s cells that decode whole.
    fn cells(&mut self, n: u32, page: &[u8], out: &mut Vec<Record>) {
        let head = if n == 1 { 100 } else { 0 };
        let Some(&kind) = page.get(head) else { return };
        // 13: table leaf; 10, 2: index leaf and interior (keys are whole records).
        let (table, interior) = match kind {
            13 => (true, false),
            10 => (false, false),
            2 => (false, true),
            _ => return,
        };
        let header_len = if interior { 12 } else { 8 };
        let n_cells = be16(page, head + 3);
        let pointers = head + header_len;
        let content_from = pointers + 2 * n_cells;
        if content_from > self.usable {
            return;
        }
        for i in 0..n_cells {
            let at = be16(page, pointers + 2 * i);
            if at < content_from || at >= self.usable {
                continue;
            }
            let at = if interior { at + 4 } else { at };
            if let Some(record) = self.cell(&page[..self.usable], at, table) {
                out.push(record);
            }
        }
    }

    /// The record of the cell at `at`: its payload size, rowid (tables), local payload
    /// and overflow chain. `None` when any part of it is out of bounds or malformed.
    fn cell(&mut self, page: &[u8], at: usize, table: bool) -> Option<Record> {
        let (size, used) = varint(page.get(at..)?)?;
        let mut at = at + used;
        let rowid = match table {
            true => {
                let (rowid, used) = varint(page.get(at..)?)?;
                at += used;
                Some(rowid as i64)
            }
            false => None,
        };
        let size = usize::try_from(size).ok().filter(|&s| s <= 1 << 30)?;
        let local = local_size(size, self.usable, table);
        let mut payload = page.get(at..at + local)?.to_vec();
        if local < size {
            let first = be32(page.get(at + local..at + local + 4)?, 0);
            self.overflow(first, size, &mut payload)?;
        }
        Some(Record { rowid, values: record(&payload)? })
    }

    /// Follows an overflow chain from page `next` until `payload` holds `size` bytes.
    fn overflow(&mut self, mut next: u32, size: usize, payload: &mut Vec<u8>) -> Option<()> {
        let mut hops = 0;
        while payload.len() < size {
            hops += 1;
            if next < 2 || next > self.n_pages || hops > self.n_pages {
                return None;
            }
            let page = self.read(next)?;
            let take = (size - payload.len()).min(self.usable - 4);
            payload.extend_from_slice(&page[4..4 + take]);
            next = be32(&page, 0);
        }
        Some(())
    }
}

/// How much of a payload of `size` bytes a cell holds on its own page (SQLite's file
/// format, section 1.6), the rest going to overflow pages.
fn local_size(size: usize, usable: usize, table_leaf: bool) -> usize {
    let max_local = match table_leaf {
        true => usable - 35,
        false => (usable - 12) * 64 / 255 - 23,
    };
    if size <= max_local {
        return size;
    }
    let min_local = (usable - 12) * 32 / 255 - 23;
    let k = min_local + (size - min_local) % (usable - 4);
    if k <= max_local {
        k
    } else {
        min_local
    }
}

/// The values of a record (SQLite's record format): a header of serial types, then
/// the values. `None` when it does not decode, or text is not UTF-8 (hearth writes
/// only UTF-8, so such text is damage).
fn record(payload: &[u8]) -> Option<Vec<Value>> {
    let (header_len, mut at) = varint(payload)?;
    let header_len = usize::try_from(header_len).ok().filter(|&h| h <= payload.len())?;
    let mut body = header_len;
    let mut values = Vec::new();
    while at < header_len {
        let (serial, used) = varint(&payload[at..header_len])?;
        at += used;
        let len = match serial {
            0 | 8 | 9 => 0,
            1..=4 => serial as usize,
            5 => 6,
            6 | 7 => 8,
            10 | 11 => return None,
            n => ((n - 12) / 2) as usize,
        };
        let bytes = payload.get(body..body.checked_add(len)?)?;
        body += len;
        values.push(match serial {
            0 => Value::Null,
            8 => Value::Integer(0),
            9 => Value::Integer(1),
            7 => Value::Real(f64::from_be_bytes(bytes.try_into().ok()?)),
            1..=6 => Value::Integer(int(bytes)),
            n if n % 2 == 0 => Value::Blob(bytes.to_vec()),
            _ => Value::Text(String::from_utf8(bytes.to_vec()).ok()?),
        });
    }
    (body == payload.len()).then_some(values)
}

/// A big-endian two's-complement integer of 1 to 8 bytes.
fn int(bytes: &[u8]) -> i64 {
    let first = bytes.first().map_or(0, |&b| b as i8 as i64);
    bytes[1..].iter().fold(first, |v, &b| (v << 8) | b as i64)
}

/// SQLite's variable-length integer: 1 to 9 bytes, 7 bits each, the 9th whole.
fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(9) {
        if i == 8 {
            return Some(((v << 8) | b as u64, 9));
        }
        v = (v << 7) | (b & 0x7f) as u64;
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

fn be16(b: &[u8], at: usize) -> usize {
    b.get(at..at + 2).map_or(0, |s| u16::from_be_bytes([s[0], s[1]]) as usize)
}

fn be32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4).map_or(0, |s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_integers_decode_as_sqlite_writes_them() {
        assert_eq!(varint(&[0x05]), Some((5, 1)));
        assert_eq!(varint(&[0x81, 0x00]), Some((128, 2)));
        assert_eq!(varint(&[0xff; 9]), Some((u64::MAX, 9)));
        assert_eq!(varint(&[0x81]), None);
        assert_eq!(int(&[0xff]), -1);
        assert_eq!(int(&[0x01, 0x00]), 256);
        assert_eq!(int(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]), -2);
    }

    #[test]
    fn local_sizes_follow_the_file_format() {
        // 4096-byte pages: a table leaf keeps up to 4061 bytes, an index 1002.
        assert_eq!(local_size(4061, 4096, true), 4061);
        assert_eq!(local_size(1002, 4096, false), 1002);
        assert_eq!(local_size(5000, 4096, true), 489 + (5000 - 489) % 4092);
        assert_eq!(local_size(1003, 4096, false), 489);
    }

    /// A table written by SQLite reads back whole, rows in overflow included, and rows
    /// of a dropped table (on the free list) stay gone.
    #[test]
    fn every_row_of_a_database_reads_back_and_freed_pages_stay_freed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b BLOB, c REAL, d INTEGER);
             CREATE TABLE w (k INTEGER, s TEXT, PRIMARY KEY (k, s)) WITHOUT ROWID;
             CREATE TABLE gone (x TEXT);",
        )
        .unwrap();
        for i in 0..300i64 {
            let text = format!("row {i} ").repeat(1 + (i as usize % 7) * 200);
            let blob = vec![i as u8; (i as usize * 37) % 9000];
            conn.execute(
                "INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![i, text, blob, i as f64 + 0.5, -i * 1_000_000_007],
            )
            .unwrap();
            conn.execute("INSERT INTO w VALUES (?1, ?2)", rusqlite::params![i, text]).unwrap();
            conn.execute("INSERT INTO gone VALUES ('stale stale stale')", []).unwrap();
        }
        conn.execute_batch("DROP TABLE gone").unwrap();
        let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0)).unwrap();
        assert!(free > 0);
        drop(conn);
        let records = scan(&path).unwrap();
        // Rows of `t` (its id, the rowid, is stored as NULL); `sqlite_schema` has 5 too.
        let rows: Vec<_> =
            records.iter().filter(|r| r.values.len() == 5 && r.values[0] == Value::Null).collect();
        assert_eq!(rows.len(), 300);
        let keys: Vec<_> = records.iter().filter(|r| r.values.len() == 2).collect();
        assert_eq!(keys.len(), 300);
        for r in rows {
            let i = r.rowid.unwrap();
            let text = format!("row {i} ").repeat(1 + (i as usize % 7) * 200);
            assert_eq!(r.values[1], Value::Text(text));
            assert_eq!(r.values[2], Value::Blob(vec![i as u8; (i as usize * 37) % 9000]));
            assert_eq!(r.values[3], Value::Real(i as f64 + 0.5));
            assert_eq!(r.values[4], Value::Integer(-i * 1_000_000_007));
        }
        let stale = Value::Text("stale stale stale".into());
        assert!(records.iter().all(|r| !r.values.contains(&stale)));
    }
}
