//! Integer dot kernel throughput: one thread, one weight matrix of each type with an
//! integer dot against 64 activation rows (the prompt case, 8 rows per kernel call) and
//! against one row (the generation case), at every kernel level this CPU has, and the
//! panel kernels (`quant::dot::panel`) where the level has them. Reports
//! multiply-accumulates per nanosecond, the best of several runs (the best run is the
//! one least disturbed on a shared machine). Run with `cargo bench --bench dot`;
//! arguments select types by name (`q4_k q8_0`).

mod common;

use common::{best, values};
use hearth::quant::dot::{self, activation_meta, activation_type, panel, Level, MAX_COLS};
use hearth::quant::{self, GgmlType};

const TYPES: [GgmlType; 7] = [
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q8_0,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];
/// Weight rows and their length; activation rows of the prompt case.
const M: usize = 512;
const K: usize = 2048;
const N: usize = 64;
const RUNS: usize = 15;

fn bench(ty: GgmlType, level: Level) -> Option<(f64, f64, Option<f64>)> {
    let kernel = dot::kernel_at(ty, level)?;
    let mut w = Vec::new();
    quant::quantize(ty, &values(M * K, 7), &mut w).ok()?;
    let rb = w.len() / M;
    let xt = activation_type(ty);
    let mut xq = Vec::new();
    for row in values(N * K, 11).chunks(K) {
        dot::quantize_row(xt, row, &mut xq);
    }
    let xb = xq.len() / N;
    let meta = activation_meta(xt, &xq);
    let nb = meta.len() / N;
    let mut out = [0f32; MAX_COLS];
    let prompt = best(RUNS, || {
        for r in 0..M {
            for t0 in (0..N).step_by(MAX_COLS) {
                let x = &xq[t0 * xb..];
                kernel.dot_meta(&w[r * rb..(r + 1) * rb], x, xb, &meta[t0 * nb..], &mut out);
            }
        }
        std::hint::black_box(&out);
    });
    let mut rows_out = vec![0f32; M];
    let gen = best(RUNS, || {
        kernel.dot_rows(&w, rb, &xq[..xb], &meta[..nb], &mut rows_out);
        std::hint::black_box(&rows_out);
    });
    let macs = (M * K) as f64;
    Some((macs * N as f64 / prompt / 1e9, macs / gen / 1e9, panels(ty, level, &w, &xq, xb)))
}

/// The panel kernel's prompt throughput, where `level` has one for `ty`.
fn panels(ty: GgmlType, level: Level, w: &[u8], xq: &[u8], xb: usize) -> Option<f64> {
    let pk = panel::panel_kernel_at(ty, level)?;
    let p = pk.panels(xq, xb, K);
    let rb = w.len() / M;
    let mut out = [0f32; panel::MAX_PANELS * panel::PANEL_ROWS];
    let t = best(RUNS, || {
        for p0 in (0..p.n_panels()).step_by(panel::MAX_PANELS) {
            let np = (p.n_panels() - p0).min(panel::MAX_PANELS);
            let nb = K / ty.block_elems();
            for r in 0..M {
                (pk.f)(&w[r * rb..(r + 1) * rb], &p, p0, np, 0..nb, &mut out);
            }
        }
        std::hint::black_box(&out);
    });
    Some((M * K * N) as f64 / t / 1e9)
}

/// The eight-row kernel's throughput for `n` activation rows, where `level` has one.
fn rows8(ty: GgmlType, level: Level, n: usize) -> Option<f64> {
    let f = dot::rows8::rows8_kernel_at(ty, level)?;
    let mut w = Vec::new();
    quant::quantize(ty, &values(M * K, 7), &mut w).ok()?;
    let rb = w.len() / M;
    let mut xq = Vec::new();
    for row in values(n * K, 11).chunks(K) {
        dot::quantize_row(activation_type(ty), row, &mut xq);
    }
    let xb = xq.len() / n;
    let mut out = vec![0f32; n * dot::rows8::ROWS];
    let t = best(RUNS, || {
        for r0 in (0..M).step_by(dot::rows8::ROWS) {
            f(&w[r0 * rb..(r0 + dot::rows8::ROWS) * rb], rb, &xq, xb, &mut out);
        }
        std::hint::black_box(&out);
    });
    Some((M * K * n) as f64 / t / 1e9)
}

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(|a| a.to_lowercase())
        .collect();
    println!(
        "| type | level | prompt ({N} rows) MAC/ns | panels ({N} rows) | generation (1 row) |"
    );
    println!("|---|---|---|---|---|");
    for ty in TYPES {
        if !filter.is_empty() && !filter.iter().any(|f| ty.name().to_lowercase() == *f) {
            continue;
        }
        for level in Level::ALL.into_iter().filter(|l| l.supported()) {
            if let Some((p, g, pan)) = bench(ty, level) {
                let pan = pan.map_or("-".to_string(), |v| format!("{v:.1}"));
                println!("| {} | {} | {p:.1} | {pan} | {g:.1} |", ty.name(), level.name());
            }
        }
    }
    let counts = [1, 2, 4, 8, 16, 32, 64];
    println!("\neight-row kernel, MAC/ns by activation rows");
    println!("| type | level |{}", counts.map(|n| format!(" {n} |")).concat());
    println!("|---|---|{}", "---|".repeat(counts.len()));
    for ty in
        TYPES.into_iter().filter(|t| filter.is_empty() || filter.contains(&t.name().to_lowercase()))
    {
        for level in Level::ALL.into_iter().filter(|l| l.supported()) {
            let Some(row) = counts.iter().map(|&n| rows8(ty, level, n)).collect::<Option<Vec<_>>>()
            else {
                continue;
            };
            let cells: String = row.iter().map(|v| format!(" {v:.1} |")).collect();
            println!("| {} | {} |{cells}", ty.name(), level.name());
        }
    }
}
