//! `imprl gradients`: how far each gradient mode of SPEC §8.3 is from the exact gradient, along
//! one `ift` training run. Every `every` updates, at the run's parameters and one minibatch `B`
//! (drawn from its own random stream, the same for every mode), it computes
//!
//! - `ift`: `∇_ψ L_B(θ̂)` by the implicit function theorem (the reference);
//! - `truncated:K`: the `K`-term Neumann adjoint at `θ̂`;
//! - `unroll:K`: the exact derivative of `L_B(θ_K)`, `θ_K` K steps from 0 (its `g` at `θ_K`);
//! - `unroll-warm:K`: the same from the run's previous `θ̂` (the value before this update);
//!
//! and reports the relative error of `∂L/∂w` in the 1-norm, the cosine similarity of the full
//! gradient `(∂L/∂w, ∂L/∂F)` with the reference, and for `truncated` the bound `η^K` of
//! `‖u_K − u‖₁/‖u‖₁` (with one pseudo-action, `∂L/∂w = u`, so it bounds the `∂L/∂w` error).

mod figure;

pub use figure::figure;

use crate::config::{check_batch, ConfigError, RunConfig};
use crate::data::{Dataset, Problem};
use crate::param::grad_mode::{gradient_from_adjoint, neumann_adjoint, Unrolled};
use crate::param::{GradMode, ImplicitLayer, ModelGrad, Parameterization};
use crate::rng::{stream, Stream};
use crate::train::{draw_batch, minibatch_gradient, Observer, RunLog};
use rand_chacha::ChaCha8Rng;
use std::ops::ControlFlow;

/// The modes compared with `ift`, in the order of the CSV.
pub const FAMILIES: [&str; 3] = ["unroll", "unroll-warm", "truncated"];

/// The default `K`s of the comparison.
pub const DEFAULT_KS: [usize; 7] = [1, 2, 4, 8, 16, 32, 64];

/// One line of `gradients.csv`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradientRow {
    /// Updates done when the gradients were compared.
    pub step: usize,
    /// The mode's family: `unroll`, `unroll-warm` or `truncated`.
    pub mode: &'static str,
    /// `K`.
    pub k: usize,
    /// `‖∂L/∂w − ∂L/∂w_ift‖₁ / ‖∂L/∂w_ift‖₁`.
    pub rel_err_dw_l1: f64,
    /// Cosine of the angle between the full gradients `(∂L/∂w, ∂L/∂F)`.
    pub cos_full: f64,
    /// `η^K` for `truncated` (a bound on `rel_err_dw_l1`), else NaN (none).
    pub bound: f64,
}

fn norm1(x: &[f64]) -> f64 {
    x.iter().map(|v| v.abs()).sum()
}

/// `‖a.dw − b.dw‖₁ / ‖b.dw‖₁` and the cosine of `(a.dw, a.df)` with `(b.dw, b.df)`.
pub fn compare(a: &ModelGrad, b: &ModelGrad) -> (f64, f64) {
    let err: f64 = a.dw.iter().zip(&b.dw).map(|(x, y)| (x - y).abs()).sum();
    let dot = |x: &ModelGrad, y: &ModelGrad| -> f64 {
        let w: f64 = x.dw.iter().zip(&y.dw).map(|(p, q)| p * q).sum();
        let f: f64 = x.df.iter().zip(&y.df).map(|(p, q)| p * q).sum();
        w + f
    };
    let cos = dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt());
    (err / norm1(&b.dw), cos)
}

/// Every mode's gradient at the implicit layer `layer` (the paper's model or the model family)
/// and minibatch `batch` of `data`, against the exact one (see the module's documentation);
/// `theta_prev` starts `unroll-warm`. `None` when the adjoint cannot be solved. The truncated
/// bound is `η^K` with the largest `η` (the rows of `J` sum to at most `max η`).
pub fn compare_modes(
    layer: &dyn ImplicitLayer,
    theta_prev: &[f64],
    data: &Dataset,
    batch: &[usize],
    ks: &[usize],
    step: usize,
) -> Option<Vec<GradientRow>> {
    let k = layer.theta().len();
    let g_at = |theta: &[f64]| {
        let mut g = vec![0.0; k];
        minibatch_gradient(data, theta, batch, &mut g);
        g
    };
    let g = g_at(layer.theta());
    let exact = layer.clone_layer().gradient(&g).ok()?;
    let (model, pi, theta, s_theta) = (layer.model(), layer.pi(), layer.theta(), layer.sa_theta());
    let eta_max = model.eta.iter().fold(0.0f64, |a, &b| a.max(b));
    let zero = vec![0.0; k];
    let mut rows = Vec::with_capacity(3 * ks.len());
    for family in FAMILIES {
        for &kk in ks {
            let grad = match family {
                "truncated" => {
                    let u = neumann_adjoint(&model, &pi, &g, kk);
                    gradient_from_adjoint(&model, &u, &pi, theta, s_theta)
                }
                _ => {
                    let start = if family == "unroll" {
                        &zero
                    } else {
                        theta_prev
                    };
                    let un = Unrolled::forward(&model, start, kk);
                    un.backward(&model, &g_at(un.theta_k()))
                }
            };
            let (rel_err_dw_l1, cos_full) = compare(&grad, &exact);
            rows.push(GradientRow {
                step,
                mode: family,
                k: kk,
                rel_err_dw_l1,
                cos_full,
                bound: if family == "truncated" {
                    eta_max.powi(kk as i32)
                } else {
                    f64::NAN
                },
            });
        }
    }
    Some(rows)
}

