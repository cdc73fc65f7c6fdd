//! Theorem 1 for the model family (SPEC §2, §8.1, §8.2): the preconditioner of the implicit
//! update when `θ̂ = reduce Q(θ̂)` has `m` pseudo-actions and, possibly, a learned discount.

use super::mul;
use crate::data::dot;
use crate::param::{ImplicitFamily, ImplicitLayer, Parameterization};
use std::ops::ControlFlow;

/// The family's preconditioner `P = A⁻¹ C A⁻ᵀ` with `A = I − J`,
/// `J = Σ_a diag(π_{·a}) diag(η_{·a}) S_a`, so that one SGD step of size `α` changes `θ̂` by
/// `−αPg + O(α²)` (Theorem 1's statement, generalized). `C = Σ_ψ (∂R/∂ψ)(∂R/∂ψ)ᵀ` sums over
/// the parameters the derivatives of the fixed-point map `R = reduce Q` at fixed `θ`:
/// `c_k = Σ_a π_{ka}² (1 + η_{ka}² d_{ka} + [ρ per state-action] (η_{ka}(1 − η_{ka})(S_aθ̂)_k)²)`
/// on the diagonal, with `d_{ka} = Σ_j S_{a,kj}²(θ̂_j − (S_aθ̂)_k)²` (for `m = 1` and a fixed `η`,
/// `c = 1 + η²d`: Theorem 1's `η²D + I`), plus, for a scalar learned `η`, the rank-one `vvᵀ`
/// with `v_k = Σ_a π_{ka}(S_aθ̂)_k η(1 − η)`. Formed as `BBᵀ`, `B = A⁻¹[diag(√c) | v]`, so it
/// is symmetric positive semidefinite to rounding (positive definite: `c ≥ Σ_a π_{ka}² > 0`).
pub fn family_preconditioner(fam: &ImplicitFamily) -> Vec<f64> {
    let (k, m) = (fam.k(), fam.actions());
    let pi = fam.pi();
    let (s, eta, st, theta) = (fam.s(), fam.eta(), fam.sa_theta(), fam.theta());
    let learn = fam.rho().len();
    let mut c = vec![0.0; k];
    let mut v = vec![0.0; k];
    for i in 0..k * m {
        let kk = i / m;
        let d: f64 = s[i * k..(i + 1) * k]
            .iter()
            .zip(theta)
            .map(|(sv, t)| (sv * (t - st[i])).powi(2))
            .sum();
        let de = eta[i] * (1.0 - eta[i]) * st[i];
        let rho_term = if learn > 1 { de * de } else { 0.0 };
        c[kk] += pi[i] * pi[i] * (1.0 + eta[i] * eta[i] * d + rho_term);
        v[kk] += pi[i] * de;
    }
    let scalar = learn == 1;
    let cols = if scalar { k + 1 } else { k };
    // B = A⁻¹[diag(√c) | v], column by column, stored row-major k × cols.
    let mut lu = fam.factorization();
    let mut b = vec![0.0; k * cols];
    let mut col = vec![0.0; k];
    for jcol in 0..cols {
        if jcol < k {
            col.fill(0.0);
            col[jcol] = c[jcol].sqrt();
        } else {
            col.copy_from_slice(&v);
        }
        lu.solve_in_place(&mut col);
        for (i, x) in col.iter().enumerate() {
            b[i * cols + jcol] = *x;
        }
    }
    let mut p = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..=i {
            let x = dot(&b[i * cols..(i + 1) * cols], &b[j * cols..(j + 1) * cols]);
            p[i * k + j] = x;
            p[j * k + i] = x;
        }
    }
    p
}

/// `‖Δθ̂ + αPg‖ / ‖αPg‖` for one real SGD step of size `α` from a copy of `fam` (Theorem 1's
/// oracle: `O(α)`); `None` if the step fails.
pub fn family_theorem1_rel_error(
    fam: &ImplicitFamily,
    p: &[f64],
    g: &[f64],
    alpha: f64,
) -> Option<f64> {
    use crate::param::Parameterization;
    let mut next = fam.clone();
    next.sgd_step(g, alpha).ok()?;
    let pg = mul(p, g);
    let num: f64 = next
        .theta()
        .iter()
        .zip(fam.theta())
        .zip(&pg)
        .map(|((a, b), q)| (a - b + alpha * q).powi(2))
        .sum::<f64>()
        .sqrt();
    let den = alpha * pg.iter().map(|q| q * q).sum::<f64>().sqrt();
    Some(num / den)
}

