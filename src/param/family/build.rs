//! Building a model of the family from given parameters, for callers outside training (such as
//! the Python package's implicit layer).

use super::{FamilyInit, FixedPointError, ImplicitFamily, ModelSpec};
use crate::linalg::SolverKind;
use crate::param::all_finite;
use crate::param::reduce::Reduce;

impl ImplicitFamily {
    /// The model with `m` pseudo-actions at rewards `w` (`k × m`, row-major), logits `F`
    /// (`k × m × k`, row `k·m + a` is `F_{ka·}`), a fixed internal discount `η` and the
    /// reduction `reduce` with temperature `τ` (SPEC §8.1): `θ̂ = reduce_a(w_{·a} + η S_aθ̂)`,
    /// `S_a = σ(F_{·a·})`, solved by LU; or the error of a forward solve that does not converge.
    ///
    /// # Panics
    /// If `w.len() != k·m` or `f.len() != k·m·k`: the caller checks the shapes.
    pub fn from_params(
        (k, m): (usize, usize),
        w: Vec<f64>,
        f: Vec<f64>,
        eta: f64,
        (reduce, tau): (Reduce, f64),
    ) -> Result<Self, FixedPointError> {
        assert!(
            w.len() == k * m && f.len() == k * m * k,
            "shapes of w and F"
        );
        let spec = ModelSpec {
            actions: m,
            reduce,
            temperature: tau,
            ..ModelSpec::singleton(eta)
        };
        let mut me = Self::new(FamilyInit { k, m, w, f }, &spec, SolverKind::Lu);
        if !all_finite(&me.theta) {
            // `new` keeps a failed solve as NaN: solve again from zero for its error.
            me.theta.fill(0.0);
            me.solve_forward()?;
        }
        Ok(me)
    }

    /// As [`ImplicitFamily::from_params`], with the fixed internal discounts `eta` either one
    /// `η` for every `(k, a)` (length 1) or `η_{ka}` per state and pseudo-action (length `k·m`,
    /// row-major, SPEC §8.2: `Q(θ)_{ka} = w_{ka} + η_{ka}(S_aθ)_k`, and the gradient
    /// `∂L/∂η_{ka} = u_k π_{ka}(S_aθ̂)_k` in [`crate::param::ModelGrad::deta`]), and the forward
    /// solve's Newton iteration started at `start` (`θ_0`, length `k`) instead of 0.
    ///
    /// A start is a warm start only: `θ̂` is the fixed point to the same tolerance from any
    /// start (from `θ̂` itself the solve takes no Newton step and `π`, `J` and its factorization
    /// are those of the solve that found it, so the gradients are the same bits). If the solve
    /// from `start` fails, `θ̂` is solved again from 0, as without a start. With `eta` of length
    /// 1 and no start this is [`ImplicitFamily::from_params`], bit for bit.
    ///
    /// # Panics
    /// If `w.len() != k·m`, `f.len() != k·m·k`, `eta.len()` is neither 1 nor `k·m`, or
    /// `start.len() != k`: the caller checks the shapes.
    pub fn from_params_with(
        (k, m): (usize, usize),
        w: Vec<f64>,
        f: Vec<f64>,
        eta: &[f64],
        (reduce, tau): (Reduce, f64),
        start: Option<&[f64]>,
    ) -> Result<Self, FixedPointError> {
        assert!(
            w.len() == k * m && f.len() == k * m * k,
            "shapes of w and F"
        );
        assert!(eta.len() == 1 || eta.len() == k * m, "shape of eta");
        assert!(start.is_none_or(|s| s.len() == k), "shape of the start");
        let spec = ModelSpec {
            actions: m,
            reduce,
            temperature: tau,
            ..ModelSpec::singleton(eta[0])
        };
        let mut me = Self::unsolved(FamilyInit { k, m, w, f }, &spec, SolverKind::Lu);
        if eta.len() > 1 {
            me.eta.copy_from_slice(eta);
            me.eta_per_state_action = true;
        }
        if let Some(start) = start {
            me.theta.copy_from_slice(start);
            if me.solve_forward().is_ok() {
                return Ok(me);
            }
            me.theta.fill(0.0);
        }
        me.solve_forward()?;
        Ok(me)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::param::{draw_family_init, ImplicitLayer, Parameterization};

    const G: [f64; 5] = [0.3, -1.0, 0.7, 0.2, -0.4];

    fn bits(x: &[f64]) -> Vec<u64> {
        x.iter().map(|v| v.to_bits()).collect()
    }

    /// Per-state-action discounts in [0.5, 0.95).
    fn discounts(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| 0.5 + 0.45 * ((i * 7 % 11) as f64 / 11.0))
            .collect()
    }

