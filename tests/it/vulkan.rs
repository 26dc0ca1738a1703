//! The Vulkan backend against the CPU backend on whole models: greedy tokens,
//! perplexity, expert offload, fallback without a driver. Without a Vulkan device these
//! say so and pass, except under `CI=true`, where a missing device fails them.

use std::sync::Arc;

use hearth::backend::cpu::CpuBackend;
use hearth::backend::vulkan::VulkanBackend;
use hearth::backend::{Backend, KvType};
use hearth::gguf::GgufFile;
use hearth::model::{Logits, Model};

use crate::common::*;
use crate::testmodels::{truncate, upcycle, Router, Upcycle};

pub fn vulkan() -> Option<VulkanBackend> {
    match VulkanBackend::new(None) {
        Ok(b) => Some(b),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but no Vulkan device: {}", e.message())
        }
        Err(e) => {
            eprintln!("skipped: no Vulkan device ({})", e.message());
            None
        }
    }
}

fn nmse(got: &[f32], want: &[f32]) -> f64 {
    let err: f64 = got.iter().zip(want).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum();
    err / want.iter().map(|&b| (b as f64).powi(2)).sum::<f64>()
}

/// `hearth run` greedy, 16 tokens, on `backend` (with extra flags).
fn greedy(model: &str, prompt: &str, flags: &[&str]) -> (String, String) {
    let mut args = vec!["run", "-m", model, "-p", prompt, "-n", "16", "--temp", "0", "-c", "256"];
    args.extend_from_slice(flags);
    let out = run(&args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    (stdout(&out), stderr(&out))
}

// Token for token, the backends are compared on every golden prompt, layer by layer, in
// `vulkan_layers.rs`; here `hearth run` itself takes the device for the whole model.
const PROMPT: &str = "def is_prime(n):\n";

#[test]
fn smollm2_runs_wholly_on_the_device() {
    if vulkan().is_none() {
        return;
    }
    let model = model_path(SMOLLM2);
    let (text, log) = greedy(model.to_str().unwrap(), PROMPT, &["--backend", "vulkan", "-v"]);
    assert!(!text.trim().is_empty(), "{log}");
    assert!(log.contains("0 ops on the CPU") && log.contains("0 B on the CPU"), "{log}");
}

#[test]
fn smollm2_perplexity_is_within_a_percent_of_the_cpu() {
    if vulkan().is_none() {
        return;
    }
    let text = std::fs::read_to_string(fixture("golden/perplexity-text.txt")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("text.txt");
    std::fs::write(&path, &text[..700]).unwrap();
    let model = model_path(SMOLLM2);
    let ppl = |backend: &str| {
        let out = run(&[
            "perplexity",
            "-m",
            model.to_str().unwrap(),
            "-f",
            path.to_str().unwrap(),
            "-c",
            "64",
            "--json",
            "--backend",
            backend,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        v["ppl"].as_f64().unwrap()
    };
    let (cpu, gpu) = (ppl("cpu"), ppl("vulkan"));
    assert!((gpu / cpu - 1.0).abs() < 0.01, "perplexity {gpu} on vulkan vs {cpu} on the cpu");
}

/// SmolLM2 upcycled to 4 experts: all active behind a zero router (the dense model
/// again), or 2 picked per token by a random router with wide margins.
fn four_experts(dir: &std::path::Path, top2: bool) -> std::path::PathBuf {
    let src = GgufFile::open(model_path(SMOLLM2)).unwrap();
    let up = Upcycle {
        arch: "llama",
        n_expert: 4,
        n_expert_used: if top2 { 2 } else { 4 },
        n_ff_shexp: 0,
        router: if top2 { Router::Random { seed: 7, scale: 1.0 } } else { Router::Zero },
        down_scale: if top2 { 2.0 } else { 4.0 },
        shexp_down_scale: 1.0,
    };
    let path = dir.join(format!("smollm2-{}-of-4.gguf", if top2 { 2 } else { 4 }));
    std::fs::write(&path, upcycle(&src, &up).to_bytes().unwrap()).unwrap();
    path
}

#[test]
fn moe_logits_match_the_cpu_with_experts_on_either_side() {
    if vulkan().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = Arc::new(GgufFile::open(four_experts(dir.path(), false)).unwrap());
    let cpu = Model::load(Arc::clone(&file), CpuBackend).unwrap();
    let tokens = [504u32, 3575, 282, 4649, 314];
    let mut ck = cpu.new_kv(32, KvType::F16, KvType::F16).unwrap();
    let want = cpu.forward(&mut ck, &tokens, 0, Logits::All).unwrap();
    for n_cpu_moe in [0, 15, usize::MAX] {
        let vk = vulkan().unwrap().with_cpu_moe(n_cpu_moe);
        let gpu = Model::load(Arc::clone(&file), vk).unwrap();
        let mut gk = gpu.new_kv(32, KvType::F16, KvType::F16).unwrap();
        let got = gpu.forward(&mut gk, &tokens, 0, Logits::All).unwrap();
        let e = nmse(&got, &want);
        // The backends round differently in places (f16 vs f32 value sums; exp); the
        // model amplifies that to ~1e-3. A wrong expert or weight gives ~1.
        assert!(e < 2e-2, "n_cpu_moe {n_cpu_moe}: nmse {e}");
        if n_cpu_moe == usize::MAX {
            assert!(gpu.backend.host_ops() > 0 && gpu.backend.loaded_bytes().1 > 0);
        }
    }
}

#[test]
fn top2_routing_picks_the_same_experts_and_outputs_in_every_layer() {
    // Whole-model logits of a top-2 model cut from a dense one are chaotic (a routing
    // near-tie anywhere sends a token elsewhere), so each MoE layer is compared alone,
    // on the same input: the router's choices and the layer's output.
    use hearth::backend::Backend;
    use hearth::model::layers::{ffn, route, Act, Routing};
    use hearth::model::weights::Ffn;
    let Some(vk) = vulkan() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = Arc::new(GgufFile::open(four_experts(dir.path(), true)).unwrap());
    let gpu = Model::load(Arc::clone(&file), vk).unwrap();
    let cpu = Model::load(file, CpuBackend).unwrap();
    let tokens = [504u32, 3575, 282, 4649, 314, 7042, 30];
    let h = cpu.backend.get_rows(&cpu.weights.token_embd, &tokens).data;
    let (h0c, h0g) = (cpu.backend.tensor(h.clone(), 7, 576), gpu.backend.tensor(h, 7, 576));
    let r = Routing { norm_topk: false };
    let mut skipped = 0;
    for (il, (lc, lg)) in cpu.weights.layers.iter().zip(&gpu.weights.layers).enumerate() {
        // What a feed-forward sees: its input normed by the layer's ffn_norm.
        let hc = cpu.backend.rms_norm(&h0c, &lc.ffn_norm, cpu.hp.rms_eps);
        let hg = gpu.backend.rms_norm(&h0g, &lg.ffn_norm, gpu.hp.rms_eps);
        let (Ffn::Moe { router: rc, .. }, Ffn::Moe { router: rg, .. }) = (&lc.ffn, &lg.ffn) else {
            panic!("layer {il} is not MoE")
        };
        assert_eq!(
            gpu.backend.ids_to_host(&route(&gpu.backend, &gpu.hp, rg, &hg, r).0).unwrap(),
            route(&cpu.backend, &cpu.hp, rc, &hc, r).0,
            "layer {il}"
        );
        let yc = ffn(&cpu.backend, &cpu.hp, &lc.ffn, &hc, Act::Silu, r);
        let yg = ffn(&gpu.backend, &gpu.hp, &lg.ffn, &hg, Act::Silu, r);
        let got = gpu.backend.to_host(&yg).unwrap();
        assert!(got.iter().all(|v| v.is_finite()), "layer {il}: non-finite on the GPU");
        if !yc.data.iter().all(|v| v.is_finite()) {
            // The random router sends a token wholly to one expert whose SwiGLU output
            // reaches ~1e5; the CPU's q8_1 activation blocks keep d·Σq as f16, as the
            // reference engine's do, and that overflows. The kernel has no such sum.
            skipped += 1;
            continue;
        }
        let e = nmse(&got, &yc.data);
        // The CPU's q4_1 × q8_1 product takes the activations' block sums as f16 (as
        // the reference engine does); the kernel sums exactly: nmse up to ~1e-5.
        assert!(e < 1e-4, "layer {il}: nmse {e}");
    }
    assert!(skipped <= 2, "{skipped} layers overflow on the CPU");
}

#[test]
fn cpu_moe_flags_keep_experts_on_the_cpu() {
    if vulkan().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = four_experts(dir.path(), false);
    let model = path.to_str().unwrap();
    let host_bytes = |flags: &[&str]| {
        let (text, log) = greedy(model, PROMPT, &[&["--backend", "vulkan", "-v"], flags].concat());
        assert!(!text.trim().is_empty());
        let line = log.lines().find(|l| l.starts_with("placement:")).expect("a placement line");
        let on_cpu =
            line.split("on the device, ").nth(1).unwrap().split(" on the CPU").next().unwrap();
        (on_cpu.to_string(), line.contains(" 0 ops on the CPU"))
    };
    assert_eq!(host_bytes(&[]), ("0 B".to_string(), true));
    let all = host_bytes(&["--cpu-moe"]);
    assert!(all.0 != "0 B" && !all.1, "{all:?}");
    // -ngl 0: no layer's experts on the GPU, as --cpu-moe.
    assert_eq!(host_bytes(&["-ngl", "0"]), all);
    let some = host_bytes(&["--n-cpu-moe", "10"]);
    assert!(some.0 != "0 B" && some.0 != all.0, "{some:?}");
}

/// A model bigger than the device (here a `--gpu-memory` cap with room for about half of
/// the experts) runs with the experts of its first layers on the CPU, and says so in one
/// line; a cap below even the shared weights is an error that names the device's memory.
#[test]
fn a_model_too_big_for_the_device_keeps_its_first_experts_on_the_cpu_with_one_line() {
    if vulkan().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = four_experts(dir.path(), false);
    let file = GgufFile::open(&path).unwrap();
    let (experts, rest): (Vec<_>, Vec<_>) =
        file.tensors().iter().partition(|t| t.name.contains("_exps"));
    let bytes = |v: &[&hearth::gguf::TensorInfo]| v.iter().map(|t| t.n_bytes).sum::<u64>();
    // 90% of the cap holds the shared weights, half of the experts and the small cache.
    let cap = (bytes(&rest) + bytes(&experts) / 2) / 9 * 10 + (16 << 20);
    let model = path.to_str().unwrap();
    let cap_mib = (cap >> 20).to_string();
    let flags = ["--backend", "vulkan", "-v", "--gpu-memory", &cap_mib];
    let (text, log) = greedy(model, PROMPT, &flags);
    assert!(!text.trim().is_empty());
    let notes: Vec<_> = log.lines().filter(|l| l.starts_with("hearth: ")).collect();
    assert_eq!(notes.len(), 1, "{log}");
    assert!(notes[0].contains("experts of the first") && notes[0].contains("run on the CPU"));
    let placement = log.lines().find(|l| l.starts_with("placement:")).expect("placement");
    assert!(!placement.contains(" 0 B on the CPU"), "{placement}");
    let out = run(&[
        "run",
        "-m",
        model,
        "-p",
        "x",
        "-n",
        "1",
        "--backend",
        "vulkan",
        "--gpu-memory",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("does not fit in the 0.0 GiB") && err.lines().count() == 1, "{err}");
}

#[test]
fn without_a_vulkan_driver_auto_runs_on_the_cpu_with_one_warning() {
    let model = model_path(SMOLLM2);
    let prompt = PROMPT;
    let args = ["run", "-m", model.to_str().unwrap(), "-p", prompt, "-n", "4", "--temp", "0"];
    let mut auto = hearth();
    auto.args(args).args(["--backend", "auto"]).env("VK_ICD_FILENAMES", "/nonexistent");
    let out = auto.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("hearth: warning:")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(warnings[0].contains("running on the CPU"), "{err}");
    let cpu = run(&[&args[..], &["--backend", "cpu"]].concat());
    assert_eq!(stdout(&out), stdout(&cpu));
    // Asked for explicitly, a missing driver is an error: exit 1, one line.
    let out = hearth()
        .args([&args[..], &["--backend", "vulkan"]].concat())
        .env("VK_ICD_FILENAMES", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}

/// 16.11: a failure on the device (here: a KV cache whose layers are wider than one binding
/// of the device covers) exited from deep inside the backend. Now `--backend vulkan`
/// fails with one `hearth:` line, exit 1 (`edit` giving its text back), and `--backend
/// auto` runs on the CPU after one warning.
#[test]
fn a_vulkan_failure_is_an_error_not_an_exit() {
    let Some(vk) = vulkan() else { return };
    let device = vk.device().clone();
    drop(vk);
    // One layer of SmolLM2: K rows of 3 heads of 64 f16 values, 384 bytes a position;
    // its trained context raised past -c, so that no warning of its own appears.
    let n_ctx = device.max_storage_buffer_range as usize / 384 + 1;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("smollm2-1-layer.gguf");
    let mut w = truncate(&GgufFile::open(model_path(SMOLLM2)).unwrap(), 1);
    w.set_u32("llama.context_length", 1 << 30);
    w.write(&path).unwrap();
    let (c, d) = (n_ctx.to_string(), device.index.to_string());
    let flags = ["-m", path.to_str().unwrap(), "-c", &c, "--device", &d, "-ngl", "99"];
    let run_on = |backend: &str| {
        let args = ["run", "-p", "def", "-n", "2", "--temp", "0", "--backend", backend];
        run(&[&args[..], &flags[..]].concat())
    };
    let out = run_on("vulkan");
    assert_fails(&out, 1, &format!("a KV cache of {n_ctx} positions"));
    assert!(stdout(&out).is_empty());

    let text = "fn main() {}\n";
    let mut child = hearth()
        .args([&["edit", "--backend", "vulkan", "add a comment"], &flags[..]].concat())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_fails(&out, 1, &format!("a KV cache of {n_ctx} positions"));
    assert_eq!(stdout(&out), text, "edit gives its text back");

    let out = run_on("auto");
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("hearth: warning:")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].contains("KV cache") && warnings[0].contains("running on the CPU"),
        "{err}"
    );
    assert_eq!(stdout(&out), stdout(&run_on("cpu")));
}

/// Hybrid models (gated DeltaNet and gated attention with multi-section rope) on the
/// device: logits as the CPU's over a prompt fed in two calls (the recurrent state
/// carried across them; dropping it shows), a device cache and state laid out as the
/// CPU's (they continue there as the CPU's own), and `hearth run --backend vulkan`.
#[test]
fn hybrid_models_match_the_cpu_and_carry_their_state() {
    let Some(vk) = vulkan() else { return };
    let d = vk.device().index.to_string();
    drop(vk);
    let dir = tempfile::tempdir().unwrap();
    for dense in [false, true] {
        let path = dir.path().join(format!("tiny-hybrid-{dense}.gguf"));
        crate::hybrid_models::build(&crate::hybrid_models::Hybrid::tiny(dense))
            .write(&path)
            .unwrap();
        let file = Arc::new(GgufFile::open(&path).unwrap());
        let cpu = Model::load(Arc::clone(&file), CpuBackend).unwrap();
        let gpu = Model::load(Arc::clone(&file), vulkan().unwrap()).unwrap();
        let tokens: Vec<u32> = (0..13).map(|i| (i * 37 + 11) % 200 + 20).collect();
        let (a, b) = tokens.split_at(7);
        let mut ck = cpu.new_kv(64, KvType::F16, KvType::F16).unwrap();
        let mut want = cpu.forward(&mut ck, a, 0, Logits::All).unwrap();
        want.extend(cpu.forward(&mut ck, b, a.len(), Logits::All).unwrap());
        let mut gk = gpu.new_kv(64, KvType::F16, KvType::F16).unwrap();
        let mut got = gpu.forward(&mut gk, a, 0, Logits::All).unwrap();
        got.extend(gpu.forward(&mut gk, b, a.len(), Logits::All).unwrap());
        let e = nmse(&got, &want);
        assert!(e < 1e-3, "{}: nmse {e}", file.architecture().unwrap());
        // The device's cache and state, moved to a fresh CPU cache, continue as the CPU's.
        let next = [7u32];
        let mut moved = cpu.new_kv(64, KvType::F16, KvType::F16).unwrap();
        let rows = gpu.backend.kv_export(&gk, 0..tokens.len()).unwrap();
        cpu.backend.kv_import(&mut moved, 0..tokens.len(), &rows).unwrap();
        cpu.backend.state_import(&mut moved, &gpu.backend.state_export(&gk).unwrap()).unwrap();
        let cont = cpu.forward(&mut moved, &next, tokens.len(), Logits::All).unwrap();
        let own = cpu.forward(&mut ck, &next, tokens.len(), Logits::All).unwrap();
        let e = nmse(&cont, &own);
        assert!(e < 1e-3, "continued on the cpu: nmse {e}");
        // Without the state between the calls, the second call's logits go astray.
        let mut lost = gpu.new_kv(64, KvType::F16, KvType::F16).unwrap();
        gpu.forward(&mut lost, a, 0, Logits::All).unwrap();
        gpu.backend.state_clear(&mut lost);
        let astray = gpu.forward(&mut lost, b, a.len(), Logits::All).unwrap();
        let e = nmse(&astray, &want[a.len() * want.len() / tokens.len()..]);
        assert!(e > 1e-2, "a lost state went unnoticed: nmse {e}");
    }
    let path = dir.path().join("tiny-hybrid-false.gguf");
    let run_on = |backend: &str| {
        let m = path.to_str().unwrap();
        let args = ["run", "-m", m, "-p", "the cat", "-n", "4", "--temp", "0", "-v"];
        run(&[&args[..], &["--device", &d, "--backend", backend]].concat())
    };
    let out = run_on("vulkan");
    assert!(out.status.success(), "{}", stderr(&out));
    let placement = stderr(&out);
    assert!(placement.contains("placement: vulkan") && placement.contains(" 0 ops on the CPU"));
}

#[test]
fn devices_lists_what_the_tests_run_on() {
    if vulkan().is_none() {
        return;
    }
    let out = run(&["devices", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let devices = v.as_array().unwrap();
    assert!(!devices.is_empty());
    assert!(devices.iter().all(|d| d["memory"].as_u64().unwrap() > 0 && d["name"].is_string()));
}

mod hybrid {
    //! A backend that runs every op on the CPU except the ones named, which run on
    //! Vulkan with their inputs uploaded and their result read back: which op of a real
    //! model makes the two backends differ.
    use std::ops::Range;
    use std::sync::Arc;

    use hearth::backend::cpu::kv::CpuKv;
    use hearth::backend::cpu::{CpuBackend, CpuTensor, CpuWeight};
    use hearth::backend::vulkan::{VkKv, VkWeight, VulkanBackend};
    use hearth::backend::{AttnParams, Backend, DeltaParams, KvShape, RopeParams};
    use hearth::gguf::{GgufFile, TensorInfo};

    pub struct Hybrid {
        pub vk: VulkanBackend,
        pub on_gpu: Vec<&'static str>,
    }

    impl Hybrid {
        fn gpu(&self, op: &str) -> bool {
            self.on_gpu.contains(&op)
        }
        fn up(&self, t: &CpuTensor) -> <VulkanBackend as Backend>::Tensor {
            self.vk.tensor(t.data.clone(), t.n_rows, t.n_cols)
        }
        fn down(&self, t: &<VulkanBackend as Backend>::Tensor) -> CpuTensor {
            let (n_rows, n_cols) = self.vk.shape(t);
            CpuTensor { data: self.vk.to_host(t).unwrap(), n_rows, n_cols }
        }
    }

    impl Backend for Hybrid {
        type Tensor = CpuTensor;
        type Weight = (CpuWeight, VkWeight);
        type Kv = (CpuKv, VkKv);
        type Ids = Vec<u32>;
        fn name(&self) -> &'static str {
            "hybrid"
        }
        fn load_weight(
            &self,
            f: &Arc<GgufFile>,
            i: &TensorInfo,
        ) -> hearth::error::Result<Self::Weight> {
            Ok((CpuBackend.load_weight(f, i)?, self.vk.load_weight(f, i)?))
        }
        fn weight_dims<'a>(&self, w: &'a Self::Weight) -> &'a [u64] {
            CpuBackend.weight_dims(&w.0)
        }
        fn tensor(&self, d: Vec<f32>, r: usize, c: usize) -> CpuTensor {
            CpuBackend.tensor(d, r, c)
        }
        fn to_host(&self, t: &CpuTensor) -> hearth::error::Result<Vec<f32>> {
            Ok(t.data.clone())
        }
        fn shape(&self, t: &CpuTensor) -> (usize, usize) {
            (t.n_rows, t.n_cols)
        }
        fn select_rows(&self, t: &CpuTensor, rows: &[usize]) -> CpuTensor {
            CpuBackend.select_rows(t, rows)
        }
        fn get_rows(&self, w: &Self::Weight, ids: &[u32]) -> CpuTensor {
            if self.gpu("get_rows") {
                return self.down(&self.vk.get_rows(&w.1, ids));
            }
            CpuBackend.get_rows(&w.0, ids)
        }
        fn matmul(&self, w: &Self::Weight, x: &CpuTensor) -> CpuTensor {
            if self.gpu("matmul") {
                return self.down(&self.vk.matmul(&w.1, &self.up(x)));
            }
            CpuBackend.matmul(&w.0, x)
        }
        fn ids(&self, ids: &[u32]) -> Vec<u32> {
            ids.to_vec()
        }
        fn ids_to_host(&self, ids: &Vec<u32>) -> hearth::error::Result<Vec<u32>> {
            Ok(ids.clone())
        }
        fn top_k_experts(&self, l: &CpuTensor, k: usize, norm: bool) -> (Vec<u32>, CpuTensor) {
            CpuBackend.top_k_experts(l, k, norm)
        }
        fn mul_mat_id(&self, w: &Self::Weight, x: &CpuTensor, ids: &Vec<u32>) -> CpuTensor {
            if self.gpu("mul_mat_id") {
                return self.down(&self.vk.mul_mat_id(&w.1, &self.up(x), &self.vk.ids(ids)));
            }
            CpuBackend.mul_mat_id(&w.0, x, ids)
        }
        fn scale_rows_by(&self, x: &CpuTensor, s: &CpuTensor, sigmoid: bool) -> CpuTensor {
            CpuBackend.scale_rows_by(x, s, sigmoid)
        }
        fn rms_norm(&self, x: &CpuTensor, w: &Self::Weight, eps: f32) -> CpuTensor {
            if self.gpu("rms_norm") {
                return self.down(&self.vk.rms_norm(&self.up(x), &w.1, eps));
            }
            CpuBackend.rms_norm(x, &w.0, eps)
        }
        fn add(&self, a: &CpuTensor, b: &CpuTensor) -> CpuTensor {
            CpuBackend.add(a, b)
        }
        fn add_row(&self, x: &CpuTensor, b: &Self::Weight) -> CpuTensor {
            CpuBackend.add_row(x, &b.0)
        }
        fn scale(&self, x: &CpuTensor, s: f32) -> CpuTensor {
            CpuBackend.scale(x, s)
        }
        fn scale_rows(&self, x: &CpuTensor, s: &[f32]) -> CpuTensor {
            CpuBackend.scale_rows(x, s)
        }
        fn sum_groups(&self, x: &CpuTensor, g: usize) -> CpuTensor {
            CpuBackend.sum_groups(x, g)
        }
        fn repeat_rows(&self, x: &CpuTensor, g: usize) -> CpuTensor {
            CpuBackend.repeat_rows(x, g)
        }
        fn swiglu(&self, g: &CpuTensor, u: &CpuTensor) -> CpuTensor {
            if self.gpu("swiglu") {
                return self.down(&self.vk.swiglu(&self.up(g), &self.up(u)));
            }
            CpuBackend.swiglu(g, u)
        }
        fn geglu(&self, g: &CpuTensor, u: &CpuTensor) -> CpuTensor {
            CpuBackend.geglu(g, u)
        }
        fn rope(&self, x: &CpuTensor, pos: &[u32], p: &RopeParams) -> CpuTensor {
            if self.gpu("rope") {
                return self.down(&self.vk.rope(&self.up(x), pos, p));
            }
            CpuBackend.rope(x, pos, p)
        }
        fn new_kv(&self, s: KvShape) -> hearth::error::Result<Self::Kv> {
            Ok((CpuBackend.new_kv(s)?, self.vk.new_kv(s)?))
        }
        fn kv_store(
            &self,
            kv: &mut Self::Kv,
            il: usize,
            start: usize,
            k: &CpuTensor,
            v: &CpuTensor,
        ) {
            CpuBackend.kv_store(&mut kv.0, il, start, k, v);
            self.vk.kv_store(&mut kv.1, il, start, &self.up(k), &self.up(v));
        }
        fn attention(
            &self,
            q: &CpuTensor,
            kv: &Self::Kv,
            il: usize,
            pos: &[u32],
            p: &AttnParams,
        ) -> CpuTensor {
            if self.gpu("attention") {
                return self.down(&self.vk.attention(&self.up(q), &kv.1, il, pos, p));
            }
            CpuBackend.attention(q, &kv.0, il, pos, p)
        }
        fn kv_export(&self, kv: &Self::Kv, rows: Range<usize>) -> hearth::error::Result<Vec<u8>> {
            CpuBackend.kv_export(&kv.0, rows)
        }
        fn kv_import(
            &self,
            kv: &mut Self::Kv,
            rows: Range<usize>,
            b: &[u8],
        ) -> hearth::error::Result<()> {
            CpuBackend.kv_import(&mut kv.0, rows, b)
        }

        // The gated DeltaNet (no Vulkan kernels): on the CPU.
        fn mul(&self, a: &CpuTensor, b: &CpuTensor) -> CpuTensor {
            CpuBackend.mul(a, b)
        }
        fn sigmoid(&self, x: &CpuTensor) -> CpuTensor {
            CpuBackend.sigmoid(x)
        }
        fn silu(&self, x: &CpuTensor) -> CpuTensor {
            CpuBackend.silu(x)
        }
        fn l2_norm(&self, x: &CpuTensor, n: usize, eps: f32) -> CpuTensor {
            CpuBackend.l2_norm(x, n, eps)
        }
        fn slice_cols(&self, x: &CpuTensor, o: usize, w: usize, p: usize) -> CpuTensor {
            CpuBackend.slice_cols(x, o, w, p)
        }
        fn gdn_decay(&self, a: &CpuTensor, dt: &Self::Weight, s: &Self::Weight) -> CpuTensor {
            CpuBackend.gdn_decay(a, &dt.0, &s.0)
        }
        fn ssm_conv(
            &self,
            kv: &mut Self::Kv,
            il: usize,
            x: &CpuTensor,
            w: &Self::Weight,
        ) -> CpuTensor {
            CpuBackend.ssm_conv(&mut kv.0, il, x, &w.0)
        }
        fn gated_delta_net(
            &self,
            kv: &mut Self::Kv,
            il: usize,
            q: &CpuTensor,
            k: &CpuTensor,
            v: &CpuTensor,
            g: &CpuTensor,
            beta: &CpuTensor,
            p: &DeltaParams,
        ) -> CpuTensor {
            CpuBackend.gated_delta_net(&mut kv.0, il, q, k, v, g, beta, p)
        }
        fn state_clear(&self, kv: &mut Self::Kv) {
            CpuBackend.state_clear(&mut kv.0)
        }
        fn state_export(&self, kv: &Self::Kv) -> hearth::error::Result<Vec<u8>> {
            CpuBackend.state_export(&kv.0)
        }
        fn state_import(&self, kv: &mut Self::Kv, b: &[u8]) -> hearth::error::Result<()> {
            CpuBackend.state_import(&mut kv.0, b)
        }
    }
}

#[test]
fn each_op_of_smollm2_alone_on_vulkan_keeps_the_logits() {
    // Every op kind of a real model, one at a time on the device (the rest on the CPU):
    // a wrong kernel shows as nmse ~1, rounding differences as ~1e-3 (see above).
    let file = Arc::new(GgufFile::open(model_path(SMOLLM2)).unwrap());
    let cpu = Model::load(Arc::clone(&file), CpuBackend).unwrap();
    let tokens = [504u32, 3575, 282, 4649, 314, 7042, 30, 198, 198, 504];
    let mut ck = cpu.new_kv(64, KvType::F16, KvType::F16).unwrap();
    let want = cpu.forward(&mut ck, &tokens, 0, Logits::All).unwrap();
    for op in ["get_rows", "matmul", "rms_norm", "swiglu", "rope", "attention"] {
        let Some(vk) = vulkan() else { return };
        let h = Model::load(Arc::clone(&file), hybrid::Hybrid { vk, on_gpu: vec![op] }).unwrap();
        let mut hk = h.new_kv(64, KvType::F16, KvType::F16).unwrap();
        let got = h.forward(&mut hk, &tokens, 0, Logits::All).unwrap();
        let e = nmse(&got, &want);
        assert!(e < 2e-2, "{op}: nmse {e}");
    }
}
