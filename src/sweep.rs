//! Sweeps: grids of runs, their expansion and validation, shards, and their parallel execution
//! into a results [`Store`].
//!
//! A grid file is TOML in which every run setting ([`crate::config::FIELDS`]) may be a scalar or
//! a non-empty list of distinct values; learning rates may instead be given per
//! `(domain, param)` in an `[lr]` table keyed `"<domain>.<param>"` (as in SPEC §6):
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
//! paper's best). The expansion is the Cartesian product in the order of
//! [`crate::config::FIELDS`] (domain outermost, then param, η, lr, offset, seed, …), each list
//! in its given order; every run is validated by [`RunSettings::resolve`] before any run starts.

use crate::config::{read_toml, ConfigError, RunConfig, RunSettings, FIELDS};
use crate::domain::{DomainKind, DomainSpec};
use crate::param::ParamKind;
use crate::published::{best_lr, learning_rates, offsets, ETAS, N_SEEDS};
use crate::record::RunRecord;
use crate::store::{run_key, Store, StoreError};
use crate::train::{NoObserver, Sampling};
use rayon::prelude::*;
use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The largest grid accepted (runs), a guard against typing mistakes.
pub const MAX_RUNS: usize = 10_000_000;

/// An expanded, validated grid: its runs in a deterministic order.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    runs: Vec<RunConfig>,
}

fn list_of<'a>(field: &str, v: &'a toml::Value) -> Result<Vec<&'a toml::Value>, ConfigError> {
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
    for (i, a) in items.iter().enumerate() {
        if items[..i].contains(a) {
            return Err(ConfigError::invalid(
                field,
                a,
                "a list of distinct values (this one is repeated)",
            ));
        }
        if matches!(a, toml::Value::Array(_) | toml::Value::Table(_)) {
            return Err(ConfigError::invalid(
                field,
                a,
                "a value or a list of values",
            ));
        }
    }
    Ok(items)
}

impl Grid {
    /// Expands and validates a grid given as a TOML table (see the module documentation).
    pub fn from_toml_table(table: &toml::Table) -> Result<Grid, ConfigError> {
        let mut lists: Vec<(&str, Vec<&toml::Value>)> = Vec::new();
        let mut lr_table: Option<LrTable<'_>> = None;
        for (k, v) in table {
            if !FIELDS.contains(&k.as_str()) {
                return Err(ConfigError::UnknownField {
                    field: k.clone(),
                    allowed: FIELDS.join(", "),
                });
            }
            if k == "lr" {
                if let toml::Value::Table(t) = v {
                    let mut per = Vec::new();
                    for (key, list) in t {
                        let field = format!("lr.{key}");
                        let dp = key.split_once('.').and_then(|(d, p)| {
                            Some((DomainKind::from_name(d)?, ParamKind::from_name(p)?))
                        });
                        let dp = dp.ok_or_else(|| ConfigError::UnknownField {
                            field: field.clone(),
                            allowed: "keys \"<domain>.<param>\" such as \"chain.implicit\"".into(),
                        })?;
                        let items = list_of(&field, list)?;
                        for it in &items {
                            RunSettings::default()
                                .set_toml("lr", it)
                                .map_err(|_| ConfigError::invalid(&field, it, "a number"))?;
                        }
                        per.push((dp, items));
                    }
                    lr_table = Some(per);
                    continue;
                }
            }
            let items = list_of(k, v)?;
            // Type-check every value now, so errors name the field before any expansion.
            for it in &items {
                RunSettings::default().set_toml(k, it)?;
            }
            lists.push((k.as_str(), items));
        }
        // Size guard before expanding.
        let mut size: usize = 1;
        for (_, items) in &lists {
            size = size.saturating_mul(items.len());
        }
        let lr_max = lr_table
            .as_ref()
            .map(|t| t.iter().map(|(_, l)| l.len()).max().unwrap_or(1))
            .unwrap_or(1);
        if size.saturating_mul(lr_max) > MAX_RUNS {
            return Err(ConfigError::invalid(
                "grid",
                format!("{} runs or more", size.saturating_mul(lr_max)),
                &format!("at most {MAX_RUNS} runs"),
            ));
        }
        // Cartesian product in FIELDS order.
        let mut settings = vec![RunSettings::default()];
        for field in FIELDS {
            let Some((_, items)) = lists.iter().find(|(f, _)| *f == field) else {
                continue;
            };
            let mut next = Vec::with_capacity(settings.len() * items.len());
            for s in &settings {
                for it in items {
                    let mut s2 = s.clone();
                    s2.set_toml(field, it)?;
                    next.push(s2);
                }
            }
            settings = next;
            if field == "param" {
                if let Some(per) = &lr_table {
                    settings = expand_lr(settings, per)?;
                }
            }
        }
        if lr_table.is_some() && !lists.iter().any(|(f, _)| *f == "param") {
            if let Some(per) = &lr_table {
                settings = expand_lr(settings, per)?;
            }
        }
        let mut runs = Vec::with_capacity(settings.len());
        let mut seen = HashSet::with_capacity(settings.len());
        for s in &settings {
            let cfg = s.resolve()?;
            if !seen.insert(run_key(&cfg)) {
                return Err(ConfigError::invalid(
                    "grid",
                    run_key(&cfg),
                    "distinct runs (this run occurs twice, e.g. through 1 and 1.0)",
                ));
            }
            runs.push(cfg);
        }
        Ok(Grid { runs })
    }

