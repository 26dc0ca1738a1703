//! KV snapshots: the filled part of a session's cache with a versioned header binding
//! it to the model file (SHA-256), architecture, context size, cache type and token
//! list, so it is never restored into anything else.

use sha2::{Digest, Sha256};

use crate::backend::KvType;
use crate::error::{Error, Result};

const MAGIC: &[u8; 4] = b"HKVS";
/// 2 added the recurrent-state checkpoints after the cache bytes; 1 is still read.
const VERSION: u32 = 2;

/// The element types of the cached keys and values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvDtype {
    pub k: KvType,
    pub v: KvType,
}

impl KvDtype {
    pub const F16: KvDtype = KvDtype { k: KvType::F16, v: KvType::F16 };

    /// One header byte: the K type's code in the low nibble, V's in the high one
    /// (f16 1, f32 2, q8_0 3), except f16/f16, written 1 as before there were others.
    fn to_byte(self) -> u8 {
        let code = |t: KvType| match t {
            KvType::F16 => 1,
            KvType::F32 => 2,
            KvType::Q8_0 => 3,
        };
        if self == KvDtype::F16 {
            1
        } else {
            code(self.k) | code(self.v) << 4
        }
    }

    fn from_byte(b: u8) -> Option<KvDtype> {
        let ty = |c: u8| match c {
            1 => Some(KvType::F16),
            2 => Some(KvType::F32),
            3 => Some(KvType::Q8_0),
            _ => None,
        };
        if b == 1 {
            return Some(KvDtype::F16);
        }
        Some(KvDtype { k: ty(b & 0xF)?, v: ty(b >> 4)? })
    }
}

/// What a snapshot is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotMeta {
    pub model_sha256: [u8; 32],
    pub arch: String,
    pub n_ctx: u32,
    pub dtype: KvDtype,
    pub tokens: Vec<u32>,
    /// A recurrent model's state after the first `pos` tokens, for some positions (the
    /// last one `tokens.len()`); empty for other models.
    pub states: Vec<(usize, Vec<u8>)>,
}

/// SHA-256 of a byte string (a model file's bytes).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Header and cache bytes as one snapshot.
pub fn encode(meta: &SnapshotMeta, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + meta.tokens.len() * 4 + data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&meta.model_sha256);
    out.extend_from_slice(&(meta.arch.len() as u32).to_le_bytes());
    out.extend_from_slice(meta.arch.as_bytes());
    out.extend_from_slice(&meta.n_ctx.to_le_bytes());
    out.push(meta.dtype.to_byte());
    out.extend_from_slice(&(meta.tokens.len() as u32).to_le_bytes());
    meta.tokens.iter().for_each(|t| out.extend_from_slice(&t.to_le_bytes()));
    out.extend_from_slice(&(data.len() as u64).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&(meta.states.len() as u32).to_le_bytes());
    for (pos, state) in &meta.states {
        out.extend_from_slice(&(*pos as u32).to_le_bytes());
        out.extend_from_slice(&(state.len() as u64).to_le_bytes());
        out.extend_from_slice(state);
    }
    out
}

/// Reads bytes off the front of a snapshot, failing on truncation.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.0.len() {
            return Err(Error::bad_input("KV snapshot is truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    /// A u64 length followed by that many bytes.
    fn blob(&mut self) -> Result<&'a [u8]> {
        let len = u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes"));
        self.take(usize::try_from(len).map_err(|_| Error::bad_input("KV snapshot is truncated"))?)
    }
}

