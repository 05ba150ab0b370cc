//! Estimating the model from a tenant's own records, as Splink does:
//!
//! 1. **`u` by random sampling.** Two records drawn at random are almost always two different
//!    people, so the level frequencies over random pairs estimate `u`. A level never seen in
//!    the sample gets at most half a count (it is rare, not impossible).
//! 2. **`m` by expectation maximisation over blocked pairs, `u` held fixed.** Candidate pairs
//!    are a mixture of matches and non-matches. E-step: each distinct comparison vector `γ`
//!    (counted `c` times) gets the posterior `p = λ·Πm / (λ·Πm + (1 − λ)·Πu)`. M-step:
//!    `λ = Σ c·p / Σ c` and, for each field, `m[l] = Σ c·p·[γ_f = l] / Σ c·p·[γ_f ≠ null]`.
//!    One *session* runs per blocking rule; a rule forces agreement on its own fields (pairs
//!    blocked on date of birth all agree on it), so a session only updates the fields its rule
//!    does not use, and a field's `m` is the average over the sessions that could see it,
//!    weighted by their expected matches.
//! 3. **The prior** `λ` of two random records, directly (as Splink's
//!    `estimate_probability_two_random_records_match`): the candidate pairs that agree
//!    exactly on an identifier, or on the whole name and the date of birth, are counted as
//!    matches, divided by the assumed recall of that rule
//!    ([`TrainingConfig::deterministic_recall`]) and by the number of all pairs. The model is
//!    not used for it: its fields are not independent (postcode, region and address move
//!    together), and a prior estimated through it comes out several times too high. A last
//!    EM run over all candidates with `m` and `u` fixed is reported for comparison
//!    ([`TrainingReport::candidate_match_share`]).
//!
//! **Too little data.** A field with fewer than [`TrainingConfig::min_comparisons`] non-null
//! random comparisons keeps its default `u`; a session whose expected matches are below
//! [`TrainingConfig::min_matches`] is ignored; a field no usable session could see keeps its
//! default `m`; fewer than two records keep the default prior. The [`TrainingReport`] lists
//! every field that kept a default.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::blocking::{Blocking, Candidates, Rule};
use super::compare::{compare, Field, Levels, FIELDS, N_FIELDS};
use super::weights::{Model, MIN_PROBABILITY};
use super::Record;

/// Estimation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingConfig {
    /// Random pairs compared to estimate `u`.
    pub u_pairs: usize,
    /// Seed of the random sampling (estimation is deterministic for a seed).
    pub seed: u64,
    /// EM iterations at most per session.
    pub max_iterations: usize,
    /// EM stops when no `m` moves by more than this.
    pub tolerance: f64,
    /// Non-null random comparisons a field needs for its `u` to be estimated.
    pub min_comparisons: usize,
    /// Expected matches a session needs for its `m` to count.
    pub min_matches: f64,
    /// Pseudo-matches at the default `m` added to every M-step (a Dirichlet prior): a level
    /// a session cannot see (pairs blocked on a date of birth rarely lack one) keeps a
    /// plausible `m` instead of collapsing to zero.
    pub prior_matches: f64,
    /// The assumed recall of the deterministic rules that estimate the prior (see the
    /// [module docs](self)), 0–1.
    pub deterministic_recall: f64,
}

impl Default for TrainingConfig {
    /// 200,000 random pairs, 25 iterations, tolerance 1e-4, 1,000 comparisons, 20 matches,
    /// 10 prior matches, deterministic recall 0.6.
    fn default() -> TrainingConfig {
        TrainingConfig {
            u_pairs: 200_000,
            seed: 0x005e_edf5,
            max_iterations: 25,
            tolerance: 1e-4,
            min_comparisons: 1_000,
            min_matches: 20.0,
            prior_matches: 10.0,
            deterministic_recall: 0.6,
        }
    }
}

