//! Training: minibatch gradient descent (plain SGD as published, or another [`Optimizer`]) on
//! any [`Parameterization`], with the published evaluation metrics (SPEC §5). The trainer knows
//! neither the domain nor the parameterization.

use crate::data::{Dataset, Problem};
use crate::metrics::EvalRow;
use crate::optim::{Optimizer, OptimizerSpec};
use crate::param::Parameterization;
use rand::seq::index;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;

/// How a minibatch is drawn from the `n` training samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Sampling {
    /// `b` indices drawn uniformly with replacement (the published runs).
    #[default]
    WithReplacement,
    /// `b` distinct indices (the paper's prose, and Theorem 5's setting).
    WithoutReplacement,
}

/// The training schedule of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// Number of SGD updates (300 in the published runs).
    pub steps: usize,
    /// Minibatch size `b` (25).
    pub batch_size: usize,
    /// Evaluate every this many updates, and before the first (10).
    pub eval_every: usize,
    /// The optimizer and its constant learning rate `α` (plain SGD in the published runs).
    pub optimizer: OptimizerSpec,
    /// Minibatch sampling.
    pub sampling: Sampling,
}

/// Why a run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// All updates were done.
    Finished,
    /// Parameters or test residuals stopped being finite, or a solve could not meet its
    /// tolerance, at update `step`.
    Diverged {
        /// Number of updates after which the run was no longer finite.
        step: usize,
    },
}

impl Outcome {
    /// The step at which the run diverged, if it did.
    pub fn diverged_at(&self) -> Option<usize> {
        match self {
            Outcome::Finished => None,
            Outcome::Diverged { step } => Some(*step),
        }
    }
}

/// The log of a run: its evaluations (all finite) and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunLog {
    /// Evaluations in order of `timestep`.
    pub rows: Vec<EvalRow>,
    /// How the run ended.
    pub outcome: Outcome,
    /// Why the update at which the run diverged failed (the message of its
    /// [`crate::param::StepError`]); `None` when it finished or when only its test residuals
    /// stopped being finite.
    pub failure: Option<String>,
}

/// A run stopped by its observer ([`Observer::on_step`] returned [`ControlFlow::Break`]) before it
/// ended, e.g. on Ctrl-C: it has no outcome and nothing of it is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the run was stopped after update {step}")]
pub struct Stopped {
    /// The last update done.
    pub step: usize,
}

