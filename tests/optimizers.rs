//! The optimizers (SPEC §8.4) through every parameterization: each parameter array goes to its
//! own optimizer slot with its exact gradient, plain SGD keeps the published bits, and momentum
//! and Adam train the chain.

use imprl::config::RunSettings;
use imprl::domain::DomainKind;
use imprl::optim::{Optimizer, OptimizerKind, OptimizerSpec};
use imprl::param::{
    draw_implicit_init, Explicit, ExplicitMatrix, Implicit, ImplicitLayer, ParamKind,
    Parameterization,
};
use imprl::train::Outcome;

const K: usize = 6;

/// A fixed gradient `g = ∇_θ L` of length `K` for step `i`.
fn grad(i: usize) -> Vec<f64> {
    (0..K)
        .map(|j| ((j * 7 + i * 3) % 5) as f64 * 0.3 - 0.6)
        .collect()
}

fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>();
    let den: f64 = b.iter().map(|y| y * y).sum::<f64>();
    (num / den).sqrt()
}

fn implicit() -> Implicit {
    Implicit::new(draw_implicit_init(K, 4), 0.9)
}

/// The implicit model's `w` (slot 0) and `F` (slot 1) get exactly `∂L/∂w` and `∂L/∂F` of
/// [`Implicit::gradient`], with a state of their own, over several Adam and momentum steps.
#[test]
fn implicit_hands_w_and_f_with_their_gradients() {
    for kind in [OptimizerKind::Momentum, OptimizerKind::Adam] {
        let spec = OptimizerSpec::with_defaults(kind, 0.05);
        let mut model = implicit();
        let mut opt = Optimizer::new(spec);
        let mut reference = implicit();
        let mut ref_opt = Optimizer::new(spec);
        for i in 0..4 {
            let g = grad(i);
            model.step(&g, &mut opt).expect("finite");
            let d = reference.gradient(&g).expect("solvable");
            let (mut w, mut f) = (reference.w().to_vec(), reference.f().to_vec());
            ref_opt.update(0, &mut w, &d.dw);
            ref_opt.update(1, &mut f, &d.df);
            reference.set_params(&w, &f).expect("solvable");
            assert_eq!(model.w(), reference.w(), "{kind:?} step {i}: w");
            assert_eq!(model.f(), reference.f(), "{kind:?} step {i}: F");
            assert!(rel_err(model.theta(), reference.theta()) < 1e-12);
        }
    }
}

/// Momentum's first step is SGD's step (`m₁ = g`); its later steps are not.
#[test]
fn momentum_starts_as_sgd_in_every_parameterization() {
    let lr = 0.05;
    let fresh = || -> Vec<Box<dyn Parameterization>> {
        let imp = implicit();
        vec![
            Box::new(Explicit::new(imp.theta().to_vec())),
            Box::new(ExplicitMatrix::from_implicit(&imp)),
            Box::new(imp),
        ]
    };
    let (mut sgd, mut heavy) = (fresh(), fresh());
    for (a, b) in sgd.iter_mut().zip(heavy.iter_mut()) {
        let mut opt = Optimizer::new(OptimizerSpec::with_defaults(OptimizerKind::Momentum, lr));
        a.sgd_step(&grad(0), lr).expect("finite");
        b.step(&grad(0), &mut opt).expect("finite");
        assert!(rel_err(b.theta(), a.theta()) < 1e-13);
        a.sgd_step(&grad(1), lr).expect("finite");
        b.step(&grad(1), &mut opt).expect("finite");
        assert!(rel_err(b.theta(), a.theta()) > 1e-6);
    }
}

/// Adam's first step on `θ` itself is `−α g/(|g| + ε)` per coordinate.
#[test]
fn adam_first_step_on_explicit_is_a_sign_step() {
    let theta0 = implicit().theta().to_vec();
    let mut e = Explicit::new(theta0.clone());
    let mut opt = Optimizer::new(OptimizerSpec::with_defaults(OptimizerKind::Adam, 0.01));
    let g = grad(2);
    e.step(&g, &mut opt).expect("finite");
    for ((t, t0), gi) in e.theta().iter().zip(&theta0).zip(&g) {
        let want = t0 - 0.01 * gi / (gi.abs() + 1e-8);
        assert!((t - want).abs() < 1e-15, "{t} vs {want}");
    }
}