/// One EM session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionReport {
    /// The blocking rule whose pairs were used.
    pub rule: Rule,
    /// Candidate pairs of the rule.
    pub pairs: usize,
    /// Iterations run.
    pub iterations: usize,
    /// Whether it converged within the tolerance.
    pub converged: bool,
    /// Σ p: expected matches among the pairs.
    pub expected_matches: f64,
    /// Whether its `m` estimates were used.
    pub used: bool,
}

/// What estimation did, and which defaults were kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingReport {
    /// Random pairs compared for `u`.
    pub u_pairs: usize,
    /// Fields whose `u` kept the default (too few comparisons).
    pub default_u: Vec<Field>,
    /// The EM sessions.
    pub sessions: Vec<SessionReport>,
    /// Fields whose `m` kept the default (no usable session saw them).
    pub default_m: Vec<Field>,
    /// Candidate pairs after the union.
    pub candidate_pairs: usize,
    /// Share of matches among the candidates by the model (last EM run, for comparison).
    pub candidate_match_share: f64,
    /// Candidate pairs the deterministic rules count as matches (for the prior).
    pub deterministic_matches: usize,
    /// Whether the prior kept its default.
    pub default_prior: bool,
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        (marketingforce_core::id::splitmix64(self.0) % n.max(1) as u64) as usize
    }
}

/// Level counts per field.
type Counts = Vec<Vec<f64>>;

fn empty_counts() -> Counts {
    FIELDS.iter().map(|f| vec![0.0; f.levels().len()]).collect()
}

/// Estimate `u` from random pairs: per field, the level frequencies, or `None` when the field
/// had fewer than `min_comparisons` non-null comparisons. Returns the pairs compared too.
pub fn estimate_u(records: &[Record], cfg: &TrainingConfig) -> (Vec<Option<Vec<f64>>>, usize) {
    let n = records.len();
    let mut counts = empty_counts();
    let mut pairs = 0usize;
    let add = |a: &Record, b: &Record, counts: &mut Counts| {
        for (c, l) in counts.iter_mut().zip(compare(a, b)) {
            if let Some(x) = c.get_mut(usize::from(l)) {
                *x += 1.0;
            }
        }
    };
    let all = (n as u128) * (n.saturating_sub(1) as u128) / 2;
    if all <= cfg.u_pairs as u128 {
        for i in 0..n {
            for j in i + 1..n {
                add(&records[i], &records[j], &mut counts);
                pairs += 1;
            }
        }
    } else {
        let mut rng = Rng(cfg.seed);
        while pairs < cfg.u_pairs {
            let (i, j) = (rng.below(n), rng.below(n));
            if i != j {
                add(&records[i], &records[j], &mut counts);
                pairs += 1;
            }
        }
    }
    let u = counts
        .into_iter()
        .zip(FIELDS)
        .map(|(c, f)| {
            let total: f64 = c.iter().skip(1).sum();
            if total < cfg.min_comparisons as f64 {
                return None;
            }
            let mut u: Vec<f64> = c
                .iter()
                .enumerate()
                .map(|(l, &x)| {
                    if l == 0 {
                        0.0
                    } else if x > 0.0 {
                        x / total
                    } else {
                        (0.5 / total).min(f.default_u()[l]).max(MIN_PROBABILITY)
                    }
                })
                .collect();
            normalise(&mut u);
            Some(u)
        })
        .collect();
    (u, pairs)
}

fn normalise(p: &mut [f64]) {
    for x in p.iter_mut().skip(1) {
        *x = x.max(MIN_PROBABILITY);
    }
    let s: f64 = p.iter().skip(1).sum();
    if s > 0.0 {
        for x in p.iter_mut().skip(1) {
            *x /= s;
        }
    }
}

