//! Comparison of our runs with the published ones (issue 5, SPEC §6–§7).
//!
//! Both sides are first reduced to per-configuration statistics ([`SideStats`], keyed by
//! [`ConfigKey`]: domain, parameterization, η, learning rate, offset, batch size), then matched
//! and compared ([`compare`]):
//!
//! * per configuration, means and standard deviations over seeds of the final `‖r‖` and of the
//!   initial `r∥` (`res_ones_norm`) and `‖r⊥‖` (`res_ortho_norm`), their difference in units of
//!   the combined (Welch) standard error `se = √(sd₁²/n₁ + sd₂²/n₂)`, divergence counts on both
//!   sides and the mean runtime per run;
//! * per domain × parameterization ([`GroupSummary`]), the share of configurations within 2 and
//!   3 standard errors and the worst ones; configurations where either side diverged are counted
//!   apart for the final `‖r‖`.
//!
//! Sources: our side from [`RunRecord`]s ([`summarize_ours`]); the published side from published
//! runs reduced to [`ReferenceRun`]s ([`summarize_reference`]) or from a per-configuration
//! summary CSV such as `chain_summary.csv` ([`read_summary_csv`]), which has no standard
//! deviations of the initial components: for those our standard deviation stands for both sides
//! ([`MetricComparison::sd_assumed`]).

use crate::domain::{DomainKind, Slip};
use crate::param::ParamKind;
use crate::published_layout::LayoutError;
use crate::published_layout::{read_published_all, PublishedData};
use crate::record::RunRecord;
use crate::store::Store;
use crate::train::{EvalRow, Sampling};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub mod seed_sets;

/// The number of SGD updates of the published runs.
pub const PUBLISHED_STEPS: usize = 300;

/// A failure to read or write comparison files.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// A file (of the published layout, a reference summary, or our output) cannot be read,
    /// parsed or written; the error names it.
    #[error(transparent)]
    Layout(#[from] crate::published_layout::LayoutError),
    /// Our results store cannot be read.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The figure cannot be drawn.
    #[error("{path}: cannot draw the figure: {message}")]
    Plot {
        /// The figure file.
        path: PathBuf,
        /// The drawing error.
        message: String,
    },
}

/// A float normalized for matching: equal when equal to about 10 significant digits, so that
/// `.25000000000000000000`, `0.25` and `1.0 / 4.0` match.
fn canon(x: f64) -> f64 {
    let y = if x == 0.0 { 0.0 } else { x };
    format!("{y:.9e}").parse().unwrap_or(y)
}

/// The settings that identify a configuration of the published grid.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    /// Domain.
    pub domain: DomainKind,
    /// Parameterization.
    pub param: ParamKind,
    /// Internal discount η.
    pub eta: f64,
    /// Learning rate.
    pub lr: f64,
    /// Reward offset.
    pub offset: f64,
    /// Minibatch size.
    pub batch_size: usize,
}

impl ConfigKey {
    fn cmp_key(&self) -> (DomainKind, ParamKind, [f64; 3], usize) {
        (
            self.domain,
            self.param,
            [canon(self.eta), canon(self.lr), canon(self.offset)],
            self.batch_size,
        )
    }
}

impl PartialEq for ConfigKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for ConfigKey {}
impl PartialOrd for ConfigKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ConfigKey {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.cmp_key(), other.cmp_key());
        a.0.cmp(&b.0)
            .then(a.1.cmp(&b.1))
            .then_with(|| {
                a.2.iter()
                    .zip(&b.2)
                    .map(|(x, y)| x.total_cmp(y))
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
            })
            .then(a.3.cmp(&b.3))
    }
}

impl std::fmt::Display for ConfigKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} η={} lr={} c={} b={}",
            self.domain.name(),
            self.param.name(),
            self.eta,
            self.lr,
            self.offset,
            self.batch_size
        )
    }
}

/// Mean and standard deviation of one metric over the runs of a configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    /// Number of runs.
    pub n: usize,
    /// Mean (NaN without runs).
    pub mean: f64,
    /// Sample standard deviation (divisor `n − 1`); `None` when unknown or `n < 2`.
    pub sd: Option<f64>,
}

