//! Sweeps: grids of runs ([`grid`]), their shards ([`shard`]) and their parallel execution
//! into a results [`Store`], resumable at any point, reporting progress to an observer
//! ([`progress`]).

pub mod grid;
pub mod progress;
pub mod shard;

pub use grid::{Grid, MAX_RUNS};
pub use progress::{estimated_cost, Status, SweepObserver, MADDS_PER_S};
pub use shard::Shard;

use crate::config::RunSettings;
use crate::config::{check_count, ConfigError, RunConfig};
use crate::domain::DomainKind;
use crate::param::ParamKind;
use crate::published::{best_lr, learning_rates, offsets, ETAS, N_SEEDS};
use crate::record::RunRecord;
use crate::run::RunError;
use crate::store::{Store, StoreError};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

/// Which learning rates a published grid uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LrChoice {
    /// The six learning rates of the published grid.
    All,
    /// Only the paper's best learning rate for each `(domain, param, η)`.
    Best,
}

/// The runs of the published grid (docs/protocol.md) for `domains`, with seeds `0..n_seeds`
/// (the published grid has 20): explicit and implicit, η ∈ {0.8, 0.9, 0.95, 0.975}, 6 (or the
/// best) learning rates, offsets 0, 0.1, …, 1, every other setting at its default (the
/// published protocol). Order: domain, param, η, lr, offset, seed. An error names a setting
/// the grid got wrong (none does); no configuration is skipped.
pub fn published_grid(
    domains: &[DomainKind],
    n_seeds: usize,
    lrs: LrChoice,
) -> Result<Grid, ConfigError> {
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
                            let s = RunSettings {
                                domain: Some(domain),
                                param: Some(param),
                                eta: Some(eta),
                                lr: Some(lr),
                                offset: Some(offset),
                                seed: Some(seed),
                                ..RunSettings::default()
                            };
                            runs.push(s.resolve()?);
                        }
                    }
                }
            }
        }
    }
    Ok(Grid::from_runs(runs))
}

/// The published grid with its 20 seeds and all learning rates (31,680 runs for 3 domains).
pub fn full_published_grid(domains: &[DomainKind]) -> Result<Grid, ConfigError> {
    published_grid(domains, N_SEEDS, LrChoice::All)
}

/// Options of [`execute`], validated when made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepOptions {
    /// Worker threads (`None`: all cores).
    pub jobs: Option<usize>,
    /// Delete damaged runs from the store first, so that they are run again.
    pub repair: bool,
    /// Keep every run's final value weights `θ̂` in the store (its `thetas` table).
    pub save_params: bool,
}

/// Most workers per core: more only contend for the cores (and thousands of threads took
/// minutes to start and stop).
pub const MAX_WORKERS_PER_CORE: usize = 4;

impl SweepOptions {
    /// Options with `jobs` workers (`None`: all cores); refuses 0.
    pub fn new(jobs: Option<usize>, repair: bool) -> Result<Self, ConfigError> {
        Ok(Self {
            jobs: jobs.map(|j| check_count("jobs", j)).transpose()?,
            repair,
            save_params: false,
        })
    }

    /// These options, keeping every run's final `θ̂` in the store when `save_params`.
    pub fn saving_params(self, save_params: bool) -> Self {
        Self {
            save_params,
            ..self
        }
    }

    /// The worker threads of a sweep of `pending` runs: `jobs` (all cores when not given), at
    /// most one per pending run (at least one) and at most [`MAX_WORKERS_PER_CORE`] per core.
    pub fn workers(&self, pending: usize) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        self.jobs
            .unwrap_or(cores)
            .min(pending.max(1))
            .min(MAX_WORKERS_PER_CORE * cores)
    }
}

/// What a sweep did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SweepSummary {
    /// Runs of the grid (or shard).
    pub total: usize,
    /// Runs already in the store, skipped.
    pub skipped: usize,
    /// Of those, runs that had diverged.
    pub skipped_diverged: usize,
    /// Runs done and stored now.
    pub ran: usize,
    /// Of those, runs that diverged.
    pub diverged: usize,
    /// Damaged runs deleted first (with [`SweepOptions::repair`]).
    pub repaired: usize,
    /// True when the sweep was stopped early ([`SweepObserver::cancelled`]).
    pub interrupted: bool,
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
        let stored = self.skipped + self.ran;
        if self.repaired > 0 {
            write!(f, "{} damaged runs deleted and run again; ", self.repaired)?;
        }
        if self.interrupted {
            write!(
                f,
                "interrupted: {} runs stored now, {stored} of {} in the store; run the same command again to resume",
                self.ran, self.total
            )
        } else {
            write!(
                f,
                "done: {} runs ({} now, {} already stored), {} diverged ({} now), wall time {:.1} s, {:.1} runs/s",
                self.total,
                self.ran,
                self.skipped,
                self.diverged + self.skipped_diverged,
                self.diverged,
                self.wall_s,
                self.runs_per_s()
            )
        }
    }
}

/// A failure of a sweep.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// A run's settings were refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The results store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The thread pool could not be built.
    #[error("thread pool: {0}")]
    Pool(String),
}

/// The observer of a sweep's runs: stops a run at its next update once its flag is set (the
/// sweep's runs in flight, told to stop now: [`SweepObserver::stop_now`]).
struct StopOn<'a>(&'a AtomicBool);

impl crate::train::Observer for StopOn<'_> {
    fn on_step(
        &mut self,
        _step: usize,
        _g: &[f64],
        _param: &dyn crate::param::Parameterization,
    ) -> std::ops::ControlFlow<()> {
        if self.0.load(Ordering::Relaxed) {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    }
}

