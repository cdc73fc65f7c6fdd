//! Oracles for the implicit gradients (SPEC §1–§2): central finite differences at random
//! points, and Theorem 1's preconditioner for one small SGD step.

use imprl::param::{ExplicitMatrix, Implicit, ImplicitInit, ImplicitLayer, Parameterization};
use proptest::prelude::*;

/// A random regression problem: `X` (`n × k`), `y`.
fn problem(k: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n = 2 * k + 3;
    let x = (0..n * k).map(|_| rng.random_range(-1.0..1.0)).collect();
    let y = (0..n).map(|_| rng.random_range(-5.0..5.0)).collect();
    (x, y)
}

/// `L(θ) = 1/(2n) Σ (x_iᵀθ − y_i)²` and its gradient `g = (1/n) Σ r_i x_i`.
fn loss_and_grad(x: &[f64], y: &[f64], theta: &[f64]) -> (f64, Vec<f64>) {
    let k = theta.len();
    let n = y.len();
    let mut g = vec![0.0; k];
    let mut l = 0.0;
    for i in 0..n {
        let row = &x[i * k..(i + 1) * k];
        let r: f64 = row.iter().zip(theta).map(|(a, b)| a * b).sum::<f64>() - y[i];
        l += r * r;
        for j in 0..k {
            g[j] += r * row[j] / n as f64;
        }
    }
    (l / (2.0 * n as f64), g)
}

fn implicit_at(w: &[f64], f: &[f64], eta: f64) -> Implicit {
    Implicit::new(
        ImplicitInit {
            k: w.len(),
            w: w.to_vec(),
            f: f.to_vec(),
        },
        eta,
    )
}

fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt();
    let den: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    num / den
}

