//! Every Vulkan kernel against the CPU backend or the naive oracle, by normalized mean
//! squared error. Without a Vulkan device the tests say so and pass, except under
//! `CI=true`, where a missing device fails them.

use std::sync::{Arc, OnceLock};

use super::selftest::nmse;
use super::*;
use crate::backend::cpu::{CpuBackend, CpuWeight};
use crate::backend::{naive, DeltaParams, KvType, RopeMode, StateShape};
use crate::gguf::GgufWriter;
use crate::quant::GgmlType;
use crate::testutil::{random_blocks, rounded, Rng};

/// A small binding limit, so that tests split weights and activations across bindings.
const SMALL_BINDING: u64 = 64 << 10;

fn open(limit: Option<u64>) -> Option<VulkanBackend> {
    match VulkanBackend::new(None) {
        Ok(mut b) => {
            if let Some(l) = limit {
                b.gpu.max_binding = l;
            }
            Some(b)
        }
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but no Vulkan device: {}", e.message())
        }
        Err(e) => {
            eprintln!("skipped: no Vulkan device ({})", e.message());
            None
        }
    }
}

fn vk() -> Option<&'static VulkanBackend> {
    static B: OnceLock<Option<VulkanBackend>> = OnceLock::new();
    B.get_or_init(|| open(None)).as_ref()
}

fn vk_small() -> Option<&'static VulkanBackend> {
    static B: OnceLock<Option<VulkanBackend>> = OnceLock::new();
    B.get_or_init(|| open(Some(SMALL_BINDING))).as_ref()
}

fn assert_close(got: &[f32], want: &[f32], bound: f64, what: &str) {
    let e = nmse(got, want);
    assert!(e < bound, "{what}: nmse {e} (bound {bound})");
}

fn file(dims: &[u64], ty: GgmlType, data: Vec<u8>) -> Arc<GgufFile> {
    let mut w = GgufWriter::new();
    w.add_tensor("w", dims, ty, data).unwrap();
    Arc::new(GgufFile::from_bytes("w.gguf", w.to_bytes().unwrap()).unwrap())
}

fn weights(b: &VulkanBackend, f: &Arc<GgufFile>) -> (VkWeight, CpuWeight) {
    let info = &f.tensors()[0];
    (b.load_weight(f, info).unwrap(), CpuBackend.load_weight(f, info).unwrap())
}

/// Types with a Vulkan kernel.
fn kernel_types() -> Vec<GgmlType> {
    use GgmlType::*;
    vec![F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS]
}

#[test]
fn matmul_matches_naive_for_every_kernel_type() {
    let Some(b) = vk() else { return };
    let mut rng = Rng(0x5eed_0001);
    let (k, m) = (512, 37);
    for ty in kernel_types() {
        let bytes = random_blocks(&mut rng, ty, k * m);
        let wf = naive::dequantize(ty, &bytes, k * m);
        let f = file(&[k as u64, m as u64], ty, bytes);
        let (w, _) = weights(b, &f);
        for n in [1, 13] {
            let x = rng.vec(n * k);
            let got = b.to_host(&b.matmul(&w, &b.tensor(x.clone(), n, k))).unwrap();
            let want = naive::matmul(&wf, m, k, &rounded(ty, &x, k), n);
            assert_close(&got, &want, 1e-10, ty.name());
        }
    }
}

#[test]
fn float_rows_of_any_length_and_split_bindings() {
    let Some(b) = vk_small() else { return };
    let mut rng = Rng(7);
    // 70-value f32/f16 rows (not a multiple of 32); 600 rows of f32 are 168 KiB, more
    // than one binding of SMALL_BINDING, and 300 tokens of x split too.
    for (ty, k, m, n) in [(GgmlType::F32, 70, 600, 300), (GgmlType::F16, 70, 9, 2)] {
        let wf = rng.vec(k * m);
        let bytes: Vec<u8> = match ty {
            GgmlType::F32 => wf.iter().flat_map(|v| v.to_le_bytes()).collect(),
            _ => wf.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect(),
        };
        let wf = naive::dequantize(ty, &bytes, k * m);
        let (w, _) = weights(b, &file(&[k as u64, m as u64], ty, bytes));
        if ty == GgmlType::F32 {
            let VkWeight::Matrix { chunks, .. } = &w else { panic!("a matrix") };
            assert!(chunks.len() > 1, "the weight is split across bindings");
        }
        let x = rng.vec(n * k);
        let got = b.to_host(&b.matmul(&w, &b.tensor(x.clone(), n, k))).unwrap();
        assert_close(&got, &naive::matmul(&wf, m, k, &rounded(ty, &x, k), n), 1e-10, ty.name());
    }
}