/// Splits a snapshot into its header and cache bytes.
pub fn decode(bytes: &[u8]) -> Result<(SnapshotMeta, &[u8])> {
    let mut r = Reader(bytes);
    if r.take(4)? != MAGIC {
        return Err(Error::bad_input("not a hearth KV snapshot"));
    }
    let version = r.u32()?;
    if version != VERSION && version != 1 {
        return Err(Error::unsupported(format!(
            "KV snapshot version {version} (this hearth reads {VERSION})"
        )));
    }
    let model_sha256: [u8; 32] = r.take(32)?.try_into().expect("32 bytes");
    let arch_len = r.u32()? as usize;
    let arch = String::from_utf8(r.take(arch_len)?.to_vec())
        .map_err(|_| Error::bad_input("KV snapshot architecture is not UTF-8"))?;
    let n_ctx = r.u32()?;
    let byte = r.take(1)?[0];
    let dtype = KvDtype::from_byte(byte)
        .ok_or_else(|| Error::unsupported(format!("KV snapshot cache type {byte}")))?;
    let n_tokens = r.u32()? as usize;
    let token_bytes = r.take(
        n_tokens.checked_mul(4).ok_or_else(|| Error::bad_input("KV snapshot is truncated"))?,
    )?;
    let tokens =
        token_bytes.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let data = r.blob()?;
    let mut states = Vec::new();
    if version >= 2 {
        for _ in 0..r.u32()? {
            let pos = r.u32()? as usize;
            states.push((pos, r.blob()?.to_vec()));
        }
    }
    if !r.0.is_empty() {
        return Err(Error::bad_input("KV snapshot has trailing bytes"));
    }
    Ok((SnapshotMeta { model_sha256, arch, n_ctx, dtype, tokens, states }, data))
}

/// Refuses a snapshot made for another model, architecture, context size or cache type.
pub fn check_binding(got: &SnapshotMeta, want: &SnapshotMeta) -> Result<()> {
    let what = if got.model_sha256 != want.model_sha256 {
        "another model file"
    } else if got.arch != want.arch {
        "another architecture"
    } else if got.n_ctx != want.n_ctx {
        "another context size"
    } else if got.dtype != want.dtype {
        "another KV cache type"
    } else {
        return Ok(());
    };
    Err(Error::bad_input(format!("KV snapshot was made for {what}; it cannot be restored here")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> SnapshotMeta {
        SnapshotMeta {
            model_sha256: sha256(b"model"),
            arch: "llama".into(),
            n_ctx: 64,
            dtype: KvDtype::F16,
            tokens: vec![1, 2, 3],
            states: vec![(2, vec![5; 8]), (3, vec![6; 8])],
        }
    }

    #[test]
    fn every_cache_type_pair_survives_its_header_byte() {
        for k in KvType::ALL {
            for v in KvType::ALL {
                let d = KvDtype { k, v };
                assert_eq!(KvDtype::from_byte(d.to_byte()), Some(d), "{d:?}");
            }
        }
        assert_eq!(KvDtype::F16.to_byte(), 1);
        assert_eq!(KvDtype::from_byte(0x44), None);
    }

    #[test]
    fn round_trip() {
        let bytes = encode(&meta(), &[9, 8, 7, 6]);
        let (m, data) = decode(&bytes).unwrap();
        assert_eq!((m, data), (meta(), &[9u8, 8, 7, 6][..]));
    }

    #[test]
    fn every_truncation_and_bad_magic_is_an_error() {
        let bytes = encode(&meta(), &[1; 10]);
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err(), "{n}");
        }
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert_eq!(decode(&bad).unwrap_err().to_string(), "not a hearth KV snapshot");
        let mut long = bytes;
        long.push(0);
        assert!(decode(&long).is_err());
    }

    #[test]
    fn binding_names_what_differs() {
        let other = SnapshotMeta { n_ctx: 128, ..meta() };
        let e = check_binding(&other, &meta()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "KV snapshot was made for another context size; it cannot be restored here"
        );
        let other = SnapshotMeta { model_sha256: [0; 32], ..meta() };
        assert!(check_binding(&other, &meta())
            .unwrap_err()
            .to_string()
            .contains("another model file"));
        assert!(check_binding(&meta(), &meta()).is_ok());
    }
}
