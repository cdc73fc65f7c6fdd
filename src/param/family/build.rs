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
}