    /// Reads, expands and validates a grid file; errors name the file and the field.
    pub fn from_file(path: &Path) -> Result<Grid, ConfigError> {
        let table = read_toml(path)?;
        Self::from_toml_table(&table).map_err(|e| ConfigError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })
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

    /// The runs of shard `shard`: those whose index `i` in the grid's order has
    /// `i % count == index`.
    pub fn shard(&self, shard: Shard) -> Vec<RunConfig> {
        self.runs
            .iter()
            .enumerate()
            .filter(|(i, _)| shard.contains(*i))
            .map(|(_, c)| *c)
            .collect()
    }
}

/// Learning rates per (domain, param) from a grid's `[lr]` table.
type LrTable<'a> = Vec<((DomainKind, ParamKind), Vec<&'a toml::Value>)>;

fn expand_lr(
    settings: Vec<RunSettings>,
    per: &LrTable<'_>,
) -> Result<Vec<RunSettings>, ConfigError> {
    let mut next = Vec::new();
    for s in settings {
        let items = match (s.domain, s.param) {
            (Some(d), Some(p)) => per.iter().find(|(dp, _)| *dp == (d, p)).map(|(_, l)| l),
            _ => None,
        };
        match items {
            Some(items) => {
                for it in items {
                    let mut s2 = s.clone();
                    s2.set_toml("lr", it)?;
                    next.push(s2);
                }
            }
            None => next.push(s),
        }
    }
    Ok(next)
}

/// One of `count` disjoint parts of a grid (`index` counted from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, `0 ≤ index < count`.
    pub index: usize,
    /// Number of shards, `≥ 1`.
    pub count: usize,
}

impl Shard {
    /// The whole grid.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parses `I/N` (`0 ≤ I < N`); errors name the field `shard`.
    pub fn parse(s: &str) -> Result<Shard, ConfigError> {
        let allowed = "I/N with 0 <= I < N, e.g. 0/4";
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| ConfigError::invalid("shard", s, allowed))?;
        let index: usize = i
            .trim()
            .parse()
            .map_err(|_| ConfigError::invalid("shard", s, allowed))?;
        let count: usize = n
            .trim()
            .parse()
            .map_err(|_| ConfigError::invalid("shard", s, allowed))?;
        if count == 0 || index >= count {
            return Err(ConfigError::invalid("shard", s, allowed));
        }
        Ok(Shard { index, count })
    }

    /// True when the run at position `i` of the grid belongs to this shard.
    pub fn contains(&self, i: usize) -> bool {
        i % self.count == self.index
    }
}

