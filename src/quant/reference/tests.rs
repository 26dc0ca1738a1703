//! Tests of the reference kernels: every dequantizer against fixtures decoded by an
//! independent implementation (`tests/fixtures/quant/`, see its README), quantizers
//! bit-exact against gguf-py where it has them, round-trip error bounds for all.

use super::*;
use crate::quant::types::TYPE_TABLE;
use GgmlType::*;

fn fixture(ty: GgmlType) -> serde_json::Value {
    let path = format!("{}/tests/fixtures/quant/{}.json", env!("CARGO_MANIFEST_DIR"), ty.name());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn unhex(v: &serde_json::Value) -> Vec<u8> {
    let s = v.as_str().expect("hex string");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

fn dequantizable() -> impl Iterator<Item = GgmlType> {
    TYPE_TABLE.iter().filter(|t| t.dequantizable).map(|t| t.ty)
}

#[test]
fn kernel_table_matches_dequantizable_flags() {
    for t in TYPE_TABLE {
        assert_eq!(kernels(t.ty).is_some(), t.dequantizable, "{}", t.name);
    }
    for (i, k) in KERNELS.iter().enumerate() {
        assert!(KERNELS[..i].iter().all(|o| o.ty != k.ty), "{} twice", k.ty);
    }
}

#[test]
fn dequantize_matches_fixtures_bit_for_bit() {
    for ty in dequantizable() {
        let fx = fixture(ty);
        assert_eq!(fx["type"], ty.name());
        let blocks = unhex(&fx["blocks_hex"]);
        let expected = f32s(&unhex(&fx["expected_f32le_hex"]));
        assert_eq!(expected.len() as u64, fx["n_elems"].as_u64().unwrap());
        assert!(expected.len() >= 64, "{ty}: fixture too small");

        // From a buffer offset by one byte: blocks need no alignment.
        let mut shifted = vec![0u8; blocks.len() + 1];
        shifted[1..].copy_from_slice(&blocks);
        let mut got = vec![f32::NAN; expected.len()];
        dequantize(ty, &shifted[1..], &mut got).unwrap();
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(g.to_bits(), e.to_bits(), "{ty} element {i}: got {g}, expected {e}");
        }
        assert_eq!(dequantize_row_to_vec(ty, &blocks).unwrap(), got, "{ty} to_vec");
    }
}

#[test]
fn quantize_matches_fixtures_bit_for_bit() {
    let mut checked = Vec::new();
    for ty in dequantizable() {
        let fx = fixture(ty);
        let Some(q) = fx.get("quantize") else { continue };
        let x = f32s(&unhex(&q["input_f32le_hex"]));
        let expected = unhex(&q["expected_hex"]);
        let mut got = Vec::new();
        quantize(ty, &x, &mut got).unwrap();
        assert_eq!(got.len(), expected.len(), "{ty} length");
        let bb = ty.block_bytes();
        for (b, (g, e)) in got.chunks(bb).zip(expected.chunks(bb)).enumerate() {
            assert_eq!(g, e, "{ty} block {b} of input {:?}", &x[b * ty.block_elems()..][..4]);
        }
        checked.push(ty);
    }
    let expected = [F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K];
    assert_eq!(checked, [&expected[..], &[BF16, MXFP4]].concat());
}

/// Deterministic pseudo-random numbers (xorshift64*) with a normal-ish helper.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
}

/// Rows shaped like model weights: normal values, a row scale drifting by block, and a
/// few outliers.
fn weight_like(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|i| {
            let scale = 0.02 * (1.0 + (i / 256) as f32 * 0.5);
            let v = rng.normal() * scale;
            if rng.uniform() < 0.002 {
                v * 8.0
            } else {
                v
            }
        })
        .collect()
}

fn rms(v: impl Iterator<Item = f32>) -> f64 {
    let (mut s, mut n) = (0f64, 0usize);
    for x in v {
        s += x as f64 * x as f64;
        n += 1;
    }
    (s / n as f64).sqrt()
}

fn round_trip(ty: GgmlType, x: &[f32]) -> (Vec<u8>, Vec<f32>) {
    let mut q = Vec::new();
    quantize(ty, x, &mut q).unwrap();
    assert_eq!(q.len(), ty.bytes_for(x.len() as u64).unwrap() as usize, "{ty} size");
    let y = dequantize_row_to_vec(ty, &q).unwrap();
    (q, y)
}