/// The distinct comparison vectors of a set of pairs, with their counts.
pub fn patterns<'a>(levels: impl Iterator<Item = &'a Levels>) -> Vec<(Levels, f64)> {
    let mut m: HashMap<Levels, f64> = HashMap::new();
    for l in levels {
        *m.entry(*l).or_default() += 1.0;
    }
    let mut v: Vec<(Levels, f64)> = m.into_iter().collect();
    v.sort_unstable_by_key(|a| a.0);
    v
}

fn posterior(model: &Model, active: &[bool; N_FIELDS], lambda: f64, g: &Levels) -> f64 {
    let mut log_bf = 0.0;
    for (((fm, &l), f), on) in model.fields.iter().zip(g).zip(FIELDS).zip(active) {
        let l = usize::from(l);
        if l == 0 || !on {
            continue;
        }
        let m = fm.m.get(l).copied().unwrap_or(f.default_m()[l]);
        let u = fm.u.get(l).copied().unwrap_or(f.default_u()[l]);
        log_bf += (m.max(MIN_PROBABILITY) / u.max(MIN_PROBABILITY)).log2();
    }
    let odds = lambda / (1.0 - lambda) * log_bf.exp2();
    if odds.is_infinite() {
        1.0
    } else {
        odds / (1.0 + odds)
    }
}

/// Run EM over `patterns` with `u` fixed. Only the `active` fields take part (a session
/// leaves out the fields its blocking rule forces to agree, as Splink does); their `m` is
/// updated when `update_m`, and `λ` — the share of matches among the pairs, from `lambda` —
/// always. Returns the final `λ`, the iterations, whether it converged, and per field the
/// expected matches that saw it.
pub fn em(
    model: &mut Model,
    patterns: &[(Levels, f64)],
    active: &[bool; N_FIELDS],
    update_m: bool,
    mut lambda: f64,
    cfg: &TrainingConfig,
) -> (f64, usize, bool, [f64; N_FIELDS]) {
    let total: f64 = patterns.iter().map(|p| p.1).sum();
    let mut seen = [0.0; N_FIELDS];
    if total <= 0.0 {
        return (lambda, 0, true, seen);
    }
    lambda = lambda.clamp(1e-6, 1.0 - 1e-6);
    for it in 1..=cfg.max_iterations {
        let mut counts = empty_counts();
        for (c, f) in counts.iter_mut().zip(FIELDS) {
            for (x, d) in c.iter_mut().zip(f.default_m()).skip(1) {
                *x = cfg.prior_matches * d;
            }
        }
        let mut matched = 0.0;
        for (g, c) in patterns {
            let p = posterior(model, active, lambda, g) * c;
            matched += p;
            for (cf, &l) in counts.iter_mut().zip(g) {
                if let Some(x) = cf.get_mut(usize::from(l)) {
                    *x += p;
                }
            }
        }
        let before = lambda;
        lambda = (matched / total).clamp(1e-6, 1.0 - 1e-6);
        let mut delta: f64 = 0.0;
        for (i, (fm, c)) in model.fields.iter_mut().zip(&counts).enumerate() {
            let nonnull: f64 = c.iter().skip(1).sum();
            seen[i] = nonnull - cfg.prior_matches;
            if !update_m || !active[i] || nonnull <= 0.0 {
                continue;
            }
            let mut m: Vec<f64> = c.iter().map(|x| x / nonnull).collect();
            m[0] = 0.0;
            normalise(&mut m);
            for (old, new) in fm.m.iter().zip(&m) {
                delta = delta.max((old - new).abs());
            }
            fm.m = m;
        }
        if delta < cfg.tolerance && (update_m || (lambda - before).abs() < cfg.tolerance) {
            return (lambda, it, true, seen);
        }
    }
    (lambda, cfg.max_iterations, false, seen)
}

