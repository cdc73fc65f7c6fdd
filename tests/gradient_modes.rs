//! The gradient modes of SPEC §8.3: the truncated adjoint's and the unrolled iterate's error
//! bounds, convergence to the implicit-function-theorem gradient, and the unrolled gradient as
//! the exact derivative of `θ_K` (central finite differences), for one and several
//! pseudo-actions.

use imprl::linalg::SolverKind;
use imprl::param::grad_mode::{gradient_from_adjoint, neumann_adjoint, Model, Unrolled};
use imprl::param::{
    draw_family_init, draw_implicit_init, GradMode, Implicit, ImplicitFamily, ImplicitLayer,
    LearnEta, ModelSpec, Parameterization, Reduce,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn norm1(x: &[f64]) -> f64 {
    x.iter().map(|v| v.abs()).sum()
}

fn norm_inf(x: &[f64]) -> f64 {
    x.iter().fold(0.0, |m, v| m.max(v.abs()))
}

fn diff(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

fn random_vec(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// A random implicit model (the published initialization of `seed`) with `w` scaled up so that
/// `θ̂` is not small, and a random `g`.
fn random_point(k: usize, eta: f64, seed: u64) -> (Implicit, Vec<f64>) {
    let mut init = draw_implicit_init(k, seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    init.w = random_vec(&mut rng, k);
    for f in init.f.iter_mut() {
        *f += rng.random_range(-1.0..1.0);
    }
    let g = random_vec(&mut rng, k);
    (Implicit::new(init, eta), g)
}

/// The solves' relative accuracy (`linalg::REFINE_TOL` is 1e-10): the room an exact bound
/// needs when one side comes from a solve.
const SOLVE_SLACK: f64 = 1e-9;

#[test]
fn truncated_adjoint_is_within_eta_to_the_k() {
    for (seed, k, eta) in [(1, 10, 0.9), (2, 25, 0.95), (3, 40, 0.99), (4, 7, 0.5)] {
        let (mut imp, g) = random_point(k, eta, seed);
        let u = imp.gradient(&g).expect("solve").dw;
        for terms in [1, 2, 3, 5, 8, 16, 32] {
            let uk = neumann_adjoint(&imp.model(), &imp.pi(), &g, terms);
            let err = norm1(&diff(&uk, &u));
            let bound = eta.powi(terms as i32) * norm1(&u);
            assert!(
                err <= bound + SOLVE_SLACK * norm1(&u),
                "seed {seed} K {terms}: {err} > {bound}"
            );
            // The series converges: the error of K terms is that of K−1 shrunk, never grown.
            assert!(err > 0.0 || terms > 1);
        }
        assert_eq!(neumann_adjoint(&imp.model(), &imp.pi(), &g, 1), g);
    }
}

#[test]
fn unrolled_iterate_is_within_eta_to_the_k() {
    for (seed, k, eta) in [(5, 10, 0.9), (6, 25, 0.95), (7, 40, 0.99)] {
        let (imp, _) = random_point(k, eta, seed);
        let theta = imp.theta().to_vec();
        for steps in [1, 2, 4, 8, 16, 64] {
            let un = Unrolled::forward(&imp.model(), &vec![0.0; k], steps);
            let err = norm_inf(&diff(un.theta_k(), &theta));
            let bound = eta.powi(steps as i32) * norm_inf(&theta);
            assert!(
                err <= bound + SOLVE_SLACK * norm_inf(&theta),
                "seed {seed} K {steps}: {err} > {bound}"
            );
        }
    }
}

#[test]
fn enough_steps_give_the_ift_gradient() {
    for (seed, k, eta) in [(8, 12, 0.9), (9, 20, 0.95)] {
        let (mut imp, g) = random_point(k, eta, seed);
        let exact = imp.gradient(&g).expect("solve");
        let steps = (1e-12f64.ln() / eta.ln()).ceil() as usize;
        let model = imp.model();
        let rel = |a: &[f64], b: &[f64]| norm1(&diff(a, b)) / norm1(b);
        let u = neumann_adjoint(&model, &imp.pi(), &g, steps);
        let trunc = gradient_from_adjoint(&model, &u, &imp.pi(), imp.theta(), imp.s_theta());
        let un = Unrolled::forward(&model, &vec![0.0; k], steps).backward(&model, &g);
        for (name, got) in [("truncated", &trunc), ("unroll", &un)] {
            assert!(rel(&got.dw, &exact.dw) < 1e-9, "{name} dw");
            assert!(rel(&got.df, &exact.df) < 1e-9, "{name} dF");
        }
        // Far fewer steps are visibly different: the test can fail.
        let short = Unrolled::forward(&model, &vec![0.0; k], 3).backward(&model, &g);
        assert!(rel(&short.dw, &exact.dw) > 1e-3);
    }
}

/// `L(θ_K) = gᵀθ_K` for the model `(w, σ(F))` of shape `(k, m, η, reduce)`.
fn unrolled_loss(
    (k, m, eta, reduce): (usize, usize, f64, Reduce),
    w: &[f64],
    f: &[f64],
    theta0: &[f64],
    steps: usize,
    g: &[f64],
) -> f64 {
    let s = softmax_rows(f, k);
    let model = Model {
        k,
        m,
        eta: &[eta],
        w,
        s: &s,
        reduce,
        tau: 1.0,
    };
    let un = Unrolled::forward(&model, theta0, steps);
    un.theta_k().iter().zip(g).map(|(a, b)| a * b).sum()
}

fn softmax_rows(f: &[f64], k: usize) -> Vec<f64> {
    let mut s = vec![0.0; f.len()];
    for (frow, srow) in f.chunks_exact(k).zip(s.chunks_exact_mut(k)) {
        imprl::linalg::softmax(frow, srow);
    }
    s
}

/// The reverse-mode gradient of `θ_K` against central differences of `θ_K` itself, for
/// `m` pseudo-actions, cold and warm starts.
fn check_finite_differences(m: usize, reduce: Reduce, seed: u64) {
    let (k, eta, steps) = (6, 0.9, 7);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w = random_vec(&mut rng, k * m);
    let f = random_vec(&mut rng, k * m * k);
    let g = random_vec(&mut rng, k);
    for theta0 in [vec![0.0; k], random_vec(&mut rng, k)] {
        let s = softmax_rows(&f, k);
        let model = Model {
            k,
            m,
            eta: &[eta],
            w: &w,
            s: &s,
            reduce,
            tau: 1.0,
        };
        let grad = Unrolled::forward(&model, &theta0, steps).backward(&model, &g);
        let h = 1e-5;
        let loss =
            |w: &[f64], f: &[f64]| unrolled_loss((k, m, eta, reduce), w, f, &theta0, steps, &g);
        let mut fd_w = vec![0.0; w.len()];
        for i in 0..w.len() {
            let (mut wp, mut wm) = (w.clone(), w.clone());
            wp[i] += h;
            wm[i] -= h;
            fd_w[i] = (loss(&wp, &f) - loss(&wm, &f)) / (2.0 * h);
        }
        let mut fd_f = vec![0.0; f.len()];
        for i in 0..f.len() {
            let (mut fp, mut fm) = (f.clone(), f.clone());
            fp[i] += h;
            fm[i] -= h;
            fd_f[i] = (loss(&w, &fp) - loss(&w, &fm)) / (2.0 * h);
        }
        let rw = norm1(&diff(&grad.dw, &fd_w)) / norm1(&fd_w);
        let rf = norm1(&diff(&grad.df, &fd_f)) / norm1(&fd_f);
        assert!(rw < 1e-6, "m {m}: dw rel err {rw}");
        assert!(rf < 1e-6, "m {m}: dF rel err {rf}");
    }
}

#[test]
fn unrolled_gradient_is_the_derivative_of_theta_k_one_action() {
    check_finite_differences(1, Reduce::Max, 11);
}

#[test]
fn unrolled_gradient_is_the_derivative_of_theta_k_several_actions() {
    check_finite_differences(3, Reduce::LogSumExp, 12);
}

#[test]
fn unrolled_training_step_follows_the_reverse_mode_gradient() {
    let (k, eta, lr) = (8, 0.9, 0.05);
    let (base, g) = random_point(k, eta, 13);
    for mode in [GradMode::Unroll(5), GradMode::UnrollWarm(5)] {
        let mut imp = base.clone();
        imp.set_mode(mode);
        let theta0 = imp.theta().to_vec();
        let model = imp.model();
        // Both models' first trajectory starts from 0.
        let start = vec![0.0; k];
        let un = Unrolled::forward(&model, &start, 5);
        assert_eq!(un.theta_k(), &theta0[..]);
        let grad = un.backward(&model, &g);
        let w1: Vec<f64> = imp
            .w()
            .iter()
            .zip(&grad.dw)
            .map(|(a, d)| a - lr * d)
            .collect();
        let f1: Vec<f64> = imp
            .f()
            .iter()
            .zip(&grad.df)
            .map(|(a, d)| a - lr * d)
            .collect();
        imp.sgd_step(&g, lr).expect("step");
        assert_eq!(imp.w(), &w1[..]);
        assert_eq!(imp.f(), &f1[..]);
        let s1 = softmax_rows(&f1, k);
        let next_start = if mode == GradMode::Unroll(5) {
            vec![0.0; k]
        } else {
            theta0.clone()
        };
        let want = Unrolled::forward(
            &Model {
                k,
                m: 1,
                eta: &[eta],
                w: &w1,
                s: &s1,
                reduce: Reduce::Max,
                tau: 1.0,
            },
            &next_start,
            5,
        );
        assert_eq!(imp.theta(), want.theta_k(), "{mode}");
    }
}

#[test]
fn truncated_training_step_keeps_the_exact_theta() {
    let (k, eta, lr) = (8, 0.9, 0.05);
    let (base, g) = random_point(k, eta, 14);
    let mut imp = base.clone();
    imp.set_mode(GradMode::Truncated(1));
    imp.sgd_step(&g, lr).expect("step");
    // Jacobian-free: ∂L/∂w = g.
    let w1: Vec<f64> = base.w().iter().zip(&g).map(|(a, d)| a - lr * d).collect();
    assert_eq!(imp.w(), &w1[..]);
    let mut exact = imp.clone();
    exact.set_mode(GradMode::Ift);
    let mut x = imp.w().to_vec();
    exact.solve(&mut x).expect("solve");
    let err = norm_inf(&diff(imp.theta(), &x)) / norm_inf(&x);
    assert!(err < 1e-9, "θ̂ after a truncated step: {err}");
}

fn family(m: usize, reduce: Reduce, learn_eta: LearnEta, seed: u64) -> ImplicitFamily {
    let spec = ModelSpec {
        eta: 0.9,
        actions: m,
        reduce,
        temperature: 1.0,
        learn_eta,
        eta_lr_factor: 1.0,
    };
    ImplicitFamily::new(draw_family_init(6, m, seed), &spec, SolverKind::Lu)
}

#[test]
fn family_unrolled_step_follows_the_reverse_mode_gradient() {
    let (k, lr, steps) = (6, 0.05, 4);
    for (m, reduce) in [(3, Reduce::LogSumExp), (2, Reduce::Max)] {
        let mut fam = family(m, reduce, LearnEta::None, 21);
        fam.set_grad_mode(GradMode::Unroll(steps));
        let g = random_vec(&mut ChaCha8Rng::seed_from_u64(22), k);
        let model = fam.model();
        let un = Unrolled::forward(&model, &vec![0.0; k], steps);
        assert_eq!(fam.theta(), un.theta_k());
        let grad = un.backward(&model, &g);
        let w1: Vec<f64> = fam
            .w()
            .iter()
            .zip(&grad.dw)
            .map(|(a, d)| a - lr * d)
            .collect();
        let f1: Vec<f64> = fam
            .f()
            .iter()
            .zip(&grad.df)
            .map(|(a, d)| a - lr * d)
            .collect();
        fam.sgd_step(&g, lr).expect("step");
        assert_eq!(fam.w(), &w1[..]);
        assert_eq!(fam.f(), &f1[..]);
    }
}

#[test]
fn family_truncated_adjoint_converges_to_the_ift_gradient() {
    let k = 6;
    for (m, reduce) in [(3, Reduce::LogSumExp), (2, Reduce::Max)] {
        let g = random_vec(&mut ChaCha8Rng::seed_from_u64(23), k);
        let mut exact = family(m, reduce, LearnEta::PerStateAction, 24);
        let terms = (1e-12f64.ln() / 0.9f64.ln()).ceil() as usize;
        let mut trunc = exact.clone();
        trunc.set_grad_mode(GradMode::Truncated(terms));
        let rel = |a: &[f64], b: &[f64]| norm1(&diff(a, b)) / norm1(b);
        let (e, t) = (
            exact.gradient(&g).expect("solve"),
            trunc.gradient(&g).expect("adjoint"),
        );
        assert!(rel(&t.dw, &e.dw) < 1e-9);
        assert!(rel(&t.df, &e.df) < 1e-9);
        assert!(rel(&t.drho, &e.drho) < 1e-9);
        let mut one = exact.clone();
        one.set_grad_mode(GradMode::Truncated(1));
        assert!(rel(&one.gradient(&g).expect("adjoint").dw, &e.dw) > 1e-3);
    }
}

#[test]
fn family_unrolled_gradient_converges_to_the_ift_gradient() {
    let k = 6;
    let g = random_vec(&mut ChaCha8Rng::seed_from_u64(25), k);
    let mut exact = family(3, Reduce::LogSumExp, LearnEta::None, 26);
    let e = exact.gradient(&g).expect("solve");
    let model = exact.model();
    let steps = (1e-12f64.ln() / 0.9f64.ln()).ceil() as usize;
    let grad = Unrolled::forward(&model, &vec![0.0; k], steps).backward(&model, &g);
    let rel = |a: &[f64], b: &[f64]| norm1(&diff(a, b)) / norm1(b);
    assert!(rel(&grad.dw, &e.dw) < 1e-9);
    assert!(rel(&grad.df, &e.df) < 1e-9);
}
