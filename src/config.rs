//! Run settings: one validated [`RunConfig`] from built-in defaults, a TOML file and flags.
//!
//! Every user-supplied setting passes through [`RunSettings`] (all fields optional) and
//! [`RunSettings::resolve`], the single place where bad input becomes a [`ConfigError`] that
//! names the field and the allowed values, before any work starts.

use crate::domain::{DomainKind, DomainSpec, Slip};
use crate::linalg::SolverKind;
use crate::param::ParamKind;
use crate::published::best_lr;
use crate::train::{Sampling, Schedule};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Bad user input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A setting has a value outside its allowed range.
    #[error("invalid value for `{field}`: {value} (allowed: {allowed})")]
    Invalid {
        /// The setting's name, as in the TOML file (`batch_size`) and on the CLI (`--batch-size`).
        field: String,
        /// The offending value.
        value: String,
        /// What would have been accepted.
        allowed: String,
    },
    /// A field name that is not a setting.
    #[error("unknown field `{field}` (allowed: {allowed})")]
    UnknownField {
        /// The unknown name.
        field: String,
        /// The known names.
        allowed: String,
    },
    /// A file that cannot be read or parsed.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
}

impl ConfigError {
    /// An [`ConfigError::Invalid`] for `field`.
    pub fn invalid(field: &str, value: impl std::fmt::Display, allowed: &str) -> Self {
        Self::Invalid {
            field: field.to_string(),
            value: value.to_string(),
            allowed: allowed.to_string(),
        }
    }
}

/// A fully specified, validated training run.
///
/// | Name | Default | Purpose | Range |
/// |---|---|---|---|
/// | `domain` | — | environment (SPEC §4) | `chain`, `four-rooms`, `mountain-car` |
/// | `param` | — | parameterization (SPEC §1) | `explicit`, `implicit`, `explicit-matrix` |
/// | `eta` | 0.95 | internal discount `η` | `[0, 1)` |
/// | `lr` | best of SPEC §6 | SGD learning rate `α` | finite, `> 0` |
/// | `offset` | 0 | reward offset `c` | finite |
/// | `seed` | 0 | run seed | `u64` |
/// | `steps` | 300 | SGD updates | `≥ 0` |
/// | `batch_size` | 25 | minibatch size | `≥ 1` |
/// | `eval_every` | 10 | evaluation period | `≥ 1` |
/// | `sampling` | `with-replacement` | minibatch sampling | `with-replacement`, `without-replacement` |
/// | `slip` | `published` | four rooms' slip | `published`, `stay` |
/// | `bias` | false | constant feature | bool |
/// | `solver` | `auto` | implicit model's linear solver | `lu`, `refine`, `gmres`, `auto` |
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Domain and its options.
    pub domain: DomainSpec,
    /// Parameterization.
    pub param: ParamKind,
    /// Internal discount `η ∈ [0, 1)`.
    pub eta: f64,
    /// Learning rate `α > 0`.
    pub lr: f64,
    /// Reward offset `c`.
    pub offset: f64,
    /// Run seed.
    pub seed: u64,
    /// Number of SGD updates.
    pub steps: usize,
    /// Minibatch size.
    pub batch_size: usize,
    /// Evaluation period.
    pub eval_every: usize,
    /// Minibatch sampling.
    pub sampling: Sampling,
    /// The implicit model's linear solver.
    pub solver: SolverKind,
}

impl RunConfig {
    /// The SGD schedule of this run.
    pub fn schedule(&self) -> Schedule {
        Schedule {
            steps: self.steps,
            batch_size: self.batch_size,
            eval_every: self.eval_every,
            lr: self.lr,
            sampling: self.sampling,
        }
    }
}

/// Run settings as given by a user: every field optional, later sources override earlier ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSettings {
    /// See [`RunConfig`].
    pub domain: Option<DomainKind>,
    /// See [`RunConfig`].
    pub param: Option<ParamKind>,
    /// See [`RunConfig`].
    pub eta: Option<f64>,
    /// See [`RunConfig`].
    pub lr: Option<f64>,
    /// See [`RunConfig`].
    pub offset: Option<f64>,
    /// See [`RunConfig`].
    pub seed: Option<u64>,
    /// See [`RunConfig`].
    pub steps: Option<usize>,
    /// See [`RunConfig`].
    pub batch_size: Option<usize>,
    /// See [`RunConfig`].
    pub eval_every: Option<usize>,
    /// See [`RunConfig`].
    pub sampling: Option<Sampling>,
    /// See [`RunConfig`].
    pub slip: Option<Slip>,
    /// See [`RunConfig`].
    pub bias: Option<bool>,
    /// See [`RunConfig`].
    pub solver: Option<SolverKind>,
}

