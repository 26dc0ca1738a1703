//! The gated DeltaNet of hybrid models on the CPU: the causal conv1d over cached
//! inputs, and the gated delta rule run token by token on each value head's state —
//! one pass over the state's rows per token, heads in parallel.

use super::matmul::dot;
use super::pool::{self, SendPtr};
use crate::backend::DeltaParams;

/// Causal conv1d: `x` `(n, c)`, `w` `(c, d_conv)` (one row of taps per channel),
/// `state` the `d_conv - 1` inputs before `x` (oldest first, `c` per row). Returns
/// `(n, c)` and leaves the last `d_conv - 1` inputs in `state`.
pub fn ssm_conv(state: &mut [f32], x: &[f32], w: &[f32], c: usize, d_conv: usize) -> Vec<f32> {
    let n = x.len() / c;
    let hist = d_conv - 1;
    debug_assert_eq!(state.len(), hist * c);
    // The inputs: state rows, then x rows.
    let mut input = Vec::with_capacity((hist + n) * c);
    input.extend_from_slice(state);
    input.extend_from_slice(x);
    let mut out = vec![0f32; n * c];
    pool::for_chunks(&mut out, c, |t, row| {
        for (ch, o) in row.iter_mut().enumerate() {
            let taps = &w[ch * d_conv..][..d_conv];
            *o = taps.iter().enumerate().map(|(i, &tap)| input[(t + i) * c + ch] * tap).sum();
        }
    });
    state.copy_from_slice(&input[n * c..]);
    out
}

/// Inputs of the delta rule for one forward call, token-major.
pub struct DeltaInputs<'a> {
    pub q: &'a [f32],
    pub k: &'a [f32],
    pub v: &'a [f32],
    /// Log-decay per token and value head.
    pub g: &'a [f32],
    /// Write strength per token and value head.
    pub beta: &'a [f32],
}

/// The gated delta rule over `n` tokens; `state` holds one `d × d` matrix per value head,
/// transposed (row j is column j of S). Returns `(n, n_head_v · d)`.
pub fn gated_delta_net(state: &mut [f32], x: &DeltaInputs, p: &DeltaParams) -> Vec<f32> {
    let (d, hv, hk) = (p.head_dim, p.n_head_v, p.n_head_k);
    let n = x.g.len() / hv;
    let mut out = vec![0f32; n * hv * d];
    let dst = SendPtr::new(&mut out);
    let scale = 1.0 / (d as f32).sqrt();
    pool::for_chunks(state, d * d, |h, s| {
        let kh = h % hk;
        let mut delta = vec![0f32; d];
        for t in 0..n {
            let q = &x.q[(t * hk + kh) * d..][..d];
            let k = &x.k[(t * hk + kh) * d..][..d];
            let v = &x.v[(t * hv + h) * d..][..d];
            let (decay, beta) = (x.g[t * hv + h].exp(), x.beta[t * hv + h]);
            for (j, row) in s.chunks_exact_mut(d).enumerate() {
                row.iter_mut().for_each(|m| *m *= decay);
                delta[j] = (v[j] - dot(row, k)) * beta;
                row.iter_mut().zip(k).for_each(|(m, &kv)| *m += delta[j] * kv);
                // SAFETY: head h alone writes columns h·d..(h+1)·d of each output row.
                unsafe { dst.write((t * hv + h) * d + j, dot(row, q) * scale) };
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::naive;
    use crate::testutil::Rng;

    fn inputs(rng: &mut Rng, n: usize, p: &DeltaParams) -> [Vec<f32>; 5] {
        let (d, hk, hv) = (p.head_dim, p.n_head_k, p.n_head_v);
        let unit = |v: Vec<f32>| naive::l2_norm(&v, d, 0.0);
        [
            unit(rng.vec(n * hk * d)),
            unit(rng.vec(n * hk * d)),
            rng.vec(n * hv * d),
            rng.vec(n * hv).iter().map(|x| -x.abs()).collect(),
            rng.vec(n * hv).iter().map(|x| 0.5 + 0.5 * x.tanh()).collect(),
        ]
    }

    #[test]
    fn the_delta_rule_matches_its_definition_and_carries_state_across_calls() {
        let p = DeltaParams { n_head_k: 2, n_head_v: 4, head_dim: 16 };
        let mut rng = Rng(7);
        let [q, k, v, g, beta] = inputs(&mut rng, 9, &p);
        let mut s_ref = vec![vec![vec![0f64; 16]; 16]; 4];
        let want = naive::gated_delta_net(&mut s_ref, [&q, &k, &v, &g, &beta], &p);
        // The same tokens in two calls of 5 and 4: the state carries the first into the
        // second.
        let mut state = vec![0f32; 4 * 16 * 16];
        let (a, b) = (5 * 2 * 16, 5 * 4 * 16);
        let split = |x: &[f32], at: usize| (x[..at].to_vec(), x[at..].to_vec());
        let (q1, q2) = split(&q, a);
        let (k1, k2) = split(&k, a);
        let (v1, v2) = split(&v, b);
        let (g1, g2) = split(&g, 5 * 4);
        let (b1, b2) = split(&beta, 5 * 4);
        let mut got = gated_delta_net(
            &mut state,
            &DeltaInputs { q: &q1, k: &k1, v: &v1, g: &g1, beta: &b1 },
            &p,
        );
        got.extend(gated_delta_net(
            &mut state,
            &DeltaInputs { q: &q2, k: &k2, v: &v2, g: &g2, beta: &b2 },
            &p,
        ));
        let err = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(err < 1e-5, "max error {err}");
        // Dropping the state between the calls must show.
        let mut fresh = vec![0f32; 4 * 16 * 16];
        let second = gated_delta_net(
            &mut fresh,
            &DeltaInputs { q: &q2, k: &k2, v: &v2, g: &g2, beta: &b2 },
            &p,
        );
        let gap = second.iter().zip(&want[b..]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(gap > 1e-2, "a lost state went unnoticed ({gap})");
    }

    #[test]
    fn the_conv_continues_over_its_state() {
        let (c, d_conv, n) = (5, 4, 7);
        let mut rng = Rng(3);
        let (x, w) = (rng.vec(n * c), rng.vec(c * d_conv));
        let mut whole = vec![0f32; 3 * c];
        let want = ssm_conv(&mut whole, &x, &w, c, d_conv);
        for t in 0..n {
            for ch in 0..c {
                let e: f32 = (0..d_conv)
                    .filter(|&i| t + i >= 3)
                    .map(|i| x[(t + i - 3) * c + ch] * w[ch * d_conv + i])
                    .sum();
                assert!((want[t * c + ch] - e).abs() < 1e-6);
            }
        }
        let mut state = vec![0f32; 3 * c];
        let mut got = ssm_conv(&mut state, &x[..2 * c], &w, c, d_conv);
        got.extend(ssm_conv(&mut state, &x[2 * c..], &w, c, d_conv));
        assert_eq!(got, want);
        assert_eq!(state, whole);
    }
}
