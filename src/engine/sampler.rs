//! Token sampling: llama.cpp's chain (penalties → top-k → top-p → min-p → temperature →
//! random pick) built from `llm-samplers`, seeded for reproducibility; temperature 0 is argmax.
//!
//! Each step starts from one row of logits. The candidate list is not the whole vocabulary
//! (sorting 152k logits costs ~12 ms a token) but the top `max(top_k + W, 1000)` tokens
//! (`Logits::try_from_iter_top_k`, ~0.6 ms) plus the W tokens of the penalty window, and it
//! gives exactly the full vocabulary's result:
//! - A token outside the list is not in the window, so no penalty touches it, and its logit
//!   is at most L, the smallest pre-penalty logit among the top tokens.
//! - Penalties change only window tokens, so at least `top_k` of the top tokens keep a logit
//!   >= L: top-k never needs a token from outside the list.
//! - Window tokens are always in the list, so a penalty that raises logits (a repeat penalty
//!   below 1, a negative frequency or presence penalty) can still lift them to the top. The
//!   usual penalties only lower logits: the repetition penalty divides positive logits and
//!   multiplies negative ones, so it can push a token down but never pull one from below
//!   the top 1000 into the top-k.
//!
//! Top-p and min-p work on the softmax over what top-k kept, so they match too. With
//! `top_k == 0` (off) the list is the whole vocabulary.

use super::grammar::Constraint;
use std::collections::HashSet;

use llm_samplers::prelude::{
    HasSamplerResources, Logit, Logits, SampleFreqPresence, SampleMinP, SampleRandDistrib,
    SampleTemperature, SampleTopK, SampleTopP, Sampler as ChainStep, SamplerChain, SamplerError,
};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::error::{Error, Result};

/// The seed used when none is given. The CLI passes a random seed when the user gives
/// none; library callers and tests get this fixed one, so runs are reproducible.
pub const DEFAULT_SEED: u64 = 0x5EED_5EED;

/// The smallest candidate list built from a row of logits (see the module docs).
const MIN_CANDIDATES: usize = 1000;

/// Sampling settings, named and defaulted like llama.cpp's flags.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerParams {
    /// `--temp`: 0 picks the most likely token (argmax).
    pub temp: f32,
    /// `--top-k`: keep the k most likely tokens; 0 = off.
    pub top_k: usize,
    /// `--top-p`: keep the smallest set whose probabilities sum to p; 1 = off.
    pub top_p: f32,
    /// `--min-p`: drop tokens less likely than min_p × the most likely one; 0 = off.
    pub min_p: f32,
    /// `--repeat-penalty`: divide positive (multiply negative) logits of recent tokens; 1 = off.
    pub repeat_penalty: f32,
    /// `--repeat-last-n`: how many recent tokens the penalties look at; 0 = off.
    pub repeat_last_n: usize,
    /// `--frequency-penalty`: subtract count × this from a recent token's logit; 0 = off.
    pub frequency_penalty: f32,
    /// `--presence-penalty`: subtract this from the logit of any recent token; 0 = off.
    pub presence_penalty: f32,
    /// `-s/--seed`: the random generator's seed.
    pub seed: u64,
}

impl Default for SamplerParams {
    /// llama.cpp's defaults, with the fixed `DEFAULT_SEED`.
    fn default() -> Self {
        SamplerParams {
            temp: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            seed: DEFAULT_SEED,
        }
    }
}

