//! Expert products at the real per-layer shape of a 30B-A3B MoE (128 experts of 768 × 2048,
//! 8 used per token): the gate and up products together (Q4_K) and the down product
//! (Q6_K) for prompts of several lengths, so tokens per expert run from ~1 to ~32 — the
//! range where a prompt's expert products move from the one-row to the eight-row kernels.
//! Reports multiply-accumulates per nanosecond, best of several runs, on the pool's
//! threads (`-t N`, default 1). Run with `cargo bench --bench moe [-- -t 2]`.

mod common;

use common::{best, values};
use hearth::backend::cpu::expert::{mul_mat_id, mul_mat_ids};
use hearth::backend::cpu::matmul::{matmul, QRows};
use hearth::backend::cpu::pool;
use hearth::quant::{self, GgmlType};

const N_EXPERT: usize = 128;
const N_USED: usize = 8;
const N_EMBD: usize = 2048;
const N_FF: usize = 768;
const RUNS: usize = 7;

fn quantized(ty: GgmlType, n: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    quant::quantize(ty, &values(n, seed), &mut out).expect("quantizable");
    out
}

/// `N_USED` distinct experts per token, spread as a router's random picks.
fn expert_ids(n_tokens: usize) -> Vec<u32> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut ids = Vec::with_capacity(n_tokens * N_USED);
    for _ in 0..n_tokens {
        let mut picked: Vec<u32> = Vec::with_capacity(N_USED);
        while picked.len() < N_USED {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let e = (state % N_EXPERT as u64) as u32;
            if !picked.contains(&e) {
                picked.push(e);
            }
        }
        ids.extend(picked);
    }
    ids
}

fn main() {
    // `-t N`: threads; bare numbers: prompt lengths (else a spread of them).
    let (mut threads, mut lengths) = (1, Vec::new());
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-t" => threads = args.next().and_then(|v| v.parse().ok()).unwrap_or(1),
            _ => lengths.extend(a.parse::<usize>().ok()),
        }
    }
    if lengths.is_empty() {
        lengths = vec![16, 64, 128, 256, 512];
    }
    pool::init(threads);
    let gate = quantized(GgmlType::Q4_K, N_EXPERT * N_FF * N_EMBD, 3);
    let up = quantized(GgmlType::Q4_K, N_EXPERT * N_FF * N_EMBD, 5);
    let down = quantized(GgmlType::Q6_K, N_EXPERT * N_EMBD * N_FF, 7);
    let rows = |b: &'static [u8], ty, k, m| QRows { bytes: b, ty, k, n_rows: m * N_EXPERT };
    let (gate, up, down) = (gate.leak(), up.leak(), down.leak());
    let pair = [rows(gate, GgmlType::Q4_K, N_EMBD, N_FF), rows(up, GgmlType::Q4_K, N_EMBD, N_FF)];
    let down = rows(down, GgmlType::Q6_K, N_FF, N_EMBD);
    let dense = QRows { bytes: &gate[..N_EMBD * 4096 / 256 * 144], n_rows: 4096, ..pair[0] };
    println!("{threads} thread(s); MAC/ns");
    println!("| tokens | per expert | gate+up Q4_K | down Q6_K | dense Q4_K 4096 rows |");
    println!("|---|---|---|---|---|");
    for n in lengths {
        let ids = expert_ids(n);
        let x = values(n * N_EMBD, 11);
        let t_pair = best(RUNS, || {
            std::hint::black_box(mul_mat_ids(&pair, N_FF, &x, &ids, N_USED));
        });
        let xd = values(n * N_USED * N_FF, 13);
        let t_down = best(RUNS, || {
            std::hint::black_box(mul_mat_id(down, N_EMBD, &xd, &ids));
        });
        let t_dense = best(RUNS, || {
            std::hint::black_box(matmul(dense, &x, n));
        });
        let macs = (n * N_USED * N_FF * N_EMBD) as f64;
        println!(
            "| {n} | {:.0} | {:.1} | {:.1} | {:.1} |",
            (n * N_USED) as f64 / N_EXPERT as f64,
            2.0 * macs / t_pair / 1e9,
            macs / t_down / 1e9,
            (n * 4096 * N_EMBD) as f64 / t_dense / 1e9
        );
    }
}
