//! Gradient modes of the implicit model (SPEC §8.3, the paper's §2.3): the exact gradient by the
//! implicit function theorem, versus differentiating through `K` steps of the fixed-point
//! iteration (value iteration networks), versus a `K`-term Neumann series for the adjoint.
//!
//! The functions here see the model through [`Model`]: `m` pseudo-actions, rewards `w` (`k × m`),
//! transition rows `S_a` (row `(k, a)` of a `k·m × k` row-major matrix), discounts `η_{ka}` and
//! the reduction over pseudo-actions (SPEC §8.1, §8.2). With `m = 1` the reduction is the
//! identity and the model is §1's Markov reward chain, `J = ηS`.

use super::reduce::{reduce_row, Reduce};
use super::{all_finite, StepError};

/// The gradient `∇_ψ L` of the implicit layer (SPEC §1, §8.1, §8.2), in the layouts of its
/// parameters: the one gradient type of the paper's model, the model family and the gradient
/// modes.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelGrad {
    /// `∂L/∂w_{ka}` (`k × m`).
    pub dw: Vec<f64>,
    /// `∂L/∂F_{kaj}` (`k × m × k`, row-major).
    pub df: Vec<f64>,
    /// `∂L/∂η_{ka}` (`k × m`); for one `η` shared by every row, `∂L/∂η` is their sum
    /// ([`ModelGrad::deta_total`]).
    pub deta: Vec<f64>,
    /// `∂L/∂ρ` of a learned `η = σ(ρ)` (SPEC §8.2; `η`'s shape), empty when `η` is fixed.
    pub drho: Vec<f64>,
}

impl ModelGrad {
    /// `∂L/∂η` for one `η` shared by every `(k, a)`: `Σ_{ka} ∂L/∂η_{ka}`.
    pub fn deta_total(&self) -> f64 {
        self.deta.iter().sum()
    }
}

/// Largest `K` accepted by the unrolled and truncated modes (a guard against typing mistakes:
/// unrolling stores `K + 1` vectors of length `k`).
pub const MAX_K: usize = 100_000;

/// How the implicit model's gradient is computed (the setting `grad`, SPEC §8.3).
///
/// With `J = Σ_a diag(π_{·a}) η S_a` (for `m = 1`, `J = ηS`) and `A = I − J`:
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum GradMode {
    /// The implicit function theorem at the exact fixed point: `u = A⁻ᵀg` (SPEC §1, §8.1).
    #[default]
    Ift,
    /// VIN: the model's output is `θ_K`, `K` steps of `θ_{i+1} = reduce Q(θ_i)` from `θ_0 = 0`,
    /// and the gradient is the exact derivative of `θ_K` by reverse mode: `λ_K = g`,
    /// `λ_i = J_iᵀλ_{i+1}` (`J_i` at step `i`'s `π_i`), accumulating each step's
    /// `∂L/∂w_{ka} += λ_{i+1,k} π_{i,ka}` and
    /// `∂L/∂F_{kaj} += η λ_{i+1,k} π_{i,ka} S_{a,kj} (θ_{i,j} − (S_a θ_i)_k)`.
    Unroll(usize),
    /// As [`GradMode::Unroll`], from the previous update's `θ_K` held constant (`θ_0` of the
    /// first update is the initial model's `θ_K`, itself `K` steps from 0).
    UnrollWarm(usize),
    /// The exact `θ̂`, with the adjoint `u_K = Σ_{i<K} (Jᵀ)^i g` (the `K`-term Neumann series of
    /// `A⁻ᵀg`) in place of `u`; `K = 1` is Jacobian-free backpropagation (`u = g`). With `m = 1`,
    /// `‖(ηS)ᵀ‖₁ = η`, so `‖u_K − u‖₁ ≤ η^K ‖u‖₁`.
    Truncated(usize),
}

impl GradMode {
    /// The canonical text: `ift`, `unroll:8`, `unroll-warm:8`, `truncated:8`.
    pub fn text(self) -> String {
        match self {
            GradMode::Ift => "ift".into(),
            GradMode::Unroll(k) => format!("unroll:{k}"),
            GradMode::UnrollWarm(k) => format!("unroll-warm:{k}"),
            GradMode::Truncated(k) => format!("truncated:{k}"),
        }
    }