/// RMS error relative to the RMS of the data.
fn rel_rms_error(x: &[f32], y: &[f32]) -> f64 {
    rms(x.iter().zip(y).map(|(a, b)| a - b)) / rms(x.iter().copied())
}

#[test]
fn round_trip_error_is_bounded() {
    // Bounds about 1.25x the measured relative RMS error on this data; fewer bits, more error.
    let bounds = [
        (F32, 0.0),
        (F16, 2.5e-4),
        (BF16, 2e-3),
        (Q8_0, 8.5e-3),
        (Q8_1, 8.5e-3),
        (Q8_K, 1.7e-2),
        (Q6_K, 2.7e-2),
        (Q5_0, 6.6e-2),
        (Q5_1, 5.3e-2),
        (Q5_K, 5.1e-2),
        (Q4_0, 0.137),
        (Q4_1, 0.108),
        (Q4_K, 0.102),
        (MXFP4, 0.15),
        (Q3_K, 0.21),
        (Q2_K, 0.39),
    ];
    let x = weight_like(4096, 7);
    for (ty, bound) in bounds {
        let (_, y) = round_trip(ty, &x);
        let err = rel_rms_error(&x, &y);
        assert!(err <= bound, "{ty}: relative RMS error {err:.5} > {bound}");
    }
    let mut all: Vec<_> = KERNELS.iter().filter(|k| k.from_f32.is_some()).map(|k| k.ty).collect();
    all.sort();
    let mut tested: Vec<_> = bounds.iter().map(|b| b.0).collect();
    tested.sort();
    assert_eq!(all, tested, "every quantizer has a bound");
}

#[test]
fn requantizing_dequantized_data_is_stable() {
    let x = weight_like(2048, 11);
    for ty in KERNELS.iter().filter(|k| k.from_f32.is_some()).map(|k| k.ty) {
        let (q1, y1) = round_trip(ty, &x);
        let (q2, y2) = round_trip(ty, &y1);
        if matches!(ty, F32 | F16 | BF16 | Q8_0 | Q8_1 | Q8_K | Q4_0 | Q5_0 | MXFP4) {
            // Values already on the grid come back as the same values (and bytes, but for
            // Q8_1's `s`, which ggml computes from the unrounded scale).
            assert_eq!(y1, y2, "{ty}: requantized values differ");
            assert!(q1 == q2 || ty == Q8_1, "{ty}: requantized bytes differ");
        } else {
            // Searching quantizers may pick another grid, but one about as close.
            let drift = rel_rms_error(&y1, &y2);
            let err = rel_rms_error(&x, &y1);
            assert!(drift <= 0.5 * err, "{ty}: drift {drift:.5} vs first error {err:.5}");
        }
    }
}

#[test]
fn zero_and_constant_blocks() {
    for ty in KERNELS.iter().filter(|k| k.from_f32.is_some()).map(|k| k.ty) {
        let n = 256;
        let (_, y) = round_trip(ty, &vec![0.0; n]);
        assert!(y.iter().all(|&v| v == 0.0), "{ty}: zeros");
        let (_, y) = round_trip(ty, &vec![0.75; n]);
        let err = y.iter().map(|v| (v - 0.75).abs()).fold(0f32, f32::max);
        assert!(err < 0.05, "{ty}: constant 0.75 came back off by {err}");
    }
}

#[test]
fn q8_k_sums_match_quants() {
    let x = weight_like(512, 3);
    let (q, _) = round_trip(Q8_K, &x);
    for b in q.chunks_exact(BlockQ8K::BYTES) {
        let b = BlockQ8K::read(b);
        for (j, &s) in b.bsums.iter().enumerate() {
            let sum: i16 = b.qs[16 * j..16 * j + 16].iter().map(|&q| q as i16).sum();
            assert_eq!(s, sum);
        }
    }
}

