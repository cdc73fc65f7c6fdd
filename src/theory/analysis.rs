//! The analysis driver: one implicit and one explicit run trained by the real trainer
//! ([`crate::train::train`]), observed at the checkpoints, where every result is computed.

use super::perron::{
    implicit_step, perron_split, preconditioner, resolvent_inverse, softmax_curvature,
    symmetric_eigenvalues, theorem1_rel_error,
};
use super::theorem4::{measured_change, ones_direction, theorem4};
use super::theorem5::{
    corollary3_bound, distinct_one_hot, explicit_rows, mc_steps, ones_rows, preconditioned_rows,
    ratio_estimate, residuals, second_moment_ratio,
};
use super::{frob, mul, norm2, CheckpointRow, TheoryConfig, TheoryReport};
use crate::data::Problem;
use crate::param::{draw_implicit_init, Explicit, Implicit, Parameterization};
use crate::rng::{stream, Stream};
use crate::stats::Estimate;
use crate::train::{minibatch_gradient, to_the_end, train, Observer, Outcome, Sampling, Schedule};
use rand_chacha::ChaCha8Rng;
use std::ops::ControlFlow;

/// Everything at one checkpoint, for the implicit model `imp` and explicit weights `theta_e`
/// (the theory's quantities on the training set, the residual norms also on the test set).
pub fn checkpoint(
    cfg: &TheoryConfig,
    problem: &Problem,
    step: usize,
    imp: &Implicit,
    theta_e: &[f64],
    rng: &mut ChaCha8Rng,
) -> CheckpointRow {
    let data = &problem.train;
    let test_norm = |th: &[f64]| norm2(&residuals(&problem.test, th)).sqrt();
    let k = data.k;
    let n = data.len();
    let nf = n as f64;
    let eta = imp.eta();
    let b = cfg.batch_size;
    let alpha = cfg.lr_implicit;
    let theta = imp.theta().to_vec();
    let r = residuals(data, &theta);
    let r_par = r.iter().sum::<f64>() / nf;
    let r_perp = r.iter().map(|x| (x - r_par).powi(2)).sum::<f64>().sqrt();
    let re = residuals(data, theta_e);

    // Theorem 1.
    let p = preconditioner(imp);
    let eig = symmetric_eigenvalues(&p, k).unwrap_or_else(|| vec![f64::NAN]);
    let (lmin, lmax) = (eig[0], eig[eig.len() - 1]);
    let full: Vec<usize> = (0..n).collect();
    let mut gbar = vec![0.0; k];
    minibatch_gradient(data, &theta, &full, &mut gbar);
    let thm1 = theorem1_rel_error(imp, &p, &gbar, alpha);
    let thm1_q = theorem1_rel_error(imp, &p, &gbar, alpha / 4.0);

    // Perron split and the rank-one limit of P.
    let ainv = resolvent_inverse(imp);
    let perron = perron_split(imp, &ainv);
    let d = softmax_curvature(imp);
    let cv: f64 = perron
        .v
        .iter()
        .zip(&d)
        .map(|(vi, di)| vi * vi * (eta * eta * di + 1.0))
        .sum();
    let p_inf = cv / (1.0 - eta).powi(2);
    let p_rank_one = p.iter().map(|x| (x - p_inf).powi(2)).sum::<f64>().sqrt() / frob(&p);

    // Theorem 4.
    let col_sum = ones_direction(data);
    let thm4 = theorem4(data, &col_sum, &mul(&p, &gbar), alpha, r_par, cv, eta);

    // Theorem 5: closed forms.
    let a_exp = explicit_rows(data, theta_e);
    let ones = ones_rows(data, &theta);
    let a_lin = preconditioned_rows(data, &theta, &p);
    let closed = |a: &[f64], d: usize, s| second_moment_ratio(a, d, b, s);
    use Sampling::{WithReplacement as Wr, WithoutReplacement as Wor};

    // Monte Carlo: explicit and implicit steps, both samplings.
    let mc = cfg.mc_samples;
    let exp_step = |g: &[f64]| -> Option<Vec<f64>> {
        let mut e = Explicit::new(theta_e.to_vec());
        e.sgd_step(g, cfg.lr_explicit).ok()?;
        Some(e.theta().iter().zip(theta_e).map(|(a, b)| a - b).collect())
    };
    let imp_step = |g: &[f64]| implicit_step(imp, g, alpha);
    let nan = Estimate::NAN;
    let mut est = |f: &(dyn Fn(&[f64]) -> Option<Vec<f64>> + Sync), th: &[f64], s: Sampling| {
        if s == Wor && b > n {
            return (nan, Vec::new());
        }
        let steps = mc_steps(f, data, th, b, s, mc, rng);
        (ratio_estimate(&steps, k), steps)
    };
    let (e_wr, _) = est(&exp_step, theta_e, Wr);
    let (e_wor, _) = est(&exp_step, theta_e, Wor);
    let (i_wr, s_wr) = est(&imp_step, &theta, Wr);
    let (i_wor, s_wor) = est(&imp_step, &theta, Wor);
    let run_steps = match cfg.sampling {
        Wr => &s_wr,
        Wor => &s_wor,
    };
    let measured = measured_change(&col_sum, run_steps, n);
    let mse = |r: &[f64]| norm2(r) / nf;

    CheckpointRow {
        step,
        imp_test_residual_norm: test_norm(&theta),
        exp_test_residual_norm: test_norm(theta_e),
        imp_train_mse: mse(&r),
        exp_train_mse: mse(&re),
        imp_r_par: r_par,
        imp_r_perp: r_perp,
        p_lambda_min: lmin,
        p_lambda_max: lmax,
        p_condition: lmax / lmin,
        p_rank_one_rel_error: p_rank_one,
        thm1_rel_error: thm1,
        thm1_rel_error_quarter: thm1_q,
        perron_rel_error: perron.rel_error,
        perron_predicted_rel_error: perron.predicted_rel_error,
        perron_abs_error: perron.abs_error,
        deviation_norm: perron.deviation_norm,
        v_min: perron.v.iter().copied().fold(f64::INFINITY, f64::min),
        thm4_first_order: thm4.first_order,
        thm4_asymptotic: thm4.asymptotic,
        thm4_measured: measured.estimate,
        thm4_measured_ci: measured.ci,
        n_over_b: nf / b as f64,
        distinct_one_hot: u8::from(distinct_one_hot(data)),
        t5_exp_closed_wr: closed(&a_exp, k, Wr),
        t5_exp_mc_wr: e_wr.estimate,
        t5_exp_mc_wr_ci: e_wr.ci,
        t5_exp_closed_wor: closed(&a_exp, k, Wor),
        t5_exp_mc_wor: e_wor.estimate,
        t5_exp_mc_wor_ci: e_wor.ci,
        t5_imp_linear_wr: closed(&a_lin, k, Wr),
        t5_imp_asym_wr: closed(&ones, 1, Wr),
        t5_imp_mc_wr: i_wr.estimate,
        t5_imp_mc_wr_ci: i_wr.ci,
        t5_imp_linear_wor: closed(&a_lin, k, Wor),
        t5_imp_asym_wor: closed(&ones, 1, Wor),
        t5_imp_mc_wor: i_wor.estimate,
        t5_imp_mc_wor_ci: i_wor.ci,
        cor3_bound: corollary3_bound(&ones, b).unwrap_or(f64::NAN),
    }
}