impl SamplerParams {
    /// Checks every value; a bad one is a usage error naming its flag.
    pub fn validate(&self) -> Result<()> {
        let bad = |flag: &str, rule: &str, value: f32| {
            Err(Error::usage(format!("{flag} must be {rule}, got {value}")))
        };
        if !(self.temp.is_finite() && self.temp >= 0.0) {
            return bad("--temp", "a finite number >= 0", self.temp);
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("--top-p", "in (0, 1]", self.top_p);
        }
        if !(self.min_p >= 0.0 && self.min_p < 1.0) {
            return bad("--min-p", "in [0, 1)", self.min_p);
        }
        if !(self.repeat_penalty.is_finite() && self.repeat_penalty > 0.0) {
            return bad("--repeat-penalty", "a finite number > 0", self.repeat_penalty);
        }
        if !self.frequency_penalty.is_finite() {
            return bad("--frequency-penalty", "a finite number", self.frequency_penalty);
        }
        if !self.presence_penalty.is_finite() {
            return bad("--presence-penalty", "a finite number", self.presence_penalty);
        }
        Ok(())
    }

    /// Whether any penalty would change a logit.
    fn penalties_on(&self) -> bool {
        self.repeat_last_n > 0
            && (self.repeat_penalty != 1.0
                || self.frequency_penalty != 0.0
                || self.presence_penalty != 0.0)
    }
}

/// Picks tokens from logits. Owns the random generator and the penalty history.
#[derive(Debug)]
pub struct Sampler {
    params: SamplerParams,
    /// penalties → top-k → top-p → min-p, on the candidate list.
    filters: SamplerChain,
    /// temperature → weighted random pick, on what the filters left.
    pick: SamplerChain,
    res: Resources,
    /// A grammar the next tokens must follow.
    constraint: Guard,
}

/// The sampler's constraint, if any (a trait object has no `Debug` of its own).
#[derive(Default)]
struct Guard(Option<Box<dyn Constraint>>);

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Guard(on)" } else { "Guard(off)" })
    }
}

impl Sampler {
    /// Builds the chain for `params` (validated first).
    pub fn new(params: SamplerParams) -> Result<Sampler> {
        params.validate()?;
        let mut filters = SamplerChain::new();
        if params.penalties_on() {
            filters +=
                RepeatPenalty { penalty: params.repeat_penalty, last_n: params.repeat_last_n };
            filters += SampleFreqPresence::new(
                params.frequency_penalty,
                params.presence_penalty,
                params.repeat_last_n,
            );
        }
        if params.top_k > 0 {
            filters += SampleTopK::new(params.top_k, 1);
        }
        if params.top_p < 1.0 {
            filters += SampleTopP::new(params.top_p, 1);
        }
        if params.min_p > 0.0 {
            filters += SampleMinP::new(params.min_p, 1);
        }
        let pick =
            SamplerChain::new() + SampleTemperature::new(params.temp) + SampleRandDistrib::new();
        let res = Resources { rng: StdRng::seed_from_u64(params.seed), history: Vec::new() };
        Ok(Sampler { params, filters, pick, res, constraint: Guard::default() })
    }

    /// Makes every sample follow `constraint` (its mask applied first; each sampled
    /// token handed to it with [`Sampler::commit`]).
    pub fn set_constraint(&mut self, constraint: Box<dyn Constraint>) {
        self.constraint = Guard(Some(constraint));
    }

    /// Hands a sampled token to the constraint.
    pub fn commit(&mut self, token: u32) -> Result<()> {
        match self.constraint.0.as_mut() {
            Some(c) => c.commit(token),
            None => Ok(()),
        }
    }

    /// Time the constraint spent on masks, and how many it computed.
    pub fn constraint_cost(&self) -> Option<(std::time::Duration, usize)> {
        self.constraint.0.as_ref().map(|c| c.cost())
    }

    /// Whether each pick is the argmax of the logits (after penalties) with no grammar:
    /// what speculative verification needs to give the same tokens as plain decoding.
    pub fn is_greedy(&self) -> bool {
        self.params.temp == 0.0 && self.constraint.0.is_none()
    }

    /// Whether picks can be checked against a draft at all: no grammar (its state moves
    /// with each pick).
    pub fn can_verify(&self) -> bool {
        self.constraint.0.is_none()
    }