/// Estimate a model from records: blocking and comparison of the candidates included.
pub fn train(
    records: &[Record],
    blocking: &Blocking,
    cfg: &TrainingConfig,
) -> (Model, TrainingReport) {
    let cands = blocking.candidates(records);
    let levels: Vec<Levels> = cands
        .pairs
        .iter()
        .map(|&(a, b)| compare(&records[a as usize], &records[b as usize]))
        .collect();
    train_on(records, blocking, &cands, &levels, cfg)
}

/// Estimate a model from records whose candidates (from `blocking`) and their comparison
/// vectors (`levels[k]` of `cands.pairs[k]`) are already known.
pub fn train_on(
    records: &[Record],
    blocking: &Blocking,
    cands: &Candidates,
    levels: &[Levels],
    cfg: &TrainingConfig,
) -> (Model, TrainingReport) {
    let mut model = Model::default();
    let (u, u_pairs) = estimate_u(records, cfg);
    let mut default_u = Vec::new();
    for ((fm, u), f) in model.fields.iter_mut().zip(u).zip(FIELDS) {
        match u {
            Some(u) => fm.u = u,
            None => default_u.push(f),
        }
    }
    // m: one session per rule, on the pairs that rule generated.
    let mut sum_m: Vec<Vec<f64>> = FIELDS.iter().map(|f| vec![0.0; f.levels().len()]).collect();
    let mut weight = [0.0f64; N_FIELDS];
    let mut sessions = Vec::new();
    for (bit, &rule) in blocking.rules.iter().enumerate().take(16) {
        let mask = 1u16 << bit;
        let pats = patterns(
            levels
                .iter()
                .zip(&cands.rule_bits)
                .filter(|(_, b)| *b & mask != 0)
                .map(|(l, _)| l),
        );
        let pairs = pats.iter().map(|p| p.1).sum::<f64>() as usize;
        let mut free = [true; N_FIELDS];
        for f in rule.fields() {
            free[f.index()] = false;
        }
        let mut m = model.clone();
        let (lambda, iterations, converged, seen) = em(&mut m, &pats, &free, true, 0.1, cfg);
        let expected = lambda * pairs as f64;
        let used = expected >= cfg.min_matches;
        if used {
            for i in 0..N_FIELDS {
                // Expected matches with this field non-null.
                let w = if free[i] { seen[i] } else { 0.0 };
                if w > 0.0 {
                    for (s, x) in sum_m[i].iter_mut().zip(&m.fields[i].m) {
                        *s += w * x;
                    }
                    weight[i] += w;
                }
            }
        }
        sessions.push(SessionReport {
            rule,
            pairs,
            iterations,
            converged,
            expected_matches: expected,
            used,
        });
    }
    let mut default_m = Vec::new();
    for (i, f) in FIELDS.iter().enumerate() {
        if weight[i] >= cfg.min_matches {
            let mut m: Vec<f64> = sum_m[i].iter().map(|s| s / weight[i]).collect();
            m[0] = 0.0;
            normalise(&mut m);
            model.fields[i].m = m;
        } else {
            default_m.push(*f);
        }
    }
    // The prior: the share of matches among all candidates, with m and u fixed.
    let n = records.len() as f64;
    let all_pairs = n * (n - 1.0) / 2.0;
    let pats = patterns(levels.iter());
    let mut share = 0.0;
    if !pats.is_empty() {
        let mut fixed = model.clone();
        share = em(&mut fixed, &pats, &[true; N_FIELDS], false, 0.1, cfg).0;
    }
    let ids = [
        Field::Mobile,
        Field::Email,
        Field::IdDocument,
        Field::Wechat,
    ];
    let deterministic = levels
        .iter()
        .filter(|g| {
            ids.iter().any(|f| g[f.index()] == 1)
                || (g[Field::Name.index()] == 1 && g[Field::Dob.index()] == 1)
        })
        .count();
    let recall = cfg.deterministic_recall.clamp(0.01, 1.0);
    let default_prior = !(all_pairs >= 1.0 && deterministic > 0);
    if !default_prior {
        model.prior = (deterministic as f64 / recall / all_pairs).clamp(1e-12, 0.5);
    }
    (
        model,
        TrainingReport {
            u_pairs,
            default_u,
            sessions,
            default_m,
            candidate_pairs: cands.pairs.len(),
            candidate_match_share: share,
            deterministic_matches: deterministic,
            default_prior,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::weights::Weights;

    /// A population where truth is known: `people` distinct people, each recorded twice, the
    /// second time with a typo in the given name (half) and a missing date of birth (a
    /// third), independently.
    fn population(people: usize) -> (Vec<Record>, Vec<usize>) {
        let given = [
            "james",
            "olivia",
            "jack",
            "charlotte",
            "william",
            "amelia",
            "noah",
            "isla",
            "thomas",
            "mia",
            "henry",
            "ava",
            "oliver",
            "grace",
            "lucas",
            "chloe",
        ];
        let family = [
            "smith", "jones", "williams", "brown", "wilson", "taylor", "johnson", "white",
            "martin", "anderson", "thompson", "nguyen", "thomas", "walker", "harris", "lee",
            "ryan", "robinson", "kelly", "king",
        ];
        let mut rng = Rng(7);
        let mut out = Vec::new();
        let mut labels = Vec::new();
        for p in 0..people {
            let g = given[rng.below(given.len())];
            let f = family[rng.below(family.len())];
            let (y, m, d) = (
                1950 + rng.below(50) as i32,
                1 + rng.below(12) as u32,
                1 + rng.below(28) as u32,
            );
            let pc = format!("{}", 2000 + rng.below(800));
            let base = Record::new()
                .given(g)
                .family(f)
                .dob_ymd(y, m, d)
                .postcode(&pc);
            out.push(base.clone());
            labels.push(p);
            let mut dup = base;
            if rng.below(2) == 0 {
                let mut t: Vec<char> = g.chars().collect();
                let at = 1 + rng.below(t.len() - 1);
                t[at] = 'x';
                dup.given = Some(t.into_iter().collect::<String>().into());
            }
            if rng.below(3) == 0 {
                dup.dob = None;
            }
            out.push(dup);
            labels.push(p);
        }
        (out, labels)
    }

    #[test]
    fn em_learns_that_names_and_dates_agree_for_matches() {
        let (records, _) = population(3_000);
        let cfg = TrainingConfig {
            u_pairs: 50_000,
            ..TrainingConfig::default()
        };
        let (model, report) = train(&records, &Blocking::default(), &cfg);
        model.validate().unwrap();
        assert!(report.default_u.contains(&Field::Mobile), "{report:?}");
        assert!(!report.default_u.contains(&Field::Name));
        assert!(!report.default_m.contains(&Field::Name), "{report:?}");
        assert!(!report.default_m.contains(&Field::Dob), "{report:?}");
        let name = model.field(Field::Name).unwrap();
        // Half the duplicates carry a typo in the given name (edit1), half are exact.
        assert!(name.m[1] > 0.35 && name.m[1] < 0.75, "{:?}", name.m);
        assert!(name.m[3] > 0.2, "{:?}", name.m);
        let dob = model.field(Field::Dob).unwrap();
        assert!(dob.m[1] > 0.9, "{:?}", dob.m);
        // u: 1 in ~17,000 random pairs share a date of birth.
        assert!(dob.u[1] < 0.001, "{:?}", dob.u);
        // The prior: 3,000 true pairs among 6000·5999/2.
        let truth = 3_000.0 / (6_000.0 * 5_999.0 / 2.0);
        assert!(
            model.prior > truth / 3.0 && model.prior < truth * 3.0,
            "{} vs {truth}",
            model.prior
        );
        assert!(!report.default_prior);
    }

    #[test]
    fn trained_weights_separate_matches_from_non_matches() {
        let (records, labels) = population(2_000);
        let (model, _) = train(&records, &Blocking::default(), &TrainingConfig::default());
        let w = Weights::new(&model);
        let cands = Blocking::default().candidates(&records);
        let (mut tp, mut fp, mut fnn) = (0, 0, 0);
        for &(a, b) in &cands.pairs {
            let same = labels[a as usize] == labels[b as usize];
            let linked = w.score(&records[a as usize], &records[b as usize]) > 0.0;
            match (same, linked) {
                (true, true) => tp += 1,
                (false, true) => fp += 1,
                (true, false) => fnn += 1,
                _ => {}
            }
        }
        let precision = f64::from(tp) / f64::from(tp + fp);
        let recall = f64::from(tp) / f64::from(tp + fnn);
        assert!(precision > 0.97, "precision {precision} ({tp} {fp} {fnn})");
        assert!(recall > 0.97, "recall {recall} ({tp} {fp} {fnn})");
    }

    #[test]
    fn too_little_data_keeps_the_documented_defaults() {
        let records = vec![
            Record::new().given("a").family("b"),
            Record::new().given("c").family("d"),
        ];
        let (model, report) = train(&records, &Blocking::default(), &TrainingConfig::default());
        assert_eq!(report.default_u.len(), N_FIELDS);
        assert_eq!(report.default_m.len(), N_FIELDS);
        assert!(report.default_prior);
        assert_eq!(model, Model::default());
        let (model, report) = train(&[], &Blocking::default(), &TrainingConfig::default());
        assert_eq!(model, Model::default());
        assert_eq!(report.u_pairs, 0);
    }

    #[test]
    fn em_recovers_planted_parameters() {
        // Two fields with known m and u, 10% matches: EM from the defaults finds them.
        let mut pats = Vec::new();
        // Name: m = [.., 0.8 exact, .., .., .., .., 0.2 jw80]; u = 0.01 exact, 0.99 else.
        // Dob: m = 0.9 exact / 0.1 else; u = 0.001 exact / 0.999 else.
        let (nm, nu) = ([(1u8, 0.8), (6, 0.2)], [(1u8, 0.01), (7, 0.99)]);
        let (dm, du) = ([(1u8, 0.9), (4, 0.1)], [(1u8, 0.001), (4, 0.999)]);
        let mut add = |l1: u8, l2: u8, c: f64| {
            let mut g = [0u8; N_FIELDS];
            g[0] = l1;
            g[1] = l2;
            pats.push((g, c));
        };
        for (a, pa) in nm {
            for (b, pb) in dm {
                add(a, b, 10_000.0 * pa * pb);
            }
        }
        for (a, pa) in nu {
            for (b, pb) in du {
                add(a, b, 90_000.0 * pa * pb);
            }
        }
        let pats = patterns_merge(pats);
        let mut model = Model::default();
        model.fields[0].u = vec![0.0, 0.01, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6, 0.99];
        model.fields[1].u = vec![0.0, 0.001, 1e-6, 1e-6, 0.999];
        let cfg = TrainingConfig {
            max_iterations: 1_000,
            tolerance: 1e-6,
            prior_matches: 0.0,
            ..TrainingConfig::default()
        };
        let (lambda, _, converged, _) = em(&mut model, &pats, &[true; N_FIELDS], true, 0.5, &cfg);
        assert!(converged);
        assert!((lambda - 0.1).abs() < 0.01, "{lambda}");
        assert!(
            (model.fields[0].m[1] - 0.8).abs() < 0.02,
            "{:?}",
            model.fields[0].m
        );
        assert!(
            (model.fields[1].m[1] - 0.9).abs() < 0.02,
            "{:?}",
            model.fields[1].m
        );
    }

    fn patterns_merge(v: Vec<(Levels, f64)>) -> Vec<(Levels, f64)> {
        let mut m: HashMap<Levels, f64> = HashMap::new();
        for (g, c) in v {
            *m.entry(g).or_default() += c;
        }
        m.into_iter().collect()
    }
}