/// The observer of the followed run: compares the modes every `every` updates.
struct Follower<'a> {
    data: &'a Dataset,
    ks: &'a [usize],
    every: usize,
    rng: ChaCha8Rng,
    batch: Vec<usize>,
    sampling: crate::train::Sampling,
    theta_prev: Vec<f64>,
    rows: Vec<GradientRow>,
}

impl Observer for Follower<'_> {
    fn on_step(
        &mut self,
        step: usize,
        _g: &[f64],
        param: &dyn Parameterization,
    ) -> ControlFlow<()> {
        if let (0, Some(layer)) = (step % self.every, param.layer()) {
            draw_batch(
                &mut self.rng,
                self.data.len(),
                self.sampling,
                &mut self.batch,
            );
            if let Some(rows) = compare_modes(
                layer,
                &self.theta_prev,
                self.data,
                &self.batch,
                self.ks,
                step,
            ) {
                self.rows.extend(rows);
            }
        }
        self.theta_prev.clear();
        self.theta_prev.extend_from_slice(param.theta());
        ControlFlow::Continue(())
    }
}

/// Follows the `ift` run `cfg` (its `grad` must be `ift`, its `param` implicit) on `problem` and
/// compares the modes at `ks` every `every` updates. The comparison's minibatches come from
/// their own random stream, so the run itself is the same as `imprl run`'s.
pub fn follow(
    cfg: &RunConfig,
    problem: &Problem,
    ks: &[usize],
    every: usize,
) -> Result<(RunLog, Vec<GradientRow>), ConfigError> {
    if cfg.grad != GradMode::Ift {
        return Err(ConfigError::invalid(
            "grad",
            cfg.grad,
            "ift (the run followed)",
        ));
    }
    if cfg.param != crate::param::ParamKind::Implicit {
        return Err(ConfigError::invalid("param", cfg.param, "implicit"));
    }
    if every == 0 {
        return Err(ConfigError::invalid("every", 0, "an integer >= 1"));
    }
    if ks.is_empty()
        || ks
            .iter()
            .any(|&k| !(1..=crate::param::grad_mode::MAX_K).contains(&k))
    {
        return Err(ConfigError::invalid(
            "ks",
            format!("{ks:?}"),
            "a list of integers from 1 to 100000",
        ));
    }
    check_batch(cfg.sampling, cfg.batch_size, problem.train.len())?;
    let mut param = crate::run::build_model(cfg, problem.train.k);
    let mut follower = Follower {
        data: &problem.train,
        ks,
        every,
        rng: stream(cfg.seed, Stream::Theory),
        batch: vec![0; cfg.batch_size],
        sampling: cfg.sampling,
        theta_prev: param.theta().to_vec(),
        rows: Vec::new(),
    };
    let log = crate::run::train_model(cfg, problem, param.as_mut(), &mut follower)
        .unwrap_or_else(|stopped| unreachable!("the follower never stops its run: {stopped}"));
    Ok((log, follower.rows))
}

/// Writes `rows` as `gradients.csv` (`step,mode,k,rel_err_dw_l1,cos_full,bound`; an empty
/// `bound` where there is none).
pub fn write_csv(mut out: impl std::io::Write, rows: &[GradientRow]) -> std::io::Result<()> {
    use crate::config::value::fmt_f64;
    writeln!(out, "step,mode,k,rel_err_dw_l1,cos_full,bound")?;
    for r in rows {
        let bound = if r.bound.is_nan() {
            String::new()
        } else {
            fmt_f64(r.bound)
        };
        writeln!(
            out,
            "{},{},{},{},{},{}",
            r.step,
            r.mode,
            r.k,
            fmt_f64(r.rel_err_dw_l1),
            fmt_f64(r.cos_full),
            bound
        )?;
    }
    Ok(())
}

/// The mean of `f(row)` over the rows of `mode` at `k`, NaN when there are none.
pub fn mean_over_steps(
    rows: &[GradientRow],
    mode: &str,
    k: usize,
    f: impl Fn(&GradientRow) -> f64,
) -> f64 {
    let v: Vec<f64> = rows
        .iter()
        .filter(|r| r.mode == mode && r.k == k)
        .map(f)
        .collect();
    v.iter().sum::<f64>() / v.len() as f64
}
