//! First-order optimizers of the parameters `ψ` (SPEC §8.4): plain SGD (the published runs),
//! heavy-ball momentum and Adam. A parameterization hands each of its parameter arrays with its
//! gradient to an [`Optimizer`] ([`Optimizer::update`]), which keeps one state per array, the
//! same way for every parameterization.

/// Which optimizer updates the parameters (the run setting `optimizer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum OptimizerKind {
    /// `ψ ← ψ − αg` (the published runs).
    #[default]
    Sgd,
    /// Heavy ball: `m ← βm + g`, `ψ ← ψ − αm`.
    Momentum,
    /// Adam with bias-corrected moments, `ε` outside the square root (as optax's `adam`).
    Adam,
}

/// An optimizer with its constants: everything but its state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptimizerSpec {
    /// Which update rule.
    pub kind: OptimizerKind,
    /// Learning rate `α`.
    pub lr: f64,
    /// Heavy ball's `β` (used by [`OptimizerKind::Momentum`] only).
    pub momentum: f64,
    /// Adam's `β₁`, the decay of the first moment.
    pub beta1: f64,
    /// Adam's `β₂`, the decay of the second moment.
    pub beta2: f64,
    /// Adam's `ε`, added to `√v̂`.
    pub eps: f64,
}

impl OptimizerSpec {
    /// The default momentum `β` (SPEC §8.4).
    pub const MOMENTUM: f64 = 0.9;
    /// optax's default Adam `β₁`.
    pub const BETA1: f64 = 0.9;
    /// optax's default Adam `β₂`.
    pub const BETA2: f64 = 0.999;
    /// optax's default Adam `ε`.
    pub const EPS: f64 = 1e-8;

    /// Plain SGD with learning rate `lr` (the other constants at their defaults).
    pub fn sgd(lr: f64) -> Self {
        Self::with_defaults(OptimizerKind::Sgd, lr)
    }

    /// Optimizer `kind` with learning rate `lr` and the default constants of SPEC §8.4.
    pub fn with_defaults(kind: OptimizerKind, lr: f64) -> Self {
        Self {
            kind,
            lr,
            momentum: Self::MOMENTUM,
            beta1: Self::BETA1,
            beta2: Self::BETA2,
            eps: Self::EPS,
        }
    }
}

/// The state of one parameter array: the moments and the number of updates it has had.
#[derive(Debug, Clone, Default, PartialEq)]
struct Slot {
    /// Updates done (Adam's `t`, for the bias correction).
    t: i32,
    /// Momentum's `m`, or Adam's first moment.
    m: Vec<f64>,
    /// Adam's second moment.
    v: Vec<f64>,
}

/// An optimizer and its state: one [`Slot`] per parameter array, numbered by the
/// parameterization (`0` for `w`, `1` for `F`, …), created at its first update with zeros.
///
/// With gradient `g` of array `ψ` (SPEC §8.4):
/// - `sgd`: `ψ ← ψ − αg`;
/// - `momentum` (heavy ball): `m ← βm + g`, `ψ ← ψ − αm`, `m₀ = 0`;
/// - `adam` (optax): `t ← t + 1`, `m ← (1 − β₁)g + β₁m`, `v ← (1 − β₂)g² + β₂v`,
///   `m̂ = m / (1 − β₁ᵗ)`, `v̂ = v / (1 − β₂ᵗ)`, `ψ ← ψ − α m̂ / (√v̂ + ε)`, `m₀ = v₀ = 0`.
#[derive(Debug, Clone, PartialEq)]
pub struct Optimizer {
    spec: OptimizerSpec,
    slots: Vec<Slot>,
}

impl Optimizer {
    /// A fresh optimizer (zero state).
    pub fn new(spec: OptimizerSpec) -> Self {
        Self {
            spec,
            slots: Vec::new(),
        }
    }

    /// Plain SGD with learning rate `lr` (stateless).
    pub fn sgd(lr: f64) -> Self {
        Self::new(OptimizerSpec::sgd(lr))
    }