/// How often the collecting thread looks at [`SweepObserver::cancelled`] while it waits.
const POLL: Duration = Duration::from_millis(100);

/// Runs every configuration of `runs` that `store` lacks, in parallel (one run per worker at a
/// time, the most expensive first so that no worker idles at the end), committing each
/// finished run to `store` from the calling thread. Already stored runs are skipped, so calling
/// it again after an interruption resumes the sweep; a run's results depend only on its
/// settings, never on the order or the number of workers.
pub fn execute(
    runs: &[RunConfig],
    store: &mut Store,
    opts: &SweepOptions,
    observer: &mut dyn SweepObserver,
) -> Result<SweepSummary, SweepError> {
    let start = Instant::now();
    let keep_theta = opts.save_params;
    store.check_domain_files(runs)?;
    let repaired = if opts.repair {
        store.remove_damaged()?.len()
    } else {
        0
    };
    let known = store.outcomes()?;
    let mut pending: Vec<RunConfig> = Vec::new();
    let (mut skipped, mut skipped_diverged) = (0, 0);
    for c in runs {
        match known.get(&c.key()) {
            Some(o) => {
                skipped += 1;
                skipped_diverged += usize::from(o.diverged_at().is_some());
            }
            None => pending.push(*c),
        }
    }
    drop(known);
    pending.sort_by(|a, b| estimated_cost(b).total_cmp(&estimated_cost(a)));
    let workers = opts.workers(pending.len());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .map_err(|e| SweepError::Pool(e.to_string()))?;
    if opts.jobs.is_some_and(|j| j > workers) {
        observer.on_workers(workers, pending.len());
    }
    observer.on_start(pending.len(), skipped);
    let mut tracker = progress::Tracker::new(&pending);
    let stop = AtomicBool::new(false);
    let abort = AtomicBool::new(false);
    let started = std::sync::atomic::AtomicUsize::new(0);
    let mut received = 0;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<RunRecord, RunError>>(256);
    let mut failure: Option<SweepError> = None;
    let mut interrupted = false;
    std::thread::scope(|scope| {
        let pending = &pending;
        let stop = &stop;
        let abort = &abort;
        let started = &started;
        let pool = &pool;
        scope.spawn(move || {
            pool.install(|| {
                pending.iter().par_bridge().for_each_with(tx, |tx, cfg| {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    started.fetch_add(1, Ordering::Relaxed);
                    let _ = tx.send(crate::run::record(cfg, keep_theta, &mut StopOn(abort)));
                })
            })
        });
        loop {
            if !interrupted && observer.cancelled() {
                interrupted = true;
                stop.store(true, Ordering::Relaxed);
                observer.on_stop(started.load(Ordering::Relaxed) - received, false);
            }
            if interrupted && !abort.load(Ordering::Relaxed) && observer.stop_now() {
                abort.store(true, Ordering::Relaxed);
                observer.on_stop(started.load(Ordering::Relaxed) - received, true);
            }
            let msg = match rx.recv_timeout(POLL) {
                Ok(msg) => msg,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            received += 1;
            if failure.is_some() {
                continue; // drain so that workers finish
            }
            let res = match msg {
                Ok(rec) => store
                    .insert(&rec)
                    .map(|new| (rec, new))
                    .map_err(SweepError::from),
                Err(RunError::Config(e)) => Err(SweepError::Config(e)),
                // A run stopped before it ended is not stored: the sweep runs it when resumed.
                Err(RunError::Stopped(_)) => continue,
            };
            match res {
                Ok((rec, true)) => {
                    let status = tracker.record(&rec);
                    observer.on_run(&rec, &status);
                }
                // Stored meanwhile by another process writing the same store.
                Ok((_, false)) => skipped += 1,
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    failure = Some(e);
                }
            }
        }
    });
    observer.on_finish();
    if let Some(e) = failure {
        return Err(e);
    }
    let wall_s = start.elapsed().as_secs_f64();
    if tracker.done() > 0 {
        store.add_sweep_time(wall_s)?;
    }
    Ok(SweepSummary {
        total: runs.len(),
        skipped,
        skipped_diverged,
        ran: tracker.done(),
        diverged: tracker.diverged(),
        repaired,
        interrupted,
        wall_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RunSettings;
    use crate::param::ParamKind;
    use std::collections::HashSet;

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
        let lrs: Vec<(DomainKind, ParamKind, f64)> =
            g.runs().iter().map(|c| (c.domain, c.param, c.lr)).collect();
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
            ("domain = 'chain'\nparam = 'implicit'\nlr = [1, 1.0]", "lr"),
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
        let g = published_grid(&DomainKind::ALL, 2, LrChoice::All).expect("valid settings");
        assert_eq!(g.len(), 3 * 2 * 4 * 6 * 11 * 2);
        for n in [1, 2, 3, 7] {
            let mut all: Vec<String> = Vec::new();
            for i in 0..n {
                let s = g.shard(Shard { index: i, count: n });
                assert!(s.len() >= g.len() / n && s.len() <= g.len() / n + 1);
                all.extend(s.iter().map(RunConfig::key));
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
        let full = full_published_grid(&DomainKind::ALL).expect("valid settings");
        assert_eq!(full.len(), 31_680);
        let q = published_grid(&[DomainKind::Chain], 5, LrChoice::Best).expect("valid settings");
        assert_eq!(q.len(), 2 * 4 * 11 * 5);
        let keys: HashSet<String> = q.runs().iter().map(RunConfig::key).collect();
        assert_eq!(keys.len(), q.len());
        assert!(full.runs().iter().all(RunConfig::follows_protocol));
    }
}
