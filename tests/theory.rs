//! The theory module against its own closed forms and against the trainer (SPEC §2).

use imprl::config::RunSettings;
use imprl::data::{Dataset, Problem};
use imprl::domain::DomainKind;
use imprl::param::{Implicit, ImplicitInit, Parameterization};
use imprl::rng::{stream, Stream};
use imprl::theory::{self, Estimate};
use imprl::train::{draw_batch, minibatch_gradient, Sampling};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_model(k: usize, eta: f64, scale: f64, seed: u64) -> Implicit {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w = (0..k).map(|_| rng.random_range(-1.0..1.0)).collect();
    let f = (0..k * k)
        .map(|_| scale * rng.random_range(-1.0..1.0))
        .collect();
    Implicit::new(ImplicitInit { k, w, f }, eta)
}

fn random_data(n: usize, k: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut d = Dataset::new(k);
    for _ in 0..n {
        let phi: Vec<f64> = (0..k).map(|_| rng.random_range(0.0..1.0)).collect();
        d.push(&phi, rng.random_range(-1.0..3.0));
    }
    d
}

/// Monte-Carlo samples of `ĝ_B` (the explicit step direction) at `theta`.
fn gradient_samples(
    data: &Dataset,
    theta: &[f64],
    b: usize,
    s: Sampling,
    m: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<f64> {
    let mut batch = vec![0; b];
    let mut g = vec![0.0; data.k];
    let mut out = Vec::new();
    for _ in 0..m {
        draw_batch(rng, data.len(), s, &mut batch);
        minibatch_gradient(data, theta, &batch, &mut g);
        out.extend_from_slice(&g);
    }
    out
}

/// Theorem 5 by Monte Carlo: the 95% intervals cover the closed form about 95% of the time,
/// and with many samples the estimate is close to it.
#[test]
fn monte_carlo_ratio_covers_the_closed_form() {
    let (n, k, b) = (30, 4, 5);
    let data = random_data(n, k, 1);
    let theta = vec![0.3, -0.2, 0.1, 0.5];
    let a = theory::explicit_rows(&data, &theta);
    let mut rng = stream(1, Stream::Theory);
    for s in [Sampling::WithReplacement, Sampling::WithoutReplacement] {
        let exact = theory::second_moment_ratio(&a, k, b, s);
        let reps = 100;
        let covered = (0..reps)
            .filter(|_| {
                let smp = gradient_samples(&data, &theta, b, s, 400, &mut rng);
                theory::ratio_estimate(&smp, k).covers(exact, 1.0)
            })
            .count();
        assert!(
            (85..=100).contains(&covered),
            "{s:?}: {covered}/{reps} intervals cover {exact}"
        );
        let big = gradient_samples(&data, &theta, b, s, 100_000, &mut rng);
        let e: Estimate = theory::ratio_estimate(&big, k);
        assert!(e.covers(exact, 1.5), "{s:?}: {e:?} vs {exact}");
        assert!(e.ci < 0.02 * exact, "{s:?}: interval too wide {e:?}");
    }
}

/// The real implicit step's ratio converges to the linearized closed form (`a_i = P r_i φ_i`)
/// for a small learning rate, and Theorem 5's asymptotic form approaches it as η → 1.
#[test]
fn implicit_ratio_matches_its_linearization() {
    let (n, k, b) = (20, 5, 4);
    let data = random_data(n, k, 2);
    let m = random_model(k, 0.9, 1.0, 3);
    let p = theory::preconditioner(&m);
    let lin = theory::preconditioned_rows(&data, m.theta(), &p);
    let mut rng = stream(2, Stream::Theory);
    for s in [Sampling::WithReplacement, Sampling::WithoutReplacement] {
        let exact = theory::second_moment_ratio(&lin, k, b, s);
        let grads = gradient_samples(&data, m.theta(), b, s, 4000, &mut rng);
        let steps: Vec<f64> = grads
            .chunks_exact(k)
            .flat_map(|g| theory::implicit_step(&m, g, 1e-6).expect("finite"))
            .collect();
        let e = theory::ratio_estimate(&steps, k);
        assert!(e.covers(exact, 1.5), "{s:?}: {e:?} vs {exact}");
    }
    // Asymptotic form: the gap to the linearized form shrinks as η → 1.
    let gap = |eta: f64| {
        let m = random_model(k, eta, 1.0, 3);
        let p = theory::preconditioner(&m);
        let lin = theory::preconditioned_rows(&data, m.theta(), &p);
        let ones = theory::ones_rows(&data, m.theta());
        let s = Sampling::WithoutReplacement;
        (theory::second_moment_ratio(&ones, 1, b, s) / theory::second_moment_ratio(&lin, k, b, s)
            - 1.0)
            .abs()
    };
    let (g1, g2, g3) = (gap(0.9), gap(0.99), gap(0.999));
    assert!(g2 < g1 && g3 < 0.2 * g2 && g3 < 1e-2, "{g1} {g2} {g3}");
}

/// Corollary 1: `P` is symmetric positive definite at random points, with
/// `λ_min ≥ 1/σ_max(A)² ≥ 1/‖A‖_F²` (since `P ⪰ A⁻¹A⁻ᵀ`), and it is the operator
/// `g ↦ A⁻¹(η²D + I)A⁻ᵀg`.
#[test]
fn preconditioner_is_symmetric_positive_definite() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for trial in 0..40 {
        let k = rng.random_range(2..25);
        let eta = [0.0, 0.5, 0.9, 0.99, 0.999][trial % 5];
        let scale = [0.1, 1.0, 5.0, 20.0][trial % 4];
        let mut m = random_model(k, eta, scale, 100 + trial as u64);
        let p = theory::preconditioner(&m);
        for i in 0..k {
            for j in 0..k {
                assert_eq!(p[i * k + j], p[j * k + i]);
            }
        }
        let eig = theory::symmetric_eigenvalues(&p, k).expect("eigenvalues");
        let s = m.s();
        let a_frob2: f64 = (0..k * k)
            .map(|ij| (f64::from(u8::from(ij / k == ij % k)) - eta * s[ij]).powi(2))
            .sum();
        assert!(
            eig[0] >= (1.0 - 1e-9) / a_frob2,
            "trial {trial}: λ_min = {} < 1/‖A‖² = {}",
            eig[0],
            1.0 / a_frob2
        );
        // P g by solves.
        let g: Vec<f64> = (0..k).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut u = g.clone();
        m.solve_transpose(&mut u).expect("solvable");
        let d = theory::softmax_curvature(&m);
        u.iter_mut()
            .zip(&d)
            .for_each(|(x, di)| *x *= eta * eta * di + 1.0);
        m.solve(&mut u).expect("solvable");
        let pg: Vec<f64> = p
            .chunks_exact(k)
            .map(|row| row.iter().zip(&g).map(|(a, b)| a * b).sum())
            .collect();
        let err = u
            .iter()
            .zip(&pg)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        let size = u.iter().map(|x| x.abs()).fold(0.0, f64::max);
        assert!(err <= 1e-9 * size, "trial {trial}: {err} vs {size}");
    }
}