impl Moments {
    /// Mean and sample standard deviation of `x` (computed by [`crate::plot::Stat`]).
    pub fn of(x: &[f64]) -> Self {
        let st = crate::plot::Stat::of(x);
        Self {
            n: st.n,
            mean: st.mean,
            sd: (st.n >= 2).then_some(st.sd),
        }
    }
}

/// One run reduced to its initial row, its final row if it finished, and its wall time.
type RunSummary = (Option<EvalRow>, Option<EvalRow>, f64);

/// One side's statistics of one configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct SideStats {
    /// Runs that count (failed jobs excluded).
    pub runs: usize,
    /// Runs that diverged; `None` when some did but their number is unknown (summary CSV).
    pub diverged: Option<usize>,
    /// Failed jobs (non-zero exit value or signal), excluded from everything else.
    pub failed: usize,
    /// Final `‖r‖` over the runs that did not diverge.
    pub final_norm: Moments,
    /// Initial `r∥` (`res_ones_norm` at timestep 0).
    pub init_ones: Moments,
    /// Initial `‖r⊥‖` (`res_ortho_norm` at timestep 0).
    pub init_ortho: Moments,
    /// Mean wall time per run in seconds.
    pub runtime_s: f64,
}

impl SideStats {
    /// True when at least one run diverged.
    pub fn any_diverged(&self) -> bool {
        self.diverged != Some(0)
    }

    /// Statistics of runs given as (initial row, final row if finished, runtime), with
    /// `diverged` of them having diverged and `failed` failed jobs left out.
    fn from_runs(runs: &[RunSummary], diverged: usize, failed: usize) -> Self {
        let pick = |f: &dyn Fn(&RunSummary) -> Option<f64>| {
            Moments::of(&runs.iter().filter_map(f).collect::<Vec<_>>())
        };
        let runtime = if runs.is_empty() {
            f64::NAN
        } else {
            runs.iter().map(|r| r.2).sum::<f64>() / runs.len() as f64
        };
        Self {
            runs: runs.len(),
            diverged: Some(diverged),
            failed,
            final_norm: pick(&|r| r.1.map(|e| e.residual_norm)),
            init_ones: pick(&|r| r.0.map(|e| e.res_ones_norm)),
            init_ortho: pick(&|r| r.0.map(|e| e.res_ortho_norm)),
            runtime_s: runtime,
        }
    }
}

/// Our records reduced to per-configuration statistics, and how many records were left out
/// because they do not follow the published protocol (300 updates, sampling with replacement,
/// published slip, no bias feature).
pub fn summarize_ours(records: &[RunRecord]) -> (BTreeMap<ConfigKey, SideStats>, usize) {
    let mut groups: BTreeMap<ConfigKey, Vec<&RunRecord>> = BTreeMap::new();
    let mut excluded = 0;
    for r in records {
        match published_key(r) {
            Some(key) => groups.entry(key).or_default().push(r),
            None => excluded += 1,
        }
    }
    let map = groups
        .into_iter()
        .map(|(k, recs)| {
            let runs: Vec<_> = recs
                .iter()
                .map(|r| (r.initial().copied(), r.final_row().copied(), r.runtime_s))
                .collect();
            let diverged = recs
                .iter()
                .filter(|r| r.outcome.diverged_at().is_some())
                .count();
            (k, SideStats::from_runs(&runs, diverged, 0))
        })
        .collect();
    (map, excluded)
}

/// The configuration of a record that follows the published protocol (300 updates, sampling
/// with replacement, published slip, no bias feature); `None` otherwise.
fn published_key(r: &RunRecord) -> Option<ConfigKey> {
    let c = &r.config;
    let published = c.steps == PUBLISHED_STEPS
        && c.sampling == Sampling::WithReplacement
        && c.slip == Slip::Published
        && !c.bias;
    published.then_some(ConfigKey {
        domain: c.domain,
        param: c.param,
        eta: c.eta,
        lr: c.lr,
        offset: c.offset,
        batch_size: c.batch_size,
    })
}

/// Our final `‖r‖` per configuration (published protocol only) and seed, for
/// [`seed_sets::check`].
pub fn per_seed_finals(records: &[RunRecord]) -> seed_sets::PerSeed {
    let mut out = seed_sets::PerSeed::new();
    for r in records {
        if let Some(key) = published_key(r) {
            out.entry(key)
                .or_default()
                .insert(r.config.seed, r.final_row().map(|e| e.residual_norm));
        }
    }
    out
}

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
                key: ConfigKey {
                    domain,
                    param,
                    eta: r.eta,
                    lr: r.lr,
                    offset: r.offset,
                    batch_size: r.batch_size,
                },
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

