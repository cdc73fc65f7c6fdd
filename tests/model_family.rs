//! The model family (SPEC §8.1, §8.2): pseudo-actions, max / logsumexp, a learned discount.
//! Oracles independent of the model's code: a dense Newton / policy-iteration solver written
//! here, central and one-sided finite differences, a hand-solved MDP and the ordering bounds
//! of the two reductions.

use imprl::config::{RunSettings, SETTINGS};
use imprl::domain::DomainKind;
use imprl::linalg::SolverKind;
use imprl::param::{
    draw_family_init, sigmoid, FamilyInit, ImplicitFamily, ImplicitLayer, LearnEta, ModelSpec,
    ParamKind, Parameterization, Reduce, StepError,
};
use imprl::train::Silent;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The model's equations, written out densely: `S_a` rows, `η_{ka}`, `w_{ka}`.
struct Reference {
    k: usize,
    m: usize,
    reduce: Reduce,
    tau: f64,
    w: Vec<f64>,
    s: Vec<f64>,
    eta: Vec<f64>,
}

fn softmax_rows(f: &[f64], k: usize) -> Vec<f64> {
    let mut s = Vec::with_capacity(f.len());
    for row in f.chunks_exact(k) {
        let mx = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = row.iter().map(|x| (x - mx).exp()).collect();
        let z: f64 = e.iter().sum();
        s.extend(e.iter().map(|x| x / z));
    }
    s
}

/// Solves `a x = b` (`n × n`, row-major) by Gaussian elimination with partial pivoting.
fn dense_solve(mut a: Vec<f64>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for c in 0..n {
        let p = (c..n)
            .max_by(|&i, &j| a[i * n + c].abs().total_cmp(&a[j * n + c].abs()))
            .unwrap();
        for j in 0..n {
            a.swap(c * n + j, p * n + j);
        }
        b.swap(c, p);
        for i in c + 1..n {
            let l = a[i * n + c] / a[c * n + c];
            for j in c..n {
                a[i * n + j] -= l * a[c * n + j];
            }
            b[i] -= l * b[c];
        }
    }
    for c in (0..n).rev() {
        let t: f64 = (c + 1..n).map(|j| a[c * n + j] * b[j]).sum();
        b[c] = (b[c] - t) / a[c * n + c];
    }
    b
}

impl Reference {
    fn from_params(
        k: usize,
        m: usize,
        spec: &ModelSpec,
        w: &[f64],
        f: &[f64],
        eta: Vec<f64>,
    ) -> Self {
        Self {
            k,
            m,
            reduce: spec.reduce,
            tau: spec.temperature,
            w: w.to_vec(),
            s: softmax_rows(f, k),
            eta,
        }
    }

    fn of_model(model: &ImplicitFamily) -> Self {
        let (reduce, tau) = model.reduce();
        Self {
            k: model.k(),
            m: model.actions(),
            reduce,
            tau,
            w: model.w().to_vec(),
            s: model.s().to_vec(),
            eta: model.eta().to_vec(),
        }
    }

    fn q(&self, theta: &[f64]) -> Vec<f64> {
        let k = self.k;
        (0..k * self.m)
            .map(|i| {
                let st: f64 = (0..k).map(|j| self.s[i * k + j] * theta[j]).sum();
                self.w[i] + self.eta[i] * st
            })
            .collect()
    }

    /// `(reduce Q(θ), π, J)`.
    fn reduce(&self, theta: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (k, m) = (self.k, self.m);
        let q = self.q(theta);
        let mut r = vec![0.0; k];
        let mut pi = vec![0.0; k * m];
        for kk in 0..k {
            let row = &q[kk * m..(kk + 1) * m];
            let mx = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            match self.reduce {
                Reduce::Max => {
                    let a = row.iter().position(|&v| v == mx).unwrap();
                    pi[kk * m + a] = 1.0;
                    r[kk] = mx;
                }
                Reduce::LogSumExp => {
                    let e: Vec<f64> = row.iter().map(|v| ((v - mx) / self.tau).exp()).collect();
                    let z: f64 = e.iter().sum();
                    for a in 0..m {
                        pi[kk * m + a] = e[a] / z;
                    }
                    r[kk] = mx + self.tau * z.ln();
                }
            }
        }
        let mut j = vec![0.0; k * k];
        for i in 0..k * m {
            for c in 0..k {
                j[(i / m) * k + c] += pi[i] * self.eta[i] * self.s[i * k + c];
            }
        }
        (r, pi, j)
    }