    /// The distribution a pick from `logits` is drawn from (penalties, top-k, top-p,
    /// min-p, then the temperature's softmax): `(token, probability)`, summing to 1.
    /// With temp 0, all the mass on the argmax.
    pub fn distribution(&mut self, logits: &[f32]) -> Result<Vec<(u32, f32)>> {
        check_logits(logits)?;
        if self.params.temp == 0.0 {
            return Ok(vec![(self.sample_unconstrained(logits)?, 1.0)]);
        }
        let mut cands = self.candidates(logits)?;
        let cands = self.filters.sample(&mut self.res, &mut cands).map_err(chain_error)?;
        let t = self.params.temp;
        let max = cands.iter().map(|l| l.logit).fold(f32::NEG_INFINITY, f32::max);
        let weights: Vec<(u32, f32)> =
            cands.iter().map(|l| (l.token_id, ((l.logit - max) / t).exp())).collect();
        let sum: f32 = weights.iter().map(|w| w.1).sum();
        if !(sum.is_finite() && sum > 0.0) {
            return Err(Error::failed("sampling: no token has a finite probability"));
        }
        Ok(weights.into_iter().map(|(id, w)| (id, w / sum)).collect())
    }

    /// A uniform draw in [0, 1) from the sampler's generator.
    pub fn uniform(&mut self) -> f32 {
        use rand::Rng;
        self.res.rng.gen::<f32>()
    }

    /// A token drawn from `dist` (weights need not sum to 1) with the sampler's generator.
    pub fn draw(&mut self, dist: &[(u32, f32)]) -> Option<u32> {
        let total: f32 = dist.iter().map(|d| d.1).sum();
        if total.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            return None;
        }
        let mut u = self.uniform() * total;
        for &(id, w) in dist {
            if u < w {
                return Some(id);
            }
            u -= w;
        }
        dist.iter().rev().find(|d| d.1 > 0.0).map(|d| d.0)
    }

    pub fn params(&self) -> &SamplerParams {
        &self.params
    }

    /// Picks the next token from one row of logits (len = n_vocab). temp == 0 → argmax
    /// (ties → lowest id) after any penalties, deterministic, no RNG use. A NaN or +inf
    /// logit, or a row where every logit is -inf, is an error.
    pub fn sample(&mut self, logits: &[f32]) -> Result<u32> {
        check_logits(logits)?;
        if let Some(c) = self.constraint.0.as_mut() {
            let mut masked = logits.to_vec();
            c.mask(&mut masked)?;
            if masked.iter().all(|l| *l == f32::NEG_INFINITY) {
                return Err(Error::failed("the grammar allows no token here"));
            }
            return self.sample_unconstrained(&masked);
        }
        self.sample_unconstrained(logits)
    }

    fn sample_unconstrained(&mut self, logits: &[f32]) -> Result<u32> {
        let penalties = self.params.penalties_on() && !self.res.history.is_empty();
        if self.params.temp == 0.0 && !penalties {
            return argmax(logits.iter().copied().zip(0u32..));
        }

        let mut cands = self.candidates(logits)?;
        let cands = self.filters.sample(&mut self.res, &mut cands).map_err(chain_error)?;
        if self.params.temp == 0.0 {
            return argmax(cands.iter().map(|l| (l.logit, l.token_id)));
        }

        // Softmax does not care about a shift; subtracting the max keeps a tiny temperature
        // from dividing large logits into infinities.
        let max = cands.iter().map(|l| l.logit).fold(f32::NEG_INFINITY, f32::max);
        if !max.is_finite() || cands.iter().any(|l| l.logit.is_nan()) {
            return Err(Error::failed("sampling: the penalties left no token with a finite logit"));
        }
        cands.iter_mut().for_each(|l| l.logit -= max);
        cands.set_softmax(false);
        let token = self.pick.sample_token(&mut self.res, cands).map_err(chain_error)?;
        token.ok_or_else(|| Error::failed("sampling: no token was picked"))
    }

    /// Records a token (prompt or generated) in the penalty history.
    pub fn accept(&mut self, token: u32) {
        let window = self.params.repeat_last_n;
        if window == 0 {
            return;
        }
        let history = &mut self.res.history;
        if history.len() >= window.saturating_mul(2) {
            history.drain(..history.len() - window + 1);
        }
        history.push(token);
    }

    /// Clears the history and reseeds the generator with the configured seed.
    pub fn reset(&mut self) {
        self.res.history.clear();
        self.res.rng = StdRng::seed_from_u64(self.params.seed);
    }

    /// The penalty window: the last `repeat_last_n` accepted tokens.
    fn window(&self) -> &[u32] {
        let h = &self.res.history;
        &h[h.len().saturating_sub(self.params.repeat_last_n)..]
    }

    /// The candidate list: the top tokens plus the window's tokens (see the module docs),
    /// sorted by logit, ties by lowest id. -inf logits are left out.
    fn candidates(&self, logits: &[f32]) -> Result<Logits> {
        let window = if self.params.penalties_on() { self.window() } else { &[] };
        let k = match self.params.top_k {
            0 => logits.len(),
            top_k => (top_k.saturating_add(window.len())).max(MIN_CANDIDATES),
        };
        let mut cands = if k >= logits.len() {
            let mut all = Logits::default();
            all.extend(
                (0u32..)
                    .zip(logits)
                    .filter(|(_, l)| l.is_finite())
                    .map(|(token_id, &logit)| Logit { token_id, logit, prob: 0.0 }),
            );
            all
        } else {
            let mut top = Logits::try_from_iter_top_k(logits.iter().copied(), k)
                .map_err(|e| Error::failed(format!("sampling: {e}")))?;
            let mut have: Vec<u32> = top.iter().map(|l| l.token_id).collect();
            have.sort_unstable();
            let mut extra: Vec<u32> = window
                .iter()
                .copied()
                .filter(|&t| (t as usize) < logits.len() && logits[t as usize].is_finite())
                .filter(|t| have.binary_search(t).is_err())
                .collect();
            extra.sort_unstable();
            extra.dedup();
            top.extend(extra.into_iter().map(|t| Logit {
                token_id: t,
                logit: logits[t as usize],
                prob: 0.0,
            }));
            top
        };
        if cands.is_empty() {
            return Err(Error::failed("sampling: every logit is -inf, nothing to pick"));
        }
        // All finite here, so total_cmp is the numeric order.
        cands.sort_by(|a, b| b.logit.total_cmp(&a.logit).then(a.token_id.cmp(&b.token_id)));
        cands.set_sorted(true);
        cands.set_softmax(false);
        Ok(cands)
    }
}

