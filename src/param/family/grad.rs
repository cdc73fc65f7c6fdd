//! The gradient modes of SPEC §8.3 for the model family: its view for
//! [`crate::param::grad_mode`] and the unrolled modes' SGD step.

use super::super::grad_mode::{unroll_theta, Model};
use super::super::reduce::LearnEta;
use super::super::{all_finite, StepError};
use super::ImplicitFamily;
use crate::linalg::softmax_each_row;
use crate::optim::Optimizer;

/// The gradient modes of SPEC §8.3 for the model family (`J_i = Σ_a diag(π_{i,a}) η S_a`, `π_i`
/// from step `i`'s reduction); `truncated` is in [`ImplicitFamily::compute_gradient`].
impl ImplicitFamily {
    /// The model as the gradient modes see it.
    pub fn model(&self) -> Model<'_> {
        Model {
            k: self.k,
            m: self.m,
            eta: &self.eta,
            w: &self.w,
            s: &self.s,
            reduce: self.reduce,
            tau: self.tau,
        }
    }

    /// `θ ← θ_K` at the current parameters, from 0 or from the current `θ` by the mode
    /// ([`unroll_theta`]).
    pub(super) fn unroll_forward(&mut self) -> Result<(), StepError> {
        let mut unrolled = std::mem::take(&mut self.unrolled);
        let mut theta = std::mem::take(&mut self.theta);
        let done = unroll_theta(self.mode, &self.model(), &mut unrolled, &mut theta);
        (self.unrolled, self.theta) = (unrolled, theta);
        done
    }

    /// One optimizer step of an unrolled mode on `∂L(θ_K)/∂ψ` (SGD: `ψ ← ψ − α ∂L(θ_K)/∂ψ`) (`w`, `F` and a learned `ρ`,
    /// `∂L/∂ρ = ∂L/∂η · η(1 − η)`) by reverse mode through the stored trajectory, then `θ_K`
    /// at the new parameters, from 0 (`unroll`) or from the previous `θ_K` (`unroll-warm`).
    pub(super) fn unrolled_step(
        &mut self,
        g: &[f64],
        opt: &mut Optimizer,
    ) -> Result<(), StepError> {
        let (grad, deta) = self.unrolled.backward_with_eta(&self.model(), g);
        opt.update(0, &mut self.w, &grad.dw);
        opt.update(1, &mut self.f, &grad.df);
        softmax_each_row(&self.f, self.k, &mut self.s);
        let drho: Vec<f64> = match self.learn {
            LearnEta::None => Vec::new(),
            LearnEta::Scalar => {
                let e = self.eta[0];
                vec![deta.iter().sum::<f64>() * e * (1.0 - e)]
            }
            LearnEta::PerStateAction => deta
                .iter()
                .zip(&self.eta)
                .map(|(d, e)| d * e * (1.0 - e))
                .collect(),
        };
        if !drho.is_empty() {
            opt.update_scaled(2, &mut self.rho, &drho, self.eta_lr_factor);
        }
        self.refresh_eta();
        if !all_finite(&self.w) || !all_finite(&self.rho) {
            return Err(StepError::NonFinite);
        }
        self.unroll_forward()
    }
}
