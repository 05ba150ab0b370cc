//! Dynamic channel mix: Thompson sampling over channels with a Gamma–Poisson model of inquiries
//! per publication, seeded and deterministic.
//!
//! Each channel's inquiry rate λ has a Gamma(α, β) posterior: the prior comes from the
//! catalogue's expected inquiries per publication worth `prior_strength` pseudo-publications,
//! and every observation adds inquiries to α and publications to β. To allocate a period's
//! publications, each slot draws a λ per channel and goes to the best draw per release unit —
//! channels that are clearly better get most slots, uncertain ones still get some (exploration).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{ContentError, Result};
use crate::rng::SeededRng;

/// One channel the bandit may choose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arm {
    /// Channel code.
    pub channel: String,
    /// Prior expected inquiries per publication.
    pub prior_mean: f64,
    /// Release units one publication costs (at least 1 is assumed for ranking).
    pub cost_units: u64,
    /// Most publications per period (the channel's rate limit over the period).
    pub max_per_period: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Posterior {
    alpha: f64,
    beta: f64,
}

/// Thompson-sampling allocator of publications to channels.
///
/// ```
/// use marketingforce_content::optimise::{Arm, ChannelBandit};
/// let arms = vec![
///     Arm { channel: "a".into(), prior_mean: 0.5, cost_units: 1, max_per_period: 100 },
///     Arm { channel: "b".into(), prior_mean: 0.5, cost_units: 1, max_per_period: 100 },
/// ];
/// let mut bandit = ChannelBandit::new(arms, 5.0, 42).unwrap();
/// bandit.observe("a", 40, 4).unwrap();   // 0.1 inquiries per publication
/// bandit.observe("b", 40, 60).unwrap();  // 1.5 inquiries per publication
/// let plan = bandit.allocate(20);
/// assert!(plan["b"] > plan["a"]);
/// assert_eq!(plan.values().sum::<u32>(), 20);
/// ```
#[derive(Debug, Clone)]
pub struct ChannelBandit {
    arms: Vec<Arm>,
    posteriors: Vec<Posterior>,
    rng: SeededRng,
}

impl ChannelBandit {
    /// A bandit over `arms` with priors worth `prior_strength` publications, seeded.
    ///
    /// # Errors
    /// A validation error for no arms, duplicate channels, or non-positive priors.
    pub fn new(arms: Vec<Arm>, prior_strength: f64, seed: u64) -> Result<ChannelBandit> {
        if arms.is_empty() {
            return Err(ContentError::validation(
                "arms",
                "need at least one channel",
            ));
        }
        if prior_strength.is_nan() || prior_strength <= 0.0 {
            return Err(ContentError::validation(
                "prior_strength",
                "must be positive",
            ));
        }
        let mut posteriors = Vec::with_capacity(arms.len());
        for (i, a) in arms.iter().enumerate() {
            if arms[..i].iter().any(|b| b.channel == a.channel) {
                return Err(ContentError::validation(
                    format!("arms[{i}].channel"),
                    format!("duplicate {:?}", a.channel),
                ));
            }
            if !(a.prior_mean > 0.0 && a.prior_mean.is_finite()) {
                return Err(ContentError::validation(
                    format!("arms[{i}].prior_mean"),
                    "must be positive",
                ));
            }
            posteriors.push(Posterior {
                alpha: a.prior_mean * prior_strength,
                beta: prior_strength,
            });
        }
        Ok(ChannelBandit {
            arms,
            posteriors,
            rng: SeededRng::new(seed),
        })
    }

    /// Record results: `publications` made on `channel` produced `inquiries`.
    ///
    /// # Errors
    /// [`marketingforce_core::Error::NotFound`] for an unknown channel.
    pub fn observe(&mut self, channel: &str, publications: u64, inquiries: u64) -> Result<()> {
        let i = self
            .arms
            .iter()
            .position(|a| a.channel == channel)
            .ok_or_else(|| marketingforce_core::Error::not_found("bandit arm", channel))?;
        if let Some(p) = self.posteriors.get_mut(i) {
            p.alpha += inquiries as f64;
            p.beta += publications as f64;
        }
        Ok(())
    }

    /// Posterior mean inquiries per publication of each channel.
    pub fn means(&self) -> BTreeMap<String, f64> {
        self.arms
            .iter()
            .zip(&self.posteriors)
            .map(|(a, p)| (a.channel.clone(), p.alpha / p.beta))
            .collect()
    }

    /// Allocate `budget` publications for the next period (respecting each channel's
    /// `max_per_period`; slots no channel can take are left unallocated).
    pub fn allocate(&mut self, budget: u32) -> BTreeMap<String, u32> {
        let mut plan: BTreeMap<String, u32> =
            self.arms.iter().map(|a| (a.channel.clone(), 0)).collect();
        for _ in 0..budget {
            let mut best: Option<(usize, f64)> = None;
            for (i, (a, p)) in self.arms.iter().zip(&self.posteriors).enumerate() {
                if plan.get(&a.channel).copied().unwrap_or(0) >= a.max_per_period {
                    continue;
                }
                let draw = self.rng.gamma(p.alpha) / p.beta / a.cost_units.max(1) as f64;
                if best.is_none_or(|(_, b)| draw > b) {
                    best = Some((i, draw));
                }
            }
            match best.and_then(|(i, _)| self.arms.get(i)) {
                Some(a) => *plan.entry(a.channel.clone()).or_default() += 1,
                None => break,
            }
        }
        plan
    }
}

/// How the next period's volume follows results: grow while inquiries come cheaply enough,
/// shrink when they do not.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VolumePolicy {
    /// Release units per inquiry the tenant accepts.
    pub target_units_per_inquiry: f64,
    /// Step up or down, as a fraction of the current volume (e.g. 0.2).
    pub step: f64,
    /// Smallest volume per period.
    pub min: u32,
    /// Largest volume per period (what the quota allows).
    pub max: u32,
}

impl VolumePolicy {
    /// The next period's number of publications, from this period's volume, release units
    /// spent and inquiries.
    ///
    /// ```
    /// use marketingforce_content::optimise::VolumePolicy;
    /// let p = VolumePolicy { target_units_per_inquiry: 5.0, step: 0.2, min: 5, max: 100 };
    /// assert_eq!(p.next(50, 50, 20), 60); // 2.5 units per inquiry: cheaper than target, grow
    /// assert_eq!(p.next(50, 50, 2), 40);  // 25 units per inquiry: shrink
    /// assert_eq!(p.next(5, 5, 0), 5);     // never below the minimum
    /// ```
    pub fn next(&self, volume: u32, units_spent: u64, inquiries: u64) -> u32 {
        let v = f64::from(volume.max(1));
        let next = if inquiries == 0 {
            v * (1.0 - self.step)
        } else if (units_spent as f64 / inquiries as f64) <= self.target_units_per_inquiry {
            v * (1.0 + self.step)
        } else {
            v * (1.0 - self.step)
        };
        (next.round() as u32).clamp(self.min, self.max.max(self.min))
    }
}

/// Spread `count` publications over `days` days as evenly as possible (publishing frequency).
pub fn frequency(count: u32, days: u32) -> Vec<u32> {
    let days = days.max(1);
    (0..days)
        .map(|d| count / days + u32::from(d < count % days))
        .collect()
}
