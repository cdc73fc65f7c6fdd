//! What a results store holds, in brief: how many runs, how they ended, and the distinct values
//! of every run setting (the axes of the grid that made it, SPEC §6, and the fixed settings).
//!
//! The settings are read through `RunConfig`'s serde form, so a setting added to `RunConfig`
//! appears here without a change to this module.

use super::ReportError;
use crate::record::RunRecord;
use std::cmp::Ordering;
use std::collections::BTreeSet;

/// The order of the settings in the summary (the order in which a grid is expanded, README
/// *Grids*); settings not listed follow in alphabetical order.
const ORDER: [&str; 13] = [
    "domain",
    "param",
    "eta",
    "lr",
    "offset",
    "seed",
    "steps",
    "batch_size",
    "eval_every",
    "sampling",
    "slip",
    "bias",
    "solver",
];

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
    /// Every setting with its distinct values, in [`ORDER`].
    pub fields: Vec<FieldValues>,
}

/// Flattens a serialized setting into `(name, value)` pairs: a nested table's entries are named
/// by their own key when it is a setting's name (`slip`, `bias`), else by the table's key (the
/// domain's `kind` is the setting `domain`).
fn flatten(prefix: Option<&str>, key: &str, v: &toml::Value, out: &mut Vec<(String, Scalar)>) {
    let name = match prefix {
        Some(p) if !ORDER.contains(&key) && ORDER.contains(&p) => p.to_string(),
        Some(p) if !ORDER.contains(&key) => format!("{p}.{key}"),
        _ => key.to_string(),
    };
    let scalar = match v {
        toml::Value::Table(t) => {
            for (k, inner) in t {
                flatten(Some(&name), k, inner, out);
            }
            return;
        }
        toml::Value::Boolean(b) => Scalar::Bool(*b),
        toml::Value::Integer(i) => Scalar::Int(*i),
        toml::Value::Float(x) => Scalar::Float(*x),
        toml::Value::String(s) => Scalar::Text(s.clone()),
        other => Scalar::Text(other.to_string()),
    };
    out.push((name, scalar));
}

fn position(name: &str) -> (usize, &str) {
    (
        ORDER.iter().position(|o| *o == name).unwrap_or(ORDER.len()),
        name,
    )
}

/// Summarizes `records`: counts, and the set of values of every setting over all runs.
pub fn summarize(records: &[RunRecord]) -> Result<StoreSummary, ReportError> {
    let mut fields: Vec<(String, BTreeSet<Scalar>)> = Vec::new();
    let mut pairs = Vec::new();
    for rec in records {
        let value =
            toml::Value::try_from(rec.config).map_err(|e| ReportError::Settings(e.to_string()))?;
        let toml::Value::Table(table) = value else {
            return Err(ReportError::Settings(
                "a run's settings are not a table".into(),
            ));
        };
        pairs.clear();
        for (k, v) in &table {
            flatten(None, k, v, &mut pairs);
        }
        for (name, scalar) in pairs.drain(..) {
            match fields.iter_mut().find(|(n, _)| *n == name) {
                Some((_, set)) => {
                    set.insert(scalar);
                }
                None => fields.push((name, BTreeSet::from([scalar]))),
            }
        }
    }
    fields.sort_by(|a, b| position(&a.0).cmp(&position(&b.0)));
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
        fields: fields
            .into_iter()
            .map(|(name, set)| FieldValues {
                name,
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

    #[test]
    fn nested_settings_take_their_command_line_names() {
        let mut out = Vec::new();
        let mut t = toml::Table::new();
        t.insert("kind".into(), toml::Value::String("chain".into()));
        t.insert("slip".into(), toml::Value::String("published".into()));
        flatten(None, "domain", &toml::Value::Table(t), &mut out);
        let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["domain", "slip"]);
    }
}