/// Our run records, read from the results store in `dir` (see [`summarize_ours`] and
/// [`per_seed_finals`]).
pub fn load_ours(dir: &Path) -> Result<Vec<RunRecord>, CompareError> {
    if !Store::exists(dir) {
        return Err(LayoutError::Format {
            path: dir.join(crate::store::DB_FILE),
            message: "no results store here".into(),
        }
        .into());
    }
    Ok(Store::open(dir)?.load_all()?)
}

/// Reads a per-configuration summary CSV with the columns of `chain_summary.csv`: `method, eta,
/// lr, offset, n, runtime_s, init_ones, init_ortho, final_norm, final_norm_std` (others are
/// ignored; optional `domain`, default chain, and `batch_size`, default 25). A configuration
/// whose final mean or standard deviation is empty or not finite counts as diverged (number of
/// diverged runs unknown). Initial standard deviations are unknown.
pub fn read_summary_csv(path: &Path) -> Result<BTreeMap<ConfigKey, SideStats>, CompareError> {
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
    let mut rdr = csv::Reader::from_path(path).map_err(csv_err)?;
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
        let key = ConfigKey {
            domain,
            param,
            eta: req(ce)?,
            lr: req(cl)?,
            offset: req(co)?,
            batch_size,
        };
        let stats = SideStats {
            runs: n,
            diverged: if diverged { None } else { Some(0) },
            failed: 0,
            final_norm: Moments {
                n: if diverged { 0 } else { n },
                mean: final_mean,
                sd: (!diverged).then_some(final_sd),
            },
            init_ones: Moments {
                n,
                mean: req(cio)?,
                sd: None,
            },
            init_ortho: Moments {
                n,
                mean: req(cit)?,
                sd: None,
            },
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

/// Both sides of one metric of one configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricComparison {
    /// Our runs.
    pub ours: Moments,
    /// The published runs.
    pub theirs: Moments,
    /// `(ours − theirs) / √(sd₁²/n₁ + sd₂²/n₂)`; `None` when a side has no standard deviation
    /// or mean. Equal means with zero spread give 0, different ones ±∞.
    pub z: Option<f64>,
    /// The published standard deviation was unknown and ours stood in for it.
    pub sd_assumed: bool,
}

/// Welch's difference of `ours` and `theirs` in combined standard errors (see
/// [`MetricComparison::z`]); an unknown published sd is replaced by ours.
pub fn welch(ours: Moments, theirs: Moments) -> MetricComparison {
    let sd_assumed = theirs.sd.is_none() && ours.sd.is_some();
    let z = match (ours.sd, theirs.sd.or(ours.sd)) {
        (Some(s1), Some(s2)) if ours.n > 0 && theirs.n > 0 => {
            let diff = ours.mean - theirs.mean;
            let se = (s1 * s1 / ours.n as f64 + s2 * s2 / theirs.n as f64).sqrt();
            if !diff.is_finite() || !se.is_finite() {
                None
            } else if se > 0.0 {
                Some(diff / se)
            } else if diff == 0.0 {
                Some(0.0)
            } else {
                Some(diff.signum() * f64::INFINITY)
            }
        }
        _ => None,
    };
    MetricComparison {
        ours,
        theirs,
        z,
        sd_assumed,
    }
}

/// The comparison of one configuration present on both sides.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigComparison {
    /// The configuration.
    pub key: ConfigKey,
    /// Our statistics.
    pub ours: SideStats,
    /// The published statistics.
    pub theirs: SideStats,
    /// Final `‖r‖` (only meaningful when neither side diverged).
    pub final_norm: MetricComparison,
    /// Initial `r∥`.
    pub init_ones: MetricComparison,
    /// Initial `‖r⊥‖`.
    pub init_ortho: MetricComparison,
}

impl ConfigComparison {
    /// True when a run diverged on either side.
    pub fn either_diverged(&self) -> bool {
        self.ours.any_diverged() || self.theirs.any_diverged()
    }

