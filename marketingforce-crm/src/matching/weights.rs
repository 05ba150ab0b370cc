//! The model (`m`, `u` per level, prior `λ`) and its compiled weight table: match weights of
//! pairs and their explanations.
//!
//! A level's weight is `log2(m / u)`; the prior weight is `log2(λ / (1 − λ))`. The match weight
//! of a pair is the prior weight plus the weights of its non-null levels, and its match
//! probability is `2^w / (1 + 2^w)`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::compare::{compare, Field, Levels, FIELDS, MAX_LEVELS, N_FIELDS};
use super::Record;
use crate::error::{CrmError, Result};

/// `m` and `u` of one field's levels (index 0, null, is unused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldModel {
    /// The field.
    pub field: Field,
    /// P(level | match), per level.
    pub m: Vec<f64>,
    /// P(level | non-match), per level.
    pub u: Vec<f64>,
}

/// A Fellegi–Sunter model: the prior and every field's `m` and `u`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// λ: the probability that two records drawn at random are the same person.
    pub prior: f64,
    /// One entry per field of [`FIELDS`], in that order.
    pub fields: Vec<FieldModel>,
}

/// Smallest probability kept in a model: a level never seen is not impossible.
pub const MIN_PROBABILITY: f64 = 1e-6;

impl Default for Model {
    /// The documented defaults ([`Field::default_m`], [`Field::default_u`]) with a prior of
    /// 1 in 100,000.
    fn default() -> Model {
        Model {
            prior: 1e-5,
            fields: FIELDS
                .iter()
                .map(|&f| FieldModel {
                    field: f,
                    m: f.default_m().to_vec(),
                    u: f.default_u().to_vec(),
                })
                .collect(),
        }
    }
}

