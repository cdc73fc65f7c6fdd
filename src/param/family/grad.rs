//! The gradient modes of SPEC §8.3 for the model family: its view for
//! [`crate::param::grad_mode`] and the unrolled modes' SGD step.

use super::super::grad_mode::unroll_theta;
use super::super::{all_finite, ImplicitLayer, StepError};
use super::ImplicitFamily;
use crate::linalg::softmax_each_row;
use crate::optim::Optimizer;

/// The unrolled gradient modes of SPEC §8.3 for the model family (`J_i = Σ_a diag(π_{i,a}) η
/// S_a`, `π_i` from step `i`'s reduction); `truncated` is in [`ImplicitLayer::adjoint`].
impl ImplicitFamily {
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
        let grad = self.unrolled.backward(&self.model(), g);
        opt.update(0, &mut self.w, &grad.dw);
        opt.update(1, &mut self.f, &grad.df);
        softmax_each_row(&self.f, self.k, &mut self.s);
        let drho = super::rho_gradient(self.learn, &self.eta, &grad.deta);
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