/// Refuses rows the chain cannot sample: empty, too long for u32 ids, NaN or +inf.
fn check_logits(logits: &[f32]) -> Result<()> {
    if logits.is_empty() {
        return Err(Error::failed("sampling: empty row of logits"));
    }
    if u32::try_from(logits.len()).is_err() {
        return Err(Error::failed(format!("sampling: {} logits is too many", logits.len())));
    }
    if let Some((i, v)) =
        logits.iter().enumerate().find(|(_, v)| v.is_nan() || **v == f32::INFINITY)
    {
        return Err(Error::failed(format!("sampling: the logit of token {i} is {v}")));
    }
    Ok(())
}

/// The token with the largest logit, skipping -inf and NaN; ties go to the lowest id.
fn argmax(items: impl Iterator<Item = (f32, u32)>) -> Result<u32> {
    let mut best: Option<(f32, u32)> = None;
    for (logit, id) in items {
        if logit == f32::NEG_INFINITY || logit.is_nan() {
            continue;
        }
        best = match best {
            Some((bl, bid)) if bl > logit || (bl == logit && bid < id) => Some((bl, bid)),
            _ => Some((logit, id)),
        };
    }
    best.map(|(_, id)| id).ok_or_else(|| Error::failed("sampling: every logit is -inf"))
}

