//! What a results store holds, in brief: how many runs, how they ended, and the distinct values
//! of every run setting (the axes of the grid that made it, SPEC §6, and the fixed settings).
//!
//! The settings are those of the one declaration ([`crate::config::SETTINGS`]), in its order,
//! so a newly declared setting appears here without a change to this module.

use super::ReportError;
use crate::config::SETTINGS;
use crate::record::RunRecord;
use std::cmp::Ordering;
use std::collections::BTreeSet;

/// More distinct values than this are shown abbreviated.
const SHOWN: usize = 12;

/// One setting's value, ordered numerically for numbers.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A boolean setting.
    Bool(bool),
    /// An integer setting.
    Int(i64),
    /// A real setting.
    Float(f64),
    /// A named setting (domain, parameterization, …) or anything else, as text.
    Text(String),
}

impl Scalar {
    fn rank(&self) -> u8 {
        match self {
            Scalar::Bool(_) => 0,
            Scalar::Int(_) | Scalar::Float(_) => 1,
            Scalar::Text(_) => 2,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match *self {
            Scalar::Int(i) => Some(i as f64),
            Scalar::Float(x) => Some(x),
            _ => None,
        }
    }
}

impl Eq for Scalar {}

impl Ord for Scalar {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Scalar::Bool(a), Scalar::Bool(b)) => a.cmp(b),
            (Scalar::Text(a), Scalar::Text(b)) => a.cmp(b),
            (Scalar::Int(a), Scalar::Int(b)) => a.cmp(b),
            _ => match (self.as_f64(), other.as_f64()) {
                (Some(a), Some(b)) => a.total_cmp(&b),
                _ => self.rank().cmp(&other.rank()),
            },
        }
    }
}

impl PartialOrd for Scalar {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Float(x) => write!(f, "{x}"),
            Scalar::Text(s) => f.write_str(s),
        }
    }
}

/// The distinct values one setting takes in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldValues {
    /// The setting's name as on the command line (`eta`, `batch_size`, …).
    pub name: String,
    /// Its distinct values, sorted (numbers numerically).
    pub values: Vec<Scalar>,
}

impl FieldValues {
    /// The values for reading: all of them when there are few, else the first and last ones
    /// around an ellipsis; a run of consecutive integers as `a–b`.
    pub fn display(&self) -> String {
        let v = &self.values;
        let consecutive = v.len() > 2
            && v.windows(2).all(|w| match (&w[0], &w[1]) {
                (Scalar::Int(a), Scalar::Int(b)) => a.checked_add(1) == Some(*b),
                _ => false,
            });
        let text: Vec<String> = v.iter().map(Scalar::to_string).collect();
        if consecutive {
            format!("{}–{}", text[0], text[text.len() - 1])
        } else if v.len() > SHOWN {
            format!(
                "{}, …, {}",
                text[..SHOWN - 3].join(", "),
                text[text.len() - 2..].join(", ")
            )
        } else {
            text.join(", ")
        }
    }
}

/// A results store in brief.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreSummary {
    /// Stored runs.
    pub runs: usize,
    /// Runs that finished (all evaluations finite).
    pub finished: usize,
    /// Runs that diverged.
    pub diverged: usize,
    /// Evaluations stored, over all runs.
    pub evaluations: usize,
    /// The runs' total wall time in seconds.
    pub wall_time_s: f64,
    /// The wall time of the sweeps that wrote the store ([`crate::store::Store::sweep_time`]),
    /// when they recorded it.
    pub sweeps_wall_s: Option<f64>,
    /// Every setting with its distinct values, in declaration order.
    pub fields: Vec<FieldValues>,
}

/// A stored setting value as a [`Scalar`] (booleans are stored as integers).
fn scalar(v: rusqlite::types::Value, boolean: bool) -> Scalar {
    use rusqlite::types::Value as V;
    match v {
        V::Integer(i) if boolean => Scalar::Bool(i != 0),
        V::Integer(i) => Scalar::Int(i),
        V::Real(x) => Scalar::Float(x),
        V::Text(t) => Scalar::Text(t),
        V::Null | V::Blob(_) => Scalar::Text(String::new()),
    }
}

/// Summarizes `records`: counts, and the set of values of every setting over all runs.
pub fn summarize(records: &[RunRecord]) -> Result<StoreSummary, ReportError> {
    let mut sets: Vec<BTreeSet<Scalar>> = vec![BTreeSet::new(); SETTINGS.len()];
    for rec in records {
        for ((set, v), s) in sets.iter_mut().zip(rec.config.sql_values()).zip(SETTINGS) {
            set.insert(scalar(v, s.boolean));
        }
    }
    let diverged = records
        .iter()
        .filter(|r| r.outcome.diverged_at().is_some())
        .count();
    Ok(StoreSummary {
        runs: records.len(),
        finished: records.len() - diverged,
        diverged,
        evaluations: records.iter().map(|r| r.rows.len()).sum(),
        wall_time_s: records.iter().map(|r| r.runtime_s).sum(),
        sweeps_wall_s: None,
        fields: SETTINGS
            .iter()
            .zip(sets)
            .map(|(s, set)| FieldValues {
                name: s.name.to_string(),
                values: set.into_iter().collect(),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(values: Vec<Scalar>) -> FieldValues {
        FieldValues {
            name: "x".into(),
            values,
        }
    }

    #[test]
    fn numbers_sort_numerically_and_runs_of_integers_abbreviate() {
        let mut v = vec![Scalar::Float(0.975), Scalar::Float(0.8), Scalar::Float(0.9)];
        v.sort();
        assert_eq!(field(v).display(), "0.8, 0.9, 0.975");
        let seeds = field((0..200).map(Scalar::Int).collect());
        assert_eq!(seeds.display(), "0–199");
        let gaps = field((0..40).map(|i| Scalar::Int(2 * i)).collect());
        assert_eq!(gaps.display(), "0, 2, 4, 6, 8, 10, 12, 14, 16, …, 76, 78");
        assert_eq!(
            field(vec![Scalar::Int(0), Scalar::Int(1)]).display(),
            "0, 1"
        );
    }
}