#[test]
fn mul_mat_id_matches_naive() {
    let Some(b) = vk_small() else { return };
    let mut rng = Rng(11);
    let (k, m, e) = (256, 40, 6);
    for ty in [GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::F16] {
        let bytes = random_blocks(&mut rng, ty, k * m * e);
        let wf = naive::dequantize(ty, &bytes, k * m * e);
        let (w, _) = weights(b, &file(&[k as u64, m as u64, e as u64], ty, bytes));
        let ids: Vec<u32> = (0..21).map(|i| (i * 7 % e) as u32).collect();
        let x = rng.vec(ids.len() * k);
        let got =
            b.to_host(&b.mul_mat_id(&w, &b.tensor(x.clone(), ids.len(), k), &b.ids(&ids))).unwrap();
        let want = naive::mul_mat_id(&wf, m, k, &rounded(ty, &x, k), &ids);
        assert_close(&got, &want, 1e-10, ty.name());
    }
}

#[test]
fn top_k_experts_match_the_cpu_with_ties_to_the_lower_id() {
    let Some(b) = vk() else { return };
    let mut rng = Rng(12);
    let (n, e) = (9, 16);
    let mut logits = rng.vec(n * e);
    // Row 0: all equal; row 1: a tie for second place.
    logits[..e].iter_mut().for_each(|v| *v = 0.5);
    logits[e + 3] = 2.0;
    logits[e + 7] = 1.5;
    logits[e + 11] = 1.5;
    for (k, norm) in [(1, false), (2, true), (4, false), (16, true)] {
        let (vi, vw) = b.top_k_experts(&b.tensor(logits.clone(), n, e), k, norm);
        let (ci, cw) = CpuBackend.top_k_experts(&CpuBackend.tensor(logits.clone(), n, e), k, norm);
        assert_eq!(b.ids_to_host(&vi).unwrap(), ci, "k {k}");
        assert_close(&b.to_host(&vw).unwrap(), &cw.data, 1e-12, &format!("weights k {k}"));
    }
    let s = rng.vec(n);
    let (x, xs) = (rng.vec(n * 5), b.tensor(s.clone(), n, 1));
    let got = b.to_host(&b.scale_rows_by(&b.tensor(x.clone(), n, 5), &xs, true)).unwrap();
    let want =
        CpuBackend.scale_rows_by(&CpuBackend.tensor(x, n, 5), &CpuBackend.tensor(s, n, 1), true);
    assert_close(&got, &want.data, 1e-12, "scale_rows_by sigmoid");
}

#[test]
fn get_rows_dequantizes_the_named_rows_of_every_type() {
    let Some(b) = vk_small() else { return };
    let mut rng = Rng(3);
    let (k, m) = (256, 300);
    for ty in kernel_types() {
        let bytes = random_blocks(&mut rng, ty, k * m);
        let wf = naive::dequantize(ty, &bytes, k * m);
        let (w, _) = weights(b, &file(&[k as u64, m as u64], ty, bytes));
        let ids = [299u32, 0, 7, 7, 150];
        let got = b.to_host(&b.get_rows(&w, &ids)).unwrap();
        let want: Vec<f32> =
            ids.iter().flat_map(|&i| &wf[i as usize * k..][..k]).copied().collect();
        assert_close(&got, &want, 1e-12, ty.name());
    }
}