fn chain_error(e: anyhow::Error) -> Error {
    Error::failed(format!("sampling: {e}"))
}

/// What the chain's steps read: the seeded generator and the accepted tokens.
#[derive(Debug)]
struct Resources {
    rng: StdRng,
    /// Accepted tokens, oldest first; trimmed to between 1 and 2 windows long.
    history: Vec<u32>,
}

impl HasSamplerResources for Resources {
    fn with_rng_mut(
        &mut self,
        fun: &mut dyn FnMut(&mut dyn rand::RngCore),
    ) -> Result<(), SamplerError> {
        fun(&mut self.rng);
        Ok(())
    }

    fn with_last_tokens(&self, fun: &mut dyn FnMut(&[u32])) -> Result<(), SamplerError> {
        fun(&self.history);
        Ok(())
    }

    fn with_last_tokens_mut(
        &mut self,
        fun: &mut dyn FnMut(&mut Vec<u32>),
    ) -> Result<(), SamplerError> {
        fun(&mut self.history);
        Ok(())
    }
}

/// llama.cpp's repetition penalty: a token seen in the last `last_n` has its logit divided
/// by `penalty` when positive, multiplied when not. llm-samplers' `SampleRepetition` skips
/// penalties <= 1; llama.cpp applies those too (they favour repeats), and so does this.
#[derive(Debug)]
struct RepeatPenalty {
    penalty: f32,
    last_n: usize,
}