    /// The final-`‖r‖` z of a configuration where neither side diverged.
    pub fn final_z(&self) -> Option<f64> {
        if self.either_diverged() {
            None
        } else {
            self.final_norm.z
        }
    }
}

/// Agreement counts of one metric over a group of configurations.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Agreement {
    /// Configurations with a z.
    pub compared: usize,
    /// Of those, `|z| ≤ 2`.
    pub within2: usize,
    /// Of those, `|z| ≤ 3`.
    pub within3: usize,
}

impl Agreement {
    fn add(&mut self, z: Option<f64>) {
        if let Some(z) = z {
            self.compared += 1;
            self.within2 += usize::from(z.abs() <= 2.0);
            self.within3 += usize::from(z.abs() <= 3.0);
        }
    }

    /// Share within 2 standard errors (NaN without comparisons).
    pub fn share2(&self) -> f64 {
        self.within2 as f64 / self.compared as f64
    }

    /// Share within 3 standard errors (NaN without comparisons).
    pub fn share3(&self) -> f64 {
        self.within3 as f64 / self.compared as f64
    }
}

/// The worst configurations listed per group.
pub const WORST_LISTED: usize = 3;

/// Agreement of one domain × parameterization.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSummary {
    /// Domain.
    pub domain: DomainKind,
    /// Parameterization.
    pub param: ParamKind,
    /// Configurations on both sides.
    pub configs: usize,
    /// Configurations with a diverged run on our side.
    pub diverged_ours: usize,
    /// Configurations with a diverged run on the published side.
    pub diverged_theirs: usize,
    /// Configurations with a diverged run on either side (left out of [`Self::final_norm`]).
    pub diverged_either: usize,
    /// Final `‖r‖`, configurations where neither side diverged.
    pub final_norm: Agreement,
    /// Initial `r∥`, all configurations.
    pub init_ones: Agreement,
    /// Initial `‖r⊥‖`, all configurations.
    pub init_ortho: Agreement,
    /// The largest `|z|` (any metric): configuration, metric name, z.
    pub worst: Vec<(ConfigKey, &'static str, f64)>,
    /// Mean wall time per run, ours.
    pub runtime_ours_s: f64,
    /// Mean wall time per run, published.
    pub runtime_theirs_s: f64,
    /// Our runs.
    pub runs_ours: usize,
    /// Published runs (failed jobs excluded).
    pub runs_theirs: usize,
    /// Failed published jobs.
    pub failed_theirs: usize,
}

impl GroupSummary {
    /// The target: at least 95% of configurations within 3 standard errors on the final
    /// `‖r‖` and on both initial components.
    pub fn meets_target(&self) -> bool {
        [self.final_norm, self.init_ones, self.init_ortho]
            .iter()
            .all(|a| a.compared > 0 && a.share3() >= 0.95)
    }
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Configurations on both sides, in key order.
    pub rows: Vec<ConfigComparison>,
    /// One summary per domain × parameterization present on both sides.
    pub groups: Vec<GroupSummary>,
    /// Configurations only we have.
    pub only_ours: Vec<ConfigKey>,
    /// Configurations only the published data has.
    pub only_theirs: Vec<ConfigKey>,
}

/// Matches and compares both sides.
pub fn compare(
    ours: &BTreeMap<ConfigKey, SideStats>,
    theirs: &BTreeMap<ConfigKey, SideStats>,
) -> Comparison {
    let only_ours = ours
        .keys()
        .filter(|k| !theirs.contains_key(k))
        .copied()
        .collect();
    let only_theirs = theirs
        .keys()
        .filter(|k| !ours.contains_key(k))
        .copied()
        .collect();
    let rows: Vec<ConfigComparison> = ours
        .iter()
        .filter_map(|(k, o)| {
            let t = theirs.get(k)?;
            Some(ConfigComparison {
                key: *k,
                ours: o.clone(),
                theirs: t.clone(),
                final_norm: welch(o.final_norm, t.final_norm),
                init_ones: welch(o.init_ones, t.init_ones),
                init_ortho: welch(o.init_ortho, t.init_ortho),
            })
        })
        .collect();
    let mut by_group: BTreeMap<(DomainKind, ParamKind), Vec<&ConfigComparison>> = BTreeMap::new();
    for r in &rows {
        by_group
            .entry((r.key.domain, r.key.param))
            .or_default()
            .push(r);
    }
    let groups = by_group
        .into_iter()
        .map(|((domain, param), rs)| group_summary(domain, param, &rs))
        .collect();
    Comparison {
        rows,
        groups,
        only_ours,
        only_theirs,
    }
}