/// The names of all settings, as in TOML files.
pub const FIELDS: [&str; 13] = [
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

fn names<T: Copy>(all: &[T], name: impl Fn(T) -> &'static str) -> String {
    all.iter().map(|&x| name(x)).collect::<Vec<_>>().join(", ")
}

fn enum_value<T: Copy>(
    field: &str,
    v: &toml::Value,
    all: &[T],
    name: impl Fn(T) -> &'static str,
) -> Result<T, ConfigError> {
    let allowed = names(all, &name);
    let s = v
        .as_str()
        .ok_or_else(|| ConfigError::invalid(field, v, &allowed))?;
    by_name(all, name, s).ok_or_else(|| ConfigError::invalid(field, v, &allowed))
}

fn float_value(field: &str, v: &toml::Value) -> Result<f64, ConfigError> {
    match v {
        toml::Value::Float(x) => Ok(*x),
        toml::Value::Integer(i) => Ok(*i as f64),
        _ => Err(ConfigError::invalid(field, v, "a number")),
    }
}

fn uint_value(field: &str, v: &toml::Value) -> Result<u64, ConfigError> {
    match v {
        toml::Value::Integer(i) if *i >= 0 => Ok(*i as u64),
        _ => Err(ConfigError::invalid(field, v, "a non-negative integer")),
    }
}

impl RunSettings {
    /// Sets the field named `field` from a TOML value, checking its type.
    pub fn set_toml(&mut self, field: &str, v: &toml::Value) -> Result<(), ConfigError> {
        match field {
            "domain" => {
                self.domain = Some(enum_value(field, v, &DomainKind::ALL, DomainKind::name)?)
            }
            "param" => self.param = Some(enum_value(field, v, &ParamKind::ALL, ParamKind::name)?),
            "eta" => self.eta = Some(float_value(field, v)?),
            "lr" => self.lr = Some(float_value(field, v)?),
            "offset" => self.offset = Some(float_value(field, v)?),
            "seed" => self.seed = Some(uint_value(field, v)?),
            "steps" => self.steps = Some(uint_value(field, v)? as usize),
            "batch_size" => self.batch_size = Some(uint_value(field, v)? as usize),
            "eval_every" => self.eval_every = Some(uint_value(field, v)? as usize),
            "sampling" => self.sampling = Some(enum_value(field, v, &SAMPLINGS, sampling_name)?),
            "slip" => self.slip = Some(enum_value(field, v, &SLIPS, slip_name)?),
            "solver" => self.solver = Some(enum_value(field, v, &SOLVERS, solver_name)?),
            "bias" => {
                self.bias = Some(
                    v.as_bool()
                        .ok_or_else(|| ConfigError::invalid(field, v, "true, false"))?,
                )
            }
            _ => {
                return Err(ConfigError::UnknownField {
                    field: field.to_string(),
                    allowed: FIELDS.join(", "),
                })
            }
        }
        Ok(())
    }

    /// Settings from a TOML table of `field = value` lines.
    pub fn from_toml_table(table: &toml::Table) -> Result<Self, ConfigError> {
        let mut s = Self::default();
        for (k, v) in table {
            s.set_toml(k, v)?;
        }
        Ok(s)
    }

    /// Settings from a TOML file; errors name the file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let table = read_toml(path)?;
        Self::from_toml_table(&table).map_err(|e| ConfigError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// `other`'s fields where set, else `self`'s.
    pub fn overridden_by(&self, other: &RunSettings) -> RunSettings {
        macro_rules! pick {
            ($($f:ident),*) => { RunSettings { $($f: other.$f.or(self.$f)),* } };
        }
        pick!(
            domain, param, eta, lr, offset, seed, steps, batch_size, eval_every, sampling, slip,
            bias, solver
        )
    }

    /// The validated run: defaults filled in (SPEC §5–§6), every value checked.
    pub fn resolve(&self) -> Result<RunConfig, ConfigError> {
        let domain = self.domain.ok_or_else(|| {
            ConfigError::invalid(
                "domain",
                "(missing)",
                &names(&DomainKind::ALL, DomainKind::name),
            )
        })?;
        let param = self.param.ok_or_else(|| {
            ConfigError::invalid(
                "param",
                "(missing)",
                &names(&ParamKind::ALL, ParamKind::name),
            )
        })?;
        let eta = self.eta.unwrap_or(0.95);
        if !(0.0..1.0).contains(&eta) {
            return Err(ConfigError::invalid("eta", eta, "0 <= eta < 1"));
        }
        let lr = self.lr.unwrap_or_else(|| best_lr(domain, param, eta));
        if !(lr.is_finite() && lr > 0.0) {
            return Err(ConfigError::invalid("lr", lr, "a finite number > 0"));
        }
        let offset = self.offset.unwrap_or(0.0);
        if !offset.is_finite() {
            return Err(ConfigError::invalid("offset", offset, "a finite number"));
        }
        let batch_size = self.batch_size.unwrap_or(25);
        if batch_size == 0 {
            return Err(ConfigError::invalid("batch_size", 0, "an integer >= 1"));
        }
        let eval_every = self.eval_every.unwrap_or(10);
        if eval_every == 0 {
            return Err(ConfigError::invalid("eval_every", 0, "an integer >= 1"));
        }
        let steps = self.steps.unwrap_or(300);
        if steps > 100_000_000 {
            return Err(ConfigError::invalid(
                "steps",
                steps,
                "an integer <= 100000000",
            ));
        }
        Ok(RunConfig {
            domain: DomainSpec {
                kind: domain,
                slip: self.slip.unwrap_or_default(),
                bias: self.bias.unwrap_or(false),
            },
            param,
            eta,
            lr,
            offset,
            seed: self.seed.unwrap_or(0),
            steps,
            batch_size,
            eval_every,
            sampling: self.sampling.unwrap_or_default(),
            solver: self.solver.unwrap_or_default(),
        })
    }
}

/// All sampling modes.
pub const SAMPLINGS: [Sampling; 2] = [Sampling::WithReplacement, Sampling::WithoutReplacement];
/// All slip models.
pub const SLIPS: [Slip; 2] = [Slip::Published, Slip::Stay];
/// All solvers.
pub const SOLVERS: [SolverKind; 4] = [
    SolverKind::Lu,
    SolverKind::Refine,
    SolverKind::Gmres,
    SolverKind::Auto,
];

/// The member of `all` whose `name` is `s`.
pub fn by_name<T: Copy>(all: &[T], name: impl Fn(T) -> &'static str, s: &str) -> Option<T> {
    all.iter().copied().find(|&x| name(x) == s)
}

/// The CLI / TOML name of a sampling mode.
pub fn sampling_name(s: Sampling) -> &'static str {
    match s {
        Sampling::WithReplacement => "with-replacement",
        Sampling::WithoutReplacement => "without-replacement",
    }
}

/// The CLI / TOML name of a solver.
pub fn solver_name(s: SolverKind) -> &'static str {
    match s {
        SolverKind::Lu => "lu",
        SolverKind::Refine => "refine",
        SolverKind::Gmres => "gmres",
        SolverKind::Auto => "auto",
    }
}