impl Model {
    /// Check the model: one entry per field in order, as many `m` and `u` as levels, each in
    /// (0, 1], the prior in (0, 1).
    ///
    /// # Errors
    /// A validation error naming the field path (`fields[2].m[1]`, `prior`).
    pub fn validate(&self) -> Result<()> {
        if !(self.prior > 0.0 && self.prior < 1.0) {
            return Err(CrmError::validation("prior", "must be between 0 and 1"));
        }
        if self.fields.len() != N_FIELDS {
            return Err(CrmError::validation(
                "fields",
                format!(
                    "has {} entries, the model has {N_FIELDS}",
                    self.fields.len()
                ),
            ));
        }
        for (i, (fm, f)) in self.fields.iter().zip(FIELDS).enumerate() {
            if fm.field != f {
                return Err(CrmError::validation(
                    format!("fields[{i}].field"),
                    format!("must be {}", f.as_str()),
                ));
            }
            let n = f.levels().len();
            for (name, ps) in [("m", &fm.m), ("u", &fm.u)] {
                if ps.len() != n {
                    return Err(CrmError::validation(
                        format!("fields[{i}].{name}"),
                        format!("has {} levels, {} has {n}", ps.len(), f.as_str()),
                    ));
                }
                for (l, p) in ps.iter().enumerate().skip(1) {
                    if !(*p > 0.0 && *p <= 1.0) {
                        return Err(CrmError::validation(
                            format!("fields[{i}].{name}[{l}]"),
                            "must be in (0, 1]",
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The model of `field`.
    pub fn field(&self, field: Field) -> Option<&FieldModel> {
        self.fields.get(field.index()).filter(|f| f.field == field)
    }
}

/// One field's part of a match weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Contribution {
    /// The field.
    pub field: Field,
    /// The level's label (`exact`, `edit1`, …, `null`).
    pub level: String,
    /// P(level | match).
    pub m: f64,
    /// P(level | non-match).
    pub u: f64,
    /// `log2(m / u)`; 0 for null.
    pub weight: f64,
}

/// Why a pair scored what it did: the prior and every field's contribution. Names fields and
/// levels only — never the values compared — so it can be stored with a merge's lineage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Explanation {
    /// `log2(λ / (1 − λ))`.
    pub prior_weight: f64,
    /// One per field, in [`FIELDS`] order. Stored and sent without the null ones (a field
    /// missing on either side contributes nothing: level `null`, `m`, `u` and weight 0);
    /// reading puts them back, so an explanation reads back equal to what was written.
    #[serde(with = "stored_contributions")]
    #[schemars(with = "Vec<Contribution>")]
    pub contributions: Vec<Contribution>,
    /// Prior weight plus the contributions.
    pub match_weight: f64,
    /// `2^w / (1 + 2^w)`.
    pub match_probability: f64,
}

impl Contribution {
    /// The contribution of a field missing on either side.
    fn null(field: Field) -> Contribution {
        Contribution {
            field,
            level: "null".to_string(),
            m: 0.0,
            u: 0.0,
            weight: 0.0,
        }
    }

    fn is_null(&self) -> bool {
        *self == Contribution::null(self.field)
    }
}

/// [`Explanation::contributions`] without its null entries: a merge's lineage keeps an
/// explanation per fuzzy match, most of whose fields are usually null.
mod stored_contributions {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::{Contribution, FIELDS};

    pub fn serialize<S: Serializer>(all: &[Contribution], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(all.iter().filter(|c| !c.is_null()))
    }

    /// Every field in [`FIELDS`] order: the one given for it (the first, if given twice), or
    /// null. Explanations stored in full read the same.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Contribution>, D::Error> {
        let mut given = Vec::<Contribution>::deserialize(d)?;
        Ok(FIELDS
            .iter()
            .map(|f| match given.iter().position(|c| c.field == *f) {
                Some(i) => given.swap_remove(i),
                None => Contribution::null(*f),
            })
            .collect())
    }
}

/// A compiled model: the weight of every level, ready for scoring.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    model: Model,
    prior_weight: f64,
    table: [[f64; MAX_LEVELS]; N_FIELDS],
}

/// The probability of a match weight.
pub fn probability(weight: f64) -> f64 {
    let b = weight.exp2();
    if b.is_infinite() {
        1.0
    } else {
        b / (1.0 + b)
    }
}

fn ln2ratio(m: f64, u: f64) -> f64 {
    (m.max(MIN_PROBABILITY) / u.max(MIN_PROBABILITY)).log2()
}

impl Weights {
    /// Compile a model (missing or short entries count as the defaults).
    pub fn new(model: &Model) -> Weights {
        let mut table = [[0.0; MAX_LEVELS]; N_FIELDS];
        for (row, f) in table.iter_mut().zip(FIELDS) {
            let fm = model.field(f);
            for (l, cell) in row.iter_mut().enumerate().take(f.levels().len()).skip(1) {
                let m = fm
                    .and_then(|x| x.m.get(l).copied())
                    .unwrap_or(f.default_m()[l]);
                let u = fm
                    .and_then(|x| x.u.get(l).copied())
                    .unwrap_or(f.default_u()[l]);
                *cell = ln2ratio(m, u);
            }
        }
        let p = model.prior.clamp(1e-12, 1.0 - 1e-12);
        Weights {
            model: model.clone(),
            prior_weight: (p / (1.0 - p)).log2(),
            table,
        }
    }

    /// The model compiled.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// `log2(λ / (1 − λ))`.
    pub fn prior_weight(&self) -> f64 {
        self.prior_weight
    }

    /// The weight of `level` of `field` (0 for null or an unknown level).
    pub fn level_weight(&self, field: Field, level: u8) -> f64 {
        self.table[field.index()]
            .get(usize::from(level))
            .copied()
            .unwrap_or(0.0)
    }

    /// The match weight of a comparison vector.
    pub fn weigh(&self, levels: &Levels) -> f64 {
        let mut w = self.prior_weight;
        for (row, &l) in self.table.iter().zip(levels) {
            w += row.get(usize::from(l)).copied().unwrap_or(0.0);
        }
        w
    }

    /// The match weight of a pair of records.
    pub fn score(&self, a: &Record, b: &Record) -> f64 {
        self.weigh(&compare(a, b))
    }

    /// The match weight of a pair with every field's contribution.
    pub fn explain(&self, a: &Record, b: &Record) -> Explanation {
        self.explain_levels(&compare(a, b))
    }

    /// [`explain`](Self::explain) from a comparison vector.
    pub fn explain_levels(&self, levels: &Levels) -> Explanation {
        let contributions = FIELDS
            .iter()
            .zip(levels)
            .map(|(&f, &l)| {
                let li = usize::from(l);
                let fm = self.model.field(f);
                let pick = |v: Option<&Vec<f64>>, d: &[f64]| {
                    if li == 0 {
                        0.0
                    } else {
                        v.and_then(|v| v.get(li).copied())
                            .unwrap_or(d.get(li).copied().unwrap_or(0.0))
                    }
                };
                Contribution {
                    field: f,
                    level: f.levels().get(li).copied().unwrap_or("null").to_string(),
                    m: pick(fm.map(|x| &x.m), f.default_m()),
                    u: pick(fm.map(|x| &x.u), f.default_u()),
                    weight: self.level_weight(f, l),
                }
            })
            .collect();
        let w = self.weigh(levels);
        Explanation {
            prior_weight: self.prior_weight,
            contributions,
            match_weight: w,
            match_probability: probability(w),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explanations_are_stored_without_null_fields_and_read_back_whole() {
        let w = Weights::new(&Model::default());
        let mut levels: Levels = [0; N_FIELDS];
        levels[0] = 1;
        levels[N_FIELDS - 1] = 1;
        let e = w.explain_levels(&levels);
        assert_eq!(e.contributions.len(), N_FIELDS);
        let json = serde_json::to_string(&e).expect("encode");
        assert_eq!(json.matches("\"field\"").count(), 2, "{json}");
        assert!(!json.contains("\"null\""), "{json}");
        let back: Explanation = serde_json::from_str(&json).expect("decode");
        // JSON numbers read back to within an ulp (serde_json's default float parsing).
        assert_eq!(back.contributions.len(), N_FIELDS);
        for (b, c) in back.contributions.iter().zip(&e.contributions) {
            assert_eq!((b.field, &b.level), (c.field, &c.level));
            assert!((b.weight - c.weight).abs() < 1e-12 && (b.m - c.m).abs() < 1e-12);
        }
        // Stored in full before: reads the same as stored without the nulls.
        let mut full = serde_json::to_value(&e).expect("value");
        full["contributions"] = serde_json::to_value(
            e.contributions
                .iter()
                .map(|c| serde_json::to_value(c).expect("contribution"))
                .collect::<Vec<_>>(),
        )
        .expect("array");
        assert_eq!(
            full["contributions"].as_array().map(Vec::len),
            Some(N_FIELDS)
        );
        let full: Explanation = serde_json::from_str(&full.to_string()).expect("decode full");
        assert_eq!(full, back);
    }

    #[test]
    fn default_model_validates_and_weights_follow_m_over_u() {
        let m = Model::default();
        m.validate().unwrap();
        let w = Weights::new(&m);
        // Exact mobile: log2(0.95 / 0.00001).
        assert!((w.level_weight(Field::Mobile, 1) - (0.95f64 / 0.00001).log2()).abs() < 1e-9);
        assert_eq!(w.level_weight(Field::Mobile, 0), 0.0);
        assert!(w.level_weight(Field::Name, 7) < 0.0);
        let levels = [0u8; N_FIELDS];
        assert_eq!(w.weigh(&levels), w.prior_weight());
        let e = w.explain_levels(&levels);
        assert!(e
            .contributions
            .iter()
            .all(|c| c.weight == 0.0 && c.level == "null"));
        assert!((e.match_probability - m.prior).abs() < 1e-9);
    }

    #[test]
    fn validation_names_the_field_path() {
        let mut m = Model::default();
        m.fields[2].m[1] = 0.0;
        let e = m.validate().unwrap_err().to_string();
        assert!(e.contains("fields[2].m[1]"), "{e}");
        let m = Model {
            prior: 1.0,
            ..Model::default()
        };
        assert!(m.validate().unwrap_err().to_string().contains("prior"));
        let mut m = Model::default();
        m.fields[0].u.pop();
        assert!(m
            .validate()
            .unwrap_err()
            .to_string()
            .contains("fields[0].u"));
        let mut m = Model::default();
        m.fields.swap(0, 1);
        assert!(m
            .validate()
            .unwrap_err()
            .to_string()
            .contains("fields[0].field"));
    }

    #[test]
    fn explanation_round_trips_and_sums() {
        let w = Weights::new(&Model::default());
        let a = Record::new().given("Ann").family("Lee").dob_ymd(1990, 1, 2);
        let b = Record::new()
            .given("Anne")
            .family("Lee")
            .dob_ymd(1990, 1, 2);
        let e = w.explain(&a, &b);
        let sum: f64 = e.prior_weight + e.contributions.iter().map(|c| c.weight).sum::<f64>();
        assert!((sum - e.match_weight).abs() < 1e-9);
        assert!((w.score(&a, &b) - e.match_weight).abs() < 1e-12);
        let json = serde_json::to_string(&e).unwrap();
        let back: Explanation = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
        assert!(!json.contains("ann") && !json.contains("lee"));
    }
}
