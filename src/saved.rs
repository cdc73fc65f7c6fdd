//! What a run learned, as named arrays (SPEC §1, §8.1–8.2): its value weights `θ̂`, its
//! parameters by name ([`Parameterization::params`]), its predictions `V̂ = Φθ̂` and targets on
//! the test set, and its settings — after training, or at checkpoints along it. This is the one
//! outlet from which `imprl run --save-params` writes a NumPy `.npz` ([`crate::npz`]), Python's
//! `imprl.run(params=True)` returns arrays, and `imprl values` draws.
//!
//! The arrays, with `c` checkpoints (a leading axis only when checkpoints were asked for):
//! `theta (c, k)`, each parameter array `(c, …)`, `values_test (c, n)`, `features_test (n, k)`,
//! `targets_test (n)`, `timestep (c)` (the updates done at each checkpoint), `diverged_at ()`
//! (−1 for a run that did not diverge), and `settings ()`, the run's settings as a TOML table
//! (the learning rate used included) that `imprl run --config` reads.

use crate::config::RunConfig;
use crate::data::Problem;
use crate::npz::NamedArray;
use crate::param::Parameterization;
use crate::run::{RunError, Trained};
use crate::train::{Observer, Outcome};
use std::ops::ControlFlow;

/// A parameter array owned by a [`Snapshot`].
#[derive(Debug, Clone, PartialEq)]
pub struct Owned {
    /// Its name ([`crate::param::ParamArray::name`]).
    pub name: &'static str,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values.
    pub values: Vec<f64>,
}

/// The parameters of a model after `step` updates.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Updates done.
    pub step: usize,
    /// The value weights `θ`.
    pub theta: Vec<f64>,
    /// The named parameter arrays.
    pub params: Vec<Owned>,
}

impl Snapshot {
    /// The parameters of `model` after `step` updates.
    pub fn of<P: Parameterization + ?Sized>(step: usize, model: &P) -> Self {
        Self {
            step,
            theta: model.theta().to_vec(),
            params: model
                .params()
                .into_iter()
                .map(|p| Owned {
                    name: p.name,
                    shape: p.shape,
                    values: p.values.to_vec(),
                })
                .collect(),
        }
    }

    /// Overwrites this snapshot with `model`'s parameters after `step` updates, reusing its
    /// buffers (no allocation when the shapes are the same).
    fn copy_from<P: Parameterization + ?Sized>(&mut self, step: usize, model: &P) {
        self.step = step;
        self.theta.clear();
        self.theta.extend_from_slice(model.theta());
        let params = model.params();
        if params.len() != self.params.len() {
            *self = Snapshot::of(step, model);
            return;
        }
        for (mine, p) in self.params.iter_mut().zip(params) {
            mine.name = p.name;
            mine.shape.clone_from(&p.shape);
            mine.values.clear();
            mine.values.extend_from_slice(p.values);
        }
    }

    /// Bytes of its values.
    pub fn bytes(&self) -> usize {
        8 * (self.theta.len() + self.params.iter().map(|p| p.values.len()).sum::<usize>())
    }
}

/// Records a run's parameters: at steps `0, every, 2·every, …` and the last (when `every` is
/// given), and always the last finite parameters (those after the last update that left them
/// finite, or the initial ones), so that a run that diverges keeps what it had learned.
#[derive(Debug, Clone)]
pub struct Recorder {
    every: Option<usize>,
    steps: usize,
    checkpoints: Vec<Snapshot>,
    last: Option<Snapshot>,
}

impl Recorder {
    /// A recorder for a run of `steps` updates, with checkpoints every `every` updates (`None`:
    /// only the last finite parameters).
    pub fn new(steps: usize, every: Option<usize>) -> Self {
        Self {
            every,
            steps,
            checkpoints: Vec::new(),
            last: None,
        }
    }

    /// The number of checkpoints a run of `steps` updates gets with `every` (`1` without):
    /// `0, every, …` and the last step.
    pub fn count(steps: usize, every: Option<usize>) -> usize {
        match every {
            None => 1,
            Some(e) => steps / e.max(1) + 1 + usize::from(steps % e.max(1) != 0),
        }
    }

    fn due(&self, step: usize) -> bool {
        self.every
            .is_some_and(|e| step % e.max(1) == 0 || step == self.steps)
    }

    /// The checkpoints (or, without `every`, the last finite parameters alone), in order; the
    /// last one is the last finite parameters (a run that diverged has no checkpoint after
    /// them).
    pub fn into_snapshots(self) -> Vec<Snapshot> {
        let mut out = self.checkpoints;
        if let Some(last) = self.last {
            if out.last().is_none_or(|c| c.step != last.step) {
                out.push(last);
            }
        }
        out
    }
}

