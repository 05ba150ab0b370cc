//! From scored pairs to clusters, and the pairwise quality of clusters against labels.
//!
//! Pairs whose match weight reaches a threshold are linked; the clusters are the connected
//! components of the links (as Splink's `cluster_pairwise_predictions_at_threshold`).
//! Quality is pairwise: a predicted pair is a pair of records in one cluster, a true pair a
//! pair with one label.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::compare::Levels;
use super::weights::Weights;

/// Connected components of `links` over `n` records: the cluster id of each record (the
/// smallest record index in its cluster).
pub fn clusters(n: usize, links: impl IntoIterator<Item = (u32, u32)>) -> Vec<u32> {
    let mut parent: Vec<u32> = (0..n as u32).collect();
    fn find(p: &mut [u32], mut x: u32) -> u32 {
        while p[x as usize] != x {
            let up = p[p[x as usize] as usize];
            p[x as usize] = up;
            x = up;
        }
        x
    }
    for (a, b) in links {
        if a as usize >= n || b as usize >= n {
            continue;
        }
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb {
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            parent[hi as usize] = lo;
        }
    }
    (0..n as u32).map(|x| find(&mut parent, x)).collect()
}

/// The clusters of the candidate `pairs` (with comparison vectors `levels`) whose match
/// weight is at least `threshold`.
pub fn link(
    n: usize,
    pairs: &[(u32, u32)],
    levels: &[Levels],
    weights: &Weights,
    threshold: f64,
) -> Vec<u32> {
    clusters(
        n,
        pairs
            .iter()
            .zip(levels)
            .filter(|(_, l)| weights.weigh(l) >= threshold)
            .map(|(p, _)| *p),
    )
}

/// Pairwise precision, recall and F1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairwiseQuality {
    /// Predicted pairs that are true pairs.
    pub true_pairs: u64,
    /// Pairs of records put in one cluster.
    pub predicted_pairs: u64,
    /// Pairs of records with one label.
    pub actual_pairs: u64,
    /// `true / predicted` (1 when nothing is predicted).
    pub precision: f64,
    /// `true / actual` (1 when there is nothing to find).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
}

/// Compare `clusters[i]` with the true `labels[i]`.
pub fn pairwise_quality<L, C>(labels: &[L], clusters: &[C]) -> PairwiseQuality
where
    L: std::hash::Hash + Eq,
    C: std::hash::Hash + Eq,
{
    let pairs = |n: u64| n * n.saturating_sub(1) / 2;
    let mut by_c: HashMap<&C, u64> = HashMap::new();
    let mut by_l: HashMap<&L, u64> = HashMap::new();
    let mut by_both: HashMap<(&C, &L), u64> = HashMap::new();
    for (l, c) in labels.iter().zip(clusters) {
        *by_c.entry(c).or_default() += 1;
        *by_l.entry(l).or_default() += 1;
        *by_both.entry((c, l)).or_default() += 1;
    }
    let true_pairs: u64 = by_both.values().map(|&n| pairs(n)).sum();
    let predicted_pairs: u64 = by_c.values().map(|&n| pairs(n)).sum();
    let actual_pairs: u64 = by_l.values().map(|&n| pairs(n)).sum();
    let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    let (precision, recall) = (
        ratio(true_pairs, predicted_pairs),
        ratio(true_pairs, actual_pairs),
    );
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    PairwiseQuality {
        true_pairs,
        predicted_pairs,
        actual_pairs,
        precision,
        recall,
        f1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_and_quality() {
        let c = clusters(6, [(4, 5), (1, 2), (2, 4), (9, 1)]);
        assert_eq!(c, vec![0, 1, 1, 3, 1, 1]);
        let labels = ["a", "b", "b", "c", "b", "d"];
        let q = pairwise_quality(&labels, &c);
        // Cluster {1,2,4,5}: 6 pairs, 3 true ({1,2,4}).
        assert_eq!((q.true_pairs, q.predicted_pairs, q.actual_pairs), (3, 6, 3));
        assert!((q.precision - 0.5).abs() < 1e-12);
        assert!((q.recall - 1.0).abs() < 1e-12);
        assert!((q.f1 - 2.0 / 3.0).abs() < 1e-12);
        let none = pairwise_quality::<u8, u8>(&[], &[]);
        assert_eq!((none.precision, none.recall), (1.0, 1.0));
    }
}