fn group_summary(domain: DomainKind, param: ParamKind, rs: &[&ConfigComparison]) -> GroupSummary {
    let mut g = GroupSummary {
        domain,
        param,
        configs: rs.len(),
        diverged_ours: 0,
        diverged_theirs: 0,
        diverged_either: 0,
        final_norm: Agreement::default(),
        init_ones: Agreement::default(),
        init_ortho: Agreement::default(),
        worst: Vec::new(),
        runtime_ours_s: f64::NAN,
        runtime_theirs_s: f64::NAN,
        runs_ours: 0,
        runs_theirs: 0,
        failed_theirs: 0,
    };
    let mut all_z = Vec::new();
    let (mut time_o, mut time_t) = (0.0, 0.0);
    for r in rs {
        g.diverged_ours += usize::from(r.ours.any_diverged());
        g.diverged_theirs += usize::from(r.theirs.any_diverged());
        g.diverged_either += usize::from(r.either_diverged());
        g.final_norm.add(r.final_z());
        g.init_ones.add(r.init_ones.z);
        g.init_ortho.add(r.init_ortho.z);
        for (name, z) in [
            ("final ‖r‖", r.final_z()),
            ("initial r∥", r.init_ones.z),
            ("initial ‖r⊥‖", r.init_ortho.z),
        ] {
            if let Some(z) = z {
                all_z.push((r.key, name, z));
            }
        }
        g.runs_ours += r.ours.runs;
        g.runs_theirs += r.theirs.runs;
        g.failed_theirs += r.theirs.failed;
        if r.ours.runtime_s.is_finite() {
            time_o += r.ours.runtime_s * r.ours.runs as f64;
        }
        if r.theirs.runtime_s.is_finite() {
            time_t += r.theirs.runtime_s * r.theirs.runs as f64;
        }
    }
    g.runtime_ours_s = time_o / g.runs_ours as f64;
    g.runtime_theirs_s = time_t / g.runs_theirs as f64;
    all_z.sort_by(|a, b| b.2.abs().total_cmp(&a.2.abs()));
    all_z.truncate(WORST_LISTED);
    g.worst = all_z;
    g
}

fn opt(x: Option<f64>) -> String {
    x.map_or(String::new(), |v| v.to_string())
}

fn count(x: Option<usize>) -> String {
    x.map_or("?".to_string(), |v| v.to_string())
}

/// The per-configuration CSV header (see [`write_csv`]).
pub const CSV_HEADER: [&str; 35] = [
    "domain",
    "param",
    "eta",
    "lr",
    "offset",
    "batch_size",
    "ours_runs",
    "ours_diverged",
    "theirs_runs",
    "theirs_failed",
    "theirs_diverged",
    "final_norm_ours_n",
    "final_norm_ours_mean",
    "final_norm_ours_sd",
    "final_norm_theirs_n",
    "final_norm_theirs_mean",
    "final_norm_theirs_sd",
    "final_norm_z",
    "init_ones_ours_n",
    "init_ones_ours_mean",
    "init_ones_ours_sd",
    "init_ones_theirs_n",
    "init_ones_theirs_mean",
    "init_ones_theirs_sd",
    "init_ones_z",
    "init_ortho_ours_n",
    "init_ortho_ours_mean",
    "init_ortho_ours_sd",
    "init_ortho_theirs_n",
    "init_ortho_theirs_mean",
    "init_ortho_theirs_sd",
    "init_ortho_z",
    "runtime_ours_s",
    "runtime_theirs_s",
    "note",
];

