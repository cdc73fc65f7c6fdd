//! Explicit parameterizations: `θ` itself, and the matrix product `θ = Mw` (SPEC §1).

use super::{all_finite, Implicit, ParamArray, Parameterization, StepError};
use crate::linalg::{matvec, matvec_t, ResolventLu};
use crate::optim::Optimizer;

/// `ψ = θ`: the SGD step is `θ ← θ − αg`; `θ` is the optimizer's slot 0.
#[derive(Debug, Clone)]
pub struct Explicit {
    theta: Vec<f64>,
}

impl Explicit {
    /// Starts from `θ₀`.
    pub fn new(theta: Vec<f64>) -> Self {
        Self { theta }
    }
}

impl Parameterization for Explicit {
    fn theta(&self) -> &[f64] {
        &self.theta
    }

    fn params(&self) -> Vec<ParamArray<'_>> {
        vec![ParamArray::new("theta", &[self.theta.len()], &self.theta)]
    }

    fn step(&mut self, g: &[f64], opt: &mut Optimizer) -> Result<(), StepError> {
        opt.update(0, &mut self.theta, g);
        if all_finite(&self.theta) {
            Ok(())
        } else {
            Err(StepError::NonFinite)
        }
    }
}

/// `ψ = (w, M)`, `θ = Mw`: `∂L/∂w = Mᵀg`, `∂L/∂M = g wᵀ` (the published "explicit matrix");
/// `w` is the optimizer's slot 0, `M` its slot 1.
#[derive(Debug, Clone)]
pub struct ExplicitMatrix {
    k: usize,
    w: Vec<f64>,
    /// `M`, row-major `k × k`.
    m: Vec<f64>,
    theta: Vec<f64>,
    dw: Vec<f64>,
    /// `∂L/∂M` of the last step (filled only for optimizers other than plain SGD).
    dm: Vec<f64>,
}

impl ExplicitMatrix {
    /// `w` of the implicit model and `M = (I − ησ(F))⁻¹`, so `θ = Mw = θ̂` initially.
    pub fn from_implicit(imp: &Implicit) -> Self {
        Self::from_system(imp.k(), imp.factorization(), imp.w().to_vec())
    }

    /// `M = A⁻¹` of the factorized `A` (`k × k`) and the given `w`, so `θ = A⁻¹w` initially.
    pub fn from_system(k: usize, mut solver: ResolventLu, w: Vec<f64>) -> Self {
        let mut m = vec![0.0; k * k];
        let mut col = vec![0.0; k];
        for j in 0..k {
            col.fill(0.0);
            col[j] = 1.0;
            solver.solve_in_place(&mut col);
            for i in 0..k {
                m[i * k + j] = col[i];
            }
        }
        let mut theta = vec![0.0; k];
        matvec(&m, k, &w, &mut theta);
        Self {
            k,
            w,
            m,
            theta,
            dw: vec![0.0; k],
            dm: Vec::new(),
        }
    }
}

impl Parameterization for ExplicitMatrix {
    fn theta(&self) -> &[f64] {
        &self.theta
    }

    fn params(&self) -> Vec<ParamArray<'_>> {
        let k = self.k;
        vec![
            ParamArray::new("w", &[k], &self.w),
            ParamArray::new("matrix", &[k, k], &self.m),
        ]
    }

    fn step(&mut self, g: &[f64], opt: &mut Optimizer) -> Result<(), StepError> {
        let k = self.k;
        matvec_t(&self.m, k, g, &mut self.dw);
        if let Some(lr) = opt.sgd_lr() {
            // Fused `M ← M − α g wᵀ`, in the published runs' order of operations.
            for (row, &gi) in self.m.chunks_exact_mut(k).zip(g) {
                for (mij, &wj) in row.iter_mut().zip(&self.w) {
                    *mij -= lr * gi * wj;
                }
            }
        } else {
            self.dm.resize(k * k, 0.0);
            for (row, &gi) in self.dm.chunks_exact_mut(k).zip(g) {
                for (d, &wj) in row.iter_mut().zip(&self.w) {
                    *d = gi * wj;
                }
            }
            opt.update(1, &mut self.m, &self.dm);
        }
        opt.update(0, &mut self.w, &self.dw);
        matvec(&self.m, k, &self.w, &mut self.theta);
        if all_finite(&self.theta) && all_finite(&self.w) {
            Ok(())
        } else {
            Err(StepError::NonFinite)
        }
    }
}
