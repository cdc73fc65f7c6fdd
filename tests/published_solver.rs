//! `solver = published` (docs/protocol.md, *Solve accuracy*): the published runs' value
//! iteration and JAX GMRES, whose unconverged solves a run records per evaluation
//! (`inexact_updates`, `max_solve_residual`), and which only the published solver has.

use imprl::config::RunSettings;
use imprl::domain::DomainKind;
use imprl::linalg::SolverKind;
use imprl::metrics::EvalRow;
use imprl::param::{LearnEta, ParamKind};
use imprl::train::{Outcome, Silent};

fn rows(eta: f64, solver: SolverKind) -> Vec<EvalRow> {
    let cfg = RunSettings {
        domain: Some(DomainKind::Chain),
        param: Some(ParamKind::Implicit),
        eta: Some(eta),
        lr: Some(0.01),
        steps: Some(20),
        eval_every: Some(10),
        solver: Some(solver),
        ..RunSettings::default()
    }
    .resolve()
    .expect("valid");
    let trained = imprl::run::run(&cfg, &mut Silent).expect("runs");
    assert_eq!(trained.log.outcome, Outcome::Finished);
    trained.log.rows
}

/// At `η = 0.9999` value iteration contracts by `η` per sweep, and its changes stay above
/// 1e-6 for about 138,000 sweeps: every forward solve stops at the 5,000-sweep cap, so every
/// update is inexact, and the residual is large. The count is cumulative per evaluation.
#[test]
fn a_run_records_its_updates_with_unconverged_solves() {
    let rows = rows(0.9999, SolverKind::Published);
    let counts: Vec<Option<f64>> = rows.iter().map(|r| r.inexact_updates).collect();
    assert_eq!(counts, vec![Some(0.0), Some(10.0), Some(20.0)]);
    for r in &rows {
        let res = r.max_solve_residual.expect("recorded");
        assert!(res > 1e-3 && res.is_finite(), "{res}");
    }
    // The log carries both columns, last.
    let mut out = Vec::new();
    imprl::export::write_logs_csv(&mut out, &rows).expect("csv");
    let text = String::from_utf8(out).expect("utf8");
    assert_eq!(
        text.lines().next(),
        Some("timestep,mse,res_ones_norm,res_ortho_norm,residual_norm,inexact_updates,max_solve_residual")
    );
}

/// At `η = 0.9` both solvers converge: no inexact update, and residuals within the
/// tolerances (value iteration's absolute 1e-6 change, GMRES's relative 1e-5).
#[test]
fn converged_published_solves_count_no_update() {
    let rows = rows(0.9, SolverKind::Published);
    for r in &rows {
        assert_eq!(r.inexact_updates, Some(0.0));
        let res = r.max_solve_residual.expect("recorded");
        assert!(res > 0.0 && res < 1e-4, "{res}");
    }
}

/// The exact solvers have no such record, and their logs keep the published columns.
#[test]
fn exact_solvers_record_nothing() {
    for solver in [SolverKind::Auto, SolverKind::Lu, SolverKind::Gmres] {
        for r in rows(0.9999, solver) {
            assert_eq!((r.inexact_updates, r.max_solve_residual), (None, None));
        }
    }
}

/// The model family (more pseudo-actions, or a learned η) has no published-solver emulation:
/// the combination is refused, naming the setting.
#[test]
fn the_model_family_refuses_the_published_solver() {
    for s in [
        RunSettings {
            actions: Some(2),
            ..RunSettings::default()
        },
        RunSettings {
            learn_eta: Some(LearnEta::Scalar),
            ..RunSettings::default()
        },
    ] {
        let s = RunSettings {
            domain: Some(DomainKind::Chain),
            param: Some(ParamKind::Implicit),
            solver: Some(SolverKind::Published),
            ..s
        };
        let err = s.resolve().expect_err("refused").to_string();
        assert!(
            err.contains("solver") && err.contains("model family"),
            "{err}"
        );
        let exact = RunSettings {
            solver: Some(SolverKind::Auto),
            ..s
        };
        assert!(exact.resolve().is_ok());
    }
}
