//! Grids: a TOML file in which every run setting ([`crate::config::SETTINGS`]) may be a scalar
//! or a non-empty list of distinct values; learning rates may instead be given per
//! `(domain, param)` in an `[lr]` table keyed `"<domain>.<param>"` (as in the published grid):
//!
//! ```toml
//! domain = ["chain", "four-rooms"]
//! param = ["explicit", "implicit"]
//! eta = [0.8, 0.9]
//! seed = [0, 1, 2]
//! [lr]
//! "chain.explicit" = [8.0, 4.0]
//! "chain.implicit" = [0.125]
//! ```
//!
//! Combinations whose `(domain, param)` has no `[lr]` entry get the default learning rate (the
//! paper's best). The expansion is the Cartesian product in the settings' declaration order
//! (domain outermost, then param, η, lr, offset, seed, …), each list in its given order; every
//! run is validated ([`RunSettings::resolve`], [`crate::config::check_data`]) before any run
//! starts.

use crate::config::{self, read_toml, ConfigError, Raw, RunConfig, RunSettings, SETTINGS};
use crate::domain::DomainKind;
use crate::param::ParamKind;
use std::collections::HashSet;
use std::path::Path;

use super::Shard;

/// The largest grid accepted (runs), a guard against typing mistakes.
pub const MAX_RUNS: usize = 10_000_000;

/// An expanded, validated grid: its runs in a deterministic order.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    runs: Vec<RunConfig>,
}

/// The values of one grid entry, each parsed into settings that give only that entry, in the
/// given order; refuses empty lists, nested values and repeated values (compared by their
/// canonical text, so `1` and `1.0` are one value).
fn parse_list(field: &str, name: &str, v: &toml::Value) -> Result<Vec<RunSettings>, ConfigError> {
    let items: Vec<&toml::Value> = match v {
        toml::Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    if items.is_empty() {
        return Err(ConfigError::invalid(
            field,
            "[]",
            "a value or a non-empty list",
        ));
    }
    let mut seen = HashSet::with_capacity(items.len());
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if matches!(item, toml::Value::Array(_) | toml::Value::Table(_)) {
            return Err(ConfigError::invalid(
                field,
                item,
                "a value or a list of values",
            ));
        }
        let mut s = RunSettings::default();
        s.set(name, Raw::Toml(item)).map_err(|e| match e {
            ConfigError::Invalid { value, allowed, .. } => ConfigError::Invalid {
                field: field.to_string(),
                value,
                allowed,
            },
            e => e,
        })?;
        if !seen.insert(s.text_of(name).unwrap_or_default()) {
            return Err(ConfigError::invalid(
                field,
                item,
                "a list of distinct values (this one is repeated)",
            ));
        }
        out.push(s);
    }
    Ok(out)
}

/// Learning rates per (domain, param) from a grid's `[lr]` table.
type LrTable = Vec<((DomainKind, ParamKind), Vec<RunSettings>)>;

fn parse_lr_table(t: &toml::Table) -> Result<LrTable, ConfigError> {
    let mut per = Vec::new();
    for (key, list) in t {
        let field = format!("lr.{key}");
        let dp = key.rsplit_once('.').and_then(|(d, p)| {
            use crate::config::SettingType;
            Some((
                DomainKind::parse(Raw::Text(d))?.canonical(),
                ParamKind::parse(Raw::Text(p))?,
            ))
        });
        let dp = dp.ok_or_else(|| ConfigError::UnknownField {
            field: field.clone(),
            allowed: "keys \"<domain>.<param>\" such as \"chain.implicit\"".into(),
        })?;
        per.push((dp, parse_list(&field, "lr", list)?));
    }
    Ok(per)
}

