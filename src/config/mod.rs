//! Run settings and all validation of user input: one declaration of the settings
//! ([`settings`]), one error type ([`ConfigError`]) with one message format
//! (``invalid value for `field`: value (allowed: …)``), raised before any work starts.
//!
//! Sources are layered: built-in defaults, a TOML file, flags ([`cli`]); a grid
//! ([`crate::sweep::Grid`]) may give lists. [`RunSettings::resolve`] is the one place where
//! a run's values are checked.

#[macro_use]
pub mod declare;
pub mod cli;
pub mod python_stub;
pub mod settings;
pub mod value;

pub use declare::{DefaultValue, Placeholder};
pub use settings::{adam_lr, RunConfig, RunSettings, SETTINGS};
pub use value::{fmt_f64, Raw, SettingType};

use crate::domain::DomainSpec;
use crate::train::Schedule;
use std::path::Path;

/// Longest offending value echoed in an error message (longer ones are cut and their length
/// given).
const MAX_ECHO: usize = 80;

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
    /// A required setting that was not given.
    #[error("missing `{field}`: it is required (allowed: {allowed})")]
    Missing {
        /// The setting's name.
        field: String,
        /// What would be accepted.
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

/// `text` cut to [`MAX_ECHO`] characters, saying how long it was.
fn echo(text: String) -> String {
    let n = text.chars().count();
    if n <= MAX_ECHO {
        text
    } else {
        let head: String = text.chars().take(MAX_ECHO).collect();
        format!("{head}… ({n} characters)")
    }
}

impl ConfigError {
    /// An [`ConfigError::Invalid`] for `field`.
    pub fn invalid(field: &str, value: impl std::fmt::Display, allowed: &str) -> Self {
        Self::Invalid {
            field: echo(field.to_string()),
            value: echo(value.to_string()),
            allowed: allowed.to_string(),
        }
    }

    /// A [`ConfigError::Missing`]: the required setting `field` was not given.
    pub fn missing(field: &str) -> Self {
        Self::Missing {
            field: field.to_string(),
            allowed: allowed(field),
        }
    }

    /// An [`ConfigError::UnknownField`]: `field` is not a declared setting.
    pub fn unknown(field: &str) -> Self {
        Self::UnknownField {
            field: echo(field.to_string()),
            allowed: names().join(", "),
        }
    }

    /// This error as found in file `path`.
    pub fn in_file(self, path: &Path) -> Self {
        match self {
            e @ ConfigError::File { .. } => e,
            e => ConfigError::File {
                path: path.display().to_string(),
                message: e.to_string(),
            },
        }
    }

    /// The setting (or option) this error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { field, .. }
            | ConfigError::UnknownField { field, .. }
            | ConfigError::Missing { field, .. } => Some(field),
            ConfigError::File { .. } => None,
        }
    }
}

/// The description of one declared setting (see [`settings`]).
#[derive(Debug)]
pub struct Setting {
    /// Name in TOML files, grids, the store and exports (`batch_size`).
    pub name: &'static str,
    /// One line of documentation.
    pub doc: &'static str,
    /// Placeholder of its value in `--help`.
    pub value_name: &'static str,
    /// SQL type of its store column.
    pub sql_type: &'static str,
    /// True for numbers (flags accept a leading minus).
    pub numeric: bool,
    /// True for booleans (a flag alone means `true`).
    pub boolean: bool,
    /// The allowed values, in words.
    pub allowed: fn() -> String,
    /// The names of an enumeration's members (empty otherwise).
    pub names: fn() -> Vec<&'static str>,
    /// The default in words; `None` when the setting is required.
    pub default_text: fn() -> Option<String>,
    /// The default as stored, when it is a constant (settings added to an old store get it).
    pub default_sql: fn() -> Option<rusqlite::types::Value>,
}

impl Setting {
    /// The command-line flag (`--batch-size` for `batch_size`), without the dashes.
    pub fn flag(&self) -> String {
        self.name.replace('_', "-")
    }

    /// The doc line, trimmed.
    pub fn doc_line(&self) -> &'static str {
        self.doc.trim()
    }
}

/// The names of all settings, in declaration order.
pub fn names() -> Vec<&'static str> {
    SETTINGS.iter().map(|s| s.name).collect()
}