/// Writes the full per-configuration table as CSV: configurations on both sides, then those on
/// one side only (with `note` = `only ours` / `only published`). An unknown published sd
/// (summary CSV) is left empty and the note says our sd stood in for it; `final_norm_z` is
/// empty when either side diverged. Divergence counts unknown on the published side are `?`.
pub fn write_csv(c: &Comparison, out: impl std::io::Write) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(CSV_HEADER)?;
    let key_fields = |k: &ConfigKey| {
        vec![
            k.domain.name().to_string(),
            k.param.name().to_string(),
            k.eta.to_string(),
            k.lr.to_string(),
            k.offset.to_string(),
            k.batch_size.to_string(),
        ]
    };
    for r in &c.rows {
        let mut f = key_fields(&r.key);
        f.extend([
            r.ours.runs.to_string(),
            count(r.ours.diverged),
            r.theirs.runs.to_string(),
            r.theirs.failed.to_string(),
            count(r.theirs.diverged),
        ]);
        for (m, z) in [
            (&r.final_norm, r.final_z()),
            (&r.init_ones, r.init_ones.z),
            (&r.init_ortho, r.init_ortho.z),
        ] {
            f.extend([
                m.ours.n.to_string(),
                m.ours.mean.to_string(),
                opt(m.ours.sd),
                m.theirs.n.to_string(),
                m.theirs.mean.to_string(),
                opt(m.theirs.sd),
                opt(z),
            ]);
        }
        f.push(r.ours.runtime_s.to_string());
        f.push(r.theirs.runtime_s.to_string());
        let mut notes = Vec::new();
        if r.either_diverged() {
            notes.push("diverged");
        }
        if r.init_ones.sd_assumed || r.init_ortho.sd_assumed || r.final_norm.sd_assumed {
            notes.push("published sd unknown: ours used for both sides");
        }
        f.push(notes.join("; "));
        w.write_record(&f)?;
    }
    for (keys, note) in [
        (&c.only_ours, "only ours"),
        (&c.only_theirs, "only published"),
    ] {
        for k in keys {
            let mut f = key_fields(k);
            f.resize(CSV_HEADER.len() - 1, String::new());
            f.push(note.to_string());
            w.write_record(&f)?;
        }
    }
    w.flush()?;
    Ok(())
}

fn pct(a: &Agreement, within: usize) -> String {
    if a.compared == 0 {
        "—".to_string()
    } else {
        format!("{:5.1}%", 100.0 * within as f64 / a.compared as f64)
    }
}

/// The readable summary for the terminal: one line per domain × parameterization, the worst
/// configurations, and the configurations present on one side only.
pub fn render_table(c: &Comparison) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<13} {:<15} {:>7} {:>9} {:>15} {:>15} {:>15} {:>15} {:>17}",
        "domain",
        "param",
        "configs",
        "diverged",
        "final ≤2se/≤3se",
        "init r∥ ≤2/≤3",
        "init ‖r⊥‖ ≤2/≤3",
        "target (≥95% ≤3)",
        "s/run ours/publ."
    );
    for g in &c.groups {
        let _ = writeln!(
            s,
            "{:<13} {:<15} {:>7} {:>9} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>15} {:>8.3}/{:<8.2}",
            g.domain.name(),
            g.param.name(),
            g.configs,
            format!("{}/{}", g.diverged_ours, g.diverged_theirs),
            pct(&g.final_norm, g.final_norm.within2),
            pct(&g.final_norm, g.final_norm.within3),
            pct(&g.init_ones, g.init_ones.within2),
            pct(&g.init_ones, g.init_ones.within3),
            pct(&g.init_ortho, g.init_ortho.within2),
            pct(&g.init_ortho, g.init_ortho.within3),
            if g.meets_target() { "met" } else { "NOT met" },
            g.runtime_ours_s,
            g.runtime_theirs_s,
        );
    }
    let _ = writeln!(
        s,
        "(diverged: configurations with a diverged run, ours/published; those are left out of the final ‖r‖ shares)"
    );
    for g in &c.groups {
        if g.failed_theirs > 0 {
            let _ = writeln!(
                s,
                "{} {}: {} failed published jobs excluded",
                g.domain.name(),
                g.param.name(),
                g.failed_theirs
            );
        }
    }
    let _ = writeln!(s, "worst configurations:");
    for g in &c.groups {
        for (k, metric, z) in &g.worst {
            let _ = writeln!(s, "  {k}: {metric} z = {z:+.2}");
        }
    }
    for (keys, side) in [
        (&c.only_ours, "only ours"),
        (&c.only_theirs, "only published"),
    ] {
        if !keys.is_empty() {
            let _ = writeln!(s, "{} configurations {side}:", keys.len());
            for k in keys.iter().take(20) {
                let _ = writeln!(s, "  {k}");
            }
            if keys.len() > 20 {
                let _ = writeln!(s, "  … ({} more in the CSV)", keys.len() - 20);
            }
        }
    }
    if c.rows.iter().any(|r| r.init_ones.sd_assumed) {
        let _ = writeln!(
            s,
            "note: the published initial standard deviations are unknown (summary CSV); ours stand in for both sides"
        );
    }
    s
}