    /// Parses [`GradMode::text`]'s forms (`K` from 1 to [`MAX_K`]); `None` otherwise.
    pub fn parse(s: &str) -> Option<GradMode> {
        let s = s.trim();
        if s == "ift" {
            return Some(GradMode::Ift);
        }
        let (name, k) = s.split_once(':')?;
        let k: usize = k.trim().parse().ok()?;
        if !(1..=MAX_K).contains(&k) {
            return None;
        }
        match name.trim() {
            "unroll" => Some(GradMode::Unroll(k)),
            "unroll-warm" => Some(GradMode::UnrollWarm(k)),
            "truncated" => Some(GradMode::Truncated(k)),
            _ => None,
        }
    }

    /// The mode's family name (`ift`, `unroll`, `unroll-warm`, `truncated`).
    pub fn family(self) -> &'static str {
        match self {
            GradMode::Ift => "ift",
            GradMode::Unroll(_) => "unroll",
            GradMode::UnrollWarm(_) => "unroll-warm",
            GradMode::Truncated(_) => "truncated",
        }
    }

    /// `K` (0 for `ift`).
    pub fn k(self) -> usize {
        match self {
            GradMode::Ift => 0,
            GradMode::Unroll(k) | GradMode::UnrollWarm(k) | GradMode::Truncated(k) => k,
        }
    }

    /// True for the modes whose output is `θ_K` rather than `θ̂`.
    pub fn is_unrolled(self) -> bool {
        matches!(self, GradMode::Unroll(_) | GradMode::UnrollWarm(_))
    }
}

impl std::fmt::Display for GradMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text())
    }
}

/// A view of the implicit model: what the modes need.
#[derive(Clone, Copy)]
pub struct Model<'a> {
    /// Feature dimension `k`.
    pub k: usize,
    /// Number of pseudo-actions `m`.
    pub m: usize,
    /// Internal discounts: one `η` for every row (length 1), or `η_{ka}` (length `k·m`).
    pub eta: &'a [f64],
    /// Rewards `w`, `k × m` row-major.
    pub w: &'a [f64],
    /// Transition rows: row `k·m + a` is `(S_a)_{k·}`; `k·m × k` row-major.
    pub s: &'a [f64],
    /// The reduction over pseudo-actions (with one pseudo-action, both are the identity).
    pub reduce: Reduce,
    /// Temperature `τ` of [`Reduce::LogSumExp`].
    pub tau: f64,
}