impl std::str::FromStr for Shard {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Shard::parse(s)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Which learning rates a published grid uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LrChoice {
    /// The six learning rates of SPEC §6.
    All,
    /// Only the paper's best learning rate for each `(domain, param, η)`.
    Best,
}

/// The published grid of SPEC §6 for `domains`, with seeds `0..n_seeds` (the published grid has
/// 20): explicit and implicit, η ∈ {0.8, 0.9, 0.95, 0.975}, 6 (or the best) learning rates,
/// offsets 0, 0.1, …, 1, batch 25, 300 updates. Order: domain, param, η, lr, offset, seed.
pub fn published_grid(domains: &[DomainKind], n_seeds: usize, lrs: LrChoice) -> Grid {
    let mut runs = Vec::new();
    for &domain in domains {
        for param in [ParamKind::Explicit, ParamKind::Implicit] {
            for eta in ETAS {
                let rates = match lrs {
                    LrChoice::All => learning_rates(domain, param),
                    LrChoice::Best => vec![best_lr(domain, param, eta)],
                };
                for lr in rates {
                    for offset in offsets() {
                        for seed in 0..n_seeds as u64 {
                            runs.push(RunConfig {
                                domain: DomainSpec::published(domain),
                                param,
                                eta,
                                lr,
                                offset,
                                seed,
                                steps: 300,
                                batch_size: 25,
                                eval_every: 10,
                                sampling: Sampling::WithReplacement,
                                solver: crate::linalg::SolverKind::default(),
                            });
                        }
                    }
                }
            }
        }
    }
    Grid { runs }
}

/// The published grid with its 20 seeds and all learning rates (31,680 runs for 3 domains).
pub fn full_published_grid(domains: &[DomainKind]) -> Grid {
    published_grid(domains, N_SEEDS, LrChoice::All)
}

/// Runs one configuration end to end, timing it.
pub fn run_one(cfg: &RunConfig) -> Result<RunRecord, ConfigError> {
    let t0 = Instant::now();
    let log = crate::run::run(cfg, &mut NoObserver)?;
    Ok(RunRecord {
        config: *cfg,
        outcome: log.outcome,
        runtime_s: t0.elapsed().as_secs_f64(),
        rows: log.rows,
    })
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar when stdout is a terminal, else plain lines.
    Auto,
    /// A progress bar (`indicatif`).
    Bar,
    /// Plain progress lines on stdout every few seconds.
    Lines,
    /// Nothing.
    Quiet,
}

/// Options of [`execute`].
#[derive(Debug, Clone, Copy)]
pub struct SweepOptions {
    /// Worker threads (`None`: all cores).
    pub jobs: Option<usize>,
    /// Progress display.
    pub progress: ProgressMode,
    /// Period of plain progress lines.
    pub line_period: Duration,
}

impl Default for SweepOptions {
    fn default() -> Self {
        Self {
            jobs: None,
            progress: ProgressMode::Auto,
            line_period: Duration::from_secs(5),
        }
    }
}

/// What a sweep did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SweepSummary {
    /// Runs of the grid (or shard).
    pub total: usize,
    /// Runs already in the store, skipped.
    pub skipped: usize,
    /// Runs done now.
    pub ran: usize,
    /// Of those, runs that diverged.
    pub diverged: usize,
    /// Wall time in seconds.
    pub wall_s: f64,
}

impl SweepSummary {
    /// Runs per second of wall time.
    pub fn runs_per_s(&self) -> f64 {
        if self.wall_s > 0.0 {
            self.ran as f64 / self.wall_s
        } else {
            0.0
        }
    }
}

impl std::fmt::Display for SweepSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "done: {} runs ({} now, {} already stored), {} diverged, wall time {:.1} s, {:.1} runs/s",
            self.total,
            self.ran,
            self.skipped,
            self.diverged,
            self.wall_s,
            self.runs_per_s()
        )
    }
}

/// A failure of a sweep.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// A run's settings were refused (e.g. a batch larger than the training set without
    /// replacement).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The results store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The thread pool could not be built.
    #[error("thread pool: {0}")]
    Pool(String),
}

