//! The GGUF reader and writer: round trips, every malformed-file case the reader must
//! refuse with a clear error, and a truncate/bit-flip property test.

use hearth::gguf::{header, Array, GgufFile, GgufWriter, Value};
use hearth::quant::GgmlType;

use crate::common::{self, assert_fails, run};

/// A tiny deterministic generator (xorshift64*) for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// Metadata of every value type, nested arrays included.
fn all_value_types() -> Vec<(&'static str, Value)> {
    vec![
        ("t.u8", Value::U8(200)),
        ("t.i8", Value::I8(-100)),
        ("t.u16", Value::U16(60000)),
        ("t.i16", Value::I16(-30000)),
        ("t.u32", Value::U32(4_000_000_000)),
        ("t.i32", Value::I32(-2_000_000_000)),
        ("t.f32", Value::F32(1.5e-6)),
        ("t.bool", Value::Bool(true)),
        ("t.string", Value::String("héllo <|im_start|> 世界".into())),
        ("t.u64", Value::U64(u64::MAX)),
        ("t.i64", Value::I64(i64::MIN)),
        ("t.f64", Value::F64(std::f64::consts::PI)),
        ("t.empty", Value::String(String::new())),
        ("a.u8", Value::Array(Array::U8(vec![1, 2, 3]))),
        ("a.i8", Value::Array(Array::I8(vec![-1, 2]))),
        ("a.u16", Value::Array(Array::U16(vec![7]))),
        ("a.i16", Value::Array(Array::I16(vec![-7, 7]))),
        ("a.u32", Value::Array(Array::U32(vec![1, u32::MAX]))),
        ("a.i32", Value::Array(Array::I32(vec![3, 3, 4]))),
        ("a.f32", Value::Array(Array::F32(vec![-1000.0, 0.25]))),
        ("a.bool", Value::Array(Array::Bool(vec![true, false]))),
        ("a.string", Value::Array(Array::String(vec!["Ġthe".into(), "".into(), "▁x".into()]))),
        ("a.u64", Value::Array(Array::U64(vec![u64::MAX]))),
        ("a.i64", Value::Array(Array::I64(vec![-5]))),
        ("a.f64", Value::Array(Array::F64(vec![0.5]))),
        ("a.empty", Value::Array(Array::F32(vec![]))),
        (
            "a.nested",
            Value::Array(Array::Array(vec![
                Array::U32(vec![1, 2]),
                Array::String(vec!["x".into()]),
                Array::Array(vec![Array::Bool(vec![true])]),
            ])),
        ),
    ]
}

/// A small valid file: all value types and tensors of several quant types.
pub fn sample_writer(rng: &mut Rng) -> GgufWriter {
    let mut w = GgufWriter::new();
    w.set_str("general.architecture", "llama");
    for (k, v) in all_value_types() {
        w.set(k, v);
    }
    let shapes: [(&str, &[u64], GgmlType); 5] = [
        ("token_embd.weight", &[64, 10], GgmlType::Q8_0),
        ("blk.0.attn_norm.weight", &[64], GgmlType::F32),
        ("blk.0.ffn_up.weight", &[256, 2], GgmlType::Q4_K),
        ("blk.0.ffn_down.weight", &[32, 3, 2], GgmlType::Q4_0),
        ("blk.0.ffn_gate_exps.weight", &[256, 2, 2, 2], GgmlType::Q6_K),
    ];
    for (name, dims, ty) in shapes {
        let n: u64 = dims.iter().product();
        let bytes = ty.bytes_for(n).unwrap() as usize;
        w.add_tensor(name, dims, ty, rng.bytes(bytes)).unwrap();
    }
    w
}

fn assert_same(w: &GgufWriter, f: &GgufFile, tensors: &[(String, Vec<u8>)]) {
    assert_eq!(f.metadata(), w.metadata());
    assert_eq!(f.tensors().len(), tensors.len());
    for (name, data) in tensors {
        let info = f.require_tensor(name).unwrap();
        assert_eq!(f.tensor_data(info), &data[..], "{name}");
        assert_eq!(f.data_offset() % f.alignment(), 0);
    }
}