impl Model<'_> {
    /// `η` of row `r = k·m + a`.
    fn eta_of(&self, r: usize) -> f64 {
        if self.eta.len() == 1 {
            self.eta[0]
        } else {
            self.eta[r]
        }
    }

    /// One step `θ' = reduce Q(θ)`, `Q_{ka} = w_{ka} + η (S_a θ)_k`, writing `(S_a θ)` (length
    /// `k·m`) into `s_theta` and `π` (length `k·m`) into `pi`.
    pub fn step(&self, theta: &[f64], next: &mut [f64], s_theta: &mut [f64], pi: &mut [f64]) {
        let (k, m) = (self.k, self.m);
        let mut q = vec![0.0; m];
        for kk in 0..k {
            for (a, qa) in q.iter_mut().enumerate() {
                let r = kk * m + a;
                let st = crate::linalg::dot(&self.s[r * k..(r + 1) * k], theta);
                s_theta[r] = st;
                *qa = self.w[r] + self.eta_of(r) * st;
            }
            next[kk] = reduce_row(&q, self.reduce, self.tau, &mut pi[kk * m..(kk + 1) * m]);
        }
    }

    /// `out = Jᵀλ = Σ_{k,a} η_{ka} λ_k π_{ka} (S_a)_{k·}`.
    pub fn jacobian_transpose(&self, pi: &[f64], lambda: &[f64], out: &mut [f64]) {
        let k = self.k;
        out.fill(0.0);
        for (r, row) in self.s.chunks_exact(k).enumerate() {
            let c = self.eta_of(r) * lambda[r / self.m] * pi[r];
            if c != 0.0 {
                for (o, &sj) in out.iter_mut().zip(row) {
                    *o += c * sj;
                }
            }
        }
    }

    /// Adds one step's contribution to `∇_ψ L` for the step `θ_{i+1} = reduce Q(θ_i)` with
    /// adjoint `λ = λ_{i+1}` (or, at a fixed point, `u`): `∂L/∂w_{ka} += λ_k π_{ka}`,
    /// `∂L/∂F_{kaj} += η_{ka} λ_k π_{ka} S_{a,kj} (θ_j − (S_a θ)_k)` and
    /// `∂L/∂η_{ka} += λ_k π_{ka} (S_a θ)_k`.
    pub fn accumulate(
        &self,
        lambda: &[f64],
        pi: &[f64],
        theta: &[f64],
        s_theta: &[f64],
        grad: &mut ModelGrad,
    ) {
        let k = self.k;
        for (r, (drow, srow)) in grad
            .df
            .chunks_exact_mut(k)
            .zip(self.s.chunks_exact(k))
            .enumerate()
        {
            let c = lambda[r / self.m] * pi[r];
            grad.dw[r] += c;
            if c == 0.0 {
                continue;
            }
            let st = s_theta[r];
            grad.deta[r] += c * st;
            let ce = self.eta_of(r) * c;
            for ((d, &skj), &tj) in drow.iter_mut().zip(srow).zip(theta) {
                *d += ce * skj * (tj - st);
            }
        }
    }

    /// A zero gradient of this model's shape.
    pub fn zero_grad(&self) -> ModelGrad {
        ModelGrad {
            dw: vec![0.0; self.k * self.m],
            df: vec![0.0; self.k * self.m * self.k],
            deta: vec![0.0; self.k * self.m],
            drho: Vec::new(),
        }
    }
}

/// The trajectory `θ_0, …, θ_K` of the unrolled iteration, with each step's `S_a θ_i` and `π_i`:
/// `K + 1` vectors of length `k` and `2K` of length `k·m`, never anything `k × k`.
#[derive(Debug, Clone, Default)]
pub struct Unrolled {
    /// `θ_0, …, θ_K`, concatenated.
    thetas: Vec<f64>,
    /// `S_a θ_i` for `i < K`, concatenated.
    s_thetas: Vec<f64>,
    /// `π_i` for `i < K`, concatenated.
    pis: Vec<f64>,
    k: usize,
}

impl Unrolled {
    /// `K` steps of `θ_{i+1} = reduce Q(θ_i)` from `theta0` (SPEC §8.3).
    pub fn forward(model: &Model<'_>, theta0: &[f64], steps: usize) -> Unrolled {
        let mut u = Unrolled::default();
        u.run(model, theta0, steps);
        u
    }

    /// As [`Unrolled::forward`], reusing this trajectory's buffers.
    pub fn run(&mut self, model: &Model<'_>, theta0: &[f64], steps: usize) {
        let (k, km) = (model.k, model.k * model.m);
        self.k = k;
        self.thetas.resize((steps + 1) * k, 0.0);
        self.s_thetas.resize(steps * km, 0.0);
        self.pis.resize(steps * km, 0.0);
        self.thetas[..k].copy_from_slice(theta0);
        for i in 0..steps {
            let (done, rest) = self.thetas.split_at_mut((i + 1) * k);
            model.step(
                &done[i * k..],
                &mut rest[..k],
                &mut self.s_thetas[i * km..(i + 1) * km],
                &mut self.pis[i * km..(i + 1) * km],
            );
        }
    }

    /// Number of steps `K`.
    pub fn steps(&self) -> usize {
        (self.thetas.len() / self.k.max(1)).saturating_sub(1)
    }

    /// The output `θ_K`.
    pub fn theta_k(&self) -> &[f64] {
        &self.thetas[self.thetas.len() - self.k..]
    }