    /// Newton's method (policy iteration for max) by dense solves, to rounding.
    fn solve(&self) -> Vec<f64> {
        let k = self.k;
        let mut theta = vec![0.0; k];
        for _ in 0..60 {
            let (r, _, j) = self.reduce(&theta);
            let a: Vec<f64> = (0..k * k)
                .map(|i| f64::from(u8::from(i / k == i % k)) - j[i])
                .collect();
            let b: Vec<f64> = (0..k)
                .map(|i| r[i] - (0..k).map(|c| j[i * k + c] * theta[c]).sum::<f64>())
                .collect();
            theta = dense_solve(a, b);
        }
        theta
    }

    /// `(‖θ − reduce Q(θ)‖₂, ‖b‖₂)` with `b = reduce Q(θ) − Jθ`.
    fn residual(&self, theta: &[f64]) -> (f64, f64) {
        let k = self.k;
        let (r, _, j) = self.reduce(theta);
        let res = (0..k)
            .map(|i| (theta[i] - r[i]).powi(2))
            .sum::<f64>()
            .sqrt();
        let b = (0..k)
            .map(|i| (r[i] - (0..k).map(|c| j[i * k + c] * theta[c]).sum::<f64>()).powi(2))
            .sum::<f64>()
            .sqrt();
        (res, b)
    }
}

fn spec(m: usize, reduce: Reduce, tau: f64, learn: LearnEta, eta: f64) -> ModelSpec {
    ModelSpec {
        eta,
        actions: m,
        reduce,
        temperature: tau,
        learn_eta: learn,
        eta_lr_factor: 1.0,
    }
}

fn etas(learn: LearnEta, rho: &[f64], eta: f64, n: usize) -> Vec<f64> {
    match learn {
        LearnEta::None => vec![eta; n],
        LearnEta::Scalar => vec![sigmoid(rho[0]); n],
        LearnEta::PerStateAction => rho.iter().map(|&r| sigmoid(r)).collect(),
    }
}

/// A random point: the published init perturbed, and random discount logits.
fn random_point(
    k: usize,
    m: usize,
    learn: LearnEta,
    rng: &mut ChaCha8Rng,
) -> (FamilyInit, Vec<f64>) {
    let mut init = draw_family_init(k, m, rng.random_range(0..1000));
    init.w
        .iter_mut()
        .for_each(|x| *x += rng.random_range(-1.0..1.0));
    init.f
        .iter_mut()
        .for_each(|x| *x += rng.random_range(-1.5..1.5));
    let rho = match learn {
        LearnEta::None => vec![],
        LearnEta::Scalar => vec![rng.random_range(1.0..3.0)],
        LearnEta::PerStateAction => (0..k * m).map(|_| rng.random_range(1.0..3.0)).collect(),
    };
    (init, rho)
}

fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let d = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt();
    d / b.iter().map(|y| y * y).sum::<f64>().sqrt()
}

/// Smallest gap between the best and the second-best pseudo-action over states.
fn greedy_margin(r: &Reference, theta: &[f64]) -> f64 {
    let q = r.q(theta);
    q.chunks_exact(r.m)
        .map(|row| {
            let mut v = row.to_vec();
            v.sort_by(|a, b| b.total_cmp(a));
            v[0] - v[1]
        })
        .fold(f64::INFINITY, f64::min)
}

/// `gᵀθ̂` at parameters `(w, F, ρ)`, by the reference solver.
fn loss(k: usize, m: usize, sp: &ModelSpec, w: &[f64], f: &[f64], rho: &[f64], g: &[f64]) -> f64 {
    let r = Reference::from_params(k, m, sp, w, f, etas(sp.learn_eta, rho, sp.eta, k * m));
    r.solve().iter().zip(g).map(|(t, gi)| t * gi).sum()
}