fn tensor_bytes(f: &GgufFile) -> Vec<(String, Vec<u8>)> {
    f.tensors().iter().map(|t| (t.name.clone(), f.tensor_data(t).to_vec())).collect()
}

#[test]
fn write_read_round_trip_every_value_type_v2_and_v3() {
    for version in [2, 3] {
        let mut rng = Rng::new(7);
        let w = sample_writer(&mut rng).version(version);
        let bytes = w.to_bytes().unwrap();
        let f = GgufFile::from_bytes("mem.gguf", bytes.clone()).unwrap();
        assert_eq!(f.version(), version);
        let tensors = tensor_bytes(&f);
        assert_same(&w, &f, &tensors);
        // Writing what was read gives the identical file.
        let mut again = GgufWriter::new().version(version);
        for (k, v) in f.metadata().iter() {
            again.set(k, v.clone());
        }
        for t in f.tensors() {
            again.add_tensor(&t.name, &t.dims, t.ty, f.tensor_data(t).to_vec()).unwrap();
        }
        assert_eq!(again.to_bytes().unwrap(), bytes);
    }
}

#[test]
fn round_trip_through_a_file_with_custom_alignment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aligned.gguf");
    let mut rng = Rng::new(3);
    let mut w = sample_writer(&mut rng);
    w.set_u32("general.alignment", 64);
    w.write(&path).unwrap();
    let f = GgufFile::open(&path).unwrap();
    assert_eq!(f.alignment(), 64);
    for t in f.tensors() {
        assert_eq!(t.offset % 64, 0, "{}", t.name);
    }
    assert_eq!(f.n_params(), 640 + 64 + 512 + 192 + 2048);
    let tensors = tensor_bytes(&GgufFile::from_bytes("m", w.to_bytes().unwrap()).unwrap());
    assert_same(&w, &f, &tensors);
    assert!(!dir.path().join("aligned.gguf.partial").exists());
}

#[test]
fn writer_refuses_wrong_sizes_and_duplicates() {
    let mut w = GgufWriter::new();
    let e = w.add_tensor("x", &[32], GgmlType::Q8_0, vec![0; 33]).unwrap_err();
    assert_eq!(e.to_string(), "tensor 'x': 33 bytes given, shape [32] of Q8_0 needs 34");
    w.add_tensor("x", &[32], GgmlType::Q8_0, vec![0; 34]).unwrap();
    assert!(w.add_tensor("x", &[32], GgmlType::Q8_0, vec![0; 34]).is_err());
    assert!(w.add_tensor("y", &[16], GgmlType::Q8_0, vec![0; 17]).is_err());
}

#[test]
fn every_truncation_of_a_small_file_is_an_error() {
    let bytes = sample_writer(&mut Rng::new(11)).to_bytes().unwrap();
    let h = header::parse(&bytes).unwrap();
    let data_end = h.tensors.iter().map(|t| h.data_offset + t.offset + t.n_bytes).max().unwrap();
    for len in 0..data_end as usize {
        let r = header::parse(&bytes[..len]);
        assert!(r.is_err(), "truncated at {len} of {} parsed", bytes.len());
    }
    // Only the padding after the last tensor may go.
    for len in data_end as usize..=bytes.len() {
        assert!(header::parse(&bytes[..len]).is_ok(), "{len}");
    }
}