/// Theorem 1: the step's deviation from `−αPg` is `O(α²)`: the relative error halves with α.
#[test]
fn theorem1_check_is_second_order() {
    for (k, eta, seed) in [(5, 0.5, 1u64), (9, 0.9, 2), (12, 0.975, 3)] {
        let m = random_model(k, eta, 2.0, seed);
        let p = theory::preconditioner(&m);
        let g: Vec<f64> = (0..k).map(|j| ((j * 7 + 3) % 5) as f64 - 2.0).collect();
        let alpha = 1e-3;
        let e: Vec<f64> = (0..4)
            .map(|i| theory::theorem1_rel_error(&m, &p, &g, alpha / 2f64.powi(i)))
            .collect();
        assert!(e[0] < 1e-2, "k={k}: {e:?}");
        for w in e.windows(2) {
            let ratio = w[0] / w[1];
            assert!((1.8..2.2).contains(&ratio), "k={k} η={eta}: {e:?}");
        }
    }
}

/// The Perron split: `A⁻¹ − 1vᵀ/(1−η)` is bounded (it tends to the deviation matrix `H`), so the
/// relative error is `(1−η)‖H‖/‖1vᵀ‖ + O((1−η)²)`: it falls 10× per decade of `1−η`, and its
/// ratio to the prediction tends to 1 at rate `1−η`.
#[test]
fn perron_error_shrinks_at_the_predicted_rate() {
    let k = 10;
    let base = random_model(k, 0.9, 2.0, 7);
    let (w, f) = (base.w().to_vec(), base.f().to_vec());
    let mut prev: Option<(f64, f64, f64)> = None;
    for eta in [0.9, 0.99, 0.999, 0.9999] {
        let m = Implicit::new(
            ImplicitInit {
                k,
                w: w.clone(),
                f: f.clone(),
            },
            eta,
        );
        let ainv = theory::resolvent_inverse(&m);
        let split = theory::perron_split(&m, &ainv);
        assert!(split.stationarity_residual < 1e-14);
        let dev = (split.rel_error / split.predicted_rel_error - 1.0).abs();
        let abs_gap = (split.abs_error - split.deviation_norm).abs();
        if let Some((rel, d, gap)) = prev {
            assert!(
                abs_gap < 0.2 * gap,
                "η={eta}: ‖A⁻¹ − 1vᵀ/(1−η)‖ − ‖H‖: {abs_gap} vs {gap}"
            );
            let fall = rel / split.rel_error;
            assert!((8.0..12.5).contains(&fall), "η={eta}: error fell {fall}×");
            assert!(dev < 0.2 * d + 1e-6, "η={eta}: {dev} vs {d}");
        }
        prev = Some((split.rel_error, dev, abs_gap));
    }
}

