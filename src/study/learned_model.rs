//! What model does end-to-end training learn? (issue "what was learned", docs/learned-model/)
//!
//! On the chain and four rooms (one-hot features, where the data policy's `P^π`, `r^π` and
//! `V^π` are exact: [`Truth`]), implicit runs are followed along training, and every 10 updates
//! the learned model is compared with the true one:
//!
//! - `tv_model`: the mean total-variation distance of the rows of `S = σ(F)` to `P^π`,
//!   `(1/k) Σ_i ½‖S_i − P^π_i‖₁`;
//! - `w_dist = ‖w − r^π‖₂` and `theta_dist = ‖θ̂ − V^π‖₂` (on the `k` states with a feature);
//! - the Perron split of the paper (SPEC §2), `S = 1vᵀ + M` with `v` the stationary
//!   distribution: `tv_stationary = ½‖v_S − v_P‖₁` (the `1` direction) against
//!   `rest = (1/k) Σ_i ½‖M_S,i − M_P,i‖₁` (the rest), so that `S_i − P_i = (v_S − v_P) + (M_S −
//!   M_P)_i`; and the same split of how far `S` moved from its initial `S₀`
//!   (`moved`, `moved_stationary`, `moved_rest`).
//!
//! Runs, at the paper's protocol and default (best) learning rates, offsets 0 and 1:
//! `published` (the published initialization, SPEC §3) at `η = 0.95` (the paper's best settings)
//! and at `η = γ = 0.9`, and `true`: the true model as initialization, `η = γ`, logits
//! `F₀ = log max(P^π, 10⁻⁶)` (zero probabilities floored at [`PROB_FLOOR`], so `σ(F₀)` is `P^π`
//! up to about `10⁻⁶·k` per row) and `w₀ = (I − γσ(F₀))V^π` (`= r^π` up to the floor), so that
//! `θ̂₀ = V^π` exactly. An explicit run at its default rate gives the reference `theta_dist`.
//! The true-model runs are built with [`Implicit::from_params`] and trained with
//! [`crate::run::train_model`] on the run's own data and minibatches: no new run setting.

use super::{StudyError, StudyReport};
use crate::config::{ConfigError, Raw, RunConfig, RunSettings};
use crate::data::Problem;
use crate::domain::DomainKind;
use crate::figure::{Figure, Format, Panel, Point, Series, Spread, BLACK, OKABE_ITO};
use crate::param::{draw_implicit_init, Implicit, ParamKind, Parameterization};
use crate::plot::{PlotError, Table};
use crate::stats::Stat;
use crate::train::Observer;
use crate::values::{dist2, mean_row_tv, Truth};
use rayon::prelude::*;
use std::ops::ControlFlow;
use std::path::Path;

/// The probability given to the zero entries of `P^π` in the true model's logits.
pub const PROB_FLOOR: f64 = 1e-6;
/// Measure every this many updates.
pub const EVERY: usize = 10;
/// The domains of the study.
pub const DOMAINS: [DomainKind; 2] = [DomainKind::Chain, DomainKind::FourRooms];
/// The offsets of the study.
pub const OFFSETS: [f64; 2] = [0.0, 1.0];

/// The learning rates of the true-model runs, as factors of the default (best) rate at
/// `η = γ`: the default diverges in most four-rooms runs from the true model.
pub const TRUE_LR_FACTORS: [f64; 3] = [1.0, 0.25, 0.0625];

/// A run whose last `‖θ̂ − V^π‖` exceeds this counts with the diverged ones (left out of
/// the means): its values blew up without overflowing.
pub const BLOW_UP: f64 = 1e6;

/// The study's options.
#[derive(Debug, Clone)]
pub struct StudyOptions {
    /// Seeds `0..seeds` per configuration.
    pub seeds: u64,
    /// Updates per run (the paper's 300).
    pub steps: usize,
    /// Worker threads (`None`: all cores).
    pub jobs: Option<usize>,
    /// Image formats.
    pub format: Format,
    /// The true-model runs' learning rates, as factors of the default rate at `η = γ`.
    pub true_lr_factors: Vec<f64>,
}

impl Default for StudyOptions {
    fn default() -> Self {
        StudyOptions {
            seeds: 10,
            steps: crate::published::STEPS,
            jobs: None,
            format: Format::Both,
            true_lr_factors: TRUE_LR_FACTORS.to_vec(),
        }
    }
}