#[test]
fn truncations_of_a_real_header_are_errors() {
    let path = common::model_path(common::SMOLLM2);
    let f = GgufFile::open(&path).unwrap();
    let header_len = f.data_offset() as usize;
    let bytes = std::fs::read(&path).unwrap();
    // Every offset of the first 4 KiB, then a spread through the rest of the header.
    let dense = 0..4096.min(header_len);
    let sparse = (4096..header_len).step_by(header_len / 200 + 1);
    for len in dense.chain(sparse).chain([header_len - 1, header_len, bytes.len() - 1]) {
        let e = header::parse(&bytes[..len]).unwrap_err();
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn bit_flips_and_truncations_never_panic() {
    let base = sample_writer(&mut Rng::new(5)).to_bytes().unwrap();
    let mut rng = Rng::new(0x5eed);
    let (mut ok, mut err) = (0, 0);
    for _ in 0..20_000 {
        let mut bytes = base.clone();
        for _ in 0..=rng.below(4) {
            let at = rng.below(bytes.len() as u64) as usize;
            bytes[at] ^= 1 << rng.below(8);
        }
        if rng.below(4) == 0 {
            bytes.truncate(rng.below(bytes.len() as u64) as usize);
        }
        match GgufFile::from_bytes("fuzz.gguf", bytes) {
            Ok(f) => {
                // Whatever was accepted must be safe to use.
                let total: usize = f.tensors().iter().map(|t| f.tensor_data(t).len()).sum();
                assert!(total as u64 <= f.file_size());
                ok += 1;
            }
            Err(e) => {
                assert!(e.to_string().starts_with("fuzz.gguf: "), "{e}");
                err += 1;
            }
        }
    }
    assert!(ok > 0 && err > 0, "ok {ok}, err {err}");
}

/// Builds GGUF bytes field by field, so tests can write what the writer never would.
#[derive(Default)]
pub struct Raw(pub Vec<u8>);

impl Raw {
    pub fn header(version: u32, n_tensors: u64, n_kv: u64) -> Raw {
        let mut r = Raw(b"GGUF".to_vec());
        r.u32(version).u64(n_tensors).u64(n_kv);
        r
    }
    pub fn u8(&mut self, x: u8) -> &mut Raw {
        self.0.push(x);
        self
    }
    pub fn u32(&mut self, x: u32) -> &mut Raw {
        self.0.extend_from_slice(&x.to_le_bytes());
        self
    }
    pub fn u64(&mut self, x: u64) -> &mut Raw {
        self.0.extend_from_slice(&x.to_le_bytes());
        self
    }
    pub fn str(&mut self, s: &str) -> &mut Raw {
        self.u64(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    pub fn kv_u32(&mut self, key: &str, x: u32) -> &mut Raw {
        self.str(key).u32(4).u32(x)
    }
    pub fn tensor(&mut self, name: &str, dims: &[u64], ty: u32, offset: u64) -> &mut Raw {
        self.str(name).u32(dims.len() as u32);
        dims.iter().for_each(|&d| {
            self.u64(d);
        });
        self.u32(ty).u64(offset)
    }
    /// Pads to 32 bytes and appends `n` data bytes.
    pub fn data(&mut self, n: usize) -> &mut Raw {
        self.0.resize(self.0.len().div_ceil(32) * 32 + n, 0);
        self
    }
}

/// (case name, file bytes, text the one-line error must contain)
fn malformed_files() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let mut cases = vec![];
    let mut add = |name, raw: &mut Raw, needle| cases.push((name, raw.0.clone(), needle));
    add("empty", &mut Raw::default(), "not a GGUF file (0 bytes)");
    add("wrong magic", Raw(b"GGML".to_vec()).u32(3).u64(0).u64(0), "not a GGUF file");
    add("version 1", &mut Raw::header(1, 0, 0), "version 1 is not supported");
    add("version 99", &mut Raw::header(99, 0, 0), "unsupported GGUF version 99");
    add("big endian", &mut Raw::header(3u32.swap_bytes(), 0, 0), "big-endian");
    add("absurd kv count", &mut Raw::header(3, 0, u64::MAX), "metadata count 18446744073709551615");
    add("absurd tensor count", &mut Raw::header(3, 1 << 40, 0), "tensor count 1099511627776");
    add(
        "absurd string length",
        Raw::header(3, 0, 1).u64(u64::MAX / 2).data(64),
        "truncated: metadata key",
    );
    add(
        "absurd array length",
        Raw::header(3, 0, 1).str("a").u32(9).u32(8).u64(1 << 50),
        "array element count",
    );
    add(
        "unknown value type",
        Raw::header(3, 0, 1).str("k").u32(13).u32(0),
        "key 'k': unknown metadata value type 13",
    );
    add("bad bool", Raw::header(3, 0, 1).str("k").u32(7).u8(2), "key 'k': bool value at byte");
    add(
        "bad alignment",
        Raw::header(3, 0, 1).kv_u32("general.alignment", 12),
        "key 'general.alignment': alignment 12",
    );
    add(
        "duplicate key",
        Raw::header(3, 0, 2).kv_u32("k", 1).kv_u32("k", 2),
        "key 'k': duplicate metadata key",
    );
    add(
        "tensor past end",
        Raw::header(3, 1, 0).tensor("w", &[64], 0, 0).data(100),
        "tensor 'w': data (256 bytes at offset 0) runs past the end",
    );
    add(
        "overlapping tensors",
        Raw::header(3, 2, 0).tensor("a", &[64], 0, 0).tensor("b", &[64], 0, 128).data(512),
        "tensor 'a': data overlaps tensor 'b'",
    );
    add(
        "misaligned offset",
        Raw::header(3, 1, 0).tensor("w", &[8], 0, 4).data(64),
        "tensor 'w': data offset 4 is not a multiple of the alignment 32",
    );
    add(
        "unknown quant type",
        Raw::header(3, 1, 0).tensor("w", &[32], 77, 0).data(256),
        "tensor 'w': unknown ggml type id 77",
    );
    add(
        "zero dim",
        Raw::header(3, 1, 0).tensor("w", &[32, 0], 0, 0).data(256),
        "tensor 'w': dimension 1 is zero",
    );
    add(
        "five dims",
        Raw::header(3, 1, 0).tensor("w", &[1, 1, 1, 1, 1], 0, 0).data(32),
        "tensor 'w': 5 dimensions",
    );
    add(
        "partial block",
        Raw::header(3, 1, 0).tensor("w", &[31], 8, 0).data(64),
        "tensor 'w': row length 31 is not a multiple of the Q8_0 block size 32",
    );
    add(
        "element overflow",
        Raw::header(3, 1, 0).tensor("w", &[1 << 32, 1 << 32], 0, 0).data(32),
        "tensor 'w': element count",
    );
    add(
        "duplicate tensor",
        Raw::header(3, 2, 0).tensor("w", &[8], 0, 0).tensor("w", &[8], 0, 32).data(64),
        "tensor 'w': duplicate tensor name",
    );
    add("bad utf8 key", Raw::header(3, 0, 1).u64(2).u32(0xffff).u32(0), "not valid UTF-8");
    cases
}

#[test]
fn malformed_files_give_one_line_errors_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, needle) in malformed_files() {
        let path = dir.path().join(format!("{}.gguf", name.replace(' ', "-")));
        std::fs::write(&path, &bytes).unwrap();
        let out = run(&["inspect", path.to_str().unwrap()]);
        assert_fails(&out, 2, needle);
        let err = common::stderr(&out);
        assert!(err.starts_with(&format!("hearth: {}: ", path.display())), "{name}: {err}");
    }
}

/// Found by fuzzing (`fuzz/artifacts/gguf/crash-0b51e4d40156025c`): a key holding `\r`
/// or `\n` split the error over lines and sent raw control characters to the terminal.
#[test]
fn a_key_with_control_characters_errors_on_one_line() {
    let bytes = Raw::header(3, 0, 1).str("a\r\nb\u{1b}[2J").u32(13).u32(0).0.clone();
    let e = GgufFile::from_bytes("k.gguf", bytes.clone()).unwrap_err();
    let expected = r"k.gguf: key 'a\r\nb\u{1b}[2J': unknown metadata value type 13 at byte 40";
    assert_eq!(e.to_string(), expected);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.gguf");
    std::fs::write(&path, &bytes).unwrap();
    let out = run(&["inspect", path.to_str().unwrap()]);
    assert_fails(&out, 2, r"key 'a\r\nb\u{1b}[2J': unknown metadata value type 13");
}

#[test]
fn missing_file_is_bad_input_naming_it() {
    let out = run(&["inspect", "/nonexistent/model.gguf"]);
    assert_fails(&out, 2, "/nonexistent/model.gguf: no such file");
}