/// The setting called `name`.
pub fn setting(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

/// The allowed values of setting `name`, in words (empty for an unknown name).
fn allowed(name: &str) -> String {
    setting(name).map_or_else(String::new, |s| (s.allowed)())
}

/// The settings table of the README (Markdown): name, flag, default, allowed values, doc.
pub fn markdown_table() -> String {
    let mut out =
        String::from("| Setting | Flag | Default | Allowed | Purpose |\n|---|---|---|---|---|\n");
    for s in SETTINGS {
        let default = match ((s.default_text)(), (s.default_sql)()) {
            (None, _) => "(required)".to_string(),
            (Some(d), Some(_)) => format!("`{d}`"),
            (Some(d), None) => d,
        };
        out.push_str(&format!(
            "| `{}` | `--{}` | {} | {} | {} |\n",
            s.name,
            s.flag(),
            default,
            (s.allowed)(),
            s.doc_line()
        ));
    }
    out
}

impl RunConfig {
    /// The domain and its options (everything needed to build its data sets).
    pub fn domain_spec(&self) -> DomainSpec {
        DomainSpec {
            kind: self.domain,
            slip: self.slip,
            bias: self.bias,
            targets: self.targets,
        }
    }

    /// The SGD schedule of this run.
    pub fn schedule(&self) -> Schedule {
        Schedule {
            steps: self.steps,
            batch_size: self.batch_size,
            eval_every: self.eval_every,
            optimizer: self.optimizer_spec(),
            sampling: self.sampling,
        }
    }

    /// The settings as a TOML table, every setting in declaration order (numbers and booleans as
    /// such, the rest as strings): what `imprl run --config` and `RunSettings::from_file` read
    /// back to this run.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        for ((name, text), s) in self.texts().into_iter().zip(SETTINGS) {
            let value = match (s.boolean, s.sql_type) {
                (true, _) => toml::Value::Boolean(text == "true"),
                (_, "REAL") => text
                    .parse()
                    .map_or(toml::Value::String(text), toml::Value::Float),
                (_, "INTEGER") => text
                    .parse()
                    .map_or(toml::Value::String(text), toml::Value::Integer),
                _ => toml::Value::String(text),
            };
            out.push_str(&format!("{name} = {value}\n"));
        }
        out
    }

    /// True when this run follows the published protocol (docs/protocol.md): 300 updates,
    /// batch 25 drawn with replacement, evaluations every 10 updates, the published slip and no
    /// bias feature. The declared settings' defaults are this protocol; only runs that follow
    /// it can be compared with the published runs.
    pub fn follows_protocol(&self) -> bool {
        use crate::published::{BATCH_SIZE, EVAL_EVERY, STEPS};
        self.steps == STEPS
            && self.batch_size == BATCH_SIZE
            && self.eval_every == EVAL_EVERY
            && self.sampling == crate::train::Sampling::WithReplacement
            && self.slip == crate::domain::Slip::Published
            && !self.bias
    }

    /// The implicit model of this run (SPEC §8.1, §8.2): its discount, pseudo-actions,
    /// reduction, temperature and whether `η` is learned.
    pub fn model_spec(&self) -> crate::param::ModelSpec {
        crate::param::ModelSpec {
            eta: self.eta,
            actions: self.actions,
            reduce: self.reduce,
            temperature: self.temperature,
            learn_eta: self.learn_eta,
            eta_lr_factor: self.eta_lr_factor,
        }
    }

    /// The optimizer of this run with its constants (SPEC §8.4).
    pub fn optimizer_spec(&self) -> crate::optim::OptimizerSpec {
        crate::optim::OptimizerSpec {
            kind: self.optimizer,
            lr: self.lr,
            momentum: self.momentum,
            beta1: self.adam_beta1,
            beta2: self.adam_beta2,
            eps: self.adam_eps,
        }
    }

    /// The canonical identity of a run: `name=value` for every setting in declaration order,
    /// values in their canonical text. Two configurations have the same key exactly when they
    /// are equal (`-0` is `0`).
    /// The configuration (every setting but the seed) is [`crate::stats::ConfigKey`].
    pub fn key(&self) -> String {
        self.texts()
            .into_iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join(";")
    }
}

impl RunSettings {
    /// Settings from a TOML table of `field = value` lines.
    pub fn from_toml_table(table: &toml::Table) -> Result<Self, ConfigError> {
        let mut s = Self::default();
        for (k, v) in table {
            s.set(k, Raw::Toml(v))?;
        }
        Ok(s)
    }

