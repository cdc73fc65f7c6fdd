//! Runs whose parameters explode end the same way under every solver of `A = I − ηS`: a solve
//! that cannot meet its tolerance is a divergence, never a silent "converged" warm start (which
//! froze the log of such runs and let them "finish").

use imprl::config::RunSettings;
use imprl::domain::{DomainKind, DomainSpec};
use imprl::linalg::{SolveError, SolverKind};
use imprl::optim::Optimizer;
use imprl::param::{ParamArray, ParamKind, Parameterization, StepError};
use imprl::rng::{stream, Stream};
use imprl::train::{to_the_end, train, Outcome, RunLog, Sampling, Schedule, Silent};

const SOLVERS: [SolverKind; 4] = [
    SolverKind::Lu,
    SolverKind::Refine,
    SolverKind::Gmres,
    SolverKind::Auto,
];

/// One implicit run under `solver`.
fn run(
    domain: DomainKind,
    eta: f64,
    lr: f64,
    offset: f64,
    seed: u64,
    solver: SolverKind,
) -> RunLog {
    let cfg = RunSettings {
        domain: Some(domain),
        param: Some(ParamKind::Implicit),
        eta: Some(eta),
        lr: Some(lr),
        offset: Some(offset),
        seed: Some(seed),
        solver: Some(solver),
        ..Default::default()
    }
    .resolve()
    .expect("valid settings");
    imprl::run::run(&cfg, &mut Silent).expect("runnable").log
}

/// Every solver's run diverges, as LU's does, after its test error has exploded (the last
/// finite mse is above 1e100), and no log repeats an evaluation (the frozen log of a solver
/// that returned its warm start). With `same_step`, every solver diverges at LU's step.
fn all_solvers_diverge(
    domain: DomainKind,
    eta: f64,
    lr: f64,
    offset: f64,
    seed: u64,
    same_step: bool,
) {
    let case = format!("{domain:?} η {eta} lr {lr} offset {offset} seed {seed}");
    let logs: Vec<RunLog> = SOLVERS
        .iter()
        .map(|&s| run(domain, eta, lr, offset, seed, s))
        .collect();
    for (s, log) in SOLVERS.iter().zip(&logs) {
        let step = log.outcome.diverged_at();
        assert!(step.is_some(), "{case}: {s:?} finished");
        if same_step {
            assert_eq!(
                log.outcome, logs[0].outcome,
                "{case}: {s:?} ends as {:?}, LU as {:?}",
                log.outcome, logs[0].outcome
            );
        }
        for pair in log.rows.windows(2) {
            assert_ne!(
                (pair[0].mse, pair[0].residual_norm),
                (pair[1].mse, pair[1].residual_norm),
                "{case}: {s:?} repeats its evaluation at steps {} and {}",
                pair[0].timestep,
                pair[1].timestep
            );
        }
        let last = log.rows.last().expect("the step-0 evaluation");
        // A run that diverges before its first evaluation after step 0 has only that one.
        assert!(
            last.mse > 1e100 || last.timestep == 0,
            "{case}: {s:?} diverged at {step:?} from a last mse of {:e}",
            last.mse
        );
    }
}

/// The reported run: GMRES logged a frozen mse of 5.2e305 from step 80 on and "finished"; LU
/// diverges at 80. Both solvers now diverge, but not at the same step: the run explodes from the
/// first updates (mse 2e27 at step 10), and the solvers' ≤ 1e−10 relative residuals separate
/// the trajectories (relative difference of the mse 4e−8 at step 10, 3e−7 at step 20, a factor
/// 50 at step 30): GMRES's run overflows at step 70, LU's at 80.
#[test]
fn four_rooms_at_the_largest_grid_rate_diverges_under_every_solver() {
    all_solvers_diverge(DomainKind::FourRooms, 0.975, 4.0, 0.0, 0, false);
}

/// Published-grid runs at the largest learning rate that one solver or another called finished
/// (or that every solver diverges on), with the steps of divergence that the solvers share; at
/// offset 1, seed 7, LU and refinement diverge at 110, GMRES at 140.
#[test]
fn published_grid_runs_diverge_under_every_solver() {
    for (offset, seed, same_step) in [(0.0, 7, true), (1.0, 0, true), (1.0, 7, false)] {
        all_solvers_diverge(DomainKind::FourRooms, 0.975, 4.0, offset, seed, same_step);
    }
    all_solvers_diverge(DomainKind::MountainCar, 0.975, 4.0, 0.0, 0, true);
}

/// Absurd learning rates: GMRES kept the step-0 values for all 300 updates at 1e300 and
/// refinement did the same from 1e20; now every solver diverges (at 1e300 all at step 2; at
/// 1e20 LU at 20, the iterative solvers at 30).
#[test]
fn huge_learning_rates_diverge_under_every_solver() {
    all_solvers_diverge(DomainKind::FourRooms, 0.975, 1e300, 0.0, 0, true);
    all_solvers_diverge(DomainKind::FourRooms, 0.975, 1e20, 0.0, 0, false);
}

/// A parameterization whose third update fails as a solve that cannot meet its tolerance.
struct FailingSolve {
    theta: Vec<f64>,
    steps: usize,
}

impl Parameterization for FailingSolve {
    fn theta(&self) -> &[f64] {
        &self.theta
    }

    fn params(&self) -> Vec<ParamArray<'_>> {
        vec![ParamArray::new("theta", &[self.theta.len()], &self.theta)]
    }

    fn step(&mut self, _g: &[f64], _opt: &mut Optimizer) -> Result<(), StepError> {
        self.steps += 1;
        if self.steps == 3 {
            return Err(StepError::SolveFailed(SolveError {
                residual: 2.5e-3,
                tol: 1e-9,
                transpose: true,
            }));
        }
        Ok(())
    }
}

/// The trainer ends a run whose solve fails as diverged at that update and keeps the reason.
#[test]
fn a_failed_solve_ends_the_run_with_its_reason() {
    let problem = DomainSpec::published(DomainKind::Chain).problem(0.0, 3);
    let mut param = FailingSolve {
        theta: vec![0.0; problem.train.k],
        steps: 0,
    };
    let schedule = Schedule {
        steps: 20,
        batch_size: 25,
        eval_every: 1,
        optimizer: imprl::optim::OptimizerSpec::sgd(0.1),
        sampling: Sampling::WithReplacement,
    };
    let mut rng = stream(3, Stream::Batches);
    let log = to_the_end(train(
        &mut param,
        &problem,
        &schedule,
        &mut rng,
        &mut Silent,
    ));
    assert_eq!(log.outcome, Outcome::Diverged { step: 3 });
    assert_eq!(log.rows.len(), 3);
    let why = log.failure.expect("a reason");
    assert!(
        why.contains("Aᵀx = b") && why.contains("2.500e-3") && why.contains("1.000e-9"),
        "{why}"
    );
    let finished = run(
        DomainKind::Chain,
        0.9,
        2f64.powi(-6),
        0.0,
        0,
        SolverKind::Auto,
    );
    assert_eq!(
        (finished.outcome, finished.failure),
        (Outcome::Finished, None)
    );
}
