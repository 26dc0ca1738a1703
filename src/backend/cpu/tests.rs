//! Every CPU op against the naive scalar oracle, by normalized mean squared error.

use std::sync::Arc;

use super::*;
use crate::backend::{
    naive, AttnParams, Backend, KvShape, KvType, RopeMode, RopeParams, StateShape,
};
use crate::gguf::{GgufFile, GgufWriter};
use crate::quant::TYPE_TABLE;
use crate::testutil::{random_blocks, rounded, Rng};

fn nmse(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let err: f64 = got.iter().zip(want).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum();
    let norm: f64 = want.iter().map(|&b| (b as f64).powi(2)).sum();
    err / norm.max(1e-30)
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    let e = nmse(got, want);
    assert!(e < 1e-10, "{what}: nmse {e}");
}

/// A one-tensor GGUF file in memory, loaded as a backend weight.
fn weight(dims: &[u64], ty: GgmlType, data: Vec<u8>) -> (Arc<GgufFile>, CpuWeight) {
    let mut w = GgufWriter::new();
    w.add_tensor("w", dims, ty, data).unwrap();
    let file = Arc::new(GgufFile::from_bytes("w.gguf", w.to_bytes().unwrap()).unwrap());
    let info = file.tensors()[0].clone();
    let cw = CpuBackend.load_weight(&file, &info).unwrap();
    (file, cw)
}

fn dequantizable_types() -> impl Iterator<Item = GgmlType> {
    TYPE_TABLE.iter().filter(|t| t.dequantizable).map(|t| t.ty)
}

/// Batches below 16 tokens (drafts being verified) give each token the bits it gets
/// alone, whichever kernel a prompt would take; prompt-sized batches (the eight-row or
/// panel kernels, where the CPU has them) stay within rounding of the oracle.
#[test]
fn small_batches_give_each_token_the_bits_it_gets_alone() {
    let mut rng = Rng(77);
    let (k, m) = (512, 64);
    for ty in [GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q4_0] {
        let bytes = random_blocks(&mut rng, ty, k * m);
        let wf = naive::dequantize(ty, &bytes, k * m);
        let (_f, w) = weight(&[k as u64, m as u64], ty, bytes);
        for n in [9, 15, 40] {
            let x = rng.vec(n * k);
            let got = CpuBackend.matmul(&w, &CpuBackend.tensor(x.clone(), n, k));
            for t in (0..n).filter(|_| n < 16) {
                let one = CpuBackend.tensor(x[t * k..(t + 1) * k].to_vec(), 1, k);
                let alone = CpuBackend.matmul(&w, &one);
                assert_eq!(&got.data[t * m..(t + 1) * m], &alone.data[..], "{} n={n}", ty.name());
            }
            let want = naive::matmul(&wf, m, k, &rounded(ty, &x, k), n);
            assert_close(&got.data, &want, &format!("{} n={n}", ty.name()));
        }
    }
}

#[test]
fn matmul_matches_naive_for_every_type() {
    let mut rng = Rng(0x1234_5678);
    let (k, m, n) = (512, 37, 5);
    for ty in dequantizable_types() {
        let bytes = random_blocks(&mut rng, ty, k * m);
        let wf = naive::dequantize(ty, &bytes, k * m);
        let (_f, w) = weight(&[k as u64, m as u64], ty, bytes);
        let x = rng.vec(n * k);
        let got = CpuBackend.matmul(&w, &CpuBackend.tensor(x.clone(), n, k));
        let want = naive::matmul(&wf, m, k, &rounded(ty, &x, k), n);
        // The integer dot differs from this f32 math by summation order only, except
        // with Q8_1 activations: their block sum s = f16(d·Σq) stands in for
        // f16(d)·Σq in the weights' min term, two f16 roundings (≤ 2⁻¹⁰ relative) of a
        // term no larger than the output here in rms, so nmse ≤ (2⁻¹⁰)².
        let bound = match quant::dot::activation_type(ty) {
            GgmlType::Q8_1 if quant::dot::has_int_dot(ty) => 2f64.powi(-20),
            _ => 1e-10,
        };
        let e = nmse(&got.data, &want);
        assert!(e < bound, "{}: nmse {e} (bound {bound})", ty.name());
        assert_eq!((got.n_rows, got.n_cols), (n, m));
    }
}