    fn loss(init: &FamilyInit, eta: &[f64], reduction: (Reduce, f64)) -> f64 {
        let fam = ImplicitFamily::from_params_with(
            (init.k, init.m),
            init.w.clone(),
            init.f.clone(),
            eta,
            reduction,
            None,
        )
        .expect("solvable");
        fam.theta().iter().zip(&G).map(|(t, g)| t * g).sum()
    }

    #[test]
    fn family_with_one_eta_and_no_start_is_from_params_bit_for_bit() {
        for reduction in [(Reduce::Max, 1.0), (Reduce::LogSumExp, 0.5)] {
            let init = draw_family_init(5, 3, 11);
            let mut a =
                ImplicitFamily::from_params((5, 3), init.w.clone(), init.f.clone(), 0.9, reduction)
                    .expect("solvable");
            let mut b =
                ImplicitFamily::from_params_with((5, 3), init.w, init.f, &[0.9], reduction, None)
                    .expect("solvable");
            assert_eq!(bits(a.theta()), bits(b.theta()));
            let (ga, gb) = (
                a.gradient(&G).expect("adjoint"),
                b.gradient(&G).expect("adjoint"),
            );
            assert_eq!(bits(&ga.dw), bits(&gb.dw));
            assert_eq!(bits(&ga.df), bits(&gb.df));
            assert_eq!(bits(&ga.deta), bits(&gb.deta));
            assert_eq!(b.params()[2].shape, Vec::<usize>::new());
        }
    }

    #[test]
    fn family_started_at_its_fixed_point_takes_no_newton_step_and_the_same_gradient() {
        for reduction in [(Reduce::Max, 1.0), (Reduce::LogSumExp, 0.5)] {
            let init = draw_family_init(5, 2, 12);
            let eta = discounts(10);
            let mut cold = ImplicitFamily::from_params_with(
                (5, 2),
                init.w.clone(),
                init.f.clone(),
                &eta,
                reduction,
                None,
            )
            .expect("solvable");
            assert!(cold.newton_steps() > 0);
            let start = cold.theta().to_vec();
            let mut warm = ImplicitFamily::from_params_with(
                (5, 2),
                init.w,
                init.f,
                &eta,
                reduction,
                Some(&start),
            )
            .expect("solvable");
            assert_eq!(warm.newton_steps(), 0);
            assert_eq!(bits(warm.theta()), bits(cold.theta()));
            let (gc, gw) = (
                cold.gradient(&G).expect("adjoint"),
                warm.gradient(&G).expect("adjoint"),
            );
            assert_eq!(bits(&gc.dw), bits(&gw.dw));
            assert_eq!(bits(&gc.df), bits(&gw.df));
            assert_eq!(bits(&gc.deta), bits(&gw.deta));
        }
    }