/// A run's estimated cost, in multiply–adds (about 4 ns each on the README's machine):
/// `steps·(k² + 750)` for an implicit run (a softmax of `k × k` logits and a few products with
/// `S` per update, and a fixed cost per update that dominates at small `k`), plus `20·k²` for its
/// data and initialization and `50,000` per run. Measured on the published grid (ms per run,
/// model in brackets): chain 0.22 (0.21) / 1.1 (1.2), four rooms 1.9 (1.4) / 25 (20), mountain
/// car 11 (13) / 204 (206), explicit / implicit. It weighs the progress estimate, where slow
/// mountain-car implicit runs would otherwise make a count-based ETA far too hopeful.
pub fn estimated_cost(cfg: &RunConfig) -> f64 {
    let k = cfg.domain.feature_dim() as f64;
    let updates = match cfg.param {
        ParamKind::Implicit => cfg.steps as f64,
        ParamKind::Explicit | ParamKind::ExplicitMatrix => 0.0,
    };
    updates * (k * k + 750.0) + 20.0 * k * k + 50_000.0
}

/// Progress of a sweep: runs done out of the total, and the share of the estimated work done
/// ([`estimated_cost`]), from which the ETA is extrapolated.
struct Progress {
    view: View,
    total: usize,
    work_total: f64,
    work_done: f64,
    start: Instant,
}

enum View {
    Bar(indicatif::ProgressBar),
    Lines { last: Instant, period: Duration },
    Quiet,
}

/// Resolution of the bar's position (it counts work, in thousandths of the total).
const BAR_STEPS: u64 = 1000;

impl Progress {
    fn new(mode: ProgressMode, runs: &[RunConfig], period: Duration) -> Progress {
        let mode = match mode {
            ProgressMode::Auto if std::io::stdout().is_terminal() => ProgressMode::Bar,
            ProgressMode::Auto => ProgressMode::Lines,
            m => m,
        };
        let view = match mode {
            ProgressMode::Bar => {
                let bar = indicatif::ProgressBar::with_draw_target(
                    Some(BAR_STEPS),
                    indicatif::ProgressDrawTarget::stdout(),
                );
                if let Ok(style) =
                    indicatif::ProgressStyle::with_template("{bar:40} {msg}  ETA {eta}")
                {
                    bar.set_style(style);
                }
                View::Bar(bar)
            }
            ProgressMode::Lines => View::Lines {
                last: Instant::now(),
                period,
            },
            _ => View::Quiet,
        };
        Progress {
            view,
            total: runs.len(),
            work_total: runs.iter().map(estimated_cost).sum(),
            work_done: 0.0,
            start: Instant::now(),
        }
    }

    fn update(&mut self, finished: &RunConfig, done: usize, diverged: usize) {
        self.work_done += estimated_cost(finished);
        let elapsed = self.start.elapsed().as_secs_f64();
        let rate = done as f64 / elapsed.max(1e-9);
        let share = (self.work_done / self.work_total.max(1e-300)).min(1.0);
        let total = self.total;
        let line = format!("{done}/{total} runs, {rate:.1} runs/s, {diverged} diverged");
        match &mut self.view {
            View::Bar(bar) => {
                bar.set_position((share * BAR_STEPS as f64) as u64);
                bar.set_message(line);
            }
            View::Lines { last, period } => {
                if last.elapsed() >= *period {
                    *last = Instant::now();
                    let eta = elapsed * (1.0 - share) / share.max(1e-9);
                    println!(
                        "progress: {line} ({:.1}% of the estimated work), ETA {eta:.0} s",
                        100.0 * share
                    );
                }
            }
            View::Quiet => {}
        }
    }

    fn finish(&self) {
        if let View::Bar(bar) = &self.view {
            bar.finish();
        }
    }
}

