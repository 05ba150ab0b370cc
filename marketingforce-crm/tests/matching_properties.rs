//! Properties of the Fellegi–Sunter matcher that must hold for any input: comparisons are
//! symmetric, the one-edit test agrees with the optimal string alignment distance, a record
//! is an exact match of itself on every present field, explanations sum to the weight and
//! carry no value, and blocking pairs are well-formed and a superset of each rule's.

use marketingforce_crm::matching::blocking::{pair_recall, Blocking, Rule};
use marketingforce_crm::matching::compare::{compare, within_one_edit, FIELDS};
use marketingforce_crm::matching::weights::{Model, Weights};
use marketingforce_crm::matching::Record;
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-e]{0,7}",
        "[张李王伟玮敏]{1,3}",
        Just(String::new()),
        Just("lachlan".to_string()),
    ]
}

fn record() -> impl Strategy<Value = Record> {
    (
        name(),
        name(),
        proptest::option::of((1950i32..2000, 1u32..13, 1u32..29)),
        proptest::option::of("[0-9]{4}"),
        proptest::option::of("[0-9]{1,3} [a-c]{2,4} (st|street), [a-c]{3}"),
        proptest::option::of(0u128..4),
        proptest::option::of("[ab]{1,3}"),
    )
        .prop_map(|(g, f, dob, pc, addr, mobile, region)| {
            let mut r = Record::new().given(&g).family(&f);
            if let Some((y, m, d)) = dob {
                r = r.dob_ymd(y, m, d);
            }
            if let Some(p) = pc {
                r = r.postcode(&p);
            }
            if let Some(a) = addr {
                r = r.address(&a);
            }
            if let Some(x) = region {
                r = r.region(&x);
            }
            r.mobile = mobile;
            r
        })
}

proptest! {
    #[test]
    fn comparison_is_symmetric_and_reflexive(a in record(), b in record()) {
        prop_assert_eq!(compare(&a, &b), compare(&b, &a));
        let own = compare(&a, &a);
        for f in FIELDS {
            let l = own[f.index()];
            prop_assert!(l == 0 || l == 1, "{:?} of a record with itself is {}", f, l);
        }
        let w = Weights::new(&Model::default());
        prop_assert!((w.score(&a, &b) - w.score(&b, &a)).abs() < 1e-9);
    }

    #[test]
    fn one_edit_agrees_with_osa(a in "[abc]{0,6}", b in "[abc]{0,6}") {
        let (ca, cb): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        prop_assert_eq!(within_one_edit(&ca, &cb), strsim::osa_distance(&a, &b) <= 1);
    }

    #[test]
    fn explanations_sum_and_name_no_values(a in record(), b in record()) {
        let w = Weights::new(&Model::default());
        let e = w.explain(&a, &b);
        let sum = e.prior_weight + e.contributions.iter().map(|c| c.weight).sum::<f64>();
        prop_assert!((sum - e.match_weight).abs() < 1e-9);
        prop_assert_eq!(e.contributions.len(), FIELDS.len());
        for c in &e.contributions {
            prop_assert!(c.field.levels().contains(&c.level.as_str()));
            if c.level == "null" {
                prop_assert_eq!(c.weight, 0.0);
            }
        }
        // Only field names, level labels and numbers: no name part appears (parts that are
        // themselves part of that vocabulary, like `add` of the field `address`, cannot be
        // told apart; the explanation of two empty records names no field, so the field
        // names are added to the vocabulary here).
        let json = serde_json::to_string(&e).unwrap();
        let mut vocab = serde_json::to_string(&w.explain(&Record::new(), &Record::new())).unwrap();
        for f in FIELDS {
            vocab.push_str(f.as_str());
            vocab.push(' ');
            vocab.push_str(&f.levels().join(" "));
        }
        for part in [&a.given, &a.family, &b.given, &b.family].into_iter().flatten() {
            if part.chars().count() >= 3 && !vocab.contains(&**part) {
                prop_assert!(!json.contains(&**part), "{} in {}", part, json);
            }
        }
    }

    #[test]
    fn candidates_are_the_union_of_the_rules(rs in proptest::collection::vec(record(), 0..40)) {
        let b = Blocking { max_block: 64, window: 2, ..Blocking::default() };
        let c = b.candidates(&rs);
        prop_assert!(c.pairs.windows(2).all(|w| w[0] < w[1]));
        prop_assert!(c.pairs.iter().all(|(x, y)| x < y && (*y as usize) < rs.len()));
        for (bit, rule) in b.rules.iter().enumerate() {
            let (own, _) = b.rule_pairs(*rule, &rs);
            for p in &own {
                let at = c.pairs.binary_search(p);
                prop_assert!(at.is_ok(), "{:?} pair {:?} missing", rule, p);
                if let Ok(i) = at {
                    prop_assert!(c.rule_bits[i] & (1 << bit) != 0);
                }
            }
        }
        // Every pair sharing a mobile is a candidate.
        let labels: Vec<u128> = rs.iter().enumerate().map(|(i, r)| r.mobile.unwrap_or(1_000 + i as u128)).collect();
        let (ids, _) = b.rule_pairs(Rule::Identifier, &rs);
        let within = ids.iter().all(|(x, y)| rs[*x as usize].mobile == rs[*y as usize].mobile);
        prop_assert!(within);
        prop_assert_eq!(pair_recall(&c.pairs, &labels).recall, 1.0);
    }
}