#[test]
fn row_ops_match_the_cpu() {
    let Some(b) = vk() else { return };
    let mut rng = Rng(5);
    let (n, c) = (6, 96);
    let (xa, xb) = (rng.vec(n * c), rng.vec(n * c));
    let cpu = CpuBackend;
    let (ca, cb) = (cpu.tensor(xa.clone(), n, c), cpu.tensor(xb.clone(), n, c));
    let (va, vb) = (b.tensor(xa, n, c), b.tensor(xb, n, c));
    let f =
        file(&[c as u64], GgmlType::F32, rng.vec(c).iter().flat_map(|v| v.to_le_bytes()).collect());
    let (vw, cw) = weights(b, &f);
    let s: Vec<f32> = rng.vec(n);
    let cases: Vec<(&str, Vec<f32>, Vec<f32>)> = vec![
        ("add", b.to_host(&b.add(&va, &vb)).unwrap(), cpu.add(&ca, &cb).data),
        ("add_row", b.to_host(&b.add_row(&va, &vw)).unwrap(), cpu.add_row(&ca, &cw).data),
        ("scale", b.to_host(&b.scale(&va, 0.3)).unwrap(), cpu.scale(&ca, 0.3).data),
        ("scale_rows", b.to_host(&b.scale_rows(&va, &s)).unwrap(), cpu.scale_rows(&ca, &s).data),
        ("swiglu", b.to_host(&b.swiglu(&va, &vb)).unwrap(), cpu.swiglu(&ca, &cb).data),
        (
            "rms_norm",
            b.to_host(&b.rms_norm(&va, &vw, 1e-6)).unwrap(),
            cpu.rms_norm(&ca, &cw, 1e-6).data,
        ),
        ("sum_groups", b.to_host(&b.sum_groups(&va, 3)).unwrap(), cpu.sum_groups(&ca, 3).data),
        ("repeat_rows", b.to_host(&b.repeat_rows(&va, 2)).unwrap(), cpu.repeat_rows(&ca, 2).data),
        (
            "select_rows",
            b.to_host(&b.select_rows(&va, &[5, 0, 2])).unwrap(),
            cpu.select_rows(&ca, &[5, 0, 2]).data,
        ),
    ];
    for (what, got, want) in cases {
        assert_close(&got, &want, 1e-12, what);
    }
    // GeGLU: the CPU looks gelu up in an f16 table; the kernel computes it in f32.
    assert_close(&b.to_host(&b.geglu(&va, &vb)).unwrap(), &cpu.geglu(&ca, &cb).data, 1e-6, "geglu");
}

/// The element-wise and reshaping ops of the gated DeltaNet.
#[test]
fn delta_net_row_ops_match_the_cpu() {
    let Some(b) = vk() else { return };
    let mut rng = Rng(12);
    let (n, c) = (5, 96);
    let (xa, xb) = (rng.vec(n * c), rng.vec(n * c));
    let cpu = CpuBackend;
    let (ca, cb) = (cpu.tensor(xa.clone(), n, c), cpu.tensor(xb.clone(), n, c));
    let (va, vb) = (b.tensor(xa, n, c), b.tensor(xb, n, c));
    let vector = |rng: &mut Rng| {
        let f = file(
            &[c as u64],
            GgmlType::F32,
            rng.vec(c).iter().flat_map(|v| v.to_le_bytes()).collect(),
        );
        weights(b, &f)
    };
    let ((vdt, cdt), (va_w, ca_w)) = (vector(&mut rng), vector(&mut rng));
    let host = |t: &VkTensor| b.to_host(t).unwrap();
    let cases: Vec<(&str, Vec<f32>, Vec<f32>)> = vec![
        ("mul", host(&b.mul(&va, &vb)), cpu.mul(&ca, &cb).data),
        ("sigmoid", host(&b.sigmoid(&va)), cpu.sigmoid(&ca).data),
        ("silu", host(&b.silu(&va)), cpu.silu(&ca).data),
        ("l2_norm", host(&b.l2_norm(&va, 32, 1e-6)), cpu.l2_norm(&ca, 32, 1e-6).data),
        ("slice_cols", host(&b.slice_cols(&va, 8, 16, 32)), cpu.slice_cols(&ca, 8, 16, 32).data),
        (
            "gdn_decay",
            host(&b.gdn_decay(&b.scale(&va, 30.0), &vdt, &va_w)),
            cpu.gdn_decay(&cpu.scale(&ca, 30.0), &cdt, &ca_w).data,
        ),
    ];
    for (what, got, want) in cases {
        assert_close(&got, &want, 1e-12, what);
    }
}