#[test]
fn activations_round_as_the_reference_pairs_them() {
    assert_eq!(quant::dot::activation_type(GgmlType::Q4_1), GgmlType::Q8_1);
    assert_eq!(quant::dot::activation_type(GgmlType::Q6_K), GgmlType::Q8_K);
    assert_eq!(quant::dot::activation_type(GgmlType::Q8_0), GgmlType::Q8_0);
    assert_eq!(quant::dot::activation_type(GgmlType::F32), GgmlType::F32);
    let x: Vec<f32> = (0..32).map(|i| i as f32 / 7.0).collect();
    let r = rounded(GgmlType::Q8_0, &x, 32);
    assert!(r != x && r.iter().zip(&x).all(|(a, b)| (a - b).abs() < 0.02));
}

#[test]
fn mul_mat_id_matches_naive() {
    let mut rng = Rng(99);
    let (k, m, e) = (256, 24, 6);
    for ty in [GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::F32] {
        let bytes = random_blocks(&mut rng, ty, k * m * e);
        let wf = naive::dequantize(ty, &bytes, k * m * e);
        let (_f, w) = weight(&[k as u64, m as u64, e as u64], ty, bytes);
        let ids = [3u32, 0, 5, 3, 3, 1, 0];
        let x = rng.vec(ids.len() * k);
        let got =
            CpuBackend.mul_mat_id(&w, &CpuBackend.tensor(x.clone(), ids.len(), k), &ids.to_vec());
        assert_close(
            &got.data,
            &naive::mul_mat_id(&wf, m, k, &rounded(ty, &x, k), &ids),
            ty.name(),
        );
    }
}

#[test]
fn get_rows_dequantizes_the_named_rows() {
    let mut rng = Rng(5);
    let (k, m) = (64, 10);
    let bytes = random_blocks(&mut rng, GgmlType::Q4_0, k * m);
    let wf = naive::dequantize(GgmlType::Q4_0, &bytes, k * m);
    let (_f, w) = weight(&[k as u64, m as u64], GgmlType::Q4_0, bytes);
    let got = CpuBackend.get_rows(&w, &[7, 2, 7]);
    let want: Vec<f32> = [7, 2, 7].iter().flat_map(|&r| wf[r * k..(r + 1) * k].to_vec()).collect();
    assert_eq!(got.data, want);
}

#[test]
fn rms_norm_whole_rows_and_per_head() {
    let mut rng = Rng(7);
    let b = CpuBackend;
    for d in [64, 16] {
        let x = rng.vec(3 * 64);
        let g = rng.vec(d);
        let (_f, w) =
            weight(&[d as u64], GgmlType::F32, g.iter().flat_map(|v| v.to_le_bytes()).collect());
        let got = b.rms_norm(&b.tensor(x.clone(), 3, 64), &w, 1e-6);
        assert_close(&got.data, &naive::rms_norm(&x, &g, 1e-6), "rms_norm");
    }
}

#[test]
fn rope_matches_the_definition_in_every_mode() {
    let mut rng = Rng(11);
    let b = CpuBackend;
    // [0, 1, 1, 0]: the even pairs are claimed by no section and stay unrotated.
    for mode in [RopeMode::Normal, RopeMode::Neox, RopeMode::Imrope([0, 1, 1, 0])] {
        let p = RopeParams {
            mode,
            n_head: 3,
            head_dim: 32,
            n_rot: 24,
            freq_base: 10000.0,
            freq_scale: 0.5,
        };
        let positions = [0u32, 1, 17, 300];
        let x = rng.vec(positions.len() * 3 * 32);
        let got = b.rope(&b.tensor(x.clone(), 4, 96), &positions, &p);
        let want: Vec<f32> = x
            .chunks(32)
            .enumerate()
            .flat_map(|(i, head)| naive::rope_head(head, positions[i / 3], &p))
            .collect();
        assert_close(&got.data, &want, "rope");
    }
}