/// A chain run with `optimizer` at learning rate `lr` (`None`: the default): its first and
/// last `‖r‖`.
fn chain_run(param: ParamKind, optimizer: OptimizerKind, lr: Option<f64>) -> (f64, f64) {
    let cfg = RunSettings {
        domain: Some(DomainKind::Chain),
        param: Some(param),
        optimizer: Some(optimizer),
        lr,
        ..RunSettings::default()
    }
    .resolve()
    .expect("valid");
    let log = imprl::run::run(&cfg, &mut imprl::train::Silent)
        .expect("runs")
        .log;
    assert_eq!(log.outcome, Outcome::Finished, "{param} {optimizer:?}");
    let first = log.rows.first().expect("evaluated").residual_norm;
    let last = log.rows.last().expect("evaluated").residual_norm;
    (first, last)
}

/// Momentum and Adam, at their default learning rates, train every parameterization on the
/// chain: the final `‖r‖` is a fraction of the initial one.
#[test]
fn momentum_and_adam_train_the_chain_at_their_default_rates() {
    for param in ParamKind::ALL {
        for opt in [OptimizerKind::Momentum, OptimizerKind::Adam] {
            let (first, last) = chain_run(param, opt, None);
            assert!(
                last.is_finite() && last < first / 3.0,
                "{param} {opt:?}: {first} -> {last}"
            );
        }
    }
}

/// The default learning rate follows the optimizer: SGD's is the paper's best, momentum's that
/// times `1 − β` (for the run's `β`), Adam's its own table; a given `lr` overrides each.
#[test]
fn the_default_learning_rate_follows_the_optimizer() {
    for domain in [
        DomainKind::Chain,
        DomainKind::FourRooms,
        DomainKind::MountainCar,
    ] {
        for param in ParamKind::ALL {
            for eta in [0.8, 0.975] {
                let resolve = |optimizer, momentum, lr| {
                    RunSettings {
                        domain: Some(domain),
                        param: Some(param),
                        eta: Some(eta),
                        optimizer: Some(optimizer),
                        momentum,
                        lr,
                        ..RunSettings::default()
                    }
                    .resolve()
                    .expect("valid")
                    .lr
                };
                let sgd = imprl::published::best_lr(domain, param, eta);
                assert_eq!(resolve(OptimizerKind::Sgd, None, None), sgd);
                assert_eq!(
                    resolve(OptimizerKind::Momentum, None, None),
                    sgd * (1.0 - OptimizerSpec::MOMENTUM)
                );
                assert_eq!(resolve(OptimizerKind::Momentum, Some(0.5), None), sgd * 0.5);
                let adam = resolve(OptimizerKind::Adam, None, None);
                assert_eq!(adam, imprl::config::adam_lr(domain, param));
                for opt in [
                    OptimizerKind::Sgd,
                    OptimizerKind::Momentum,
                    OptimizerKind::Adam,
                ] {
                    assert_eq!(resolve(opt, None, Some(0.125)), 0.125);
                }
            }
        }
    }
}

/// The optimizer's constants are checked like every setting, and name themselves.
#[test]
fn bad_optimizer_constants_are_refused() {
    for (name, value) in [
        ("optimizer", "rmsprop"),
        ("momentum", "1"),
        ("momentum", "-0.1"),
        ("adam_beta1", "1"),
        ("adam_beta2", "1.5"),
        ("adam_eps", "0"),
        ("adam_eps", "inf"),
    ] {
        let mut s = RunSettings {
            domain: Some(DomainKind::Chain),
            param: Some(ParamKind::Implicit),
            ..RunSettings::default()
        };
        let err = s
            .set(name, imprl::config::Raw::Text(value))
            .and_then(|()| s.resolve().map(|_| ()))
            .expect_err(name)
            .to_string();
        assert!(err.contains(&format!("`{name}`")), "{name}={value}: {err}");
    }
}
