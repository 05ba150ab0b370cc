//! Alerts on unusual changes in daily metrics: an EWMA control chart per metric.
//!
//! For each metric the detector keeps an exponentially weighted mean `m` and variance `v`
//! (`m ← m + λ·(x − m)`, `v ← (1 − λ)·(v + λ·(x − m)²)`). A day is unusual when
//! `|x − m| > k·√v` **and** the change is material (`|x − m| ≥ min_abs_change` and
//! `≥ min_rel_change · m`).
//!
//! Tuning (defaults in [`EwmaConfig::default`]):
//! - `lambda` = 0.3: the mean follows about the last 1/λ ≈ 3 days; lower it (0.1–0.2) for
//!   noisy metrics, raise it for metrics that legitimately trend.
//! - `k` = 3: about 3 false alarms per 1,000 days on normal noise; 2.5 catches smaller shifts
//!   at the price of more alarms.
//! - `warmup` = 7 days: no alerts until a week of data set the baseline (one weekly cycle).
//! - `min_rel_change` = 0.25 and `min_abs_change` = 5: ignore statistically unusual but
//!   commercially irrelevant moves (e.g. 2 → 4 inquiries).
//!
//! An alerted value still updates the baseline (so a lasting level shift alerts once, then
//! becomes the new normal).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Detector settings (see the module docs for tuning).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EwmaConfig {
    /// Smoothing factor in (0, 1].
    pub lambda: f64,
    /// Width of the band in standard deviations.
    pub k: f64,
    /// Days before alerts start.
    pub warmup: u32,
    /// Smallest absolute change that may alert.
    pub min_abs_change: f64,
    /// Smallest change relative to the mean that may alert.
    pub min_rel_change: f64,
}

impl Default for EwmaConfig {
    fn default() -> Self {
        EwmaConfig {
            lambda: 0.3,
            k: 3.0,
            warmup: 7,
            min_abs_change: 5.0,
            min_rel_change: 0.25,
        }
    }
}

/// Up or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Above the band.
    Up,
    /// Below the band.
    Down,
}

/// An unusual day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Metric name.
    pub metric: String,
    /// The day.
    pub date: NaiveDate,
    /// Its value.
    pub value: f64,
    /// The expected value (EWMA mean before the day).
    pub expected: f64,
    /// Lower and upper bound of the normal band.
    pub band: (f64, f64),
    /// Direction.
    pub direction: Direction,
}

/// EWMA detector of one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EwmaDetector {
    config: EwmaConfig,
    mean: f64,
    var: f64,
    days: u32,
    last: Option<NaiveDate>,
}

impl EwmaDetector {
    /// A fresh detector.
    pub fn new(config: EwmaConfig) -> EwmaDetector {
        EwmaDetector {
            config,
            mean: 0.0,
            var: 0.0,
            days: 0,
            last: None,
        }
    }

    /// Feed one day; returns an alert when it is unusual. Days must come in order; a repeated
    /// or older day is ignored.
    pub fn update(&mut self, metric: &str, date: NaiveDate, value: f64) -> Option<Alert> {
        if self.last.is_some_and(|l| date <= l) || !value.is_finite() {
            return None;
        }
        self.last = Some(date);
        if self.days == 0 {
            self.mean = value;
            self.var = 0.0;
            self.days = 1;
            return None;
        }
        let c = self.config;
        let dev = value - self.mean;
        // A floor on the deviation scale so perfectly flat histories do not alert on noise.
        let sd = self.var.sqrt().max(0.05 * self.mean.abs()).max(1e-9);
        let alert = (self.days >= c.warmup
            && dev.abs() > c.k * sd
            && dev.abs() >= c.min_abs_change
            && dev.abs() >= c.min_rel_change * self.mean.abs())
        .then(|| Alert {
            metric: metric.to_string(),
            date,
            value,
            expected: self.mean,
            band: (self.mean - c.k * sd, self.mean + c.k * sd),
            direction: if dev > 0.0 {
                Direction::Up
            } else {
                Direction::Down
            },
        });
        self.mean += c.lambda * dev;
        self.var = (1.0 - c.lambda) * (self.var + c.lambda * dev * dev);
        self.days += 1;
        alert
    }
}

/// Detectors for several metrics of one tenant.
#[derive(Debug, Clone, Default)]
pub struct MetricMonitor {
    config: EwmaConfig,
    detectors: BTreeMap<String, EwmaDetector>,
}

impl MetricMonitor {
    /// A monitor with `config` for every metric.
    pub fn new(config: EwmaConfig) -> MetricMonitor {
        MetricMonitor {
            config,
            detectors: BTreeMap::new(),
        }
    }

    /// Feed a day of metrics (name → value); returns the alerts of that day.
    pub fn observe_day(&mut self, date: NaiveDate, metrics: &BTreeMap<String, f64>) -> Vec<Alert> {
        let config = self.config;
        metrics
            .iter()
            .filter_map(|(name, v)| {
                self.detectors
                    .entry(name.clone())
                    .or_insert_with(|| EwmaDetector::new(config))
                    .update(name, date, *v)
            })
            .collect()
    }

    /// Rebuild from history (e.g. after a restart), returning every alert it raises.
    pub fn replay(&mut self, history: &[(NaiveDate, BTreeMap<String, f64>)]) -> Vec<Alert> {
        history
            .iter()
            .flat_map(|(d, m)| self.observe_day(*d, m))
            .collect()
    }
}
