//! The LU factorization of `A = I − ηS` that serves both the forward and the adjoint solve
//! (SPEC §1).

use faer::linalg::solvers::{PartialPivLu, Solve};
use faer::{Mat, MatMut};

/// An LU factorization (partial pivoting, `faer`) of `A = I − ηS`, the Jacobian `−∂h/∂θ` of the
/// implicit model's constraint. One factorization serves `Aθ = w` and the adjoint `Aᵀu = g`.
#[derive(Clone)]
pub struct ResolventLu {
    lu: PartialPivLu<f64>,
    buf: Mat<f64>,
}

impl ResolventLu {
    /// Factorizes `A = I − ηS` for a row-major row-stochastic `k × k` matrix `S`.
    #[track_caller]
    pub fn new(s: &[f64], k: usize, eta: f64) -> Self {
        assert_eq!(s.len(), k * k);
        let a = Mat::from_fn(k, k, |i, j| {
            f64::from(u8::from(i == j)) - eta * s[i * k + j]
        });
        Self {
            lu: a.partial_piv_lu(),
            buf: Mat::zeros(k, 1),
        }
    }

    fn with_rhs(&mut self, x: &mut [f64], f: impl FnOnce(&PartialPivLu<f64>, MatMut<'_, f64>)) {
        for (i, &xi) in x.iter().enumerate() {
            self.buf[(i, 0)] = xi;
        }
        f(&self.lu, self.buf.as_mut());
        for (i, xi) in x.iter_mut().enumerate() {
            *xi = self.buf[(i, 0)];
        }
    }

    /// Overwrites `x` with `A⁻¹x`.
    pub fn solve_in_place(&mut self, x: &mut [f64]) {
        self.with_rhs(x, |lu, b| lu.solve_in_place(b));
    }

    /// Overwrites `x` with `A⁻ᵀx`.
    pub fn solve_transpose_in_place(&mut self, x: &mut [f64]) {
        self.with_rhs(x, |lu, b| lu.solve_transpose_in_place(b));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::{matvec, matvec_t, softmax_rows};
    use rand::{Rng, SeedableRng};

    #[test]
    fn lu_solves_both_ways_with_small_residuals() {
        let k = 37;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let f: Vec<f64> = (0..k * k).map(|_| rng.random_range(-3.0..3.0)).collect();
        let mut s = vec![0.0; k * k];
        softmax_rows(&f, k, &mut s);
        let eta = 0.975;
        let mut lu = ResolventLu::new(&s, k, eta);
        let b: Vec<f64> = (0..k).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut x = b.clone();
        lu.solve_in_place(&mut x);
        let mut sx = vec![0.0; k];
        matvec(&s, k, &x, &mut sx);
        let res: f64 = (0..k)
            .map(|i| (x[i] - eta * sx[i] - b[i]).abs())
            .fold(0.0, f64::max);
        let mut y = b.clone();
        lu.solve_transpose_in_place(&mut y);
        matvec_t(&s, k, &y, &mut sx);
        let res_t: f64 = (0..k)
            .map(|i| (y[i] - eta * sx[i] - b[i]).abs())
            .fold(0.0, f64::max);
        let tol = 1e2 * f64::EPSILON * k as f64 / (1.0 - eta);
        assert!(res < tol && res_t < tol, "{res} {res_t} {tol}");
    }
}