/// Receives a run's events as they happen (progress display, cancellation, analysis, saved
/// parameters), with the parameterization `P` the run trains: an observer of a run of any
/// parameterization takes `dyn Parameterization`; one that analyzes a particular model takes
/// its type, so that it never downcasts.
pub trait Observer<P: ?Sized = dyn Parameterization> {
    /// Called once before the first evaluation, with the initial parameters.
    fn on_start(&mut self, _param: &P) {}
    /// Called after each evaluation.
    fn on_eval(&mut self, _row: &EvalRow) {}
    /// Called after each update that left the parameters finite, before that step's
    /// evaluation, with the step number (1-based), the minibatch gradient `g = ∇_θ L_B` that
    /// drove it, and the parameterization after the update. [`ControlFlow::Break`] stops the
    /// run ([`Stopped`]).
    fn on_step(&mut self, _step: usize, _g: &[f64], _param: &P) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

/// Two observers of one run, both told every event (the first first); the run stops when either
/// says so.
impl<P: ?Sized, A: Observer<P>, B: Observer<P>> Observer<P> for (A, B) {
    fn on_start(&mut self, param: &P) {
        self.0.on_start(param);
        self.1.on_start(param);
    }
    fn on_eval(&mut self, row: &EvalRow) {
        self.0.on_eval(row);
        self.1.on_eval(row);
    }
    fn on_step(&mut self, step: usize, g: &[f64], param: &P) -> ControlFlow<()> {
        let a = self.0.on_step(step, g, param);
        let b = self.1.on_step(step, g, param);
        if a.is_break() || b.is_break() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// An observer lent to a run.
impl<P: ?Sized, O: Observer<P> + ?Sized> Observer<P> for &mut O {
    fn on_start(&mut self, param: &P) {
        (**self).on_start(param);
    }
    fn on_eval(&mut self, row: &EvalRow) {
        (**self).on_eval(row);
    }
    fn on_step(&mut self, step: usize, g: &[f64], param: &P) -> ControlFlow<()> {
        (**self).on_step(step, g, param)
    }
}

/// The observer that ignores everything (of a run, and of a sweep:
/// [`crate::sweep::SweepObserver`]).
pub struct Silent;
impl<P: ?Sized> Observer<P> for Silent {}

/// Minibatch gradient `g = (1/b) Σ_{i∈B} r_i φ(x_i)` with `r_i = φ(x_i)ᵀθ − y_i` (SPEC §1).
/// With TD targets (a bootstrap part in `data`), `y_i` is the target at the current θ,
/// `y_i + γ^{N'} φ(x_{t+N'})ᵀθ`, held constant: the semi-gradient of SPEC §8.5.
pub fn minibatch_gradient(data: &Dataset, theta: &[f64], batch: &[usize], g: &mut [f64]) {
    g.fill(0.0);
    let inv_b = 1.0 / batch.len() as f64;
    for &i in batch {
        let phi = data.row(i);
        let r = crate::data::dot(phi, theta) - data.target(i, theta);
        for (gj, &pj) in g.iter_mut().zip(phi) {
            *gj += r * pj;
        }
    }
    for gj in g.iter_mut() {
        *gj *= inv_b;
    }
}

/// Draws one minibatch of `batch.len()` indices into `0..n`.
pub fn draw_batch(rng: &mut ChaCha8Rng, n: usize, sampling: Sampling, batch: &mut [usize]) {
    match sampling {
        Sampling::WithReplacement => batch.iter_mut().for_each(|i| *i = rng.random_range(0..n)),
        Sampling::WithoutReplacement => {
            let picked = index::sample(rng, n, batch.len());
            for (slot, i) in batch.iter_mut().zip(picked) {
                *slot = i;
            }
        }
    }
}

/// Runs `schedule` on `problem` from the parameters `param`, drawing minibatches from `rng`.
///
/// Evaluates before the first update and after every `eval_every` updates (and after the last).
/// A failed update ([`crate::param::StepError`]: non-finite parameters, or a solve that cannot
/// meet its tolerance) or a non-finite evaluation ends the run as [`Outcome::Diverged`] at that
/// step, with only the finite evaluations before it in the log (and the update's error in
/// [`RunLog::failure`]); `param` then holds the parameters of the failed update. The observer
/// may stop the run after any update ([`Stopped`]).
pub fn train<P: Parameterization + ?Sized>(
    param: &mut P,
    problem: &Problem,
    schedule: &Schedule,
    rng: &mut ChaCha8Rng,
    observer: &mut dyn Observer<P>,
) -> Result<RunLog, Stopped> {
    let train = &problem.train;
    let test = &problem.test;
    let k = train.k;
    let mut g = vec![0.0; k];
    let mut batch = vec![0usize; schedule.batch_size];
    let mut residuals = vec![0.0; test.len()];
    let mut optimizer = Optimizer::new(schedule.optimizer);
    // Reserved for at most 4096 evaluations up front; a longer log grows as it is written.
    let mut rows = Vec::with_capacity((schedule.steps / schedule.eval_every.max(1) + 2).min(4096));
    let mut evaluate =
        |step: usize, param: &P, rows: &mut Vec<EvalRow>, observer: &mut dyn Observer<P>| -> bool {
            test.residuals_into(param.theta(), &mut residuals);
            let inexact = param.inexact_solves();
            let row = EvalRow {
                eta: param.learned_eta(),
                inexact_updates: inexact.map(|i| i.updates as f64),
                max_solve_residual: inexact.map(|i| i.max_residual),
                ..EvalRow::from_residuals(step, &residuals)
            };
            if row.is_finite() {
                observer.on_eval(&row);
                rows.push(row);
                true
            } else {
                false
            }
        };
    let diverged = |rows, step, failure| RunLog {
        rows,
        outcome: Outcome::Diverged { step },
        failure,
    };
    observer.on_start(param);
    if !evaluate(0, param, &mut rows, observer) {
        return Ok(diverged(rows, 0, None));
    }
    for step in 1..=schedule.steps {
        draw_batch(rng, train.len(), schedule.sampling, &mut batch);
        minibatch_gradient(train, param.theta(), &batch, &mut g);
        if let Err(e) = param.step(&g, &mut optimizer) {
            return Ok(diverged(rows, step, Some(e.to_string())));
        }
        if observer.on_step(step, &g, param).is_break() {
            return Err(Stopped { step });
        }
        let due = step % schedule.eval_every == 0 || step == schedule.steps;
        if due && !evaluate(step, param, &mut rows, observer) {
            return Ok(diverged(rows, step, None));
        }
    }
    Ok(RunLog {
        rows,
        outcome: Outcome::Finished,
        failure: None,
    })
}

/// Keeps a run's last finite value weights `θ` (the initial ones, then those after each update
/// that left them finite): what a sweep stores with `--save-params`, at the cost of one copy of
/// `k` numbers an update.
#[derive(Debug, Clone, Default)]
pub struct FiniteTheta {
    /// The last finite `θ` seen.
    pub theta: Vec<f64>,
}

impl FiniteTheta {
    fn keep(&mut self, theta: &[f64]) {
        if crate::param::all_finite(theta) {
            self.theta.clear();
            self.theta.extend_from_slice(theta);
        }
    }
}

impl<P: Parameterization + ?Sized> Observer<P> for FiniteTheta {
    fn on_start(&mut self, model: &P) {
        self.keep(model.theta());
    }

    fn on_step(&mut self, _step: usize, _g: &[f64], model: &P) -> ControlFlow<()> {
        self.keep(model.theta());
        ControlFlow::Continue(())
    }
}

/// The log of a [`train`] whose observer never stops the run (an analysis that only watches).
pub fn to_the_end(trained: Result<RunLog, Stopped>) -> RunLog {
    trained.unwrap_or_else(|s| unreachable!("an observer that never stops stopped its run: {s}"))
}