fn point() -> impl Strategy<Value = (usize, f64, Vec<f64>, Vec<f64>, u64)> {
    (
        5usize..9,
        prop::sample::select(vec![0.0, 0.5, 0.8, 0.95, 0.975]),
        any::<u64>(),
    )
        .prop_flat_map(|(k, eta, seed)| {
            (
                Just(k),
                Just(eta),
                prop::collection::vec(-1.0f64..1.0, k),
                prop::collection::vec(-3.0f64..3.0, k * k),
                Just(seed),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// ∂L/∂w and ∂L/∂F by the implicit function theorem equal central differences of
    /// `L(θ̂(w, F))` to a relative error below 1e-6.
    #[test]
    fn implicit_gradient_matches_finite_differences((k, eta, w, f, seed) in point()) {
        let (x, y) = problem(k, seed);
        let mut m = implicit_at(&w, &f, eta);
        let (_, g) = loss_and_grad(&x, &y, m.theta());
        let grad = m.gradient(&g).expect("solvable");
        let loss = |w: &[f64], f: &[f64]| loss_and_grad(&x, &y, implicit_at(w, f, eta).theta()).0;
        let h = 1e-5;
        let mut fd_w = vec![0.0; k];
        for i in 0..k {
            let (mut wp, mut wm) = (w.clone(), w.clone());
            wp[i] += h;
            wm[i] -= h;
            fd_w[i] = (loss(&wp, &f) - loss(&wm, &f)) / (2.0 * h);
        }
        let mut fd_f = vec![0.0; k * k];
        for i in 0..k * k {
            let (mut fp, mut fm) = (f.clone(), f.clone());
            fp[i] += h;
            fm[i] -= h;
            fd_f[i] = (loss(&w, &fp) - loss(&w, &fm)) / (2.0 * h);
        }
        let ew = rel_err(&grad.dw, &fd_w);
        prop_assert!(ew < 1e-6, "w: relative error {ew}");
        if eta > 0.0 {
            let ef = rel_err(&grad.df, &fd_f);
            prop_assert!(ef < 1e-6, "F: relative error {ef}");
        } else {
            prop_assert!(grad.df.iter().all(|&d| d == 0.0));
        }
    }

    /// The fused SGD step of `Implicit` applies exactly `ψ − α∇ψL` of `gradient`.
    #[test]
    fn fused_step_equals_gradient_step((k, eta, w, f, seed) in point()) {
        let (x, y) = problem(k, seed);
        let mut m = implicit_at(&w, &f, eta);
        let (_, g) = loss_and_grad(&x, &y, m.theta());
        let grad = m.gradient(&g).expect("solvable");
        let lr = 0.01;
        let w2: Vec<f64> = w.iter().zip(&grad.dw).map(|(a, d)| a - lr * d).collect();
        let f2: Vec<f64> = f.iter().zip(&grad.df).map(|(a, d)| a - lr * d).collect();
        m.sgd_step(&g, lr).expect("finite");
        let reference = implicit_at(&w2, &f2, eta);
        prop_assert!(rel_err(m.theta(), reference.theta()) < 1e-13);
    }

    /// explicit-matrix: `∂L/∂w = Mᵀg`, `∂L/∂M = g wᵀ`; a small step decreases `L` by ≈ α‖∇ψL‖².
    #[test]
    fn explicit_matrix_step_is_a_gradient_step((k, eta, w, f, seed) in point()) {
        let (x, y) = problem(k, seed);
        let imp = implicit_at(&w, &f, eta);
        let mut em = ExplicitMatrix::from_implicit(&imp);
        prop_assert!(rel_err(em.theta(), imp.theta()) < 1e-12);
        let (l0, g) = loss_and_grad(&x, &y, em.theta());
        // ‖∇ψL‖² = ‖Mᵀg‖² + ‖g‖²‖w‖², with M = A⁻¹: ‖Mᵀg‖ from the transpose solve.
        let mut mtg = g.clone();
        imp.factorization().solve_transpose_in_place(&mut mtg);
        let gn2 = mtg.iter().map(|v| v * v).sum::<f64>()
            + g.iter().map(|v| v * v).sum::<f64>() * w.iter().map(|v| v * v).sum::<f64>();
        let alpha = 1e-7;
        em.sgd_step(&g, alpha).expect("finite");
        let (l1, _) = loss_and_grad(&x, &y, em.theta());
        let predicted = -alpha * gn2;
        prop_assert!(((l1 - l0) - predicted).abs() < 1e-3 * predicted.abs(), "{} vs {}", l1 - l0, predicted);
    }
}

/// `P g` with `P = A⁻¹ (η²D + I) A⁻ᵀ`, `d_k = ‖J_k θ̂‖²`, `J_k = diag(s_k) − s_k s_kᵀ` (Theorem 1).
fn precondition(m: &mut Implicit, g: &[f64]) -> Vec<f64> {
    let k = m.k();
    let eta = m.eta();
    let mut u = g.to_vec();
    m.solve_transpose(&mut u).expect("solvable");
    for (kk, uk) in u.iter_mut().enumerate() {
        let s = &m.s()[kk * k..(kk + 1) * k];
        let st = m.s_theta()[kk];
        let d: f64 = s
            .iter()
            .zip(m.theta())
            .map(|(sj, tj)| (sj * (tj - st)).powi(2))
            .sum();
        *uk *= eta * eta * d + 1.0;
    }
    m.solve(&mut u).expect("solvable");
    u
}

/// Theorem 1: one SGD step with learning rate α changes θ̂ by −αPg + O(α²): the error of the
/// first-order prediction falls about 4× when α halves.
#[test]
fn theorem1_predicts_one_small_step() {
    for (k, eta, seed) in [(6, 0.5, 1u64), (9, 0.9, 2), (11, 0.975, 3), (7, 0.8, 4)] {
        let (x, y) = problem(k, seed);
        let init = imprl::param::draw_implicit_init(k, seed);
        let (w, f) = (
            init.w.clone(),
            init.f.iter().map(|v| v * 3.0).collect::<Vec<_>>(),
        );
        let mut m = implicit_at(&w, &f, eta);
        let theta0 = m.theta().to_vec();
        let (_, g) = loss_and_grad(&x, &y, &theta0);
        let pg = precondition(&mut m, &g);
        let err = |alpha: f64| {
            let mut step = implicit_at(&w, &f, eta);
            step.sgd_step(&g, alpha).expect("finite");
            let d: Vec<f64> = step
                .theta()
                .iter()
                .zip(&theta0)
                .map(|(a, b)| a - b)
                .collect();
            let pred: Vec<f64> = pg.iter().map(|p| -alpha * p).collect();
            d.iter()
                .zip(&pred)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        let alpha = 1e-3;
        let (e1, e2, e3) = (err(alpha), err(alpha / 2.0), err(alpha / 4.0));
        let step_size = alpha * pg.iter().map(|p| p * p).sum::<f64>().sqrt();
        assert!(
            e1 < 1e-2 * step_size,
            "k={k} η={eta}: error {e1} vs step {step_size}"
        );
        for ratio in [e1 / e2, e2 / e3] {
            assert!(
                (3.5..4.5).contains(&ratio),
                "k={k} η={eta}: halving α cut the error by {ratio}, not ~4"
            );
        }
    }
}