fn chain_problem() -> Problem {
    imprl::domain::DomainSpec::published(DomainKind::Chain).problem(0.0, 3)
}

/// `analyze` follows exactly the runs `imprl run` makes: the same test residual norms.
#[test]
fn analysis_follows_the_trainers_runs() {
    let settings = RunSettings {
        domain: Some(DomainKind::Chain),
        seed: Some(3),
        steps: Some(20),
        ..Default::default()
    };
    let (run, cfg) = theory::resolve_paper(&settings, None, Some(10), Some(20)).expect("valid");
    let problem = chain_problem();
    let report = theory::analyze(&cfg, &problem, &mut |_| {});
    assert_eq!(
        report.rows.iter().map(|r| r.step).collect::<Vec<_>>(),
        [0, 10, 20]
    );
    for (param, pick) in [
        (
            imprl::param::ParamKind::Implicit,
            (|r: &theory::CheckpointRow| r.imp_test_residual_norm) as fn(&_) -> f64,
        ),
        (imprl::param::ParamKind::Explicit, |r| {
            r.exp_test_residual_norm
        }),
    ] {
        let rc = imprl::config::RunConfig {
            param,
            lr: if param == imprl::param::ParamKind::Implicit {
                cfg.lr_implicit
            } else {
                cfg.lr_explicit
            },
            ..run
        };
        let log = imprl::run::run_with(&rc, &problem, &mut imprl::train::Silent)
            .expect("run")
            .log;
        for row in &report.rows {
            let logged = log
                .rows
                .iter()
                .find(|l| l.timestep == row.step)
                .expect("logged step");
            assert!(
                (logged.residual_norm - pick(row)).abs() <= 1e-12 * logged.residual_norm,
                "{param} step {}: {} vs {}",
                row.step,
                logged.residual_norm,
                pick(row)
            );
        }
    }
    let first = &report.rows[0];
    assert!(first.p_lambda_min > 0.0);
    assert!(first.t5_exp_closed_wor.is_finite() && first.t5_exp_mc_wr.is_finite());
    assert_eq!(first.n_over_b, problem.train.len() as f64 / 25.0);
}