#[test]
fn gradients_of_w_f_and_rho_match_central_differences() {
    let (k, h) = (6, 1e-5);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut cases = Vec::new();
    for learn in [LearnEta::None, LearnEta::Scalar, LearnEta::PerStateAction] {
        for (m, reduce, tau) in [
            (3, Reduce::Max, 1.0),
            (3, Reduce::LogSumExp, 0.3),
            (3, Reduce::LogSumExp, 1.0),
            (3, Reduce::LogSumExp, 3.0),
            (1, Reduce::Max, 1.0),
        ] {
            if m == 1 && learn == LearnEta::None {
                continue; // the paper's model, checked by tests/gradients.rs
            }
            cases.push(spec(m, reduce, tau, learn, 0.9));
        }
    }
    for sp in cases {
        let m = sp.actions;
        // A random point whose greedy pseudo-action is unique by a clear margin.
        let (init, rho) = loop {
            let (init, rho) = random_point(k, m, sp.learn_eta, &mut rng);
            let r = Reference::from_params(
                k,
                m,
                &sp,
                &init.w,
                &init.f,
                etas(sp.learn_eta, &rho, sp.eta, k * m),
            );
            if m == 1 || sp.reduce == Reduce::LogSumExp || greedy_margin(&r, &r.solve()) > 1e-2 {
                break (init, rho);
            }
        };
        let (w, f) = (init.w.clone(), init.f.clone());
        let mut model = ImplicitFamily::new(init, &sp, SolverKind::Lu);
        model.set_params(&w, &f, &rho).expect("solvable");
        let g: Vec<f64> = (0..k).map(|_| rng.random_range(-1.0..1.0)).collect();
        let grad = model.gradient(&g).expect("adjoint");
        let fd = |which: usize, i: usize| {
            let (mut wp, mut fp, mut rp) = (w.clone(), f.clone(), rho.clone());
            let x = [&mut wp, &mut fp, &mut rp][which]
                .get_mut(i)
                .map(|x| *x += h);
            assert!(x.is_some());
            let lp = loss(k, m, &sp, &wp, &fp, &rp, &g);
            let (mut wm, mut fm, mut rm) = (w.clone(), f.clone(), rho.clone());
            [&mut wm, &mut fm, &mut rm][which][i] -= h;
            let lm = loss(k, m, &sp, &wm, &fm, &rm, &g);
            (lp - lm) / (2.0 * h)
        };
        let fd_w: Vec<f64> = (0..w.len()).map(|i| fd(0, i)).collect();
        let fd_f: Vec<f64> = (0..f.len()).map(|i| fd(1, i)).collect();
        let fd_r: Vec<f64> = (0..rho.len()).map(|i| fd(2, i)).collect();
        for (name, ours, theirs) in [
            ("w", &grad.dw, &fd_w),
            ("F", &grad.df, &fd_f),
            ("ρ", &grad.drho, &fd_r),
        ] {
            assert_eq!(ours.len(), theirs.len(), "{name} {sp:?}");
            if ours.is_empty() {
                continue;
            }
            let e = rel_err(theirs, ours);
            assert!(e < 1e-6, "{name} {sp:?}: relative error {e:e}");
        }
    }
}