/// The explicit run's weights at the checkpoints (observer of the explicit run).
struct ExplicitTrace<'a> {
    checkpoints: &'a [usize],
    thetas: Vec<(usize, Vec<f64>)>,
    last_step: usize,
}

impl Observer<Explicit> for ExplicitTrace<'_> {
    fn on_step(&mut self, step: usize, _g: &[f64], param: &Explicit) -> ControlFlow<()> {
        self.last_step = step;
        if self.checkpoints.contains(&step) {
            self.thetas.push((step, param.theta().to_vec()));
        }
        ControlFlow::Continue(())
    }
}

/// The analysis at the checkpoints of the implicit run (observer of the implicit run), paired
/// with the explicit run's weights at the same step; steps from `stop` on are not analyzed.
struct Analyst<'a> {
    cfg: &'a TheoryConfig,
    problem: &'a Problem,
    explicit: &'a [(usize, Vec<f64>)],
    stop: usize,
    rng: ChaCha8Rng,
    rows: Vec<CheckpointRow>,
    progress: &'a mut dyn FnMut(usize),
    last_step: usize,
}

impl Analyst<'_> {
    fn analyze(&mut self, step: usize, imp: &Implicit) {
        if step >= self.stop || !self.cfg.checkpoints.contains(&step) {
            return;
        }
        let Some((_, theta_e)) = self.explicit.iter().find(|(s, _)| *s == step) else {
            return;
        };
        let row = checkpoint(self.cfg, self.problem, step, imp, theta_e, &mut self.rng);
        self.rows.push(row);
        (self.progress)(step);
    }
}