/// How a run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Start {
    /// The published initialization (SPEC §3).
    Published,
    /// The true model (`σ(F₀) ≈ P^π`, `θ̂₀ = V^π`, `η = γ`).
    True,
}

impl Start {
    /// Its name in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Start::Published => "published",
            Start::True => "true",
        }
    }
}

/// One run of the study.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StudyRun {
    /// Its settings (an implicit or explicit run).
    pub cfg: RunConfig,
    /// How it starts (explicit runs: [`Start::Published`]).
    pub start: Start,
}

/// The run's settings, its learning rate `lr_factor` times its default when given.
fn config(
    domain: DomainKind,
    param: ParamKind,
    eta: f64,
    offset: f64,
    seed: u64,
    steps: usize,
    lr_factor: Option<f64>,
) -> Result<RunConfig, ConfigError> {
    let mut s = RunSettings::default();
    let text = [
        ("domain", domain.name().to_string()),
        ("param", param.name().to_string()),
        ("eta", eta.to_string()),
        ("offset", offset.to_string()),
        ("seed", seed.to_string()),
        ("steps", steps.to_string()),
    ];
    for (name, value) in &text {
        s.set(name, Raw::Text(value))?;
    }
    let cfg = s.resolve()?;
    match lr_factor {
        None => Ok(cfg),
        Some(f) => {
            let lr = (cfg.lr * f).to_string();
            s.set("lr", Raw::Text(&lr))?;
            s.resolve()
        }
    }
}

/// The study's runs: per domain, offset and seed, implicit from the published initialization at
/// `η = 0.95` and at `η = γ`, from the true model at `η = γ`, and explicit (default `η`).
pub fn runs(opts: &StudyOptions) -> Result<Vec<StudyRun>, ConfigError> {
    let mut out = Vec::new();
    for d in DOMAINS {
        let gamma = d.gamma();
        for offset in OFFSETS {
            for seed in 0..opts.seeds {
                let c = |p, eta| config(d, p, eta, offset, seed, opts.steps, None);
                out.push(StudyRun {
                    cfg: c(ParamKind::Implicit, 0.95)?,
                    start: Start::Published,
                });
                out.push(StudyRun {
                    cfg: c(ParamKind::Implicit, gamma)?,
                    start: Start::Published,
                });
                for &f in &opts.true_lr_factors {
                    out.push(StudyRun {
                        cfg: config(
                            d,
                            ParamKind::Implicit,
                            gamma,
                            offset,
                            seed,
                            opts.steps,
                            Some(f),
                        )?,
                        start: Start::True,
                    });
                }
                out.push(StudyRun {
                    cfg: c(ParamKind::Explicit, 0.95)?,
                    start: Start::Published,
                });
            }
        }
    }
    Ok(out)
}

/// The true model of `truth` as an implicit model at discount `eta`: logits
/// `F = log max(P^π, PROB_FLOOR)`, `w = (I − ησ(F))V^π`, so that `θ̂ = V^π` (SPEC §1).
pub fn true_model(truth: &Truth, eta: f64) -> Result<Implicit, crate::linalg::SolveError> {
    let k = truth.k;
    let f: Vec<f64> = truth.p.iter().map(|&p| p.max(PROB_FLOOR).ln()).collect();
    let mut s = vec![0.0; k * k];
    for i in 0..k {
        crate::values::softmax_into(&f[i * k..(i + 1) * k], &mut s[i * k..(i + 1) * k]);
    }
    let w = (0..k)
        .map(|i| truth.v[i] - eta * crate::data::dot(&s[i * k..(i + 1) * k], &truth.v))
        .collect();
    Implicit::from_params(w, f, eta)
}

/// The measurements of one model against the truth (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measure {
    /// Updates done.
    pub step: usize,
    /// Mean row total-variation distance of `σ(F)` to `P^π`.
    pub tv_model: f64,
    /// `½‖v_S − v_P‖₁`.
    pub tv_stationary: f64,
    /// Mean row `½‖M_S − M_P‖₁`.
    pub rest: f64,
    /// `‖w − r^π‖₂`.
    pub w_dist: f64,
    /// `‖θ̂ − V^π‖₂`.
    pub theta_dist: f64,
    /// Mean row total-variation distance of `σ(F)` to `σ(F₀)`.
    pub moved: f64,
    /// `½‖v_S − v_S₀‖₁`.
    pub moved_stationary: f64,
    /// Mean row `½‖M_S − M_S₀‖₁`.
    pub moved_rest: f64,
}

