//! The Bellman reduction over pseudo-actions of the model family (SPEC §8.1) and how the
//! discount is parameterized (SPEC §8.2).

use crate::linalg::matvec;

/// How the pseudo-actions' values `Q_{k·}` of a state are reduced to its value `θ_k` (SPEC §8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Reduce {
    /// `max_a Q_{ka}` (hard Bellman optimality), solved by policy iteration; its derivative is
    /// the indicator of the greedy pseudo-action, ties to the lowest index.
    #[default]
    Max,
    /// `τ log Σ_a exp(Q_{ka}/τ)` with temperature `τ`, solved by Newton's method; its derivative
    /// is `softmax_a(Q_{k·}/τ)`.
    LogSumExp,
}

/// Whether the internal discount is a parameter (SPEC §8.2: `η = σ(ρ)`, `ρ₀ = logit(η₀)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LearnEta {
    /// `η` is fixed at the setting `eta`.
    #[default]
    None,
    /// One learned `ρ` for the whole model.
    Scalar,
    /// One learned `ρ_{ka}` per state and pseudo-action (`η_{ka}` multiplies `(S_a θ)_k`).
    PerStateAction,
}

/// `reduce_a q_a` of one state's pseudo-action values `q`, writing `π_a = ∂reduce/∂q_a` into `pi`
/// (SPEC §8.1): for [`Reduce::Max`] the indicator of the first maximizer, for
/// [`Reduce::LogSumExp`] `softmax(q/τ)`, with the value `max q + τ log Σ_a exp((q_a − max q)/τ)`.
///
/// A NaN in `q` gives a NaN value.
pub fn reduce_row(q: &[f64], reduce: Reduce, tau: f64, pi: &mut [f64]) -> f64 {
    let mut best = 0;
    let mut mx = q[0];
    for (a, &v) in q.iter().enumerate().skip(1) {
        if v > mx || v.is_nan() {
            best = a;
            mx = v;
            if v.is_nan() {
                break;
            }
        }
    }
    if mx.is_nan() {
        pi.fill(f64::NAN);
        return f64::NAN;
    }
    match reduce {
        Reduce::Max => {
            pi.fill(0.0);
            pi[best] = 1.0;
            mx
        }
        Reduce::LogSumExp => {
            let mut z = 0.0;
            for (p, &v) in pi.iter_mut().zip(q) {
                *p = ((v - mx) / tau).exp();
                z += *p;
            }
            for p in pi.iter_mut() {
                *p /= z;
            }
            mx + tau * z.ln()
        }
    }
}

/// The logistic function `σ(ρ) = 1/(1 + e^{−ρ})`.
pub fn sigmoid(rho: f64) -> f64 {
    1.0 / (1.0 + (-rho).exp())
}

/// The logit `log(η/(1 − η))`, inverse of [`sigmoid`].
pub fn logit(eta: f64) -> f64 {
    (eta / (1.0 - eta)).ln()
}

/// Where [`reduce_into`] writes: `reduce Q(θ)` (`k`), `π` and `(S_aθ)_k`, `Q` (`k × m`), `J`
/// (`k × k`).
pub(crate) struct ReduceStep<'a> {
    pub value: &'a mut [f64],
    pub pi: &'a mut [f64],
    pub j: &'a mut [f64],
    pub sa_theta: &'a mut [f64],
    pub q: &'a mut [f64],
}

/// `(S_aθ)_k`, `Q(θ)_{ka} = w_{ka} + η_{ka}(S_aθ)_k`, `π`, `reduce Q(θ)` and
/// `J = Σ_a diag(π_{·a}) diag(η_{·a}) S_a` for the model `(k, m, reduce, τ)` with parameters
/// `(w, S, η)` at `theta` (SPEC §8.1).
pub(crate) fn reduce_into(
    (k, m, reduce, tau): (usize, usize, Reduce, f64),
    (w, s, eta): (&[f64], &[f64], &[f64]),
    theta: &[f64],
    out: ReduceStep<'_>,
) {
    matvec(s, k, theta, out.sa_theta);
    for i in 0..k * m {
        out.q[i] = w[i] + eta[i] * out.sa_theta[i];
    }
    for (kk, v) in out.value.iter_mut().enumerate() {
        let rows = kk * m..(kk + 1) * m;
        *v = reduce_row(&out.q[rows.clone()], reduce, tau, &mut out.pi[rows]);
    }
    for (kk, jrow) in out.j.chunks_exact_mut(k).enumerate() {
        jrow.fill(0.0);
        for a in 0..m {
            let i = kk * m + a;
            let c = out.pi[i] * eta[i];
            if c != 0.0 {
                for (x, &sv) in jrow.iter_mut().zip(&s[i * k..(i + 1) * k]) {
                    *x += c * sv;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_ties_go_to_the_lowest_index_and_logsumexp_is_smooth() {
        let mut pi = [0.0; 3];
        assert_eq!(reduce_row(&[1.0, 2.0, 2.0], Reduce::Max, 1.0, &mut pi), 2.0);
        assert_eq!(pi, [0.0, 1.0, 0.0]);
        let v = reduce_row(&[1.0, 2.0, 2.0], Reduce::LogSumExp, 0.5, &mut pi);
        let want = 0.5 * ((2.0f64).exp() + 2.0 * (4.0f64).exp()).ln();
        assert!((v - want).abs() < 1e-14, "{v} vs {want}");
        assert!((pi.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert!(pi[1] == pi[2] && pi[0] < pi[1]);
        // A single pseudo-action: both reductions are the identity, bit for bit.
        for r in [Reduce::Max, Reduce::LogSumExp] {
            let mut p = [0.0];
            assert_eq!(reduce_row(&[0.3], r, 0.7, &mut p), 0.3);
            assert_eq!(p, [1.0]);
        }
        assert!(reduce_row(&[1.0, f64::NAN], Reduce::Max, 1.0, &mut [0.0; 2]).is_nan());
    }

    #[test]
    fn logit_inverts_sigmoid() {
        for eta in [0.5, 0.9, 0.99, 0.999] {
            assert!((sigmoid(logit(eta)) - eta).abs() < 1e-15);
        }
    }
}