/// The conv1d and the delta rule on the cache's state, over two calls (the state carried
/// from the first into the second), against the CPU, and the state exported alike.
#[test]
fn conv_and_delta_rule_carry_their_state_as_the_cpu_does() {
    let Some(b) = vk() else { return };
    let mut rng = Rng(13);
    let (d_conv, c, hk, hv, d) = (4, 40, 2, 4, 16);
    let shape = KvShape {
        n_layer: 2,
        n_ctx: 16,
        n_embd_k: 8,
        n_embd_v: 8,
        type_k: KvType::F16,
        type_v: KvType::F16,
        state: StateShape { layers: 0b01, conv: (d_conv - 1) * c, ssm: hv * d * d },
    };
    let taps = file(
        &[d_conv as u64, c as u64],
        GgmlType::F32,
        rng.vec(d_conv * c).iter().flat_map(|v| v.to_le_bytes()).collect(),
    );
    let (vw, cw) = weights(b, &taps);
    let (mut vkv, mut ckv) = (b.new_kv(shape).unwrap(), CpuBackend.new_kv(shape).unwrap());
    let p = DeltaParams { n_head_k: hk, n_head_v: hv, head_dim: d };
    for n in [5, 3] {
        let x = rng.vec(n * c);
        let got = b.to_host(&b.ssm_conv(&mut vkv, 0, &b.tensor(x.clone(), n, c), &vw)).unwrap();
        let want = CpuBackend.ssm_conv(&mut ckv, 0, &CpuBackend.tensor(x, n, c), &cw).data;
        assert_close(&got, &want, 1e-12, "ssm_conv");
        let unit = |v: Vec<f32>| naive::l2_norm(&v, d, 0.0);
        let ins = [
            (unit(rng.vec(n * hk * d)), hk * d),
            (unit(rng.vec(n * hk * d)), hk * d),
            (rng.vec(n * hv * d), hv * d),
            (rng.vec(n * hv).iter().map(|x| -x.abs()).collect(), hv),
            (rng.vec(n * hv).iter().map(|x| 0.5 + 0.5 * x.tanh()).collect(), hv),
        ];
        let vt: Vec<_> = ins.iter().map(|(v, w)| b.tensor(v.clone(), n, *w)).collect();
        let ct: Vec<_> = ins.iter().map(|(v, w)| CpuBackend.tensor(v.clone(), n, *w)).collect();
        let got = b.gated_delta_net(&mut vkv, 0, &vt[0], &vt[1], &vt[2], &vt[3], &vt[4], &p);
        let want =
            CpuBackend.gated_delta_net(&mut ckv, 0, &ct[0], &ct[1], &ct[2], &ct[3], &ct[4], &p);
        assert_close(&b.to_host(&got).unwrap(), &want.data, 1e-10, "gated_delta_net");
    }
    let (vs, cs) = (b.state_export(&vkv).unwrap(), CpuBackend.state_export(&ckv).unwrap());
    assert_eq!(vs.len(), cs.len());
    let f = |bytes: &[u8]| -> Vec<f32> {
        bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    };
    assert_close(&f(&vs), &f(&cs), 1e-10, "exported state");
    // Imported into a fresh cache it exports the same bytes; cleared, zeros.
    let mut other = b.new_kv(shape).unwrap();
    b.state_import(&mut other, &vs).unwrap();
    assert_eq!(b.state_export(&other).unwrap(), vs);
    b.state_clear(&mut other);
    assert!(b.state_export(&other).unwrap().iter().all(|&v| v == 0));
    assert!(b.state_import(&mut other, &vs[4..]).is_err(), "a short state is refused");
}

#[test]
fn per_head_rms_norm_matches_the_cpu() {
    let Some(b) = vk() else { return };
    let mut rng = Rng(6);
    let (n, heads, d) = (3, 4, 64);
    let x = rng.vec(n * heads * d);
    let f =
        file(&[d as u64], GgmlType::F32, rng.vec(d).iter().flat_map(|v| v.to_le_bytes()).collect());
    let (vw, cw) = weights(b, &f);
    let got = b.to_host(&b.rms_norm(&b.tensor(x.clone(), n, heads * d), &vw, 1e-6)).unwrap();
    let want = CpuBackend.rms_norm(&CpuBackend.tensor(x, n, heads * d), &cw, 1e-6).data;
    assert_close(&got, &want, 1e-12, "per-head rms_norm");
}