/// Two identical pseudo-actions in state 0 tie for every θ: the derivative in their parameters
/// has a kink, and ours (ties to the lowest index) lies between the one-sided derivatives.
#[test]
fn with_a_tie_the_one_sided_derivatives_bracket_ours() {
    let (k, m, h) = (5, 2, 1e-6);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let sp = spec(m, Reduce::Max, 1.0, LearnEta::None, 0.9);
    let (mut init, _) = random_point(k, m, LearnEta::None, &mut rng);
    init.w[1] = init.w[0] + 5.0; // make state 0's tied pair greedy
    init.w[0] = init.w[1];
    let (head, tail) = init.f.split_at_mut(k);
    tail[..k].copy_from_slice(head);
    let (w, f) = (init.w.clone(), init.f.clone());
    let mut model = ImplicitFamily::new(init, &sp, SolverKind::Lu);
    assert_eq!(&model.pi()[..2], &[1.0, 0.0], "ties go to the lowest index");
    let g: Vec<f64> = (0..k).map(|_| rng.random_range(0.5..1.0)).collect();
    let grad = model.gradient(&g).expect("adjoint");
    let l0 = loss(k, m, &sp, &w, &f, &[], &g);
    let mut kinks = 0;
    let mut checked = Vec::new();
    for i in [0, 1] {
        checked.push((0, i, grad.dw[i]));
    }
    for j in 0..k {
        checked.push((1, j, grad.df[j]));
        checked.push((1, k + j, grad.df[k + j]));
    }
    for (which, i, ours) in checked {
        let side = |d: f64| {
            let (mut wp, mut fp) = (w.clone(), f.clone());
            [&mut wp, &mut fp][which][i] += d;
            loss(k, m, &sp, &wp, &fp, &[], &g)
        };
        let plus = (side(h) - l0) / h;
        let minus = (l0 - side(-h)) / h;
        let (lo, hi) = (plus.min(minus), plus.max(minus));
        let tol = 1e-4 * (plus.abs() + minus.abs()) + 1e-9;
        assert!(
            lo - tol <= ours && ours <= hi + tol,
            "param {which}/{i}: ours {ours} not in [{minus}, {plus}]"
        );
        if (plus - minus).abs() > 1e-3 * (plus.abs() + minus.abs()) {
            kinks += 1;
        }
    }
    assert!(
        kinks >= 2,
        "the tie should put kinks in w_00 and w_01 at least"
    );
}

#[test]
fn the_fixed_point_holds_to_1e_10_along_training_with_every_solver() {
    let (k, m) = (60, 3);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for (reduce, learn, solver) in [
        (Reduce::Max, LearnEta::None, SolverKind::Gmres),
        (Reduce::Max, LearnEta::PerStateAction, SolverKind::Refine),
        (Reduce::LogSumExp, LearnEta::Scalar, SolverKind::Gmres),
        (Reduce::LogSumExp, LearnEta::None, SolverKind::Lu),
    ] {
        let sp = spec(m, reduce, 0.5, learn, 0.95);
        let mut model = ImplicitFamily::new(draw_family_init(k, m, 2), &sp, solver);
        for step in 0..25 {
            let r = Reference::of_model(&model);
            let (res, b) = r.residual(model.theta());
            assert!(
                res <= 1e-10 * b,
                "{reduce:?} {learn:?} {solver:?} step {step}: {res:e} vs ‖b‖ {b:e}"
            );
            let g: Vec<f64> = (0..k).map(|_| rng.random_range(-1.0..1.0)).collect();
            if let Err(e) = model.sgd_step(&g, 2e-3) {
                panic!(
                    "{reduce:?} {learn:?} {solver:?} step {step}: {e:?} η {:?}",
                    model.learned_eta()
                );
            }
        }
        if learn != LearnEta::None {
            assert_ne!(model.learned_eta(), Some(0.95));
            assert!(model.learned_eta().is_some_and(|e| e > 0.0 && e < 1.0));
        } else {
            assert_eq!(model.learned_eta(), None);
        }
    }
}

#[test]
fn policy_iteration_terminates_and_a_capped_solve_says_so() {
    let (k, m) = (40, 4);
    for reduce in [Reduce::Max, Reduce::LogSumExp] {
        let sp = spec(m, reduce, 1.0, LearnEta::None, 0.95);
        let init = draw_family_init(k, m, 9);
        let (w, mut f) = (init.w.clone(), init.f.clone());
        let model = ImplicitFamily::new(init, &sp, SolverKind::Lu);
        // From θ = 0: finitely many policies, a handful of Newton steps.
        assert!(model.theta().iter().all(|t| t.is_finite()));
        assert!(
            (1..20).contains(&model.newton_steps()),
            "{reduce:?}: {}",
            model.newton_steps()
        );
        let r = Reference::of_model(&model);
        assert!(rel_err(model.theta(), &r.solve()) < 1e-9);
        let mut capped = model.clone();
        capped.set_max_iterations(0);
        f.iter_mut().for_each(|x| *x *= 1.5);
        let err = capped
            .set_params(&w, &f, &[])
            .expect_err("no Newton step allowed");
        let msg = err.to_string();
        assert!(msg.contains("was not reached in 0 Newton"), "{msg}");
        let step: StepError = err.into();
        assert!(matches!(step, StepError::FixedPoint(_)));
    }
}

