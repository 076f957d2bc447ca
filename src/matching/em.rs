//! Per-feed weights, estimated without labels (Fellegi-Sunter with EM, as Splink does): each
//! level of each discrete feature gets m = P(level | match) and u = P(level | non-match) over the
//! feed's candidate pairs, and weighs ln(m/u).
//!
//! Feeds differ in what they carry (no MPN column, no brand, other pack spellings), so weights set
//! on one feed mislead on another. The hand weights are the start and a prior worth
//! [`PRIOR_PAIRS`] pairs: a feed with little evidence for a level keeps the hand weight. The title
//! part of the weight stays fixed; it anchors which pairs look like matches at all.

use std::collections::HashMap;

use super::score::{score, Evidence, Levels, Weights, FEATURES};

/// How many candidate pairs the hand weights count as, against the feed's own.
const PRIOR_PAIRS: f64 = 50.0;
const ITERATIONS: usize = 20;
/// Title weights are grouped in steps of this many log-odds.
const TITLE_STEP: f64 = 0.25;

/// How many candidate pairs of a feed show each combination of levels (with the title weight
/// rounded): all EM needs, in a few thousand entries however large the feed.
#[derive(Debug, Default)]
pub struct Patterns(HashMap<(Levels, u16), u64>);

impl Patterns {
    /// Counts one pair, its title part weighed with `weights` (those `estimate` starts from).
    pub fn add(&mut self, evidence: &Evidence, weights: &Weights) {
        let title = (evidence.title_weight(weights) / TITLE_STEP).round() as u16;
        *self.0.entry((evidence.levels(), title)).or_default() += 1;
    }

    pub fn merge(mut self, other: Patterns) -> Patterns {
        for (pattern, n) in other.0 {
            *self.0.entry(pattern).or_default() += n;
        }
        self
    }
}

/// The weights that explain `patterns` best as a mixture of matches and non-matches, starting
/// from and drawn towards `prior`.
pub fn estimate(patterns: &Patterns, prior: &Weights) -> Weights {
    let mut rows: Vec<(Levels, f64, f64)> =
        patterns.0.iter().map(|((levels, title), n)| (*levels, *title as f64 * TITLE_STEP, *n as f64)).collect();
    // A fixed order: the sums, and so the weights, do not depend on hashing.
    rows.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let (m_prior, u_prior) = prior_shares(&rows, prior);
    let mut weights = prior.clone();
    for _ in 0..ITERATIONS {
        let mut m = shares_like(&m_prior);
        let mut u = shares_like(&u_prior);
        for (levels, title, n) in &rows {
            let p = score(weights.intercept + title + weights.discrete(levels));
            for (f, &level) in levels.iter().enumerate() {
                m[f][level as usize] += p * n;
                u[f][level as usize] += (1.0 - p) * n;
            }
        }
        for f in 0..FEATURES.len() {
            let (m_total, u_total) = (m[f].iter().sum::<f64>(), u[f].iter().sum::<f64>());
            for level in 0..FEATURES[f].1 {
                let m_share = (m[f][level] + PRIOR_PAIRS * m_prior[f][level]) / (m_total + PRIOR_PAIRS);
                let u_share = (u[f][level] + PRIOR_PAIRS * u_prior[f][level]) / (u_total + PRIOR_PAIRS);
                weights.levels[f][level] = keep_sign((m_share / u_share).ln(), prior.levels[f][level]);
            }
        }
    }
    weights
}

/// EM groups pairs by how alike they look, so a level that marks look-alikes as different
/// products (sibling part numbers, another capacity) would drift to "match": a level keeps the
/// direction its prior gives it.
fn keep_sign(weight: f64, prior: f64) -> f64 {
    if prior > 0.0 {
        weight.max(0.0)
    } else if prior < 0.0 {
        weight.min(0.0)
    } else {
        weight
    }
}

type Shares = [Vec<f64>; FEATURES.len()];

fn shares_like(like: &Shares) -> Shares {
    like.clone().map(|v| vec![0.0; v.len()])
}

/// The m and u shares the prior weights stand for: u is how often each level occurs (nearly all
/// candidate pairs are non-matches), m the same tilted by the prior's weight.
fn prior_shares(rows: &[(Levels, f64, f64)], prior: &Weights) -> (Shares, Shares) {
    let mut u: Shares = FEATURES.map(|(_, n)| vec![1.0; n]);
    for (levels, _, n) in rows {
        for (f, &level) in levels.iter().enumerate() {
            u[f][level as usize] += n;
        }
    }
    let mut m = u.clone();
    for f in 0..FEATURES.len() {
        m[f].iter_mut().zip(&prior.levels[f]).for_each(|(m, w)| *m *= w.exp());
        normalize(&mut u[f]);
        normalize(&mut m[f]);
    }
    (m, u)
}

fn normalize(shares: &mut [f64]) {
    let total: f64 = shares.iter().sum();
    shares.iter_mut().for_each(|s| *s /= total);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::score::{Agreement, CodeLevel};

    fn evidence(code: CodeLevel, brand: Agreement, coverage: f32) -> Evidence {
        Evidence {
            gtin: Agreement::Unknown,
            code,
            shared_code: None,
            brand,
            pack: Agreement::Unknown,
            measures: Agreement::Unknown,
            kit: Agreement::Unknown,
            condition: Agreement::Unknown,
            colour: Agreement::Unknown,
            device: Agreement::Unknown,
            title_coverage: coverage,
            title_cosine: coverage,
            price_ratio: None,
        }
    }

    #[test]
    fn weights_follow_the_feed_but_keep_their_direction() {
        let hand = Weights::hand();
        let mut patterns = Patterns::default();
        // A feed whose matches share codes and whose many non-matches carry no brand.
        for _ in 0..200 {
            patterns.add(&evidence(CodeLevel::RareExact, Agreement::Agree, 0.9), &hand);
        }
        for _ in 0..5_000 {
            patterns.add(&evidence(CodeLevel::Conflict, Agreement::Unknown, 0.3), &hand);
        }
        for _ in 0..100 {
            patterns.add(&evidence(CodeLevel::Sibling, Agreement::Agree, 0.95), &hand);
        }
        let estimated = estimate(&patterns, &hand);
        assert_ne!(estimated, hand);
        let code = |w: &Weights, level: CodeLevel| w.levels[1][level as usize];
        assert!(code(&estimated, CodeLevel::RareExact) > 0.0);
        assert!(code(&estimated, CodeLevel::Sibling) <= 0.0, "look-alike siblings stay evidence against");
        assert!(code(&estimated, CodeLevel::Conflict) <= 0.0);
    }
}