/// Draws our final mean `‖r‖` against the published one, one point per configuration where
/// neither side diverged (log–log, colour per parameterization, the diagonal drawn). The format
/// follows the extension: `.svg` or a bitmap (`.png`).
pub fn plot(c: &Comparison, path: &Path) -> Result<(), CompareError> {
    use plotters::prelude::*;
    let err = |e: String| CompareError::Plot {
        path: path.to_path_buf(),
        message: e,
    };
    let pts: Vec<(ParamKind, DomainKind, f64, f64)> = c
        .rows
        .iter()
        .filter(|r| !r.either_diverged())
        .map(|r| {
            (
                r.key.param,
                r.key.domain,
                r.final_norm.theirs.mean,
                r.final_norm.ours.mean,
            )
        })
        .filter(|p| p.2 > 0.0 && p.3 > 0.0 && p.2.is_finite() && p.3.is_finite())
        .collect();
    let (lo, hi) = pts
        .iter()
        .flat_map(|p| [p.2, p.3])
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    let (lo, hi) = if lo.is_finite() {
        (lo / 1.5, hi * 1.5)
    } else {
        (0.1, 10.0)
    };
    fn draw<DB: DrawingBackend>(
        root: DrawingArea<DB, plotters::coord::Shift>,
        pts: &[(ParamKind, DomainKind, f64, f64)],
        lo: f64,
        hi: f64,
    ) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "final ‖r‖, mean over seeds: ours vs published",
                ("sans-serif", 20),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d((lo..hi).log_scale(), (lo..hi).log_scale())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("published")
            .y_desc("ours")
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new([(lo, lo), (hi, hi)], BLACK.mix(0.5)))
            .map_err(|e| e.to_string())?;
        let colours = [
            (ParamKind::Explicit, BLUE),
            (ParamKind::Implicit, RED),
            (ParamKind::ExplicitMatrix, GREEN),
        ];
        for (param, colour) in colours {
            let mine: Vec<_> = pts.iter().filter(|p| p.0 == param).collect();
            if mine.is_empty() {
                continue;
            }
            chart
                .draw_series(
                    mine.iter()
                        .map(|p| Circle::new((p.2, p.3), 3, colour.mix(0.6).filled())),
                )
                .map_err(|e| e.to_string())?
                .label(param.name())
                .legend(move |(x, y)| Circle::new((x, y), 4, colour.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
        Ok(())
    }
    let svg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    if svg {
        draw(
            SVGBackend::new(path, (800, 800)).into_drawing_area(),
            &pts,
            lo,
            hi,
        )
        .map_err(err)
    } else {
        draw(
            BitMapBackend::new(path, (800, 800)).into_drawing_area(),
            &pts,
            lo,
            hi,
        )
        .map_err(err)
    }
}

/// A chain explicit key with η = 0.8, offset 0.3, batch 25 and learning rate `lr`.
#[cfg(test)]
pub(crate) fn test_key(lr: f64) -> ConfigKey {
    ConfigKey {
        domain: DomainKind::Chain,
        param: ParamKind::Explicit,
        eta: 0.8,
        lr,
        offset: 0.3,
        batch_size: 25,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(lr: f64) -> ConfigKey {
        test_key(lr)
    }

    #[test]
    fn keys_match_published_spellings() {
        let published: f64 = ".25000000000000000000".parse().unwrap();
        assert_eq!(key(published), key(1.0 / 4.0));
        assert_eq!(key(0.1 + 0.2 - 0.2 + 0.15), key(0.25));
        assert_ne!(key(0.25), key(0.2500001));
        let mut k = key(0.25);
        k.offset = 3.0 / 10.0;
        assert_eq!(k, key(0.25));
        assert_eq!(canon(-0.0), canon(0.0));
    }
}