impl ChainStep for RepeatPenalty {
    fn sample<'a>(
        &mut self,
        res: &mut dyn HasSamplerResources,
        logits: &'a mut Logits,
    ) -> anyhow::Result<&'a mut Logits> {
        if self.penalty == 1.0 || self.last_n == 0 {
            return Ok(logits);
        }
        let mut seen = HashSet::<u32>::new();
        res.with_last_tokens(&mut |tokens| {
            seen.extend(&tokens[tokens.len().saturating_sub(self.last_n)..]);
        })?;
        let mut changed = false;
        for l in logits.iter_mut().filter(|l| seen.contains(&l.token_id)) {
            l.logit = if l.logit <= 0.0 { l.logit * self.penalty } else { l.logit / self.penalty };
            changed = true;
        }
        if changed {
            logits.set_sorted(false);
            logits.set_softmax(false);
        }
        Ok(logits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use rand::Rng;

    fn params(temp: f32, top_k: usize, top_p: f32, min_p: f32) -> SamplerParams {
        SamplerParams { temp, top_k, top_p, min_p, ..SamplerParams::default() }
    }

    fn sampler(p: SamplerParams) -> Sampler {
        Sampler::new(p).unwrap()
    }

    /// A row of `n` logits in [-8, 8), reproducible from `seed`.
    fn random_row(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n).map(|_| rng.gen_range(-8.0..8.0)).collect()
    }

    /// How often each token is drawn from `logits` in `n` draws.
    fn counts(s: &mut Sampler, logits: &[f32], n: usize) -> Vec<usize> {
        let mut c = vec![0; logits.len()];
        for _ in 0..n {
            c[s.sample(logits).unwrap() as usize] += 1;
        }
        c
    }

    #[test]
    fn temp_zero_is_argmax_with_ties_to_lowest_id() {
        let mut s = sampler(params(0.0, 40, 0.95, 0.05));
        assert_eq!(s.sample(&[1.0, 3.0, 3.0, 2.0]).unwrap(), 1);
        assert_eq!(s.sample(&[f32::NEG_INFINITY, -5.0, -5.0]).unwrap(), 1);
        assert_eq!(s.sample(&[-1.0]).unwrap(), 0);
        let row = random_row(5000, 7);
        let best = (0..row.len()).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        assert_eq!(s.sample(&row).unwrap() as usize, best);
    }

    #[test]
    fn temp_zero_does_not_touch_the_rng() {
        let mut s = sampler(SamplerParams { temp: 0.0, repeat_penalty: 1.3, ..Default::default() });
        s.accept(3);
        let before = s.res.rng.clone();
        for _ in 0..10 {
            s.sample(&random_row(2000, 1)).unwrap();
        }
        assert_eq!(s.res.rng, before);
    }

    #[test]
    fn same_seed_gives_same_tokens_and_reset_replays() {
        let p = SamplerParams {
            temp: 1.2,
            repeat_penalty: 1.1,
            frequency_penalty: 0.2,
            presence_penalty: 0.1,
            seed: 1234,
            ..Default::default()
        };
        let run = |s: &mut Sampler| -> Vec<u32> {
            (0..200)
                .map(|i| {
                    let t = s.sample(&random_row(3000, i)).unwrap();
                    s.accept(t);
                    t
                })
                .collect()
        };
        let mut a = sampler(p.clone());
        let mut b = sampler(p);
        let first = run(&mut a);
        assert_eq!(first, run(&mut b));
        a.reset();
        assert_eq!(first, run(&mut a));
    }

    #[test]
    fn different_seeds_give_different_tokens() {
        let row: Vec<f32> = (0..50).map(|i| (i % 7) as f32 * 0.1).collect();
        let draw = |seed| {
            let mut s = sampler(SamplerParams { seed, top_k: 0, min_p: 0.0, ..Default::default() });
            (0..200).map(|_| s.sample(&row).unwrap()).collect::<Vec<_>>()
        };
        assert_ne!(draw(1), draw(2));
        assert_eq!(draw(3), draw(3));
    }

    #[test]
    fn top_k_one_is_argmax_at_any_temperature() {
        let mut ties = random_row(5000, 9);
        ties[100] = 9.0;
        ties[4000] = 9.0;
        for temp in [0.1, 0.8, 1.0, 5.0, 100.0] {
            let mut s = sampler(params(temp, 1, 1.0, 0.0));
            for seed in 0..20 {
                let row = random_row(5000, seed);
                let best = (0..row.len()).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
                assert_eq!(s.sample(&row).unwrap() as usize, best, "temp {temp}");
            }
            assert_eq!(s.sample(&ties).unwrap(), 100, "temp {temp}");
        }
    }

    #[test]
    fn min_p_cuts_unlikely_tokens_even_at_high_temperature() {
        // p(2) / p(0) = e^-5 ≈ 0.0067 < 0.05.
        let row = [5.0, 4.0, 0.0];
        for temp in [1.0, 5.0] {
            let mut s = sampler(params(temp, 0, 1.0, 0.05));
            let c = counts(&mut s, &row, 2000);
            assert_eq!(c[2], 0, "temp {temp}: {c:?}");
            assert!(c[0] > 0 && c[1] > 0, "temp {temp}: {c:?}");
        }
        // Without min-p, temperature 5 makes token 2 common.
        let mut s = sampler(params(5.0, 0, 1.0, 0.0));
        assert!(counts(&mut s, &row, 2000)[2] > 100);
    }

    #[test]
    fn top_p_keeps_the_smallest_set_reaching_p() {
        let row = [0.6f32.ln(), 0.3f32.ln(), 0.09f32.ln(), 0.01f32.ln()];
        let mut s = sampler(params(1.0, 0, 0.85, 0.0));
        let c = counts(&mut s, &row, 2000);
        assert_eq!((c[2], c[3]), (0, 0), "{c:?}");
        // Renormalised over the two kept: 2/3 and 1/3.
        assert!((1200..1470).contains(&c[0]), "{c:?}");
    }

    #[test]
    fn draws_follow_the_probabilities() {
        let row = [0.75f32.ln(), 0.25f32.ln(), f32::NEG_INFINITY];
        let mut s = sampler(params(1.0, 0, 1.0, 0.0));
        let c = counts(&mut s, &row, 4000);
        assert!((2800..3200).contains(&c[0]), "{c:?}");
        assert_eq!(c[2], 0);
    }

    #[test]
    fn repeat_penalty_changes_the_argmax() {
        let p = SamplerParams { temp: 0.0, repeat_penalty: 1.1, ..Default::default() };
        let mut s = sampler(p.clone());
        let row = [2.0, 1.9, -1.0];
        assert_eq!(s.sample(&row).unwrap(), 0);
        s.accept(0); // 2.0 / 1.1 = 1.82 < 1.9
        assert_eq!(s.sample(&row).unwrap(), 1);
        // Negative logits are multiplied: -1.0 * 1.1 < -1.05.
        let mut s = sampler(p.clone());
        s.accept(0);
        assert_eq!(s.sample(&[-1.0, -1.05]).unwrap(), 1);
        // Below 1 it favours repeats (llama.cpp does too).
        let mut s = sampler(SamplerParams { repeat_penalty: 0.9, ..p });
        s.accept(1);
        assert_eq!(s.sample(&[2.0, 1.9]).unwrap(), 1);
    }

    #[test]
    fn penalties_only_see_the_last_n_tokens() {
        let p = SamplerParams {
            temp: 0.0,
            repeat_penalty: 2.0,
            repeat_last_n: 2,
            ..Default::default()
        };
        let mut s = sampler(p);
        s.accept(0);
        assert_eq!(s.sample(&[2.0, 1.5]).unwrap(), 1);
        s.accept(5);
        s.accept(6);
        assert_eq!(s.sample(&[2.0, 1.5]).unwrap(), 0);
        for t in 0..1000 {
            s.accept(t);
        }
        assert!(s.res.history.len() <= 4);
        assert_eq!(s.window(), &[998, 999]);
    }

    #[test]
    fn frequency_and_presence_penalties_subtract() {
        let base = SamplerParams { temp: 0.0, ..Default::default() };
        let mut s = sampler(SamplerParams { frequency_penalty: 0.3, ..base.clone() });
        s.accept(0);
        assert_eq!(s.sample(&[2.0, 1.5]).unwrap(), 0); // 2.0 - 0.3
        s.accept(0);
        assert_eq!(s.sample(&[2.0, 1.5]).unwrap(), 1); // 2.0 - 0.6
        let mut s = sampler(SamplerParams { presence_penalty: 0.6, ..base });
        s.accept(0);
        assert_eq!(s.sample(&[2.0, 1.5]).unwrap(), 1);
    }

    #[test]
    fn raising_penalty_reaches_tokens_outside_the_candidate_list() {
        // Token 2999 has the lowest logit, far outside the top 1000; a negative presence
        // penalty lifts it to the top, which only works if window tokens are candidates.
        let mut row = random_row(3000, 5);
        row[2999] = -50.0;
        for temp in [0.0, 0.7] {
            let p = SamplerParams { temp, presence_penalty: -100.0, ..Default::default() };
            let mut s = sampler(p);
            s.accept(2999);
            s.accept(70_000); // outside the vocabulary: ignored
            assert_eq!(s.sample(&row).unwrap(), 2999, "temp {temp}");
        }
    }

    #[test]
    fn penalised_top_tokens_leave_room_for_top_k() {
        // Penalise the 1000 best tokens below all others: top-k must then pick from the rest.
        let row: Vec<f32> =
            (0..3000).map(|i| if i < 1000 { 10.0 } else { 1.0 + i as f32 * 1e-3 }).collect();
        let p = SamplerParams {
            temp: 1.0,
            top_k: 1,
            presence_penalty: 20.0,
            repeat_last_n: 1000,
            ..Default::default()
        };
        let mut s = sampler(p);
        (0..1000).for_each(|t| s.accept(t));
        assert_eq!(s.sample(&row).unwrap(), 2999);
    }

    #[test]
    fn candidate_list_filters_like_the_full_vocabulary() {
        let mut rng = StdRng::seed_from_u64(11);
        for case in 0..40u64 {
            let p = SamplerParams {
                top_k: [1, 40, 990, 2000][case as usize % 4],
                min_p: 0.0,
                top_p: 0.99,
                repeat_penalty: [0.5, 1.0, 3.0][case as usize % 3],
                repeat_last_n: 64,
                frequency_penalty: rng.gen_range(-1.0..3.0),
                presence_penalty: rng.gen_range(-1.0..3.0),
                ..Default::default()
            };
            let mut s = sampler(p);
            let mut row = random_row(6000, case);
            // Put some history tokens among the best, some far below.
            for _ in 0..64 {
                let t = rng.gen_range(0..6000u32);
                if rng.gen_bool(0.5) {
                    row[t as usize] = 9.0 + rng.gen_range(0.0..1.0);
                }
                s.accept(t);
            }
            let mut short = s.candidates(&row).unwrap();
            let mut full = Logits::default();
            full.extend((0u32..).zip(&row).map(|(token_id, &logit)| Logit {
                token_id,
                logit,
                prob: 0.0,
            }));
            full.sort_by(|a, b| b.logit.total_cmp(&a.logit).then(a.token_id.cmp(&b.token_id)));
            full.set_sorted(true);
            assert!(short.len() < full.len());
            let kept = |s: &mut Sampler, l: &mut Logits| {
                let l = s.filters.sample(&mut s.res, l).unwrap();
                let mut v: Vec<(u32, f32)> = l.iter().map(|l| (l.token_id, l.logit)).collect();
                v.sort_by_key(|x| x.0);
                v
            };
            assert_eq!(kept(&mut s, &mut short), kept(&mut s, &mut full), "case {case}");
        }
    }

    #[test]
    fn tiny_temperature_on_huge_logits_still_samples() {
        let mut s = sampler(params(1e-30, 0, 1.0, 0.0));
        assert_eq!(s.sample(&[3e38, -3e38, 1e38]).unwrap(), 0);
    }

    #[test]
    fn validate_names_the_flag() {
        let d = SamplerParams::default();
        assert!(d.validate().is_ok());
        let cases = [
            (SamplerParams { temp: -0.1, ..d.clone() }, "--temp"),
            (SamplerParams { temp: f32::NAN, ..d.clone() }, "--temp"),
            (SamplerParams { temp: f32::INFINITY, ..d.clone() }, "--temp"),
            (SamplerParams { top_p: 0.0, ..d.clone() }, "--top-p"),
            (SamplerParams { top_p: 1.5, ..d.clone() }, "--top-p"),
            (SamplerParams { min_p: 1.0, ..d.clone() }, "--min-p"),
            (SamplerParams { min_p: -0.1, ..d.clone() }, "--min-p"),
            (SamplerParams { repeat_penalty: 0.0, ..d.clone() }, "--repeat-penalty"),
            (SamplerParams { repeat_penalty: f32::NAN, ..d.clone() }, "--repeat-penalty"),
            (SamplerParams { frequency_penalty: f32::NAN, ..d.clone() }, "--frequency-penalty"),
            (SamplerParams { presence_penalty: f32::INFINITY, ..d.clone() }, "--presence-penalty"),
        ];
        for (p, flag) in cases {
            let e = p.validate().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Usage);
            assert!(e.message().starts_with(flag), "{e}");
            assert!(Sampler::new(p).is_err());
        }
    }

    #[test]
    fn bad_logits_are_errors() {
        for temp in [0.0, 0.8] {
            let mut s = sampler(params(temp, 40, 0.95, 0.05));
            for row in [
                vec![1.0, f32::NAN, 2.0],
                vec![f32::INFINITY, 1.0],
                vec![],
                vec![f32::NEG_INFINITY; 3],
            ] {
                let e = s.sample(&row).unwrap_err();
                assert_eq!(e.kind(), ErrorKind::Failed, "{row:?}: {e}");
            }
            let e = s.sample(&[0.0, f32::NAN]).unwrap_err();
            assert!(e.message().contains("token 1"), "{e}");
        }
    }
}