#[test]
fn l2_norm_matches_naive() {
    let x = Rng(17).vec(5 * 48);
    let got = CpuBackend.l2_norm(&CpuBackend.tensor(x.clone(), 5, 48), 16, 1e-6);
    assert_close(&got.data, &naive::l2_norm(&x, 16, 1e-6), "l2_norm");
}

#[test]
fn activations_match_naive() {
    let mut rng = Rng(13);
    let b = CpuBackend;
    let (g, u) = (rng.vec(300), rng.vec(300));
    let (gt, ut) =
        (b.tensor(g.iter().map(|v| v * 6.0).collect(), 3, 100), b.tensor(u.clone(), 3, 100));
    let want: Vec<f32> = gt.data.iter().zip(&u).map(|(&a, &c)| naive::silu(a) * c).collect();
    assert_close(&b.swiglu(&gt, &ut).data, &want, "swiglu");
    let want: Vec<f32> = gt.data.iter().zip(&u).map(|(&a, &c)| naive::gelu_tanh(a) * c).collect();
    // GELU goes through the f16 table, as in the reference engine: f16-rounding close.
    let e = nmse(&b.geglu(&gt, &ut).data, &want);
    assert!(e < 1e-6, "geglu: nmse {e}");
    let mut s = g.clone();
    ops::softmax(&mut s);
    assert_close(&s, &naive::softmax(&g), "softmax");
}

#[test]
fn row_ops_add_scale_group() {
    let b = CpuBackend;
    let x = b.tensor(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3, 2);
    assert_eq!(b.add(&x, &x).data, vec![2.0, 4.0, 6.0, 8.0, 10.0, 12.0]);
    assert_eq!(b.scale_rows(&x, &[1.0, 0.0, 2.0]).data, vec![1.0, 2.0, 0.0, 0.0, 10.0, 12.0]);
    assert_eq!(b.repeat_rows(&x, 2).data[..6], [1.0, 2.0, 1.0, 2.0, 3.0, 4.0]);
    let r = b.repeat_rows(&x, 2);
    assert_eq!(b.sum_groups(&r, 2).data, b.scale(&x, 2.0).data);
    assert_eq!(b.select_rows(&x, &[2, 0]).data, vec![5.0, 6.0, 1.0, 2.0]);
    let (_f, bias) =
        weight(&[2], GgmlType::F32, [10f32, 20.0].iter().flat_map(|v| v.to_le_bytes()).collect());
    assert_eq!(b.add_row(&x, &bias).data, vec![11.0, 22.0, 13.0, 24.0, 15.0, 26.0]);
}

/// Every (K, V) cache type against the exact attention: f16 and f32 caches within 1e-5
/// (nmse), q8_0 within 1e-3 (8-bit steps of each 32-value block).
#[test]
fn attention_matches_naive_with_gqa_causal_window_and_every_cache_type() {
    for type_k in KvType::ALL {
        for type_v in KvType::ALL {
            let q8 = type_k == KvType::Q8_0 || type_v == KvType::Q8_0;
            let e = attention_error(type_k, type_v);
            let max = if q8 { 1e-3 } else { 1e-5 };
            assert!(e < max, "attention with {type_k:?}/{type_v:?} cache: nmse {e}");
        }
    }
}