    /// Settings from a TOML file; errors name the file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let table = read_toml(path)?;
        Self::from_toml_table(&table).map_err(|e| e.in_file(path))
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

/// Checks that minibatches of `batch_size` can be drawn from `n` training samples: without
/// replacement, a batch needs `batch_size ≤ n`.
pub fn check_batch(
    sampling: crate::train::Sampling,
    batch_size: usize,
    n: usize,
) -> Result<(), ConfigError> {
    if sampling == crate::train::Sampling::WithoutReplacement && batch_size > n {
        return Err(ConfigError::invalid(
            "batch_size",
            batch_size,
            &format!("at most the {n} training samples when sampling without replacement"),
        ));
    }
    Ok(())
}

/// Checks run `cfg`'s settings against its data `problem` (the checks that need the data; the
/// settings alone were checked when they were resolved): a training set with at least one
/// row (SGD draws minibatches from it), a test set with at least one row, every target
/// finite (an own MDP's exact values `V = (I − γP_π)⁻¹(r_π + c)` may overflow; SPEC §8.6), and
/// [`check_batch`].
pub fn check_data(cfg: &RunConfig, problem: &crate::data::Problem) -> Result<(), ConfigError> {
    let domain = cfg.domain.name();
    let refuse = |what: &str| {
        ConfigError::invalid(
            "domain",
            domain,
            &format!("a problem with training and test rows and finite targets ({what})"),
        )
    };
    if problem.train.is_empty() {
        return Err(refuse(&format!(
            "no training rows for seed {}: every rollout starts in a terminal state",
            cfg.seed
        )));
    }
    if problem.test.is_empty() {
        return Err(refuse("no test rows"));
    }
    for (set, name) in [(&problem.train, "training"), (&problem.test, "test")] {
        if let Some(i) = set.y.iter().position(|y| !y.is_finite()) {
            return Err(refuse(&format!(
                "{name} target {i} is {}: the rewards' values overflow",
                set.y[i]
            )));
        }
    }
    check_batch(cfg.sampling, cfg.batch_size, problem.train.len())
}

/// Checks every run's settings against its data (see [`check_data`]) before any run starts.
/// The paper's domains depend on their data only when sampling without replacement (their
/// training sets are built once per domain and seed: the reward offset does not change their
/// size); a problem of one's own is built and checked once per domain, seed and offset.
pub fn check_data_all(runs: &[RunConfig]) -> Result<(), ConfigError> {
    let mut sizes = std::collections::HashMap::new();
    let mut own = std::collections::HashSet::new();
    for c in runs {
        let spec = c.domain_spec();
        if !c.domain.is_builtin() {
            if own.insert((spec, c.seed, c.offset.to_bits())) {
                let problem =
                    spec.try_problem(c.offset, c.seed)
                        .map_err(|e| ConfigError::File {
                            path: e.path,
                            message: e.message,
                        })?;
                check_data(c, &problem)?;
                sizes.insert((spec, c.seed), problem.train.len());
            }
            check_batch(c.sampling, c.batch_size, sizes[&(spec, c.seed)])?;
            continue;
        }
        if c.sampling != crate::train::Sampling::WithoutReplacement {
            continue;
        }
        let n = *sizes
            .entry((spec, c.seed))
            .or_insert_with(|| spec.problem(c.offset, c.seed).train.len());
        check_batch(c.sampling, c.batch_size, n)?;
    }
    Ok(())
}

/// Most seeds per configuration of a designed grid (`reproduce --seeds`, `study --seeds`): the
/// published runs have 20; 10,000 seeds of the full published grid are already 16 million runs.
pub const MAX_SEEDS: usize = 10_000;

/// Checks a number of seeds: an integer from 1 to [`MAX_SEEDS`] (a larger one is a typing
/// mistake that would expand a grid of billions of runs in memory).
pub fn check_seeds(n: usize) -> Result<usize, ConfigError> {
    if !(1..=MAX_SEEDS).contains(&n) {
        return Err(ConfigError::invalid(
            "seeds",
            n,
            &format!("an integer from 1 to {MAX_SEEDS}"),
        ));
    }
    Ok(n)
}

/// Checks a count option such as `jobs` or `seeds`: an integer `>= 1`.
pub fn check_count(field: &str, n: usize) -> Result<usize, ConfigError> {
    if n == 0 {
        return Err(ConfigError::invalid(field, n, "an integer >= 1"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Slip;
    use crate::linalg::SolverKind;
    use crate::train::Sampling;

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
        assert!(c.follows_protocol());
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
            (
                "domain = 'chain'\nparam = 'implicit'\nbatch_size = 9223372036854775807",
                "batch_size",
            ),
            ("domain = 'chian'\nparam = 'implicit'", "domain"),
            ("domain = 'chain'\nparam = 'implicitt'", "param"),
            ("domain = 'chain'\nparam = 'implicit'\netta = 0.5", "etta"),
            ("domain = 'chain'\nparam = 'implicit'\nseed = -3", "seed"),
            ("domain = 'chain'\nparam = 'implicit'\nbias = 1", "bias"),
            ("param = 'implicit'", "domain"),
        ];
        for (toml, field) in cases {
            let e = settings(toml).expect_err(toml).to_string();
            assert!(e.contains(&format!("`{field}`")), "{toml}: {e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
    }

    #[test]
    fn flags_and_toml_share_parsing_and_messages() {
        for s in SETTINGS {
            let mut a = RunSettings::default();
            let e = a
                .set(s.name, Raw::Text("{}"))
                .expect_err(s.name)
                .to_string();
            assert!(
                e.starts_with(&format!("invalid value for `{}`", s.name)),
                "{e}"
            );
        }
        let mut a = RunSettings::default();
        a.set("seed", Raw::Text("18446744073709551615"))
            .expect("a u64");
        a.domain = Some(crate::domain::DomainKind::Chain);
        a.param = Some(crate::param::ParamKind::Explicit);
        let e = a.resolve().expect_err("seed >= 2^63").to_string();
        assert!(e.contains("`seed`"), "{e}");
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let long = "x".repeat(10_000_000);
        let e = ConfigError::invalid("param", &long, "explicit").to_string();
        assert!(e.len() < 300, "{}", e.len());
        assert!(e.contains("10000000 characters"), "{e}");
    }

    #[test]
    fn every_field_is_settable_from_toml() {
        let c = settings("domain = 'four-rooms'\nparam = 'implicit'\nsolver = 'gmres'\nslip = 'stay'\nsampling = 'without-replacement'\nbias = true").expect("valid");
        assert_eq!(c.solver, SolverKind::Gmres);
        assert_eq!(c.slip, Slip::Stay);
        assert_eq!(c.sampling, Sampling::WithoutReplacement);
        assert!(c.bias);
        assert!(settings("domain = 'chain'\nparam = 'implicit'\nsolver = 'cg'").is_err());
    }

    /// A run's settings written as TOML read back to the same run.
    #[test]
    fn settings_round_trip_through_toml() {
        for text in [
            "domain = 'chain'\nparam = 'implicit'",
            "domain = 'four-rooms'\nparam = 'explicit-matrix'\nlr = 0.1\noffset = -2.5\nbias = true\nseed = 9223372036854775807\ngrad = 'unroll:5'\ntargets = 'td:3'\nadam_eps = 1e-300",
        ] {
            let c = settings(text).expect("valid");
            let back = RunSettings::from_toml_table(&c.to_toml().parse().expect("toml"))
                .and_then(|s| s.resolve())
                .expect("valid");
            assert_eq!(back, c);
            assert_eq!(back.key(), c.key());
        }
    }

    #[test]
    fn signed_zero_is_one_configuration() {
        let a = settings("domain = 'chain'\nparam = 'implicit'\noffset = -0.0").expect("valid");
        let b = settings("domain = 'chain'\nparam = 'implicit'\noffset = 0.0").expect("valid");
        assert_eq!(a.key(), b.key());
        assert!(a.offset.is_sign_positive());
        assert!(a.key().contains("offset=0;"), "{}", a.key());
    }

    #[test]
    fn keys_hold_every_setting() {
        let c = settings("domain = 'chain'\nparam = 'implicit'").expect("valid");
        for s in SETTINGS {
            assert!(c.key().contains(&format!("{}=", s.name)), "{}", s.name);
        }
    }

    #[test]
    fn later_settings_override_earlier_ones() {
        let a = RunSettings {
            eta: Some(0.8),
            seed: Some(1),
            ..RunSettings::default()
        };
        let b = RunSettings {
            seed: Some(2),
            ..RunSettings::default()
        };
        let c = a.overridden_by(&b);
        assert_eq!((c.eta, c.seed), (Some(0.8), Some(2)));
    }

    /// The README's settings table is the one derived from the declaration.
    #[test]
    fn readme_settings_table_is_derived_from_the_declaration() {
        let readme = include_str!("../../README.md");
        let table = markdown_table();
        assert!(
            readme.contains(&table),
            "README.md's settings table differs from the declaration; paste this:\n{table}"
        );
    }

    /// Settings added to the declaration later must have constant defaults (an old store's
    /// runs get them); only `lr` (present from the first store on) may be derived.
    #[test]
    fn only_original_settings_have_derived_defaults() {
        for s in SETTINGS {
            if (s.default_sql)().is_none() {
                assert!(["domain", "param", "lr"].contains(&s.name), "{}", s.name);
            }
        }
    }
}