#[test]
fn rope_matches_the_cpu_in_every_mode_with_partial_rotation() {
    let Some(b) = vk() else { return };
    let mut rng = Rng(8);
    let positions = [0u32, 1, 17, 900, 4095];
    let modes = [
        (RopeMode::Normal, 64),
        (RopeMode::Neox, 64),
        (RopeMode::Neox, 32),
        (RopeMode::Imrope([3, 2, 2, 0]), 32),
        (RopeMode::Imrope([11, 11, 10, 0]), 64),
    ];
    for (mode, n_rot) in modes {
        let p = RopeParams {
            mode,
            n_head: 3,
            head_dim: 64,
            n_rot,
            freq_base: 10000.0,
            freq_scale: 1.0,
        };
        let x = rng.vec(positions.len() * 3 * 64);
        let got = b.to_host(&b.rope(&b.tensor(x.clone(), 5, 192), &positions, &p)).unwrap();
        let want = CpuBackend.rope(&CpuBackend.tensor(x, 5, 192), &positions, &p).data;
        assert_close(&got, &want, 1e-9, &format!("rope {mode:?} n_rot {n_rot}"));
    }
}

fn attention_case(b: &VulkanBackend, ty: KvType, tv: KvType, window: Option<usize>) -> f64 {
    let mut rng = Rng(9);
    let (n_head, n_head_kv, dk, dv) = (4, 2, 64, 64);
    let shape = KvShape {
        n_layer: 2,
        n_ctx: 150,
        n_embd_k: n_head_kv * dk,
        n_embd_v: n_head_kv * dv,
        type_k: ty,
        type_v: tv,
        state: StateShape::NONE,
    };
    let p = AttnParams { n_head, n_head_kv, head_dim_k: dk, head_dim_v: dv, scale: 0.125, window };
    let cpu = CpuBackend;
    let (mut ckv, mut vkv) = (cpu.new_kv(shape).unwrap(), b.new_kv(shape).unwrap());
    let mut err: f64 = 0.0;
    // Two batches: a prompt of 130 tokens, then 7 more (an odd start for q8_0 pairs).
    for (start, n) in [(0, 130), (130, 7)] {
        let (k, v) = (rng.vec(n * shape.n_embd_k), rng.vec(n * shape.n_embd_v));
        let q = rng.vec(n * n_head * dk);
        let positions: Vec<u32> = (start as u32..(start + n) as u32).collect();
        cpu.kv_store(
            &mut ckv,
            1,
            start,
            &cpu.tensor(k.clone(), n, shape.n_embd_k),
            &cpu.tensor(v.clone(), n, shape.n_embd_v),
        );
        b.kv_store(
            &mut vkv,
            1,
            start,
            &b.tensor(k, n, shape.n_embd_k),
            &b.tensor(v, n, shape.n_embd_v),
        );
        let want =
            cpu.attention(&cpu.tensor(q.clone(), n, n_head * dk), &ckv, 1, &positions, &p).data;
        let got =
            b.to_host(&b.attention(&b.tensor(q, n, n_head * dk), &vkv, 1, &positions, &p)).unwrap();
        err = err.max(nmse(&got, &want));
    }
    // The caches hold the same bytes (q8_0: up to a rounding tie now and then).
    let (ce, ve) = (cpu.kv_export(&ckv, 0..137).unwrap(), b.kv_export(&vkv, 0..137).unwrap());
    let differ = ce.iter().zip(&ve).filter(|(a, b)| a != b).count();
    assert_eq!(ce.len(), ve.len());
    assert!(differ * 1000 <= ce.len(), "{ty:?}: {differ} of {} bytes differ", ce.len());
    err
}

#[test]
fn attention_matches_the_cpu_for_every_cache_type_with_gqa_and_window() {
    let Some(b) = vk() else { return };
    let pairs = KvType::ALL.into_iter().map(|t| (t, t)).chain([(KvType::F16, KvType::Q8_0)]);
    for (ty, tv) in pairs {
        // With an f16 or q8_0 cache the CPU sums values in f16, as the reference engine
        // does (an f16 rounding, 2^-11 relative, per step); the kernel sums in f32.
        let bound = if ty == KvType::F32 { 1e-9 } else { 1e-5 };
        for window in [None, Some(40)] {
            let e = attention_case(b, ty, tv, window);
            assert!(e < bound, "{ty:?}/{tv:?} window {window:?}: nmse {e}");
        }
    }
}