/// `max ≤ logsumexp_τ ≤ max + τ log m` and both are monotone contractions of modulus `η`, so
/// `0 ≤ θ̂_lse − θ̂_max ≤ τ log m / (1 − η)` componentwise: logsumexp tends to max as `τ → 0`.
#[test]
fn logsumexp_tends_to_max_as_the_temperature_falls() {
    let (k, m, eta) = (30, 3, 0.9);
    let theta_max = ImplicitFamily::new(
        draw_family_init(k, m, 4),
        &spec(m, Reduce::Max, 1.0, LearnEta::None, eta),
        SolverKind::Lu,
    )
    .theta()
    .to_vec();
    let mut gaps = Vec::new();
    for tau in [1.0, 0.1, 0.01, 0.001] {
        let sp = spec(m, Reduce::LogSumExp, tau, LearnEta::None, eta);
        let lse = ImplicitFamily::new(draw_family_init(k, m, 4), &sp, SolverKind::Lu);
        let bound = tau * (m as f64).ln() / (1.0 - eta);
        let gap = lse
            .theta()
            .iter()
            .zip(&theta_max)
            .map(|(a, b)| a - b)
            .fold(f64::NEG_INFINITY, f64::max);
        for (a, b) in lse.theta().iter().zip(&theta_max) {
            assert!(
                a - b >= -1e-9 && a - b <= bound + 1e-9,
                "τ {tau}: {a} − {b} outside [0, {bound}]"
            );
        }
        gaps.push(gap);
    }
    assert!(gaps.windows(2).all(|p| p[1] < p[0]), "{gaps:?}");
    assert!(gaps[3] < 0.03, "{gaps:?}");
}

/// Two states, two pseudo-actions, η = 1/2:
/// - `a = 0`: logits 0, so `S_0 = [[1/2, 1/2], [1/2, 1/2]]`; rewards `w_{0,0} = 1`, `w_{1,0} = 0`.
/// - `a = 1`: logits `[ln 3, 0]` and `[0, ln 3]`, so `S_1 = [[3/4, 1/4], [1/4, 3/4]]`;
///   rewards `w_{0,1} = 0`, `w_{1,1} = 2`.
///
/// Guess the policy (a = 0 in state 0, a = 1 in state 1) and evaluate it:
/// `θ₀ = 1 + ½(½θ₀ + ½θ₁)` gives `3θ₀ − θ₁ = 4`; `θ₁ = 2 + ½(¼θ₀ + ¾θ₁)` gives `5θ₁ − θ₀ = 16`;
/// so `14θ₀ = 36`: `θ₀ = 18/7`, `θ₁ = 26/7`. Check that it is greedy: in state 0, `a = 1` gives
/// `½(¾·18/7 + ¼·26/7) = 10/7 < 18/7`; in state 1, `a = 0` gives `½(½·18/7 + ½·26/7) = 11/7 <
/// 26/7`. So `θ* = (18/7, 26/7)`, the greedy policy is unique, and `J = ½ [[1/2, 1/2], [1/4, 3/4]]`.
#[test]
fn a_hand_solved_two_state_two_action_mdp() {
    let l3 = 3f64.ln();
    let init = FamilyInit {
        k: 2,
        m: 2,
        w: vec![1.0, 0.0, 0.0, 2.0],
        f: vec![0.0, 0.0, l3, 0.0, 0.0, 0.0, 0.0, l3],
    };
    for solver in [SolverKind::Lu, SolverKind::Gmres] {
        let model = ImplicitFamily::new(
            init.clone(),
            &spec(2, Reduce::Max, 1.0, LearnEta::None, 0.5),
            solver,
        );
        let want = [18.0 / 7.0, 26.0 / 7.0];
        for (a, b) in model.theta().iter().zip(want) {
            assert!((a - b).abs() < 1e-14, "{a} vs {b}");
        }
        assert_eq!(&model.pi()[..], &[1.0, 0.0, 0.0, 1.0]);
        // One value-iteration step: from θ = 0 it gives max_a w_{ka}; at θ* it stays there.
        let (v0, pi0, _) = model.reduce_at(&[0.0, 0.0]);
        assert_eq!((v0, pi0), (vec![1.0, 2.0], vec![1.0, 0.0, 0.0, 1.0]));
        let (v, _, j) = model.reduce_at(model.theta());
        assert!(
            v.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-14),
            "{v:?}"
        );
        assert_eq!(j, model.jacobian());
        let want_j = [0.25, 0.25, 0.125, 0.375];
        for (a, b) in model.jacobian().iter().zip(want_j) {
            assert!((a - b).abs() < 1e-15, "{a} vs {b}");
        }
    }
    // Logsumexp lies above these values, within τ log m / (1 − η).
    let tau = 0.1;
    let sp = spec(2, Reduce::LogSumExp, tau, LearnEta::None, 0.5);
    let lse = ImplicitFamily::new(init, &sp, SolverKind::Lu);
    for (a, b) in lse.theta().iter().zip([18.0 / 7.0, 26.0 / 7.0]) {
        assert!(*a > b && *a < b + tau * 2f64.ln() * 2.0, "{a} vs {b}");
    }
}