/// Runs every configuration of `runs` that `store` lacks, in parallel (one run per worker at a
/// time), committing each finished run to `store` from the calling thread. Already stored runs
/// are skipped, so calling it again after an interruption resumes the sweep.
pub fn execute(
    runs: &[RunConfig],
    store: &mut Store,
    opts: &SweepOptions,
) -> Result<SweepSummary, SweepError> {
    let start = Instant::now();
    let known = store.finished_keys()?;
    let pending: Vec<RunConfig> = runs
        .iter()
        .filter(|c| !known.contains(&run_key(c)))
        .copied()
        .collect();
    drop(known);
    let skipped = runs.len() - pending.len();
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(j) = opts.jobs {
        builder = builder.num_threads(j);
    }
    let pool = builder
        .build()
        .map_err(|e| SweepError::Pool(e.to_string()))?;
    let mut progress = Progress::new(opts.progress, &pending, opts.line_period);
    let stop = AtomicBool::new(false);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<RunRecord, ConfigError>>(256);
    let mut ran = 0;
    let mut diverged = 0;
    let mut failure: Option<SweepError> = None;
    std::thread::scope(|scope| {
        let pending = &pending;
        let stop = &stop;
        let pool = &pool;
        scope.spawn(move || {
            pool.install(|| {
                pending.par_iter().for_each_with(tx, |tx, cfg| {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let _ = tx.send(run_one(cfg));
                })
            })
        });
        for msg in rx.iter() {
            if failure.is_some() {
                continue; // drain so that workers finish
            }
            let res = msg
                .map_err(SweepError::from)
                .and_then(|rec| store.insert(&rec).map(|_| rec).map_err(SweepError::from));
            match res {
                Ok(rec) => {
                    ran += 1;
                    if rec.outcome.diverged_at().is_some() {
                        diverged += 1;
                    }
                    progress.update(&rec.config, ran, diverged);
                }
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    failure = Some(e);
                }
            }
        }
    });
    progress.finish();
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(SweepSummary {
        total: runs.len(),
        skipped,
        ran,
        diverged,
        wall_s: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(s: &str) -> Result<Grid, ConfigError> {
        Grid::from_toml_table(&s.parse::<toml::Table>().expect("toml"))
    }

    /// The progress weights order the runs as their measured costs do (README, *Speed*).
    #[test]
    fn estimated_costs_follow_the_measured_order() {
        let cost = |d: DomainKind, p: ParamKind| {
            estimated_cost(
                &RunSettings {
                    domain: Some(d),
                    param: Some(p),
                    ..Default::default()
                }
                .resolve()
                .expect("valid"),
            )
        };
        use DomainKind::*;
        use ParamKind::*;
        let order = [
            cost(Chain, Explicit),
            cost(Chain, Implicit),
            cost(FourRooms, Explicit),
            cost(MountainCar, Explicit),
            cost(FourRooms, Implicit),
            cost(MountainCar, Implicit),
        ];
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        // Mountain car: implicit ≈ 16 explicit (measured 204 ms against 11 ms).
        let ratio = cost(MountainCar, Implicit) / cost(MountainCar, Explicit);
        assert!((10.0..30.0).contains(&ratio), "{ratio}");
    }

    #[test]
    fn sweep_grid_expands_in_field_order() {
        let g = grid(
            "seed = [3, 1]\ndomain = 'chain'\nparam = ['explicit', 'implicit']\neta = [0.8, 0.9]\nsteps = 5",
        )
        .expect("valid");
        assert_eq!(g.len(), 8);
        let r = g.runs();
        assert_eq!(
            (r[0].param, r[0].eta, r[0].seed),
            (ParamKind::Explicit, 0.8, 3)
        );
        assert_eq!(
            (r[1].param, r[1].eta, r[1].seed),
            (ParamKind::Explicit, 0.8, 1)
        );
        assert_eq!(
            (r[2].param, r[2].eta, r[2].seed),
            (ParamKind::Explicit, 0.9, 3)
        );
        assert_eq!(r[4].param, ParamKind::Implicit);
        assert!(r.iter().all(|c| c.steps == 5));
        // Default lr is the best one.
        assert_eq!(r[0].lr, 0.5);
    }

    #[test]
    fn sweep_grid_lr_table_per_domain_and_param() {
        let g = grid(
            "domain = ['chain', 'four-rooms']\nparam = ['explicit', 'implicit']\n[lr]\n\"chain.explicit\" = [8, 4, 2]\n\"chain.implicit\" = [0.125]",
        )
        .expect("valid");
        let lrs: Vec<(DomainKind, ParamKind, f64)> = g
            .runs()
            .iter()
            .map(|c| (c.domain.kind, c.param, c.lr))
            .collect();
        assert_eq!(
            lrs,
            vec![
                (DomainKind::Chain, ParamKind::Explicit, 8.0),
                (DomainKind::Chain, ParamKind::Explicit, 4.0),
                (DomainKind::Chain, ParamKind::Explicit, 2.0),
                (DomainKind::Chain, ParamKind::Implicit, 0.125),
                (DomainKind::FourRooms, ParamKind::Explicit, 32.0),
                (DomainKind::FourRooms, ParamKind::Implicit, 1.0),
            ]
        );
    }

    #[test]
    fn sweep_grid_refuses_bad_grids_naming_the_field() {
        let cases = [
            ("domain = 'chain'\nparam = []", "param"),
            ("domain = 'chain'\nparam = 'implicit'\netta = [0.5]", "etta"),
            (
                "domain = 'chain'\nparam = 'implicit'\nseed = [1, 2, 1]",
                "seed",
            ),
            (
                "domain = 'chain'\nparam = 'implicit'\neta = [0.5, 1.0]",
                "eta",
            ),
            ("domain = 'chain'\nparam = 'implicit'\nlr = [0.1, -1]", "lr"),
            ("domain = 'chain'\nparam = ['implicit', 'x']", "param"),
            (
                "domain = 'chain'\nparam = 'implicit'\nsteps = 'many'",
                "steps",
            ),
            ("param = 'implicit'", "domain"),
            (
                "domain = 'chain'\nparam = 'implicit'\n[lr]\n\"chain.foo\" = [1]",
                "lr.chain.foo",
            ),
            (
                "domain = 'chain'\nparam = 'implicit'\n[lr]\n\"chain.implicit\" = []",
                "lr.chain.implicit",
            ),
            (
                "domain = 'chain'\nparam = 'implicit'\neta = [0.5, 0.5]",
                "eta",
            ),
            (
                "domain = 'chain'\nparam = 'implicit'\nlr = [1, 1.0]",
                "grid",
            ),
            ("domain = 'chain'\nparam = 'implicit'\nseed = [[1]]", "seed"),
        ];
        for (toml, field) in cases {
            let e = grid(toml).expect_err(toml).to_string();
            assert!(e.contains(&format!("`{field}`")), "{toml}: {e}");
        }
        // TOML itself refuses a duplicate key.
        assert!("seed = 1\nseed = 2".parse::<toml::Table>().is_err());
    }

    #[test]
    fn sweep_shards_are_disjoint_and_cover_the_grid() {
        let g = published_grid(&DomainKind::ALL, 2, LrChoice::All);
        assert_eq!(g.len(), 3 * 2 * 4 * 6 * 11 * 2);
        for n in [1, 2, 3, 7] {
            let mut all: Vec<String> = Vec::new();
            for i in 0..n {
                let s = g.shard(Shard { index: i, count: n });
                assert!(s.len() >= g.len() / n && s.len() <= g.len() / n + 1);
                all.extend(s.iter().map(run_key));
            }
            let set: HashSet<&String> = all.iter().collect();
            assert_eq!(all.len(), g.len());
            assert_eq!(set.len(), g.len());
        }
        assert_eq!(Shard::parse("2/4").unwrap(), Shard { index: 2, count: 4 });
        for bad in ["4/4", "1", "a/2", "0/0", "-1/2"] {
            assert!(Shard::parse(bad)
                .unwrap_err()
                .to_string()
                .contains("`shard`"));
        }
    }

    #[test]
    fn sweep_published_grid_has_the_papers_size() {
        assert_eq!(full_published_grid(&DomainKind::ALL).len(), 31_680);
        let q = published_grid(&[DomainKind::Chain], 5, LrChoice::Best);
        assert_eq!(q.len(), 2 * 4 * 11 * 5);
        let keys: HashSet<String> = q.runs().iter().map(run_key).collect();
        assert_eq!(keys.len(), q.len());
    }
}