#[test]
fn kv_export_import_round_trip() {
    let Some(b) = vk() else { return };
    let mut rng = Rng(10);
    for ty in KvType::ALL {
        let shape = KvShape {
            n_layer: 3,
            n_ctx: 8,
            n_embd_k: 32,
            n_embd_v: 64,
            type_k: ty,
            type_v: ty,
            state: StateShape::NONE,
        };
        let mut kv = b.new_kv(shape).unwrap();
        let k = rng.vec(8 * 32);
        let v = rng.vec(8 * 64);
        for il in 0..3 {
            b.kv_store(&mut kv, il, 0, &b.tensor(k.clone(), 8, 32), &b.tensor(v.clone(), 8, 64));
        }
        let bytes = b.kv_export(&kv, 2..7).unwrap();
        let mut other = b.new_kv(shape).unwrap();
        b.kv_import(&mut other, 2..7, &bytes).unwrap();
        assert_eq!(b.kv_export(&other, 2..7).unwrap(), bytes, "{ty:?}");
        assert!(b.kv_import(&mut other, 2..9, &bytes).is_err(), "a wrong range is refused");
    }
}

#[test]
fn experts_go_to_the_host_from_the_first_layers_until_the_rest_fits() {
    // 3 layers of 3 expert tensors (2 KiB each as f32 [16, 4, 8]) and 1 KiB of others.
    let mut w = GgufWriter::new();
    w.add_f32("token_embd.weight", &[16, 16], &[0.0; 256]).unwrap();
    for il in 0..3 {
        for t in ["gate", "up", "down"] {
            let name = format!("blk.{il}.ffn_{t}_exps.weight");
            w.add_f32(name, &[16, 4, 8], &[0.0; 512]).unwrap();
        }
    }
    let f = GgufFile::from_bytes("m.gguf", w.to_bytes().unwrap()).unwrap();
    let layer = 3 * 2048;
    let fit = |budget| VulkanBackend::experts_to_host(&f, budget);
    assert_eq!(fit(1024 + 3 * layer), Some(0));
    assert_eq!(fit(1024 + 3 * layer - 1), Some(1));
    assert_eq!(fit(1024 + layer), Some(2));
    assert_eq!(fit(1024), Some(3));
    assert_eq!(fit(1023), None);
}

/// 16.11: a failure inside an op (here: activations larger than the device's memory)
/// exited the process from deep inside the backend. Now the op leaves a stand-in, later
/// ops skip their work, and the read-back reports the failure naming the op; after that
/// the backend works again, and the stand-in is refused, never read as numbers.
#[test]
fn a_failed_op_is_an_error_at_the_read_back_not_an_exit() {
    // A backend of its own: a failure is kept until a read-back, and other tests share
    // theirs.
    let Some(b) = open(None) else { return };
    let cols = 1 << 20;
    let x = b.tensor(vec![1.0; cols], 1, cols);
    let rows = 2 * (b.device().memory / (4 * cols as u64)) as usize + 1;
    let y = b.repeat_rows(&x, rows);
    let z = b.scale(&y, 2.0);
    let err = b.to_host(&z).unwrap_err();
    let msg = err.to_string();
    assert_eq!(err.kind(), crate::error::ErrorKind::Failed, "{msg}");
    assert!(msg.starts_with("vulkan: repeat_rows: ") && !msg.contains('\n'), "{msg}");
    assert!(msg.contains(&format!("activations ({rows}, {cols})")), "{msg}");
    assert_eq!(b.to_host(&b.scale(&x, 2.0)).unwrap()[..3], [2.0; 3]);
    for e in [b.to_host(&y).unwrap_err(), b.to_host(&b.sum_groups(&y, rows)).unwrap_err()] {
        assert!(e.to_string().contains("an op that failed earlier"), "{e}");
    }
}

/// 16.11: a KV cache the device could not hold was an exit; now it is an error that
/// names the size wanted (here: layers wider than one binding of the device covers).
#[test]
fn a_kv_cache_the_device_cannot_hold_is_an_error_naming_its_size() {
    let Some(b) = vk() else { return };
    let n_ctx = b.device().max_storage_buffer_range as usize / 256 + 1;
    let ty = KvType::F32;
    let shape = KvShape {
        n_layer: 2,
        n_ctx,
        n_embd_k: 64,
        n_embd_v: 64,
        type_k: ty,
        type_v: ty,
        state: StateShape::NONE,
    };
    let msg = b.new_kv(shape).err().expect("a cache wider than a binding").to_string();
    assert!(msg.contains(&format!("a KV cache of {n_ctx} positions")), "{msg}");
    assert!(msg.contains("per layer, more than the"), "{msg}");
}