/// `(1/k) Σ_i ½‖(a − 1vₐᵀ)_i − (b − 1v_bᵀ)_i‖₁`.
fn rest_distance(a: &[f64], va: &[f64], b: &[f64], vb: &[f64], k: usize) -> f64 {
    let mut total = 0.0;
    for i in 0..k {
        for j in 0..k {
            total += ((a[i * k + j] - va[j]) - (b[i * k + j] - vb[j])).abs();
        }
    }
    0.5 * total / k as f64
}

fn half_l1(a: &[f64], b: &[f64]) -> f64 {
    0.5 * a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>()
}

/// Follows an implicit run against `truth`, every [`EVERY`] updates and after the last.
struct Follow<'a> {
    truth: &'a Truth,
    v_p: Vec<f64>,
    steps: usize,
    s0: Vec<f64>,
    v0: Vec<f64>,
    out: Vec<Measure>,
}

impl<'a> Follow<'a> {
    fn new(truth: &'a Truth, steps: usize) -> Self {
        Follow {
            truth,
            v_p: crate::theory::stationary_distribution(&truth.p, truth.k),
            steps,
            s0: Vec::new(),
            v0: Vec::new(),
            out: Vec::new(),
        }
    }

    fn measure(&mut self, step: usize, m: &Implicit) {
        let (t, k) = (self.truth, self.truth.k);
        let s = m.s();
        let v_s = crate::theory::stationary_distribution(s, k);
        if self.s0.is_empty() {
            self.s0 = s.to_vec();
            self.v0 = v_s.clone();
        }
        self.out.push(Measure {
            step,
            tv_model: mean_row_tv(s, &t.p, k),
            tv_stationary: half_l1(&v_s, &self.v_p),
            rest: rest_distance(s, &v_s, &t.p, &self.v_p, k),
            w_dist: dist2(m.w(), &t.r),
            theta_dist: dist2(m.theta(), &t.v),
            moved: mean_row_tv(s, &self.s0, k),
            moved_stationary: half_l1(&v_s, &self.v0),
            moved_rest: rest_distance(s, &v_s, &self.s0, &self.v0, k),
        });
    }
}

impl Observer<Implicit> for Follow<'_> {
    fn on_start(&mut self, m: &Implicit) {
        self.measure(0, m);
    }

    fn on_step(&mut self, step: usize, _g: &[f64], m: &Implicit) -> ControlFlow<()> {
        if step % EVERY == 0 || step == self.steps {
            self.measure(step, m);
        }
        ControlFlow::Continue(())
    }
}

/// Follows an explicit run's `‖θ − V^π‖`.
struct FollowValues<'a> {
    truth: &'a Truth,
    steps: usize,
    out: Vec<Measure>,
}

impl FollowValues<'_> {
    fn measure(&mut self, step: usize, m: &dyn Parameterization) {
        let nan = f64::NAN;
        self.out.push(Measure {
            step,
            tv_model: nan,
            tv_stationary: nan,
            rest: nan,
            w_dist: nan,
            theta_dist: dist2(m.theta(), &self.truth.v),
            moved: nan,
            moved_stationary: nan,
            moved_rest: nan,
        });
    }
}

impl Observer for FollowValues<'_> {
    fn on_start(&mut self, m: &dyn Parameterization) {
        self.measure(0, m);
    }

    fn on_step(&mut self, step: usize, _g: &[f64], m: &dyn Parameterization) -> ControlFlow<()> {
        if step % EVERY == 0 || step == self.steps {
            self.measure(step, m);
        }
        ControlFlow::Continue(())
    }
}

/// The measurements of one run, and the update at which it diverged, if it did.
pub fn follow(run: &StudyRun) -> Result<(Vec<Measure>, Option<usize>), StudyError> {
    let cfg = &run.cfg;
    let truth = Truth::of(cfg).ok_or_else(|| {
        ConfigError::invalid("domain", cfg.domain.name(), "chain or four-rooms (one-hot)")
    })?;
    let problem: Problem = crate::run::problem(cfg)?;
    let stopped = |e: crate::train::Stopped| StudyError::Failed(e.to_string());
    if cfg.param == ParamKind::Explicit {
        let mut model = crate::run::build_model(cfg, problem.train.k);
        let mut obs = FollowValues {
            truth: &truth,
            steps: cfg.steps,
            out: Vec::new(),
        };
        let log =
            crate::run::train_model(cfg, &problem, model.as_mut(), &mut obs).map_err(stopped)?;
        return Ok((obs.out, log.outcome.diverged_at()));
    }
    let mut model = match run.start {
        Start::Published => {
            Implicit::with_solver(draw_implicit_init(truth.k, cfg.seed), cfg.eta, cfg.solver)
        }
        Start::True => true_model(&truth, cfg.eta).map_err(|e| {
            StudyError::Failed(format!(
                "{}: the true model cannot be solved: {e}",
                cfg.domain
            ))
        })?,
    };
    model.set_mode(cfg.grad);
    let mut obs = Follow::new(&truth, cfg.steps);
    let log = crate::run::train_model(cfg, &problem, &mut model, &mut obs).map_err(stopped)?;
    Ok((obs.out, log.outcome.diverged_at()))
}