    /// The optimizer's kind and constants.
    pub fn spec(&self) -> &OptimizerSpec {
        &self.spec
    }

    /// The learning rate when this is plain SGD: a parameterization may then fuse the step
    /// `ψ ← ψ − αg` with its gradient computation (the published runs' bits).
    pub fn sgd_lr(&self) -> Option<f64> {
        (self.spec.kind == OptimizerKind::Sgd).then_some(self.spec.lr)
    }

    /// One update of parameter array number `slot`, `psi`, with its gradient `grad` (the same
    /// length; a slot keeps the length of its first update).
    pub fn update(&mut self, slot: usize, psi: &mut [f64], grad: &[f64]) {
        self.update_scaled(slot, psi, grad, 1.0);
    }

    /// [`Optimizer::update`] with the learning rate `factor·α` for this array (a learned `η`'s
    /// `ρ`, SPEC §8.2); `factor = 1` is `update`, bit for bit.
    pub fn update_scaled(&mut self, slot: usize, psi: &mut [f64], grad: &[f64], factor: f64) {
        assert_eq!(psi.len(), grad.len(), "a parameter array and its gradient");
        let OptimizerSpec {
            kind,
            lr,
            momentum,
            beta1,
            beta2,
            eps,
        } = self.spec;
        let lr = lr * factor;
        if kind == OptimizerKind::Sgd {
            for (p, g) in psi.iter_mut().zip(grad) {
                *p -= lr * g;
            }
            return;
        }
        if self.slots.len() <= slot {
            self.slots.resize_with(slot + 1, Slot::default);
        }
        let s = &mut self.slots[slot];
        if s.m.is_empty() {
            s.m = vec![0.0; psi.len()];
            if kind == OptimizerKind::Adam {
                s.v = vec![0.0; psi.len()];
            }
        }
        assert_eq!(
            s.m.len(),
            psi.len(),
            "parameter array {slot} changed length"
        );
        s.t = s.t.saturating_add(1);
        match kind {
            OptimizerKind::Sgd => unreachable!("handled above"),
            OptimizerKind::Momentum => {
                for ((p, g), m) in psi.iter_mut().zip(grad).zip(&mut s.m) {
                    *m = g + momentum * *m;
                    *p -= lr * *m;
                }
            }
            OptimizerKind::Adam => {
                let c1 = 1.0 - beta1.powi(s.t);
                let c2 = 1.0 - beta2.powi(s.t);
                for (((p, g), m), v) in psi.iter_mut().zip(grad).zip(&mut s.m).zip(&mut s.v) {
                    *m = (1.0 - beta1) * g + beta1 * *m;
                    *v = (1.0 - beta2) * (g * g) + beta2 * *v;
                    let m_hat = *m / c1;
                    let v_hat = *v / c2;
                    *p -= lr * (m_hat / (v_hat.sqrt() + eps));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: OptimizerKind, lr: f64) -> OptimizerSpec {
        OptimizerSpec::with_defaults(kind, lr)
    }

    /// `f(ψ) = ½ψ²` from `ψ = 1`: its gradient is `ψ`.
    fn descend(opt: &mut Optimizer, steps: usize) -> Vec<f64> {
        let mut psi = [1.0];
        let mut path = Vec::new();
        for _ in 0..steps {
            let g = [psi[0]];
            opt.update(0, &mut psi, &g);
            path.push(psi[0]);
        }
        path
    }

    #[test]
    fn sgd_is_the_plain_step() {
        let mut o = Optimizer::sgd(0.25);
        // ψ ← ψ − ψ/4: 3/4, 9/16, 27/64 (exact in binary).
        assert_eq!(descend(&mut o, 3), vec![0.75, 0.5625, 0.421875]);
        assert_eq!(o.sgd_lr(), Some(0.25));
    }

    #[test]
    fn momentum_matches_a_hand_computation() {
        let mut o = Optimizer::new(OptimizerSpec {
            momentum: 0.5,
            ..spec(OptimizerKind::Momentum, 0.25)
        });
        // ψ=1: m = 1, ψ = 1 − 1/4 = 3/4.
        // g=3/4: m = 3/4 + 1/2 = 5/4, ψ = 3/4 − 5/16 = 7/16.
        // g=7/16: m = 7/16 + 5/8 = 17/16, ψ = 7/16 − 17/64 = 11/64.
        assert_eq!(descend(&mut o, 3), vec![0.75, 0.4375, 0.171875]);
        assert_eq!(o.sgd_lr(), None);
    }

    #[test]
    fn adam_matches_a_hand_computation() {
        let (b1, b2, eps, lr) = (0.5, 0.75, 0.0625, 0.5);
        let mut o = Optimizer::new(OptimizerSpec {
            kind: OptimizerKind::Adam,
            lr,
            momentum: 0.9,
            beta1: b1,
            beta2: b2,
            eps,
        });
        let mut psi = [2.0, -1.0];
        // Step 1, g = (2, −1): m = (1, −1/2), v = (1, 1/4); m̂ = m/(1/2) = (2, −1),
        // v̂ = v/(1/4) = (4, 1); ψ −= 1/2 · m̂/(√v̂ + 1/16) = (2 − 1/(2+1/16), −1 + 1/2/(1+1/16)).
        o.update(0, &mut psi, &[2.0, -1.0]);
        assert_eq!(psi, [2.0 - 1.0 / 2.0625, -1.0 + 0.5 / 1.0625]);
        // Step 2, g = (4, 0): m = (2 + 1/2, −1/4) = (5/2, −1/4), v = (4 + 3/4, 3/16) = (19/4, 3/16);
        // 1 − β₁² = 3/4, 1 − β₂² = 7/16: m̂ = (10/3, −1/3), v̂ = (76/7, 3/7).
        let before = psi;
        o.update(0, &mut psi, &[4.0, 0.0]);
        let want = [
            before[0] - 0.5 * ((10.0 / 3.0) / ((76.0f64 / 7.0).sqrt() + 0.0625)),
            before[1] - 0.5 * ((-1.0 / 3.0) / ((3.0f64 / 7.0).sqrt() + 0.0625)),
        ];
        for (a, b) in psi.iter().zip(want) {
            assert!((a - b).abs() <= 4.0 * f64::EPSILON * b.abs(), "{a} vs {b}");
        }
    }

    #[test]
    fn adam_first_step_has_length_lr() {
        // m̂₁ = g, v̂₁ = g²: the first step is α·g/(|g| + ε) whatever the gradient's scale.
        for g in [1e-3, 1.0, 1e3] {
            let mut o = Optimizer::new(spec(OptimizerKind::Adam, 0.1));
            let mut psi = [0.0];
            o.update(0, &mut psi, &[g]);
            assert!(
                (psi[0] + 0.1 * g / (g + 1e-8)).abs() < 1e-16,
                "{g}: {}",
                psi[0]
            );
        }
    }

    #[test]
    fn slots_keep_separate_states() {
        let mut a = Optimizer::new(spec(OptimizerKind::Momentum, 0.5));
        let mut b = Optimizer::new(spec(OptimizerKind::Momentum, 0.5));
        let (mut x, mut y) = ([1.0], [1.0]);
        a.update(0, &mut x, &[1.0]);
        a.update(1, &mut y, &[-3.0]);
        a.update(0, &mut x, &[1.0]);
        let mut z = [1.0];
        b.update(0, &mut z, &[1.0]);
        b.update(0, &mut z, &[1.0]);
        // Slot 1's gradient did not leak into slot 0's momentum.
        assert_eq!(x, z);
        assert_eq!(y, [2.5]);
    }

    #[test]
    fn momentum_and_adam_minimize_a_quadratic() {
        for kind in [OptimizerKind::Momentum, OptimizerKind::Adam] {
            let mut o = Optimizer::new(spec(kind, 0.05));
            let path = descend(&mut o, 400);
            let last = path[path.len() - 1];
            assert!(last.abs() < 1e-2, "{kind:?}: {last}");
        }
    }
}
