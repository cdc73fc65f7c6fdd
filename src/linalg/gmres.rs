//! Restarted GMRES for the implicit model's solves (SPEC §1).

use super::{dot, norm};

/// GMRES gives up once it has made this many products with `A` (plus the one that checks the
/// residual of its last iterate) and the solver falls back to LU: at k = 400 a factorization
/// costs about as much as 50 products.
pub const GMRES_MAX_ITERS: usize = 50;

/// Krylov dimension before a GMRES restart.
const GMRES_RESTART: usize = 40;

/// Workspace of restarted GMRES (Saad & Schultz 1986): Arnoldi with modified Gram–Schmidt,
/// Givens rotations on the Hessenberg matrix, restart after [`GMRES_RESTART`] steps.
#[derive(Clone)]
pub(super) struct Gmres {
    /// Krylov basis, `(m + 1) × k` row-major.
    v: Vec<f64>,
    /// Hessenberg matrix, `(m + 1) × m` row-major.
    h: Vec<f64>,
    cs: Vec<f64>,
    sn: Vec<f64>,
    g: Vec<f64>,
    y: Vec<f64>,
    w: Vec<f64>,
    /// Residual `b − Op x` of the current iterate.
    pub(super) r: Vec<f64>,
    /// Diagonal of `A` (Jacobi preconditioner).
    pub(super) d: Vec<f64>,
}

impl Gmres {
    pub(super) fn new(k: usize) -> Self {
        let m = GMRES_RESTART.min(k);
        Self {
            v: vec![0.0; (m + 1) * k],
            h: vec![0.0; (m + 1) * m],
            cs: vec![0.0; m],
            sn: vec![0.0; m],
            g: vec![0.0; m + 1],
            y: vec![0.0; m],
            w: vec![0.0; k],
            r: vec![0.0; k],
            d: vec![0.0; k],
        }
    }

    /// Solves `Op x = b` from the warm start in `x`, whose residual `b − Op x` the caller has put
    /// in `self.r`, until the true residual `‖b − Op x‖₂ ≤ atol`. Returns whether it converged
    /// and the number of products with `Op`. When it converges, its last product was `Op x` of
    /// the returned `x`.
    pub(super) fn solve(
        &mut self,
        mut op: impl FnMut(&[f64], &mut [f64]),
        b: &[f64],
        x: &mut [f64],
        atol: f64,
    ) -> (bool, usize) {
        let k = b.len();
        let m = self.cs.len();
        let mut iters = 0;
        loop {
            let beta = norm(&self.r);
            if beta <= atol {
                return (true, iters);
            }
            if !beta.is_finite() || iters >= GMRES_MAX_ITERS {
                return (false, iters);
            }
            for (v0, &ri) in self.v[..k].iter_mut().zip(&self.r) {
                *v0 = ri / beta;
            }
            self.g.fill(0.0);
            self.g[0] = beta;
            let mut j_end = 0;
            for j in 0..m {
                j_end = j + 1;
                let (basis, rest) = self.v.split_at_mut((j + 1) * k);
                let w = &mut rest[..k];
                op(&basis[j * k..], w);
                iters += 1;
                for i in 0..=j {
                    let hij = dot(w, &basis[i * k..(i + 1) * k]);
                    self.h[i * m + j] = hij;
                    for (wl, &vl) in w.iter_mut().zip(&basis[i * k..(i + 1) * k]) {
                        *wl -= hij * vl;
                    }
                }
                let hn = norm(w);
                self.h[(j + 1) * m + j] = hn;
                if hn > 0.0 {
                    w.iter_mut().for_each(|v| *v /= hn);
                }
                for i in 0..j {
                    let (a, c) = (self.h[i * m + j], self.h[(i + 1) * m + j]);
                    self.h[i * m + j] = self.cs[i] * a + self.sn[i] * c;
                    self.h[(i + 1) * m + j] = -self.sn[i] * a + self.cs[i] * c;
                }
                let (a, c) = (self.h[j * m + j], self.h[(j + 1) * m + j]);
                let r = a.hypot(c);
                let (cs, sn) = if r == 0.0 { (1.0, 0.0) } else { (a / r, c / r) };
                self.cs[j] = cs;
                self.sn[j] = sn;
                self.h[j * m + j] = r;
                self.h[(j + 1) * m + j] = 0.0;
                self.g[j + 1] = -sn * self.g[j];
                self.g[j] *= cs;
                if self.g[j + 1].abs() <= atol || hn == 0.0 || iters >= GMRES_MAX_ITERS {
                    break;
                }
            }
            // y = R⁻¹g (upper triangular), x += V y.
            for i in (0..j_end).rev() {
                let mut t = self.g[i];
                for l in i + 1..j_end {
                    t -= self.h[i * m + l] * self.y[l];
                }
                self.y[i] = t / self.h[i * m + i];
            }
            for (i, &yi) in self.y[..j_end].iter().enumerate() {
                for (xl, &vl) in x.iter_mut().zip(&self.v[i * k..(i + 1) * k]) {
                    *xl += yi * vl;
                }
            }
            // The true residual of the new iterate: a restart's start, or the proof of convergence.
            op(x, &mut self.w);
            iters += 1;
            for ((ri, &bi), &wi) in self.r.iter_mut().zip(b).zip(&self.w) {
                *ri = bi - wi;
            }
        }
    }
}
