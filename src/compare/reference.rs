//! The published side of the comparison: the published directory layout (job logs and
//! `logs.csv` files) or a per-configuration summary CSV such as `chain_summary.csv`, reduced to
//! per-configuration statistics (SPEC §7).

use super::{CompareError, ConfigKey, SideStats};
use crate::domain::DomainKind;
use crate::metrics::EvalRow;
use crate::param::ParamKind;
use crate::published_layout::{read_published_all, LayoutError, PublishedData};
use crate::stats::Stat;
use std::collections::BTreeMap;
use std::path::Path;

/// One published run as the comparison needs it: its configuration, evaluation log, wall time
/// and whether the job failed.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceRun {
    /// The configuration.
    pub key: ConfigKey,
    /// The evaluation log (`logs.csv`), in order of `timestep`.
    pub rows: Vec<EvalRow>,
    /// Wall time of the job in seconds.
    pub runtime_s: f64,
    /// The job failed (non-zero exit value or signal).
    pub failed: bool,
}

/// Published runs reduced to per-configuration statistics. Failed jobs are counted and left
/// out; a run has diverged when its log is empty or holds a non-finite value, and then counts
/// for the initial components (if its first row is finite) but not for the final `‖r‖`.
pub fn summarize_reference(runs: &[ReferenceRun]) -> BTreeMap<ConfigKey, SideStats> {
    let mut groups: BTreeMap<ConfigKey, Vec<&ReferenceRun>> = BTreeMap::new();
    for r in runs {
        groups.entry(r.key).or_default().push(r);
    }
    groups
        .into_iter()
        .map(|(k, rs)| {
            let failed = rs.iter().filter(|r| r.failed).count();
            let mut diverged = 0;
            let ok: Vec<_> = rs
                .iter()
                .filter(|r| !r.failed)
                .map(|r| {
                    let finite = !r.rows.is_empty() && r.rows.iter().all(EvalRow::is_finite);
                    if !finite {
                        diverged += 1;
                    }
                    let first = r.rows.first().copied().filter(EvalRow::is_finite);
                    let last = if finite { r.rows.last().copied() } else { None };
                    (first, last, r.runtime_s)
                })
                .collect();
            (k, SideStats::from_runs(&ok, diverged, failed))
        })
        .collect()
}

/// Published jobs (as read by [`crate::published_layout::read_published_all`]) as
/// [`ReferenceRun`]s, failed jobs included (flagged). Jobs whose domain or method directory is
/// not a known one, or that used a bias feature, are left out and counted in the second value.
pub fn reference_runs(data: &PublishedData) -> (Vec<ReferenceRun>, usize) {
    let mut skipped = 0;
    let runs = data
        .runs
        .iter()
        .chain(&data.failed)
        .filter_map(|r| {
            let (Some(domain), Some(param), false) = (r.domain, r.param, r.use_bias) else {
                skipped += 1;
                return None;
            };
            Some(ReferenceRun {
                key: ConfigKey::published(domain, param, r.eta, r.lr, r.offset, r.batch_size),
                rows: r.rows.clone(),
                runtime_s: r.runtime_s,
                failed: r.failed(),
            })
        })
        .collect();
    (runs, skipped)
}

/// The published side read from `path`: a per-configuration summary CSV when `path` is a file
/// (see [`read_summary_csv`]), else the published directory layout under `path` (any subset of
/// domains and methods). The second value counts published jobs left out (see
/// [`reference_runs`]).
pub fn load_reference(
    path: &Path,
) -> Result<(BTreeMap<ConfigKey, SideStats>, usize), CompareError> {
    if path.is_file() {
        return Ok((read_summary_csv(path)?, 0));
    }
    let data = read_published_all(path)?;
    if data.runs.is_empty() && data.failed.is_empty() {
        return Err(LayoutError::Format {
            path: path.to_path_buf(),
            message: "no results.csv job log found under this directory".into(),
        }
        .into());
    }
    let (runs, skipped) = reference_runs(&data);
    Ok((summarize_reference(&runs), skipped))
}