    #[test]
    fn family_from_any_start_reaches_the_fixed_point_and_a_failed_start_falls_back_to_zero() {
        let init = draw_family_init(5, 3, 13);
        let reduction = (Reduce::LogSumExp, 0.7);
        let build = |start: Option<&[f64]>| {
            ImplicitFamily::from_params_with(
                (5, 3),
                init.w.clone(),
                init.f.clone(),
                &[0.9],
                reduction,
                start,
            )
            .expect("solvable")
        };
        let cold = build(None);
        let scale = cold.theta().iter().fold(0.0_f64, |a, t| a.max(t.abs()));
        let far = build(Some(&[30.0, -20.0, 5.0, 0.0, 1e3]));
        for (a, b) in far.theta().iter().zip(cold.theta()) {
            assert!((a - b).abs() <= 1e-9 * scale, "{a} vs {b}");
        }
        let failed = build(Some(&[f64::NAN; 5]));
        assert_eq!(bits(failed.theta()), bits(cold.theta()));
    }

    #[test]
    fn family_per_state_discounts_solve_their_fixed_point() {
        // m = 1: the chain θ̂ = (I − diag(η)S)⁻¹w, solved here by Gaussian elimination.
        let (k, init) = (5, draw_family_init(5, 1, 14));
        let eta = discounts(k);
        let fam = ImplicitFamily::from_params_with(
            (k, 1),
            init.w.clone(),
            init.f.clone(),
            &eta,
            (Reduce::Max, 1.0),
            None,
        )
        .expect("solvable");
        let s = fam.s();
        let mut a: Vec<Vec<f64>> = (0..k)
            .map(|i| {
                let mut row: Vec<f64> = (0..k).map(|j| -eta[i] * s[i * k + j]).collect();
                row[i] += 1.0;
                row.push(init.w[i]);
                row
            })
            .collect();
        for c in 0..k {
            let p = (c..k)
                .max_by(|&x, &y| a[x][c].abs().total_cmp(&a[y][c].abs()))
                .expect("rows");
            a.swap(c, p);
            for r in 0..k {
                if r != c {
                    let factor = a[r][c] / a[c][c];
                    let pivot = a[c].clone();
                    for (x, y) in a[r].iter_mut().zip(&pivot) {
                        *x -= factor * y;
                    }
                }
            }
        }
        for (i, t) in fam.theta().iter().enumerate() {
            let exact = a[i][k] / a[i][i];
            assert!(
                (t - exact).abs() <= 1e-10 * exact.abs().max(1.0),
                "{t} vs {exact}"
            );
        }
        assert_eq!(fam.eta(), &eta[..]);
        assert_eq!(fam.params()[2].shape, vec![k, 1]);
        // m = 2, max: θ̂ = max_a (w_{·a} + η_{·a} (S_aθ̂)).
        let init = draw_family_init(5, 2, 15);
        let eta = discounts(10);
        let fam = ImplicitFamily::from_params_with(
            (5, 2),
            init.w,
            init.f,
            &eta,
            (Reduce::Max, 1.0),
            None,
        )
        .expect("solvable");
        let (r, _, _) = fam.reduce_at(fam.theta());
        for (a, b) in r.iter().zip(fam.theta()) {
            assert!((a - b).abs() <= 1e-10 * b.abs().max(1.0), "{a} vs {b}");
        }
    }

    #[test]
    fn family_per_state_discount_gradient_matches_central_differences() {
        for (m, reduction) in [(1, (Reduce::Max, 1.0)), (2, (Reduce::LogSumExp, 0.5))] {
            let init = draw_family_init(5, m, 16);
            let eta = discounts(5 * m);
            let mut fam = ImplicitFamily::from_params_with(
                (5, m),
                init.w.clone(),
                init.f.clone(),
                &eta,
                reduction,
                None,
            )
            .expect("solvable");
            let deta = fam.gradient(&G).expect("adjoint").deta;
            let h = 1e-6;
            for i in 0..5 * m {
                let (mut up, mut down) = (eta.clone(), eta.clone());
                up[i] += h;
                down[i] -= h;
                let fd = (loss(&init, &up, reduction) - loss(&init, &down, reduction)) / (2.0 * h);
                assert!(
                    (deta[i] - fd).abs() <= 1e-7 * fd.abs().max(1.0),
                    "m = {m}, entry {i}: {} vs {fd}",
                    deta[i]
                );
            }
        }
    }
}