/// A configuration's name: `implicit, published, eta 0.95`.
fn variant(r: &StudyRun) -> String {
    match r.cfg.param {
        ParamKind::Explicit => "explicit".into(),
        _ => format!(
            "implicit {} init, η = {}, lr {}",
            r.start.name(),
            r.cfg.eta,
            crate::figure::number_label(r.cfg.lr)
        ),
    }
}

/// A measurement of [`Measure`].
pub type Metric = fn(&Measure) -> f64;

/// The metrics of the tables, by column name.
pub const METRICS: [(&str, Metric); 8] = [
    ("tv_model", |m| m.tv_model),
    ("tv_stationary", |m| m.tv_stationary),
    ("rest", |m| m.rest),
    ("w_dist", |m| m.w_dist),
    ("theta_dist", |m| m.theta_dist),
    ("moved", |m| m.moved),
    ("moved_stationary", |m| m.moved_stationary),
    ("moved_rest", |m| m.moved_rest),
];

/// Runs the study into `out`: `learned_model.csv` (every run, every 10 updates),
/// `summary.csv` and `summary.md` (mean ± standard error over seeds at the start and the end),
/// and a figure per domain.
pub fn run(out: &Path, opts: &StudyOptions) -> Result<StudyReport, StudyError> {
    let all = runs(opts)?;
    std::fs::create_dir_all(out).map_err(|e| PlotError::Io {
        path: out.display().to_string(),
        message: e.to_string(),
    })?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.unwrap_or(0))
        .build()
        .map_err(|e| StudyError::Failed(format!("worker threads: {e}")))?;
    let results: Vec<(Vec<Measure>, Option<usize>)> =
        pool.install(|| all.par_iter().map(follow).collect::<Result<_, _>>())?;
    let mut report = StudyReport::default();
    let diverged = results.iter().filter(|r| r.1.is_some()).count();
    report.notes.push(format!(
        "{} runs ({} diverged), measured every {EVERY} updates",
        all.len(),
        diverged
    ));
    // Every run.
    let mut t = Table::new(&[
        "domain",
        "offset",
        "param",
        "start",
        "eta",
        "lr",
        "seed",
        "step",
        "tv_model",
        "tv_stationary",
        "rest",
        "w_dist",
        "theta_dist",
        "moved",
        "moved_stationary",
        "moved_rest",
    ]);
    for (r, (ms, _)) in all.iter().zip(&results) {
        for m in ms {
            let mut row = vec![
                r.cfg.domain.name().to_string(),
                r.cfg.offset.to_string(),
                r.cfg.param.name().to_string(),
                r.start.name().to_string(),
                r.cfg.eta.to_string(),
                r.cfg.lr.to_string(),
                r.cfg.seed.to_string(),
                m.step.to_string(),
            ];
            row.extend(METRICS.iter().map(|(_, f)| cell(f(m))));
            t.rows.push(row);
        }
    }
    let write = |t: &Table, name: &str, report: &mut StudyReport| -> Result<(), StudyError> {
        let p = out.join(name);
        t.write_csv(&p).map_err(|e| PlotError::Io {
            path: p.display().to_string(),
            message: e.to_string(),
        })?;
        report.files.push(p);
        Ok(())
    };
    write(&t, "learned_model.csv", &mut report)?;
    // Summary per configuration at the start and the end.
    let groups = group(&all, &results);
    let mut s = Table::new(&[
        "domain", "offset", "variant", "lr", "step", "n", "metric", "mean", "se",
    ]);
    for g in &groups {
        for &step in &[0, opts.steps] {
            for (name, f) in &METRICS {
                let st = g.at(step, *f);
                if st.n == 0 {
                    continue;
                }
                s.rows.push(vec![
                    g.domain.name().into(),
                    g.offset.to_string(),
                    g.variant.clone(),
                    g.lr.to_string(),
                    step.to_string(),
                    st.n.to_string(),
                    (*name).into(),
                    cell(st.mean),
                    cell(st.se().unwrap_or(f64::NAN)),
                ]);
            }
        }
    }
    write(&s, "summary.csv", &mut report)?;
    let md = summary_markdown(&groups, opts.steps);
    let p = out.join("summary.md");
    std::fs::write(&p, md).map_err(|e| PlotError::Io {
        path: p.display().to_string(),
        message: e.to_string(),
    })?;
    report.files.push(p);
    for d in DOMAINS {
        let (fig, perron) = figures(&groups, d);
        let name = d.name().replace('-', "_");
        for (f, stem) in [
            (fig, format!("learned_model_{name}")),
            (perron, format!("perron_{name}")),
        ] {
            report.files.extend(
                f.save_as(out, &stem, opts.format)
                    .map_err(PlotError::Figure)?,
            );
        }
    }
    Ok(report)
}

