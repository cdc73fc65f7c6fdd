//! Progress of a sweep, as the library reports it: an observer receives each stored run and
//! the share of the estimated work done; the binary draws bars or lines from it.

use crate::config::RunConfig;
use crate::param::{ParamKind, Reduce};
use crate::record::RunRecord;
use std::time::Instant;

/// A run's estimated cost, in multiply–adds: `steps·(f·k² + 750)` for an implicit run (a softmax
/// of `k × k` logits and a few products with `S` per update, and a fixed cost per update that
/// dominates at small `k`), plus `20·k²` for its data and initialization and `50,000` per run.
/// It weighs the progress estimate, where slow mountain-car implicit runs would otherwise make a
/// count-based ETA far too hopeful, and orders a sweep's runs so that the slowest start first.
/// `f` grows with the implicit model's pseudo-actions `m` (SPEC §8.1: `m` logit matrices, and
/// Newton or policy-iteration steps whose Jacobian changes with the greedy or soft policy):
/// `f = m` for `logsumexp`, `f = (1 + m)/2` for `max` (policy iteration's policy rarely changes
/// between updates), `f = 1` for `m = 1`. The model and the measured times it was fitted to
/// are in docs/speed.md (*The cost model of a sweep's progress*). A gradient mode of `K`
/// iterations (`unroll:K`, `unroll-warm:K`, `truncated:K`; SPEC §8.3) multiplies the `k²` per
/// update by `K` (`K` products with the model per update; not measured: a bound for warnings).
pub fn estimated_cost(cfg: &RunConfig) -> f64 {
    let k = cfg.domain_spec().feature_dim() as f64;
    let updates = match cfg.param {
        ParamKind::Implicit => cfg.steps as f64,
        ParamKind::Explicit | ParamKind::ExplicitMatrix => 0.0,
    };
    updates * (pseudo_action_factor(cfg) * grad_factor(cfg) * k * k + 750.0)
        + 20.0 * k * k
        + 50_000.0
}

/// Multiply–adds per second of the implicit runs the cost model was fitted to (mountain car:
/// 300 updates of `k = 400` in 204 ms; docs/speed.md), for a run's expected duration.
pub const MADDS_PER_S: f64 = 2.4e8;

/// The factor of [`estimated_cost`]'s `k²` per update for the gradient mode: 1 for `ift`, `K`
/// for the modes of `K` iterations.
fn grad_factor(cfg: &RunConfig) -> f64 {
    use crate::param::GradMode;
    match cfg.grad {
        GradMode::Unroll(k) | GradMode::UnrollWarm(k) | GradMode::Truncated(k) => k.max(1) as f64,
        _ => 1.0,
    }
}

/// The factor `f` of [`estimated_cost`]'s `k²` per update for `m` pseudo-actions.
fn pseudo_action_factor(cfg: &RunConfig) -> f64 {
    let m = cfg.actions as f64;
    match cfg.reduce {
        Reduce::LogSumExp => m,
        Reduce::Max => (1.0 + m) / 2.0,
    }
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
    pub fn remaining_s(&self) -> f64 {
        self.elapsed_s * (1.0 - self.share) / self.share.max(1e-9)
    }
}

/// Receives a sweep's progress (the library never prints).
pub trait SweepObserver {
    /// Fewer workers than asked run the sweep: `workers`, for `pending` runs and the machine's
    /// cores ([`super::SweepOptions::workers`]).
    fn on_workers(&mut self, _workers: usize, _pending: usize) {}
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
    /// True when the runs in flight of a cancelled sweep should stop too (e.g. on a second
    /// Ctrl-C): they stop at their next update and are not stored (the sweep runs them when
    /// resumed).
    fn stop_now(&self) -> bool {
        false
    }
    /// The sweep is stopping: it waits for `in_flight` runs to finish (`now` false) or has
    /// told them to stop at their next update (`now` true).
    fn on_stop(&mut self, _in_flight: usize, _now: bool) {}
}

/// A sweep seen by no one.
impl SweepObserver for crate::train::Silent {}

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

#[cfg(test)]
mod tests {
    use super::estimated_cost;
    use crate::config::RunSettings;
    use crate::domain::DomainKind;
    use crate::param::{ParamKind, Reduce};

    fn cost(d: DomainKind, p: ParamKind, m: usize, reduce: Reduce) -> f64 {
        estimated_cost(
            &RunSettings {
                domain: Some(d),
                param: Some(p),
                actions: Some(m),
                reduce: Some(reduce),
                ..Default::default()
            }
            .resolve()
            .expect("valid"),
        )
    }

    /// More pseudo-actions cost more, logsumexp more than max, in the measured proportions;
    /// one pseudo-action is the paper's model whatever the reduction.
    #[test]
    fn the_cost_of_an_implicit_run_grows_with_its_pseudo_actions() {
        use DomainKind::*;
        use ParamKind::*;
        for d in [FourRooms, MountainCar] {
            let one = cost(d, Implicit, 1, Reduce::Max);
            assert_eq!(one, cost(d, Implicit, 1, Reduce::LogSumExp));
            let lse: Vec<f64> = [2, 4, 8]
                .map(|m| cost(d, Implicit, m, Reduce::LogSumExp) / one)
                .to_vec();
            let max: Vec<f64> = [2, 4, 8]
                .map(|m| cost(d, Implicit, m, Reduce::Max) / one)
                .to_vec();
            assert!(lse.windows(2).all(|w| w[0] < w[1]), "{d:?} {lse:?}");
            assert!(max.windows(2).all(|w| w[0] < w[1]), "{d:?} {max:?}");
            assert!(lse.iter().zip(&max).all(|(l, x)| l > x), "{lse:?} {max:?}");
            // Measured ratios to m = 1 (four rooms, mountain car): logsumexp m = 2 about 2-2.5,
            // m = 4 about 3-4.4; max m = 4 about 1.6-2.9; within a factor 2.
            assert!((1.2..4.0).contains(&lse[0]), "{lse:?}");
            assert!((2.0..8.0).contains(&lse[1]), "{lse:?}");
            assert!((1.0..5.0).contains(&max[1]), "{max:?}");
        }
        // The explicit parameterizations have no pseudo-actions.
        assert_eq!(
            cost(MountainCar, Explicit, 1, Reduce::Max),
            cost(MountainCar, Explicit, 4, Reduce::LogSumExp)
        );
    }
}