#[test]
fn vec_dot_is_the_dot_of_the_dequantized_row() {
    let mut block = vec![0u8; 34];
    block[..2].copy_from_slice(&half::f16::from_f32(0.5).to_bits().to_le_bytes());
    for (j, b) in block[2..].iter_mut().enumerate() {
        *b = (j as i8 - 16) as u8;
    }
    let x: Vec<f32> = (0..32).map(|j| j as f32).collect();
    let expected: f32 = (0..32).map(|j| 0.5 * (j as f32 - 16.0) * j as f32).sum();
    assert_eq!(vec_dot_reference(Q8_0, &block, &x).unwrap(), expected);

    for ty in dequantizable() {
        let fx = fixture(ty);
        let row = unhex(&fx["blocks_hex"]);
        let w = f32s(&unhex(&fx["expected_f32le_hex"]));
        let x = weight_like(w.len(), 5);
        let direct: f64 = w.iter().zip(&x).map(|(&a, &b)| a as f64 * b as f64).sum();
        let got = vec_dot_reference(ty, &row, &x).unwrap();
        assert_eq!(got, direct as f32, "{ty}");
    }
}

#[test]
fn length_and_type_errors_are_reported_not_panics() {
    let mut out = vec![0f32; 64];
    assert_eq!(
        dequantize(Q4_0, &[0u8; 18], &mut out),
        Err(QuantError::LengthMismatch { ty: Q4_0, n_elems: 64, expected: 36, actual: 18 })
    );
    assert_eq!(
        dequantize(Q4_K, &[0u8; 144], &mut out),
        Err(QuantError::PartialBlock { ty: Q4_K, n_elems: 64, block_elems: 256 })
    );
    assert_eq!(
        dequantize(IQ2_XXS, &[0u8; 66], &mut vec![0f32; 256]),
        Err(QuantError::NotDequantizable { ty: IQ2_XXS })
    );
    assert_eq!(
        dequantize_row_to_vec(Q8_0, &[0u8; 35]),
        Err(QuantError::PartialBlockBytes { ty: Q8_0, n_bytes: 35, block_bytes: 34 })
    );
    let mut q = Vec::new();
    assert_eq!(
        quantize(IQ4_NL, &[0.0; 32], &mut q),
        Err(QuantError::NotQuantizable { ty: IQ4_NL })
    );
    assert_eq!(
        quantize(Q8_0, &[0.0; 33], &mut q),
        Err(QuantError::PartialBlock { ty: Q8_0, n_elems: 33, block_elems: 32 })
    );
    assert!(q.is_empty());
    assert!(matches!(
        vec_dot_reference(Q8_0, &[0u8; 34], &[1.0; 31]),
        Err(QuantError::PartialBlock { .. })
    ));
    assert!(matches!(
        vec_dot_reference(Q8_0, &[0u8; 34], &[1.0; 64]),
        Err(QuantError::LengthMismatch { .. })
    ));
    let msg = QuantError::LengthMismatch { ty: Q4_0, n_elems: 64, expected: 36, actual: 18 };
    assert_eq!(msg.to_string(), "Q4_0: 64 elements take 36 bytes, but 18 bytes were given");
    assert!(can_quantize(Q4_K) && !can_quantize(IQ4_XS) && !can_quantize(IQ2_XXS));
}

#[test]
fn quantize_appends() {
    let mut q = vec![0xAA];
    quantize(Q8_0, &[127.0; 32], &mut q).unwrap();
    assert_eq!(q.len(), 1 + 34);
    assert_eq!(q[0], 0xAA);
    assert_eq!(dequantize_row_to_vec(Q8_0, &q[1..]).unwrap(), vec![127.0; 32]);
}

#[test]
fn a_large_input_quantized_on_every_core_gives_the_bytes_of_one_pass() {
    // Past PARALLEL_FROM, in two halves each below it (quantized in one pass each).
    let n = PARALLEL_FROM + 2 * 256;
    let x: Vec<f32> = (0..n).map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 97.0).collect();
    for ty in [Q8_0, Q4_K, Q6_K] {
        let mut whole = Vec::new();
        quantize(ty, &x, &mut whole).unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        quantize(ty, &x[..n / 2], &mut a).unwrap();
        quantize(ty, &x[n / 2..], &mut b).unwrap();
        a.extend(b);
        assert!(whole == a, "{ty}");
    }
}