impl Observer<Implicit> for Analyst<'_> {
    fn on_start(&mut self, imp: &Implicit) {
        self.analyze(0, imp);
    }
    fn on_step(&mut self, step: usize, _g: &[f64], imp: &Implicit) -> ControlFlow<()> {
        self.last_step = step;
        self.analyze(step, imp);
        ControlFlow::Continue(())
    }
}

/// The update after which a run's parameters stopped being finite: the trainer's divergence
/// unless the update at that step went through (`last_step`, the last update observed) and
/// only the test evaluation after it was not finite, which the analysis does not use.
fn update_divergence(outcome: Outcome, last_step: usize) -> Option<usize> {
    outcome.diverged_at().filter(|&t| t > last_step)
}

/// Follows one implicit and one explicit run on `problem` and analyzes both at every
/// checkpoint, after that many updates. Both runs are trained by [`train`] exactly as `imprl
/// run` does (init from [`Stream::Init`], minibatches from [`Stream::Batches`], the explicit
/// run starting at the implicit init's `θ̂`); the explicit run's weights are recorded at the
/// checkpoints, then the implicit run is analyzed through its [`Observer`] (Monte Carlo from
/// [`Stream::Theory`]). The analysis ends at the first update after which either run is no
/// longer finite. `progress` is told each checkpoint done.
pub fn analyze(
    cfg: &TheoryConfig,
    problem: &Problem,
    progress: &mut dyn FnMut(usize),
) -> TheoryReport {
    let data = &problem.train;
    let k = data.k;
    let mut imp = Implicit::new(draw_implicit_init(k, cfg.seed), cfg.eta);
    let mut exp = Explicit::new(imp.theta().to_vec());
    // Evaluations are not needed here: only before the first and after the last update.
    let schedule = |steps: usize, lr: f64| Schedule {
        steps,
        batch_size: cfg.batch_size,
        eval_every: usize::MAX,
        optimizer: crate::optim::OptimizerSpec::sgd(lr),
        sampling: cfg.sampling,
    };
    let mut trace = ExplicitTrace {
        checkpoints: &cfg.checkpoints,
        thetas: vec![(0, exp.theta().to_vec())],
        last_step: 0,
    };
    let exp_log = to_the_end(train(
        &mut exp,
        problem,
        &schedule(cfg.steps, cfg.lr_explicit),
        &mut stream(cfg.seed, Stream::Batches),
        &mut trace,
    ));
    let exp_div = update_divergence(exp_log.outcome, trace.last_step);
    // The implicit run goes as far as the explicit one did.
    let imp_steps = exp_div.map_or(cfg.steps, |t| t.min(cfg.steps));
    let mut analyst = Analyst {
        cfg,
        problem,
        explicit: &trace.thetas,
        stop: exp_div.unwrap_or(usize::MAX),
        rng: stream(cfg.seed, Stream::Theory),
        rows: Vec::new(),
        progress,
        last_step: 0,
    };
    let imp_log = to_the_end(train(
        &mut imp,
        problem,
        &schedule(imp_steps, cfg.lr_implicit),
        &mut stream(cfg.seed, Stream::Batches),
        &mut analyst,
    ));
    let imp_div = update_divergence(imp_log.outcome, analyst.last_step);
    TheoryReport {
        config: cfg.clone(),
        n: data.len(),
        k,
        rows: analyst.rows,
        implicit_diverged: imp_div,
        // An explicit divergence after the implicit one is past the end of the analysis.
        explicit_diverged: exp_div.filter(|&t| imp_div.is_none_or(|i| t <= i)),
    }
}