#[test]
fn explicit_kinds_start_from_the_family_fixed_point() {
    let (k, m) = (12, 3);
    for reduce in [Reduce::Max, Reduce::LogSumExp] {
        let sp = spec(m, reduce, 0.7, LearnEta::Scalar, 0.9);
        let imp = ParamKind::Implicit.init_model(k, &sp, 1, SolverKind::Lu);
        for p in [ParamKind::Explicit, ParamKind::ExplicitMatrix] {
            let e = p.init_model(k, &sp, 1, SolverKind::Lu);
            // θ̂ meets `‖θ − reduce Q(θ)‖ ≤ 1e-10‖b‖`; `Mb` is `(I − J)⁻¹b` to rounding, and
            // cond(I − J) ≤ (1 + η)/(1 − η) = 19.
            let e_rel = rel_err(e.theta(), imp.theta());
            assert!(e_rel < 19e-10, "{p:?} {reduce:?}: {e_rel:e}");
            assert_eq!(e.learned_eta(), None);
        }
    }
}

fn run_log(settings: RunSettings) -> String {
    let cfg = settings.resolve().expect("valid");
    format!(
        "{:?}",
        imprl::run::run(&cfg, &mut Silent).expect("runs").log
    )
}

/// `m = 1` is the paper's model, bit for bit, with either reduction at any temperature.
#[test]
fn one_pseudo_action_gives_byte_identical_logs() {
    for domain in [
        DomainKind::Chain,
        DomainKind::FourRooms,
        DomainKind::MountainCar,
    ] {
        for param in ParamKind::ALL {
            let base = RunSettings {
                domain: Some(domain),
                param: Some(param),
                steps: Some(60),
                ..Default::default()
            };
            let default = run_log(base);
            for (reduce, tau) in [
                (Reduce::LogSumExp, 1.0),
                (Reduce::LogSumExp, 0.2),
                (Reduce::Max, 3.0),
            ] {
                let flagged = run_log(RunSettings {
                    actions: Some(1),
                    reduce: Some(reduce),
                    temperature: Some(tau),
                    ..base
                });
                assert_eq!(default, flagged, "{domain:?} {param:?} {reduce:?}");
            }
        }
    }
}

