//! Expert products for MoE layers (`MUL_MAT_ID`): each activation row goes through the
//! expert its id names. Activations are quantized once — once per token, where the
//! expert slots of a token share its row — and one job splits (weight, expert, run of
//! rows) across the threads, so only the selected experts' weights are read, each once
//! per call, and the gate and up products meet the same gathered activations.

use super::matmul::{self, matmul, quantize_rows, rows_by_tokens, Prepared, QRows};
use super::pool::{self, SendPtr};
use crate::quant::dot::{self, activation_type};

/// W holds `n_expert` matrices of `m` rows each; row r of x (`k` values) goes through
/// expert `ids[r]`. Returns `(ids.len(), m)`.
pub fn mul_mat_id(w: QRows, m: usize, x: &[f32], ids: &[u32]) -> Vec<f32> {
    mul_mat_ids(&[w], m, x, ids, 1).remove(0)
}

/// For each of `ws` (same type and shape: `n_expert` matrices of `m` rows), product row
/// r goes through expert `ids[r]` with row `r / slots` of x (`k` values per row: one row
/// per token, `slots` experts each). Returns one `(ids.len(), m)` product per weight.
pub fn mul_mat_ids(ws: &[QRows], m: usize, x: &[f32], ids: &[u32], slots: usize) -> Vec<Vec<f32>> {
    let w = ws[0];
    let same = ws.iter().all(|v| (v.ty, v.k, v.n_rows) == (w.ty, w.k, w.n_rows));
    let kernel = dot::kernel(w.ty).filter(|_| same);
    let Some(kernel) = kernel else {
        return ws.iter().map(|&w| mul_mat_id_each(w, m, x, ids, slots)).collect();
    };
    let (k, ty) = (w.k, activation_type(w.ty));
    let xb = k / ty.block_elems() * ty.block_bytes();
    let xq = quantize_rows(ty, x, k, xb);
    let groups = group_by_expert(ids);
    // Each expert's activation rows, contiguous for the kernels, with their scales.
    let gathered: Vec<Vec<u8>> =
        groups.iter().map(|(_, rows)| gather(&xq, xb, rows, slots)).collect();
    // The most rows one expert takes stands for the batch: an expert meets each token at
    // most once, so it reaches 16 only in a batch of 16 tokens or more.
    let batch = groups.iter().map(|(_, rows)| rows.len()).max().unwrap_or(0);
    let prepared: Vec<_> = gathered.iter().map(|g| Prepared::new(w, m, g, xb, batch)).collect();
    let per = matmul::rows_per_task(m, groups.len() * ws.len());
    let chunks = m.div_ceil(per);
    let mut outs: Vec<Vec<f32>> = ws.iter().map(|_| vec![0f32; ids.len() * m]).collect();
    let dsts: Vec<_> = outs.iter_mut().map(|o| SendPtr::new(o)).collect();
    // Task order: expert, run of rows, weight — the weights' runs of one expert side by
    // side, so its activations stay in cache between them.
    pool::run(groups.len() * chunks * ws.len(), |task| {
        let (g, c, j) = (task / (chunks * ws.len()), task / ws.len() % chunks, task % ws.len());
        let (e, rows) = &groups[g];
        let w_e = ws[j].slice(*e as usize * m, m);
        let run = c * per..((c + 1) * per).min(m);
        let x = prepared[g].activations(&gathered[g], xb);
        rows_by_tokens(w_e, kernel, run, x, |t, r, v| {
            // SAFETY: each product row has one expert, so (rows[t], r) of weight j belongs
            // to this task.
            unsafe { dsts[j].write(rows[t] * m + r, v) }
        });
    });
    outs
}

/// The experts named in `ids`, ascending, each with the rows that go through it.
fn group_by_expert(ids: &[u32]) -> Vec<(u32, Vec<usize>)> {
    let mut experts: Vec<u32> = ids.to_vec();
    experts.sort_unstable();
    experts.dedup();
    experts.into_iter().map(|e| (e, (0..ids.len()).filter(|&r| ids[r] == e).collect())).collect()
}

/// Rows `rows[i] / slots` of `x` (rows of `width` items), one after another.
fn gather<T: Copy>(x: &[T], width: usize, rows: &[usize], slots: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(rows.len() * width);
    for &r in rows {
        let r = r / slots;
        out.extend_from_slice(&x[r * width..(r + 1) * width]);
    }
    out
}

/// Weight types without an integer dot: one matmul per expert.
fn mul_mat_id_each(w: QRows, m: usize, x: &[f32], ids: &[u32], slots: usize) -> Vec<f32> {
    let k = w.k;
    let mut out = vec![0f32; ids.len() * m];
    for (e, rows) in group_by_expert(ids) {
        let xe = gather(x, k, &rows, slots);
        let ye = matmul(w.slice(e as usize * m, m), &xe, rows.len());
        for (i, &r) in rows.iter().enumerate() {
            out[r * m..(r + 1) * m].copy_from_slice(&ye[i * m..(i + 1) * m]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{self, GgmlType};
    use crate::testutil::Rng;

    /// The one-job expert product equals one matmul per row through its expert.
    #[test]
    fn matches_a_matmul_per_row() {
        let mut rng = Rng(5);
        let (k, m, n_expert) = (64, 40, 5);
        for ty in [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_1, GgmlType::F32] {
            let mut bytes = Vec::new();
            quant::quantize(ty, &rng.vec(k * m * n_expert), &mut bytes).unwrap();
            let w = QRows { bytes: &bytes, ty, k, n_rows: m * n_expert };
            let ids: Vec<u32> = (0..9).map(|i| (i * 3 % n_expert) as u32).collect();
            let x = rng.vec(ids.len() * k);
            let got = mul_mat_id(w, m, &x, &ids);
            for (r, &e) in ids.iter().enumerate() {
                let want = matmul(w.slice(e as usize * m, m), &x[r * k..(r + 1) * k], 1);
                assert_eq!(&got[r * m..(r + 1) * m], &want[..], "{} row {r}", ty.name());
            }
        }
    }

    /// Two weights over shared token rows equal each weight's product over the rows
    /// repeated once per slot — with panels (many rows per expert) and without.
    #[test]
    fn a_pair_over_token_rows_matches_repeated_rows() {
        let mut rng = Rng(9);
        let (k, m, n_expert, slots) = (256, 24, 3, 2);
        for ty in [GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::F16] {
            let pair: Vec<Vec<u8>> = (0..2)
                .map(|_| {
                    let mut bytes = Vec::new();
                    quant::quantize(ty, &rng.vec(k * m * n_expert), &mut bytes).unwrap();
                    bytes
                })
                .collect();
            let ws: Vec<QRows> =
                pair.iter().map(|b| QRows { bytes: b, ty, k, n_rows: m * n_expert }).collect();
            for n_tokens in [3, 40] {
                let ids: Vec<u32> =
                    (0..n_tokens * slots).map(|i| ((i * 7 / 3) % n_expert) as u32).collect();
                let x = rng.vec(n_tokens * k);
                let repeated: Vec<f32> = x.chunks(k).flat_map(|row| row.repeat(slots)).collect();
                let got = mul_mat_ids(&ws, m, &x, &ids, slots);
                for (j, w) in ws.iter().enumerate() {
                    let want = mul_mat_id(*w, m, &repeated, &ids);
                    assert_eq!(got[j], want, "{} weight {j}, {n_tokens} tokens", ty.name());
                }
            }
        }
    }
}