impl Grid {
    /// Expands and validates a grid given as a TOML table (see the module documentation).
    pub fn from_toml_table(table: &toml::Table) -> Result<Grid, ConfigError> {
        let mut lists: Vec<(&str, Vec<RunSettings>)> = Vec::new();
        let mut lr_table: Option<LrTable> = None;
        for (k, v) in table {
            let Some(s) = config::setting(k) else {
                return Err(ConfigError::unknown(k));
            };
            match v {
                toml::Value::Table(t) if k == "lr" => lr_table = Some(parse_lr_table(t)?),
                _ => lists.push((s.name, parse_list(k, s.name, v)?)),
            }
        }
        // Size guard before expanding.
        let size = lists
            .iter()
            .fold(1usize, |n, (_, items)| n.saturating_mul(items.len()));
        let lr_max = lr_table
            .as_ref()
            .and_then(|t| t.iter().map(|(_, l)| l.len()).max())
            .unwrap_or(1);
        if size.saturating_mul(lr_max) > MAX_RUNS {
            return Err(ConfigError::invalid(
                "grid",
                format!("{} runs or more", size.saturating_mul(lr_max)),
                &format!("at most {MAX_RUNS} runs"),
            ));
        }
        // Cartesian product in declaration order; the [lr] table right after `param`.
        let has_param = lists.iter().any(|(f, _)| *f == "param");
        let mut settings = vec![RunSettings::default()];
        for s in SETTINGS {
            if let Some((_, items)) = lists.iter().find(|(f, _)| *f == s.name) {
                let mut next = Vec::with_capacity(settings.len() * items.len());
                for base in &settings {
                    next.extend(items.iter().map(|it| base.overridden_by(it)));
                }
                settings = next;
            }
            if s.name == "param" || (!has_param && s.name == "domain") {
                if let Some(per) = &lr_table {
                    settings = expand_lr(settings, per);
                }
            }
        }
        if let Some(per) = &lr_table {
            for ((d, p), _) in per {
                if !settings
                    .iter()
                    .any(|s| s.domain == Some(*d) && s.param == Some(*p))
                {
                    return Err(ConfigError::invalid(
                        &format!("lr.{}.{}", d.name(), p.name()),
                        "(no run of the grid has this domain and param)",
                        "keys \"<domain>.<param>\" of a domain and param of the grid",
                    ));
                }
            }
        }
        let mut runs = Vec::with_capacity(settings.len());
        let mut seen = HashSet::with_capacity(settings.len());
        for s in &settings {
            let cfg = s.resolve()?;
            let key = cfg.key();
            if !seen.insert(key) {
                return Err(ConfigError::invalid(
                    "grid",
                    cfg.key(),
                    "distinct runs (this run occurs twice, e.g. through an [lr] entry equal to the default)",
                ));
            }
            runs.push(cfg);
        }
        config::check_data_all(&runs)?;
        Ok(Grid { runs })
    }

    /// Reads, expands and validates a grid file; errors name the file and the field.
    pub fn from_file(path: &Path) -> Result<Grid, ConfigError> {
        let table = read_toml(path)?;
        Self::from_toml_table(&table).map_err(|e| e.in_file(path))
    }

    /// A grid of explicitly listed runs (kept in the given order).
    pub fn from_runs(runs: Vec<RunConfig>) -> Grid {
        Grid { runs }
    }

    /// The runs, in the grid's order.
    pub fn runs(&self) -> &[RunConfig] {
        &self.runs
    }

    /// Number of runs.
    pub fn len(&self) -> usize {
        self.runs.len()
    }

    /// True when the grid has no runs.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The runs of shard `shard`, in the grid's order.
    pub fn shard(&self, shard: Shard) -> Vec<RunConfig> {
        self.runs
            .iter()
            .enumerate()
            .filter(|(i, _)| shard.contains(*i))
            .map(|(_, c)| *c)
            .collect()
    }
}

fn expand_lr(settings: Vec<RunSettings>, per: &LrTable) -> Vec<RunSettings> {
    let mut next = Vec::with_capacity(settings.len());
    for s in settings {
        let items = match (s.domain, s.param) {
            (Some(d), Some(p)) => per.iter().find(|(dp, _)| *dp == (d, p)).map(|(_, l)| l),
            _ => None,
        };
        match items {
            Some(items) => next.extend(items.iter().map(|it| s.overridden_by(it))),
            None => next.push(s),
        }
    }
    next
}
