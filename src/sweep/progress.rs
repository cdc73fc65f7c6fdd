//! Progress of a sweep, as the library reports it: an observer receives each stored run and
//! the share of the estimated work done; the binary draws bars or lines from it.

use crate::config::RunConfig;
use crate::param::ParamKind;
use crate::record::RunRecord;
use std::time::Instant;

/// A run's estimated cost, in multiply–adds (about 4 ns each on an AMD EPYC core):
/// `steps·(k² + 750)` for an implicit run (a softmax of `k × k` logits and a few products with
/// `S` per update, and a fixed cost per update that dominates at small `k`), plus `20·k²` for its
/// data and initialization and `50,000` per run. Measured on the published grid (ms per run,
/// model in brackets): chain 0.22 (0.21) / 1.1 (1.2), four rooms 1.9 (1.4) / 25 (20), mountain
/// car 11 (13) / 204 (206), explicit / implicit. It weighs the progress estimate, where slow
/// mountain-car implicit runs would otherwise make a count-based ETA far too hopeful, and
/// orders a sweep's runs so that the slowest start first.
pub fn estimated_cost(cfg: &RunConfig) -> f64 {
    let k = cfg.domain_spec().feature_dim() as f64;
    let updates = match cfg.param {
        ParamKind::Implicit => cfg.steps as f64,
        ParamKind::Explicit | ParamKind::ExplicitMatrix => 0.0,
    };
    updates * (k * k + 750.0) + 20.0 * k * k + 50_000.0
}

/// Where a sweep stands, as given to a [`SweepObserver`] after each stored run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Status {
    /// Runs stored by this sweep so far.
    pub done: usize,
    /// Runs this sweep has to do.
    pub total: usize,
    /// Of the runs done, those that diverged.
    pub diverged: usize,
    /// Share of the estimated work done ([`estimated_cost`]), in `[0, 1]`.
    pub share: f64,
    /// Seconds since the sweep started.
    pub elapsed_s: f64,
}

impl Status {
    /// Runs per second so far.
    pub fn rate(&self) -> f64 {
        self.done as f64 / self.elapsed_s.max(1e-9)
    }

    /// Estimated seconds left, extrapolated from the share of the work done.
    pub fn eta_s(&self) -> f64 {
        self.elapsed_s * (1.0 - self.share) / self.share.max(1e-9)
    }
}

/// Receives a sweep's progress (the library never prints).
pub trait SweepObserver {
    /// The sweep is about to run `pending` runs (`skipped` were already stored).
    fn on_start(&mut self, _pending: usize, _skipped: usize) {}
    /// A run was stored.
    fn on_run(&mut self, _run: &RunRecord, _status: &Status) {}
    /// The sweep ended (finished, failed or interrupted).
    fn on_finish(&mut self) {}
    /// True when the sweep should stop early (e.g. on Ctrl-C): runs in flight finish and are
    /// stored, no new run starts.
    fn cancelled(&self) -> bool {
        false
    }
}

/// A sweep observer that ignores everything.
pub struct Silent;
impl SweepObserver for Silent {}

/// Accounts for the work done, weighted by [`estimated_cost`].
pub(crate) struct Tracker {
    total: usize,
    work_total: f64,
    work_done: f64,
    done: usize,
    diverged: usize,
    start: Instant,
}

impl Tracker {
    pub(crate) fn new(runs: &[RunConfig]) -> Tracker {
        Tracker {
            total: runs.len(),
            work_total: runs.iter().map(estimated_cost).sum(),
            work_done: 0.0,
            done: 0,
            diverged: 0,
            start: Instant::now(),
        }
    }

    pub(crate) fn record(&mut self, rec: &RunRecord) -> Status {
        self.work_done += estimated_cost(&rec.config);
        self.done += 1;
        if rec.outcome.diverged_at().is_some() {
            self.diverged += 1;
        }
        Status {
            done: self.done,
            total: self.total,
            diverged: self.diverged,
            share: (self.work_done / self.work_total.max(1e-300)).min(1.0),
            elapsed_s: self.start.elapsed().as_secs_f64(),
        }
    }

    pub(crate) fn done(&self) -> usize {
        self.done
    }

    pub(crate) fn diverged(&self) -> usize {
        self.diverged
    }
}