/// Theorem 1 at one checkpoint of a model-family run (SPEC §2, §8.1, §8.2): the generalized
/// preconditioner's extreme eigenvalues and the one-step oracle's relative error at the run's
/// learning rate `α` and at `α/4` (first order: the error falls about fourfold).
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyCheckpoint {
    /// Updates done.
    pub step: usize,
    /// Smallest eigenvalue of `P` (positive: Corollary 1's global convergence).
    pub p_lambda_min: f64,
    /// Largest eigenvalue of `P`.
    pub p_lambda_max: f64,
    /// `‖Δθ̂ + αPḡ‖ / ‖αPḡ‖` for the full-batch gradient `ḡ` (NaN if the step fails).
    pub thm1_rel_err: f64,
    /// The same at `α/4`.
    pub thm1_rel_err_quarter: f64,
}

/// The analysis of a model-family run: Theorem 1 (generalized) at `checkpoints` along the real
/// training run of `cfg` on `problem`. The Perron split and Theorems 4–5 are stated for the
/// paper's Markov reward chain with a fixed `η` and do not apply here.
pub fn family_analysis(
    cfg: &crate::config::RunConfig,
    problem: &crate::data::Problem,
    checkpoints: &[usize],
) -> Result<Vec<FamilyCheckpoint>, crate::config::ConfigError> {
    struct Watch<'a> {
        data: &'a crate::data::Dataset,
        checkpoints: &'a [usize],
        alpha: f64,
        rows: Vec<FamilyCheckpoint>,
    }
    impl Watch<'_> {
        fn at(&mut self, step: usize, fam: &ImplicitFamily) {
            if !self.checkpoints.contains(&step) {
                return;
            }
            let k = fam.k();
            let p = family_preconditioner(fam);
            let eig = super::symmetric_eigenvalues(&p, k).unwrap_or_else(|| vec![f64::NAN]);
            let full: Vec<usize> = (0..self.data.len()).collect();
            let mut g = vec![0.0; k];
            crate::train::minibatch_gradient(self.data, fam.theta(), &full, &mut g);
            let err = |a| family_theorem1_rel_error(fam, &p, &g, a).unwrap_or(f64::NAN);
            self.rows.push(FamilyCheckpoint {
                step,
                p_lambda_min: eig[0],
                p_lambda_max: eig[eig.len() - 1],
                thm1_rel_err: err(self.alpha),
                thm1_rel_err_quarter: err(self.alpha / 4.0),
            });
        }
    }
    impl crate::train::Observer<ImplicitFamily> for Watch<'_> {
        fn on_start(&mut self, fam: &ImplicitFamily) {
            self.at(0, fam);
        }
        fn on_step(&mut self, step: usize, _g: &[f64], fam: &ImplicitFamily) -> ControlFlow<()> {
            self.at(step, fam);
            ControlFlow::Continue(())
        }
    }
    let mut watch = Watch {
        data: &problem.train,
        checkpoints,
        alpha: cfg.lr,
        rows: Vec::new(),
    };
    crate::config::check_data(cfg, problem)?;
    // The training run's model, built by its own type (that of `imprl run` for this `cfg`).
    let mut fam =
        crate::param::init_family(problem.train.k, &cfg.model_spec(), cfg.seed, cfg.solver);
    fam.set_grad_mode(cfg.grad);
    crate::train::to_the_end(crate::run::train_model(cfg, problem, &mut fam, &mut watch));
    Ok(watch.rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::SolverKind;
    use crate::param::{draw_family_init, LearnEta, ModelSpec, Reduce};
    use crate::theory::symmetric_eigenvalues;
    use rand::{Rng, SeedableRng};

    /// One small SGD step moves `θ̂` by `−αPg` to first order: the relative error falls about
    /// tenfold when `α` does, for every reduction and discount parameterization (steps small
    /// enough that the greedy pseudo-actions of `max` do not change).
    #[test]
    fn one_step_moves_theta_by_minus_alpha_p_g() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let k = 8;
        for (m, reduce) in [(3, Reduce::Max), (3, Reduce::LogSumExp), (1, Reduce::Max)] {
            for learn in [LearnEta::None, LearnEta::Scalar, LearnEta::PerStateAction] {
                let spec = ModelSpec {
                    eta: 0.9,
                    actions: m,
                    reduce,
                    temperature: 0.5,
                    learn_eta: learn,
                    eta_lr_factor: 1.0,
                };
                let fam = ImplicitFamily::new(draw_family_init(k, m, 3), &spec, SolverKind::Lu);
                let p = family_preconditioner(&fam);
                let eig = symmetric_eigenvalues(&p, k).expect("eigenvalues");
                assert!(eig[0] > 0.0, "P positive definite: {eig:?}");
                let g: Vec<f64> = (0..k).map(|_| rng.random_range(-1.0..1.0)).collect();
                let e1 = family_theorem1_rel_error(&fam, &p, &g, 1e-5).expect("step");
                let e2 = family_theorem1_rel_error(&fam, &p, &g, 1e-6).expect("step");
                assert!(
                    e2 < 1e-4 && e2 < 0.2 * e1,
                    "m {m} {reduce:?} {learn:?}: {e1:e} → {e2:e}"
                );
            }
        }
    }
}