/// The worst nmse of the cached attention against `naive` over a few positions and
/// windows.
fn attention_error(type_k: KvType, type_v: KvType) -> f64 {
    let mut rng = Rng(17);
    let b = CpuBackend;
    let (dk, dv) = (32, 64);
    let shape = KvShape {
        n_layer: 2,
        n_ctx: 40,
        n_embd_k: 2 * dk,
        n_embd_v: 2 * dv,
        type_k,
        type_v,
        state: StateShape::NONE,
    };
    let n_kv = 30;
    let (keys, values) = (rng.vec(n_kv * shape.n_embd_k), rng.vec(n_kv * shape.n_embd_v));
    let mut kv = b.new_kv(shape).unwrap();
    // Store in two batches, as prefill then decode would.
    for (start, n) in [(0, 20), (20, 10)] {
        let (ek, ev) = (shape.n_embd_k, shape.n_embd_v);
        let k = b.tensor(keys[start * ek..(start + n) * ek].to_vec(), n, ek);
        let v = b.tensor(values[start * ev..(start + n) * ev].to_vec(), n, ev);
        b.kv_store(&mut kv, 1, start, &k, &v);
    }
    let mut worst = 0f64;
    for window in [None, Some(7)] {
        let p = AttnParams {
            n_head: 6,
            n_head_kv: 2,
            head_dim_k: dk,
            head_dim_v: dv,
            scale: 0.25,
            window,
        };
        let positions = [0u32, 5, 19, 29];
        let q = rng.vec(positions.len() * 6 * dk);
        let got = b.attention(&b.tensor(q.clone(), 4, 6 * dk), &kv, 1, &positions, &p);
        let want = naive::attention(&q, &keys, &values, &positions, &p);
        worst = worst.max(nmse(&got.data, &want));
    }
    worst
}

#[test]
fn kv_export_import_round_trip() {
    for (type_k, type_v) in [(KvType::F16, KvType::F16), (KvType::F32, KvType::Q8_0)] {
        let mut rng = Rng(23);
        let b = CpuBackend;
        let shape = KvShape {
            n_layer: 3,
            n_ctx: 8,
            n_embd_k: 32,
            n_embd_v: 64,
            type_k,
            type_v,
            state: StateShape::NONE,
        };
        let mut kv = b.new_kv(shape).unwrap();
        for il in 0..3 {
            let (k, v) = (rng.vec(5 * 32), rng.vec(5 * 64));
            b.kv_store(&mut kv, il, 0, &b.tensor(k, 5, 32), &b.tensor(v, 5, 64));
        }
        let bytes = b.kv_export(&kv, 0..5).unwrap();
        let row = type_k.row_bytes(32) + type_v.row_bytes(64);
        assert_eq!(bytes.len(), 3 * 5 * row);
        let mut other = b.new_kv(shape).unwrap();
        b.kv_import(&mut other, 0..5, &bytes).unwrap();
        assert_eq!(b.kv_export(&other, 0..5).unwrap(), bytes);
        assert!(b.kv_import(&mut other, 0..4, &bytes).is_err());
        assert!(b.kv_import(&mut other, 0..9, &bytes).is_err());
        b.kv_import(&mut other, 0..0, &[]).unwrap();
        // Ranges put together give the whole.
        let mut pieces = b.new_kv(shape).unwrap();
        b.kv_import(&mut pieces, 2..5, &b.kv_export(&kv, 2..5).unwrap()).unwrap();
        b.kv_import(&mut pieces, 0..2, &b.kv_export(&kv, 0..2).unwrap()).unwrap();
        assert_eq!(b.kv_export(&pieces, 0..5).unwrap(), bytes);
        assert!(b.kv_import(&mut pieces, 6..9, &b.kv_export(&kv, 0..3).unwrap()).is_err());
    }
}

#[test]
fn dot_kernels_agree_on_every_length() {
    let mut rng = Rng(29);
    for n in [0, 1, 7, 8, 9, 31, 32, 33, 100, 1000] {
        let (a, b) = (rng.vec(n), rng.vec(n));
        let want: f64 = a.iter().zip(&b).map(|(&x, &y)| x as f64 * y as f64).sum();
        for got in [matmul::dot(&a, &b), matmul::dot_portable(&a, &b)] {
            assert!((got as f64 - want).abs() < 1e-4, "n {n}: {got} vs {want}");
        }
    }
}