#[test]
fn bad_model_settings_are_config_errors() {
    let base = RunSettings {
        domain: Some(DomainKind::Chain),
        param: Some(ParamKind::Implicit),
        ..Default::default()
    };
    for (name, s) in [
        (
            "actions",
            RunSettings {
                actions: Some(0),
                ..base
            },
        ),
        (
            "actions",
            RunSettings {
                actions: Some(65),
                ..base
            },
        ),
        (
            "temperature",
            RunSettings {
                temperature: Some(0.0),
                ..base
            },
        ),
        (
            "temperature",
            RunSettings {
                temperature: Some(-1.0),
                ..base
            },
        ),
        (
            "temperature",
            RunSettings {
                temperature: Some(f64::NAN),
                ..base
            },
        ),
        (
            "temperature",
            RunSettings {
                temperature: Some(f64::INFINITY),
                ..base
            },
        ),
    ] {
        let e = s.resolve().expect_err(name).to_string();
        assert!(e.contains(&format!("`{name}`")), "{e}");
    }
    let e = RunSettings {
        eta: Some(0.0),
        learn_eta: Some(LearnEta::Scalar),
        ..base
    }
    .resolve()
    .expect_err("logit(0) is not finite")
    .to_string();
    assert!(e.contains("`eta`") && e.contains("learn_eta"), "{e}");
    // The model family's settings are appended together, after the published ones (later
    // settings, such as `grad`, may follow them).
    let at = SETTINGS
        .iter()
        .position(|s| s.name == "actions")
        .expect("actions is declared");
    assert!(SETTINGS[at..].iter().take(4).map(|s| s.name).eq([
        "actions",
        "reduce",
        "temperature",
        "learn_eta"
    ]));
    assert!(
        at > SETTINGS
            .iter()
            .position(|s| s.name == "solver")
            .expect("solver")
    );
}

/// Every new setting runs on every domain with finite logs (issue 11's check).
#[test]
fn family_runs_are_finite_on_every_domain() {
    for domain in [
        DomainKind::Chain,
        DomainKind::FourRooms,
        DomainKind::MountainCar,
    ] {
        for (m, reduce, learn) in [
            (4, Reduce::Max, LearnEta::None),
            (2, Reduce::LogSumExp, LearnEta::PerStateAction),
        ] {
            let cfg = RunSettings {
                domain: Some(domain),
                param: Some(ParamKind::Implicit),
                steps: Some(40),
                actions: Some(m),
                reduce: Some(reduce),
                learn_eta: Some(learn),
                ..Default::default()
            }
            .resolve()
            .expect("valid");
            let log = imprl::run::run(&cfg, &mut Silent).expect("runs").log;
            assert!(
                log.failure.is_none(),
                "{domain:?} {m} {reduce:?}: {:?}",
                log.failure
            );
            assert!(
                log.rows.iter().all(|r| r.mse.is_finite()),
                "{domain:?} {m} {reduce:?}"
            );
        }
    }
}

/// `eta_lr_factor` scales the step of a learned `η`'s `ρ` only: with SGD (fused path), momentum
/// and Adam, one step from the same point moves `w` and `F` the same and `ρ` by the factor times
/// the step at factor 1; factor 1 is the default, bit for bit.
#[test]
fn eta_lr_factor_scales_only_the_step_of_rho() {
    use imprl::optim::{Optimizer, OptimizerKind, OptimizerSpec};
    let (k, m) = (7, 2);
    let g: Vec<f64> = (0..k).map(|i| (i as f64 * 0.7).sin()).collect();
    for kind in [
        OptimizerKind::Sgd,
        OptimizerKind::Momentum,
        OptimizerKind::Adam,
    ] {
        for learn in [LearnEta::Scalar, LearnEta::PerStateAction] {
            let step = |factor: f64| {
                let sp = ModelSpec {
                    eta_lr_factor: factor,
                    ..spec(m, Reduce::LogSumExp, 1.0, learn, 0.9)
                };
                let mut model = ImplicitFamily::new(draw_family_init(k, m, 4), &sp, SolverKind::Lu);
                let rho0 = model.rho().to_vec();
                let mut opt = Optimizer::new(OptimizerSpec::with_defaults(kind, 0.05));
                model.step(&g, &mut opt).expect("a finite step");
                let drho: Vec<f64> = model.rho().iter().zip(&rho0).map(|(a, b)| a - b).collect();
                (model.w().to_vec(), model.f().to_vec(), drho)
            };
            let (w1, f1, d1) = step(1.0);
            let (w2, f2, d2) = step(0.25);
            assert_eq!((&w1, &f1), (&w2, &f2), "{kind:?} {learn:?}: w and F");
            assert!(
                d1.iter().any(|d| d.abs() > 1e-6),
                "{kind:?} {learn:?}: ρ moved"
            );
            for (a, b) in d1.iter().zip(&d2) {
                assert!(
                    (b - 0.25 * a).abs() <= 1e-12 * a.abs().max(1e-300),
                    "{kind:?} {learn:?}: Δρ {b} against 0.25·{a}"
                );
            }
        }
    }
}