#[test]
fn bad_settings_name_their_field() {
    let base = RunSettings {
        domain: Some(DomainKind::Chain),
        ..Default::default()
    };
    let err = |lr_e, every, mc| {
        theory::resolve(&base, lr_e, every, mc)
            .expect_err("invalid")
            .to_string()
    };
    assert!(err(Some(-1.0), None, None).contains("`lr_explicit`"));
    assert!(err(None, Some(0), None).contains("`every`"));
    assert!(err(None, None, Some(3)).contains("`mc`"));
    let no_domain = theory::resolve(&RunSettings::default(), None, None, None);
    assert!(no_domain
        .expect_err("missing")
        .to_string()
        .contains("`domain`"));
}

#[test]
fn cli_reports_and_writes_csv_and_figures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = assert_cmd::Command::cargo_bin("imprl")
        .expect("binary")
        .args([
            "theory", "--domain", "chain", "--steps", "10", "--every", "5",
        ])
        .args(["--mc", "50", "--out"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for section in [
        "Theorem 1",
        "Perron split",
        "Theorem 4",
        "Theorem 5",
        "O(1−η)",
    ] {
        assert!(text.contains(section), "missing {section}:\n{text}");
    }
    let csv = std::fs::read_to_string(dir.path().join("theory.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 4, "header and steps 0, 5, 10:\n{csv}");
    assert!(csv.starts_with("step,"));
    for fig in [
        "theorem1.svg",
        "spectrum.svg",
        "perron.svg",
        "theorem4.svg",
        "theorem5_with.svg",
    ] {
        let svg = std::fs::read_to_string(dir.path().join(fig)).expect("figure");
        assert!(svg.contains("<svg") && svg.contains("<polyline"), "{fig}");
    }
}

#[test]
fn cli_rejects_bad_input_with_one_line_and_exit_2() {
    for args in [
        vec!["theory", "--domain", "chain", "--eta", "1.5"],
        vec!["theory", "--domain", "chain", "--mc", "1"],
        vec!["theory", "--domain", "chain", "--lr-explicit", "0"],
        vec!["theory"],
    ] {
        let out = assert_cmd::Command::cargo_bin("imprl")
            .expect("binary")
            .args(&args)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
}

/// The Monte Carlo estimates are computed in parallel from minibatches drawn in order: one
/// thread and two give the same bits (here on four rooms, k = 121, where the implicit steps go
/// through GMRES).
#[test]
fn analysis_does_not_depend_on_the_number_of_threads() {
    let settings = RunSettings {
        domain: Some(DomainKind::FourRooms),
        steps: Some(10),
        ..Default::default()
    };
    let (run, cfg) = theory::resolve_paper(&settings, None, Some(10), Some(40)).expect("valid");
    let problem = run.domain_spec().problem(run.offset, run.seed);
    let csv_with = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        let report = pool.install(|| theory::analyze(&cfg, &problem, &mut |_| {}));
        let mut out = Vec::new();
        theory::output::write_csv(&mut out, &report).expect("csv");
        out
    };
    let one = csv_with(1);
    assert!(!one.is_empty());
    assert_eq!(one, csv_with(2));
}

/// The two runs stepped side by side by hand, as the analysis did before it drove the trainer:
/// checkpoints before the next update, both runs stopped at the first update after which either
/// is not finite.
fn analyze_by_hand(cfg: &theory::TheoryConfig, problem: &Problem) -> theory::TheoryReport {
    let data = &problem.train;
    let k = data.k;
    let mut imp = Implicit::new(imprl::param::draw_implicit_init(k, cfg.seed), cfg.eta);
    let mut exp = imprl::param::Explicit::new(imp.theta().to_vec());
    let mut rng_imp = stream(cfg.seed, Stream::Batches);
    let mut rng_exp = stream(cfg.seed, Stream::Batches);
    let mut rng_mc = stream(cfg.seed, Stream::Theory);
    let mut batch = vec![0usize; cfg.batch_size];
    let mut g = vec![0.0; k];
    let mut rows = Vec::new();
    let (mut imp_div, mut exp_div) = (None, None);
    for step in 0..=cfg.steps {
        if cfg.checkpoints.contains(&step) {
            rows.push(theory::checkpoint(
                cfg,
                problem,
                step,
                &imp,
                exp.theta(),
                &mut rng_mc,
            ));
        }
        if step == cfg.steps {
            break;
        }
        draw_batch(&mut rng_imp, data.len(), cfg.sampling, &mut batch);
        minibatch_gradient(data, imp.theta(), &batch, &mut g);
        if imp.sgd_step(&g, cfg.lr_implicit).is_err() {
            imp_div = Some(step + 1);
        }
        draw_batch(&mut rng_exp, data.len(), cfg.sampling, &mut batch);
        minibatch_gradient(data, exp.theta(), &batch, &mut g);
        if exp.sgd_step(&g, cfg.lr_explicit).is_err() {
            exp_div = Some(step + 1);
        }
        if imp_div.is_some() || exp_div.is_some() {
            break;
        }
    }
    theory::TheoryReport {
        config: cfg.clone(),
        n: data.len(),
        k,
        rows,
        implicit_diverged: imp_div,
        explicit_diverged: exp_div,
    }
}

/// `analyze` drives the trainer through its observer and gives the bits of the side-by-side
/// loop, also when one run or the other diverges.
#[test]
fn analysis_through_the_trainer_equals_the_runs_stepped_by_hand() {
    let problem = chain_problem();
    // (implicit lr, explicit lr, sampling, steps, which run diverges): the first runs keep
    // finite parameters (at lr 1e3 the test residuals are not finite at the end, which the
    // analysis does not use), the last ones stop being finite.
    for (lr, lr_explicit, sampling, steps, diverges) in [
        (None, None, Sampling::WithReplacement, 30, (false, false)),
        (None, None, Sampling::WithoutReplacement, 30, (false, false)),
        (
            Some(1e3),
            Some(1e3),
            Sampling::WithReplacement,
            30,
            (false, false),
        ),
        (
            Some(1e12),
            None,
            Sampling::WithReplacement,
            40,
            (true, false),
        ),
        (
            None,
            Some(1e20),
            Sampling::WithReplacement,
            40,
            (false, true),
        ),
        (
            Some(1e30),
            Some(1e20),
            Sampling::WithReplacement,
            40,
            (true, false),
        ),
        (
            Some(1e12),
            Some(1e20),
            Sampling::WithReplacement,
            40,
            (false, true),
        ),
    ] {
        let settings = RunSettings {
            domain: Some(DomainKind::Chain),
            seed: Some(2),
            steps: Some(steps),
            lr,
            sampling: Some(sampling),
            ..Default::default()
        };
        let (_, cfg) =
            theory::resolve_paper(&settings, lr_explicit, Some(7), Some(20)).expect("valid");
        let mut done = Vec::new();
        let report = theory::analyze(&cfg, &problem, &mut |s| done.push(s));
        let by_hand = analyze_by_hand(&cfg, &problem);
        let bits = |r: &theory::TheoryReport| {
            let mut out = Vec::new();
            theory::output::write_csv(&mut out, r).expect("csv");
            out
        };
        assert_eq!(bits(&report), bits(&by_hand), "{lr:?} {lr_explicit:?}");
        assert_eq!(
            (report.implicit_diverged, report.explicit_diverged),
            (by_hand.implicit_diverged, by_hand.explicit_diverged),
            "{lr:?} {lr_explicit:?}"
        );
        assert_eq!(done, report.rows.iter().map(|r| r.step).collect::<Vec<_>>());
        assert_eq!(
            (
                report.implicit_diverged.is_some(),
                report.explicit_diverged.is_some()
            ),
            diverges,
            "{lr:?} {lr_explicit:?}"
        );
    }
}

/// Theorem 1 along a real model-family run (m = 3 with `max`, and a learned scalar η on the
/// chain): `P` is positive definite at every checkpoint and the one-step oracle's error is first
/// order in `α` (it falls by about four when `α` is divided by four).
#[test]
fn theorem1_holds_along_a_model_family_run() {
    for (actions, learn) in [(3, None), (1, Some(imprl::param::LearnEta::Scalar))] {
        let cfg = RunSettings {
            domain: Some(DomainKind::Chain),
            param: Some(imprl::param::ParamKind::Implicit),
            actions: Some(actions),
            learn_eta: learn,
            steps: Some(100),
            ..RunSettings::default()
        }
        .resolve()
        .expect("valid settings");
        let problem = cfg.domain_spec().problem(cfg.offset, cfg.seed);
        let rows = theory::family_analysis(&cfg, &problem, &[0, 50, 100]).expect("analysis");
        assert_eq!(
            rows.iter().map(|r| r.step).collect::<Vec<_>>(),
            [0, 50, 100]
        );
        for r in &rows {
            assert!(r.p_lambda_min > 0.0, "{r:?}");
            assert!(
                r.thm1_rel_err_quarter < 0.35 * r.thm1_rel_err && r.thm1_rel_err < 0.5,
                "{r:?}"
            );
        }
    }
}

/// `theory::resolve` is the one entry point: the paper's model gets the checkpoint analysis of
/// `resolve_paper`, the model family (which `resolve_paper` refuses) Theorem 1 along its run, at
/// the same checkpoints, with its own table; TD targets are refused for both.
#[test]
fn resolve_picks_the_analysis_of_the_model() {
    let paper = RunSettings {
        domain: Some(DomainKind::Chain),
        steps: Some(100),
        ..RunSettings::default()
    };
    let plan = theory::resolve(&paper, None, Some(40), Some(20)).expect("valid");
    assert_eq!(
        plan.clone().into_paper(),
        Some(theory::resolve_paper(&paper, None, Some(40), Some(20)).expect("valid"))
    );
    assert_eq!(plan.checkpoints(), [0, 40, 80, 100]);
    let family = RunSettings {
        actions: Some(3),
        ..paper
    };
    assert!(theory::resolve_paper(&family, None, Some(40), None)
        .expect_err("the paper's analysis only")
        .to_string()
        .contains("`actions`"));
    let plan = theory::resolve(&family, None, Some(40), None).expect("valid");
    assert!(matches!(plan, theory::TheoryPlan::Family { .. }));
    assert_eq!(plan.checkpoints(), [0, 40, 80, 100]);
    let theory::TheoryOutcome::Family(report) = plan.analyze(&mut |_| {}).expect("analysis") else {
        panic!("the family's analysis");
    };
    let run = *plan.run();
    let problem = run.domain_spec().problem(run.offset, run.seed);
    let rows = theory::family_analysis(&run, &problem, &[0, 40, 80, 100]).expect("analysis");
    assert_eq!(report.rows, rows);
    assert_eq!(report.csv().lines().count(), 1 + rows.len());
    assert!(report.render_text().contains("3 pseudo-action(s)"));
    for s in [&paper, &family] {
        let td = RunSettings {
            targets: Some(imprl::domain::Targets::Td(1)),
            ..*s
        };
        assert!(theory::resolve(&td, None, None, None)
            .expect_err("td targets")
            .to_string()
            .contains("`targets`"));
    }
}