/// The CLI / TOML name of a slip model.
pub fn slip_name(s: Slip) -> &'static str {
    match s {
        Slip::Published => "published",
        Slip::Stay => "stay",
    }
}

/// Reads and parses a TOML file, with errors that name the file and the line.
pub fn read_toml(path: &Path) -> Result<toml::Table, ConfigError> {
    let file_err = |message: String| ConfigError::File {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
    text.parse::<toml::Table>().map_err(|e| {
        let line = e.span().map(|s| text[..s.start].lines().count().max(1));
        let msg = e.message().trim().to_string();
        file_err(match line {
            Some(l) => format!("line {l}: {msg}"),
            None => msg,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml: &str) -> Result<RunConfig, ConfigError> {
        RunSettings::from_toml_table(&toml.parse::<toml::Table>().expect("toml"))?.resolve()
    }

    #[test]
    fn defaults_are_the_papers() {
        let c = settings("domain = 'chain'\nparam = 'implicit'").expect("valid");
        assert_eq!(
            (c.eta, c.lr, c.steps, c.batch_size, c.eval_every),
            (0.95, 2f64.powi(-6), 300, 25, 10)
        );
        assert_eq!(c.sampling, Sampling::WithReplacement);
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases = [
            ("domain = 'chain'\nparam = 'implicit'\neta = 1.0", "eta"),
            ("domain = 'chain'\nparam = 'implicit'\nlr = -1", "lr"),
            ("domain = 'chain'\nparam = 'implicit'\nlr = nan", "lr"),
            (
                "domain = 'chain'\nparam = 'implicit'\nbatch_size = 0",
                "batch_size",
            ),
            ("domain = 'chian'\nparam = 'implicit'", "domain"),
            ("domain = 'chain'\nparam = 'implicitt'", "param"),
            ("domain = 'chain'\nparam = 'implicit'\netta = 0.5", "etta"),
            ("domain = 'chain'\nparam = 'implicit'\nseed = -3", "seed"),
        ];
        for (toml, field) in cases {
            let e = settings(toml).expect_err(toml).to_string();
            assert!(e.contains(&format!("`{field}`")), "{toml}: {e}");
        }
    }

    #[test]
    fn every_field_is_settable_from_toml() {
        let c = settings("domain = 'four-rooms'\nparam = 'implicit'\nsolver = 'gmres'\nslip = 'stay'\nsampling = 'without-replacement'\nbias = true").expect("valid");
        assert_eq!(c.solver, SolverKind::Gmres);
        assert_eq!(c.domain.slip, Slip::Stay);
        assert_eq!(c.sampling, Sampling::WithoutReplacement);
        assert!(c.domain.bias);
        assert!(settings("domain = 'chain'\nparam = 'implicit'\nsolver = 'cg'").is_err());
    }

    #[test]
    fn later_settings_override_earlier_ones() {
        let a = RunSettings {
            eta: Some(0.8),
            seed: Some(1),
            ..Default::default()
        };
        let b = RunSettings {
            seed: Some(2),
            ..Default::default()
        };
        let c = a.overridden_by(&b);
        assert_eq!((c.eta, c.seed), (Some(0.8), Some(2)));
    }
}