fn cell(x: f64) -> String {
    if x.is_nan() {
        String::new()
    } else {
        x.to_string()
    }
}

/// The runs of one configuration (all seeds): those that did not diverge, and how many did.
struct Group {
    domain: DomainKind,
    offset: f64,
    variant: String,
    lr: f64,
    runs: Vec<Vec<Measure>>,
    diverged: usize,
}

impl Group {
    /// The statistics over seeds of `f` at `step` (runs that measured it, finite values).
    fn at(&self, step: usize, f: fn(&Measure) -> f64) -> Stat {
        let xs: Vec<f64> = self
            .runs
            .iter()
            .filter_map(|ms| ms.iter().find(|m| m.step == step).map(f))
            .filter(|x| x.is_finite())
            .collect();
        Stat::of(&xs)
    }

    fn steps(&self) -> Vec<usize> {
        let mut s: Vec<usize> = self.runs.iter().flatten().map(|m| m.step).collect();
        s.sort_unstable();
        s.dedup();
        s
    }
}

fn group(all: &[StudyRun], results: &[(Vec<Measure>, Option<usize>)]) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for (r, (ms, diverged)) in all.iter().zip(results) {
        let v = variant(r);
        let i = match out
            .iter()
            .position(|g| g.domain == r.cfg.domain && g.offset == r.cfg.offset && g.variant == v)
        {
            Some(i) => i,
            None => {
                out.push(Group {
                    domain: r.cfg.domain,
                    offset: r.cfg.offset,
                    variant: v,
                    lr: r.cfg.lr,
                    runs: Vec::new(),
                    diverged: 0,
                });
                out.len() - 1
            }
        };
        let blew_up = ms.last().is_some_and(|m| {
            m.theta_dist.abs().partial_cmp(&BLOW_UP) != Some(std::cmp::Ordering::Less)
        });
        if diverged.is_some() || blew_up {
            out[i].diverged += 1;
        } else {
            out[i].runs.push(ms.clone());
        }
    }
    out
}

/// `mean ± se` with 3 significant digits.
fn pm(s: &Stat) -> String {
    if s.n == 0 {
        return "–".into();
    }
    format!(
        "{} ± {}",
        crate::figure::number_label(s.mean),
        crate::figure::number_label(s.se().unwrap_or(f64::NAN))
    )
}

/// The summary as a Markdown table: per configuration, the start and the end of each distance.
fn summary_markdown(groups: &[Group], steps: usize) -> String {
    let mut s = String::from(
        "| domain | offset | run | lr | TV(σ(F), P^π) start → end | ‖w − r^π‖ start → end | ‖θ̂ − V^π‖ start → end | stationary TV end | rest end | moved: stationary / rest |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for g in groups {
        let nan: fn(&Measure) -> f64 = |_| f64::NAN;
        let f = |name: &str| METRICS.iter().find(|m| m.0 == name).map_or(nan, |m| m.1);
        let se = |name: &str| format!("{} → {}", pm(&g.at(0, f(name))), pm(&g.at(steps, f(name))));
        s.push_str(&format!(
            "| {} | {} | {} (n = {}{}) | {} | {} | {} | {} | {} | {} | {} / {} |\n",
            g.domain.name(),
            g.offset,
            g.variant,
            g.runs.len(),
            if g.diverged > 0 {
                format!("; {} diverged or blew up, left out", g.diverged)
            } else {
                String::new()
            },
            crate::figure::number_label(g.lr),
            se("tv_model"),
            se("w_dist"),
            se("theta_dist"),
            pm(&g.at(steps, f("tv_stationary"))),
            pm(&g.at(steps, f("rest"))),
            pm(&g.at(steps, f("moved_stationary"))),
            pm(&g.at(steps, f("moved_rest"))),
        ));
    }
    s
}