impl<P: Parameterization + ?Sized> Observer<P> for Recorder {
    fn on_start(&mut self, model: &P) {
        let s = Snapshot::of(0, model);
        if self.due(0) {
            self.checkpoints.push(s.clone());
        }
        self.last = Some(s);
    }

    fn on_step(&mut self, step: usize, _g: &[f64], model: &P) -> ControlFlow<()> {
        // Non-finite parameters are never kept: the run diverges at its next evaluation.
        let finite = crate::param::all_finite;
        if !finite(model.theta()) || !model.params().iter().all(|p| finite(p.values)) {
            return ControlFlow::Continue(());
        }
        match &mut self.last {
            Some(s) => s.copy_from(step, model),
            None => self.last = Some(Snapshot::of(step, model)),
        }
        if self.due(step) {
            if let Some(s) = &self.last {
                self.checkpoints.push(s.clone());
            }
        }
        ControlFlow::Continue(())
    }
}

/// Runs `cfg` on its data `problem` recording its parameters (every `every` updates, or only the
/// last finite ones), also telling `observer` everything; returns the run and its arrays (see
/// the module's documentation).
pub fn run_saving(
    cfg: &RunConfig,
    problem: &Problem,
    every: Option<usize>,
    observer: &mut dyn Observer,
) -> Result<(Trained, Vec<NamedArray>), RunError> {
    let mut both = (Recorder::new(cfg.steps, every), observer);
    let trained = crate::run::run_with(cfg, problem, &mut both)?;
    let snapshots = both.0.into_snapshots();
    let out = arrays(
        cfg,
        problem,
        &snapshots,
        every.is_some(),
        trained.log.outcome,
    );
    Ok((trained, out))
}

/// The bytes a checkpoint of run `cfg`'s parameters holds (`θ` and every parameter array), from
/// its initial model on `problem`: what `Recorder::count` checkpoints cost to keep and save.
pub fn checkpoint_bytes(cfg: &RunConfig, problem: &Problem) -> usize {
    Snapshot::of(0, crate::run::build_model(cfg, problem.train.k).as_ref()).bytes()
}

/// The arrays of a run (see the module's documentation) from its `snapshots` (one, or the
/// checkpoints when `checkpoints`), its settings `cfg`, its data `problem` and its `outcome`.
pub fn arrays(
    cfg: &RunConfig,
    problem: &Problem,
    snapshots: &[Snapshot],
    checkpoints: bool,
    outcome: Outcome,
) -> Vec<NamedArray> {
    let test = &problem.test;
    let (k, n) = (test.k, test.len());
    let lead: Vec<usize> = if checkpoints {
        vec![snapshots.len()]
    } else {
        Vec::new()
    };
    let stacked = |shape: &[usize]| -> Vec<usize> { lead.iter().chain(shape).copied().collect() };
    let mut out = vec![NamedArray::f64(
        "theta",
        &stacked(&[k]),
        snapshots
            .iter()
            .flat_map(|s| s.theta.iter().copied())
            .collect(),
    )];
    if let Some(first) = snapshots.first() {
        for (i, p) in first.params.iter().enumerate() {
            if p.name == "theta" {
                continue;
            }
            let values = snapshots
                .iter()
                .flat_map(|s| s.params[i].values.iter().copied())
                .collect();
            out.push(NamedArray::f64(p.name, &stacked(&p.shape), values));
        }
    }
    let mut values = Vec::with_capacity(snapshots.len() * n);
    for s in snapshots {
        values.extend((0..n).map(|i| crate::data::dot(test.row(i), &s.theta)));
    }
    out.push(NamedArray::f64("values_test", &stacked(&[n]), values));
    out.push(NamedArray::f64("features_test", &[n, k], test.x.clone()));
    out.push(NamedArray::f64("targets_test", &[n], test.y.clone()));
    let steps: Vec<i64> = snapshots.iter().map(|s| s.step as i64).collect();
    out.push(if checkpoints {
        NamedArray::ints("timestep", steps)
    } else {
        NamedArray::int("timestep", steps.first().copied().unwrap_or(0))
    });
    out.push(NamedArray::int(
        "diverged_at",
        outcome.diverged_at().map_or(-1, |s| s as i64),
    ));
    out.push(NamedArray::text("settings", cfg.to_toml()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_are_every_n_and_the_last() {
        assert_eq!(Recorder::count(300, Some(100)), 4);
        assert_eq!(Recorder::count(300, Some(7)), 44);
        assert_eq!(Recorder::count(0, Some(5)), 1);
        assert_eq!(Recorder::count(300, None), 1);
        let r = Recorder::new(10, Some(4));
        let due: Vec<usize> = (0..=10).filter(|&s| r.due(s)).collect();
        assert_eq!(due, [0, 4, 8, 10]);
        assert_eq!(due.len(), Recorder::count(10, Some(4)));
    }
}