/// Reads a per-configuration summary CSV with the columns of `chain_summary.csv`: `method, eta,
/// lr, offset, n, runtime_s, init_ones, init_ortho, final_norm, final_norm_std` (others are
/// ignored; optional `domain`, default chain, and `batch_size`, default 25). A configuration
/// whose final mean or standard deviation is empty or not finite counts as diverged (number of
/// diverged runs unknown). Initial standard deviations are unknown.
pub fn read_summary_csv(path: &Path) -> Result<BTreeMap<ConfigKey, SideStats>, CompareError> {
    let file = std::fs::File::open(path).map_err(|e| {
        CompareError::from(LayoutError::Format {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    })?;
    read_summary(file, path)
}

/// The summary of the published chain runs shipped with imprl (`tests/data/chain_summary.csv`,
/// whose origin and licence `tests/data/README.md` gives): the reference `reproduce` and
/// `report` compare chain runs with when no other is given.
pub const CHAIN_SUMMARY: &str = include_str!("../../tests/data/chain_summary.csv");

/// The name [`CHAIN_SUMMARY`] goes by in messages.
pub const CHAIN_SUMMARY_NAME: &str = "tests/data/chain_summary.csv";

/// [`CHAIN_SUMMARY`], read as [`read_summary_csv`] reads a file.
pub fn chain_summary() -> Result<BTreeMap<ConfigKey, SideStats>, CompareError> {
    read_summary(CHAIN_SUMMARY.as_bytes(), Path::new(CHAIN_SUMMARY_NAME))
}

/// A summary CSV (see [`read_summary_csv`]) from `input`, named `path` in errors.
pub fn read_summary(
    input: impl std::io::Read,
    path: &Path,
) -> Result<BTreeMap<ConfigKey, SideStats>, CompareError> {
    let fmt = |message: String| {
        CompareError::from(LayoutError::Format {
            path: path.to_path_buf(),
            message,
        })
    };
    let csv_err = |source| {
        CompareError::from(LayoutError::Csv {
            path: path.to_path_buf(),
            source,
        })
    };
    let mut rdr = csv::Reader::from_reader(input);
    let headers = rdr.headers().map_err(csv_err)?.clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let need = |name: &str| col(name).ok_or_else(|| fmt(format!("no column `{name}`")));
    let (cm, ce, cl, co, cn) = (
        need("method")?,
        need("eta")?,
        need("lr")?,
        need("offset")?,
        need("n")?,
    );
    let (crt, cio, cit, cfn, cfs) = (
        need("runtime_s")?,
        need("init_ones")?,
        need("init_ortho")?,
        need("final_norm")?,
        need("final_norm_std")?,
    );
    let (cd, cb) = (col("domain"), col("batch_size"));
    let mut out = BTreeMap::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(csv_err)?;
        let line = i + 2;
        let field = |c: usize| rec.get(c).unwrap_or("").trim();
        let num = |c: usize| -> Result<f64, CompareError> {
            let s = field(c);
            if s.is_empty() {
                return Ok(f64::NAN);
            }
            s.parse().map_err(|_| {
                fmt(format!(
                    "line {line}: `{}` = `{s}` is not a number",
                    &headers[c]
                ))
            })
        };
        let req = |c: usize| -> Result<f64, CompareError> {
            let v = num(c)?;
            if v.is_finite() {
                Ok(v)
            } else {
                Err(fmt(format!("line {line}: `{}` is missing", &headers[c])))
            }
        };
        let param = ParamKind::from_name(field(cm))
            .ok_or_else(|| fmt(format!("line {line}: unknown method `{}`", field(cm))))?;
        let domain = match cd {
            Some(c) => DomainKind::ALL
                .into_iter()
                .find(|d| d.name() == field(c) || d.published_name() == field(c))
                .ok_or_else(|| fmt(format!("line {line}: unknown domain `{}`", field(c))))?,
            None => DomainKind::Chain,
        };
        let batch_size = match cb {
            Some(c) => field(c)
                .parse()
                .map_err(|_| fmt(format!("line {line}: bad batch_size `{}`", field(c))))?,
            None => 25,
        };
        let n_f = req(cn)?;
        if n_f < 1.0 || n_f.fract() != 0.0 {
            return Err(fmt(format!("line {line}: bad n `{}`", field(cn))));
        }
        let n = n_f as usize;
        let (final_mean, final_sd) = (num(cfn)?, num(cfs)?);
        let diverged = !(final_mean.is_finite() && final_sd.is_finite());
        let key = ConfigKey::published(domain, param, req(ce)?, req(cl)?, req(co)?, batch_size);
        let stats = SideStats {
            runs: n,
            diverged: if diverged { None } else { Some(0) },
            failed: 0,
            final_norm: if diverged {
                Stat::without_sd(0, final_mean)
            } else {
                Stat {
                    n,
                    mean: final_mean,
                    sd: final_sd,
                }
            },
            init_ones: Stat::without_sd(n, req(cio)?),
            init_ortho: Stat::without_sd(n, req(cit)?),
            runtime_s: num(crt)?,
        };
        if out.insert(key, stats).is_some() {
            return Err(fmt(format!(
                "line {line}: configuration {key} appears twice"
            )));
        }
    }
    Ok(out)
}