/// A domain's figure: the distances along training, mean ± standard error over seeds.
/// A domain's figures: the distances along training, and which part of `σ(F)` moves; mean ±
/// standard error over seeds (log axes from 10 updates on).
fn figures(groups: &[Group], d: DomainKind) -> (Figure, Figure) {
    let panel = |title: &str, y: &str, f: fn(&Measure) -> f64, log: bool| {
        let mut series = Vec::new();
        let mine: Vec<&Group> = groups.iter().filter(|g| g.domain == d).collect();
        let variants: Vec<String> = {
            let mut v: Vec<String> = mine.iter().map(|g| g.variant.clone()).collect();
            v.dedup();
            v.sort();
            v.dedup();
            v
        };
        for g in &mine {
            let points: Vec<Point> = g
                .steps()
                .into_iter()
                .filter(|&step| !log || step > 0)
                .filter_map(|step| {
                    let st = g.at(step, f);
                    (st.n > 0).then(|| Point {
                        x: step as f64,
                        y: st.mean,
                        spread: st.se().unwrap_or(0.0),
                    })
                })
                .collect();
            if points.is_empty() {
                continue;
            }
            let i = variants.iter().position(|v| *v == g.variant).unwrap_or(0);
            let color = if g.variant == "explicit" {
                BLACK
            } else {
                OKABE_ITO[i % OKABE_ITO.len()]
            };
            series.push(Series {
                dashed: g.offset != 0.0,
                markers: false,
                spread: Spread::Band,
                ..Series::line(format!("{}, offset {}", g.variant, g.offset), color, points)
            });
        }
        Panel {
            title: title.into(),
            x_label: "updates".into(),
            y_label: y.into(),
            log_y: log,
            series,
            ..Default::default()
        }
    };
    let title = |what: &str| format!("{what}: {} (mean ± s.e. over seeds)", d.name());
    let mut fig = Figure::new(
        title("What model is learned"),
        vec![
            panel(
                "model: TV(σ(F), P)",
                "mean row total variation",
                |m| m.tv_model,
                false,
            ),
            panel(
                "rewards: ‖w − r‖",
                "Euclidean distance (from 10 updates)",
                |m| m.w_dist,
                true,
            ),
            panel(
                "values: ‖θ − V‖",
                "Euclidean distance (from 10 updates)",
                |m| m.theta_dist,
                true,
            ),
        ],
    );
    let mut perron = Figure::new(
        title("Which part of σ(F) moves (Perron split S = 1vᵀ + M)"),
        vec![
            panel(
                "stationary part: ½‖v − v₀‖₁",
                "total variation from the start",
                |m| m.moved_stationary,
                false,
            ),
            panel(
                "the rest: mean row ½‖M − M₀‖₁",
                "total variation from the start",
                |m| m.moved_rest,
                false,
            ),
        ],
    );
    for f in [&mut fig, &mut perron] {
        f.panel_size = (430, 440);
        f.legend_width = 400;
        f.notes.push("solid: offset 0, dashed: offset 1".into());
        f.notes
            .push("P, r, V: the data policy's P^π, r^π, V^π".into());
    }
    (fig, perron)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_true_model_reproduces_the_true_values() {
        for d in DOMAINS {
            let cfg = config(d, ParamKind::Implicit, d.gamma(), 1.0, 0, 300, None).expect("cfg");
            let t = Truth::of(&cfg).expect("truth");
            let m = true_model(&t, d.gamma()).expect("solves");
            let scale = t.v.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            assert!(
                dist2(m.theta(), &t.v) < 1e-10 * scale * (t.k as f64).sqrt(),
                "{d}"
            );
            // σ(F₀) is P^π up to the floor, and w₀ is r^π up to it.
            assert!(
                mean_row_tv(m.s(), &t.p, t.k) < PROB_FLOOR * t.k as f64,
                "{d}"
            );
            assert!(
                dist2(m.w(), &t.r) < 1e-4 * scale,
                "{d}: {}",
                dist2(m.w(), &t.r)
            );
        }
    }
}