    /// `∇_ψ L(θ_K)` for `g = ∇_θ L` at `θ_K`, by reverse mode through the steps (`θ_0` is a
    /// constant): `λ_K = g`; for `i = K−1, …, 0`: accumulate step `i`'s `∂/∂w`, `∂/∂F` with
    /// `λ_{i+1}`, then `λ_i = J_iᵀλ_{i+1}`; with `∂L(θ_K)/∂η_{ka}` for a learned discount.
    pub fn backward(&self, model: &Model<'_>, g: &[f64]) -> ModelGrad {
        let (k, km) = (model.k, model.k * model.m);
        let mut grad = model.zero_grad();
        let mut lambda = g.to_vec();
        let mut next = vec![0.0; k];
        for i in (0..self.steps()).rev() {
            let pi = &self.pis[i * km..(i + 1) * km];
            let theta = &self.thetas[i * k..(i + 1) * k];
            model.accumulate(
                &lambda,
                pi,
                theta,
                &self.s_thetas[i * km..(i + 1) * km],
                &mut grad,
            );
            if i > 0 {
                model.jacobian_transpose(pi, &lambda, &mut next);
                std::mem::swap(&mut lambda, &mut next);
            }
        }
        grad
    }
}

/// `θ ← θ_K` at the model's current parameters, the output of an unrolled mode (SPEC §8.3):
/// `K = mode.k()` steps of `θ_{i+1} = reduce Q(θ_i)` from `θ_0 = 0` for [`GradMode::Unroll`],
/// or from the current `θ` (the previous update's `θ_K`) for [`GradMode::UnrollWarm`], the
/// trajectory kept in `unrolled` for the next backward pass. [`StepError::NonFinite`] if `θ_K`
/// has a non-finite entry (`θ` is `θ_K` all the same).
pub fn unroll_theta(
    mode: GradMode,
    model: &Model<'_>,
    unrolled: &mut Unrolled,
    theta: &mut [f64],
) -> Result<(), StepError> {
    if matches!(mode, GradMode::Unroll(_)) {
        theta.fill(0.0);
    }
    unrolled.run(model, theta, mode.k());
    theta.copy_from_slice(unrolled.theta_k());
    if !all_finite(theta) {
        return Err(StepError::NonFinite);
    }
    Ok(())
}

/// The truncated adjoint `u_K = Σ_{i<K} (Jᵀ)^i g` with `J = Σ_a diag(π_{·a}) η S_a` at the
/// fixed point's `π` (SPEC §8.3): `K − 1` products `Jᵀx`, no solve.
pub fn neumann_adjoint(model: &Model<'_>, pi: &[f64], g: &[f64], terms: usize) -> Vec<f64> {
    let mut u = g.to_vec();
    let mut term = g.to_vec();
    let mut next = vec![0.0; g.len()];
    for _ in 1..terms {
        model.jacobian_transpose(pi, &term, &mut next);
        std::mem::swap(&mut term, &mut next);
        for (ui, ti) in u.iter_mut().zip(&term) {
            *ui += ti;
        }
    }
    u
}

/// `∇_ψ L` at a fixed point `θ̂` (with its `S_a θ̂` and `π`) from an adjoint `u` (the exact
/// `A⁻ᵀg`, or a truncation of it): `∂L/∂w_{ka} = u_k π_{ka}`,
/// `∂L/∂F_{kaj} = η u_k π_{ka} S_{a,kj} (θ̂_j − (S_a θ̂)_k)`, `∂L/∂η_{ka} = u_k π_{ka}(S_a θ̂)_k`
/// (SPEC §8.1, §8.2).
pub fn gradient_from_adjoint(
    model: &Model<'_>,
    u: &[f64],
    pi: &[f64],
    theta: &[f64],
    s_theta: &[f64],
) -> ModelGrad {
    let mut grad = model.zero_grad();
    model.accumulate(u, pi, theta, s_theta, &mut grad);
    grad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_their_text_and_refuse_k_zero() {
        for m in [
            GradMode::Ift,
            GradMode::Unroll(8),
            GradMode::UnrollWarm(1),
            GradMode::Truncated(64),
        ] {
            assert_eq!(GradMode::parse(&m.text()), Some(m));
        }
        for bad in [
            "unroll:0",
            "unroll",
            "truncated:-1",
            "ift:3",
            "unrol:3",
            "unroll:x",
        ] {
            assert_eq!(GradMode::parse(bad), None, "{bad}");
        }
        assert_eq!(GradMode::parse(&format!("unroll:{}", MAX_K + 1)), None);
    }
}
