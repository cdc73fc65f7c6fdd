//! The one entry point of the theory checks (SPEC §2, §8.1, §8.2): run settings in, the analysis
//! that applies to their model out, with its text report and files. The paper's model (one
//! action, a fixed `η`) gets the full checkpoint analysis ([`super::analyze`]: Theorem 1, the
//! Perron split, Theorems 4–5); the model family (`m > 1` or a learned `η`) gets Theorem 1
//! generalized ([`super::family_analysis`]), the rest being stated for the paper's Markov reward
//! chain only.

use super::{analyze, family_analysis, output, FamilyCheckpoint};
use super::{TheoryConfig, TheoryReport};
use crate::config::{ConfigError, RunConfig, RunSettings, SettingType};
use crate::data::Problem;
use crate::domain::own::OwnError;
use crate::figure::FigureError;
use crate::param::{LearnEta, ParamKind};
use std::path::{Path, PathBuf};

/// File of the paper's checkpoint analysis ([`output::write_csv`]).
pub const THEORY_CSV: &str = "theory.csv";

/// File of the model family's analysis ([`FamilyReport::csv`]).
pub const THEORY_FAMILY_CSV: &str = "theory_family.csv";

/// A failure of the theory checks.
#[derive(Debug, thiserror::Error)]
pub enum TheoryError {
    /// A setting or an option was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The problem (an own domain's data) could not be loaded.
    #[error(transparent)]
    Problem(#[from] OwnError),
    /// An output directory or file could not be created or written.
    #[error("cannot {action} {path}")]
    Io {
        /// `create` or `write`.
        action: &'static str,
        /// The path concerned.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The checkpoint table could not be written.
    #[error(transparent)]
    Csv(#[from] csv::Error),
    /// A figure could not be written.
    #[error(transparent)]
    Figure(#[from] FigureError),
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> TheoryError {
    let path = path.display().to_string();
    move |source| TheoryError::Io {
        action,
        path,
        source,
    }
}

/// The analysis that applies to a run's model, with its validated settings.
#[derive(Debug, Clone, PartialEq)]
pub enum TheoryPlan {
    /// The paper's model: one implicit and one explicit run, checked at
    /// [`TheoryConfig::checkpoints`] ([`analyze`]).
    Paper {
        /// The implicit run (domain, offset, seed).
        run: RunConfig,
        /// The analysis settings.
        config: TheoryConfig,
    },
    /// The model family: Theorem 1 generalized along the implicit run ([`family_analysis`]).
    Family {
        /// The implicit run.
        run: RunConfig,
        /// Steps (updates done) at which to analyze, ascending.
        checkpoints: Vec<usize>,
    },
}

/// The analysis of `settings` (`param` is ignored): the paper's ([`resolve_paper`]: the
/// learning rates, `every` and `mc` as documented there) when the implicit model has one action
/// and a fixed `η`, else the family's at every `every` (default 50) updates and after the last
/// (`lr_explicit` and `mc` unused). Theorems 1–5 are stated for fixed targets: TD targets are
/// refused.
pub fn resolve(
    settings: &RunSettings,
    lr_explicit: Option<f64>,
    every: Option<usize>,
    mc: Option<usize>,
) -> Result<TheoryPlan, ConfigError> {
    let run = RunSettings {
        param: Some(ParamKind::Implicit),
        ..*settings
    }
    .resolve()?;
    if run.actions == 1 && run.learn_eta == LearnEta::None {
        let (run, config) = resolve_paper(settings, lr_explicit, every, mc)?;
        return Ok(TheoryPlan::Paper { run, config });
    }
    fixed_targets(&run)?;
    Ok(TheoryPlan::Family {
        run,
        checkpoints: checkpoints(run.steps, every)?,
    })
}

/// Refuses TD targets: Theorems 1–5 are stated for fixed targets `y`, and a TD target moves
/// with θ.
pub(super) fn fixed_targets(run: &RunConfig) -> Result<(), ConfigError> {
    if run.targets != crate::domain::Targets::Mc {
        return Err(ConfigError::invalid(
            "targets",
            run.targets.text(),
            "mc (the theorems are stated for fixed targets; TD targets move with θ)",
        ));
    }
    Ok(())
}

/// Steps `0, every, 2·every, …` up to `steps`, and `steps`; `every` defaults to 50 and must be
/// at least 1.
pub(super) fn checkpoints(steps: usize, every: Option<usize>) -> Result<Vec<usize>, ConfigError> {
    let every = every.unwrap_or(50);
    if every == 0 {
        return Err(ConfigError::invalid("every", 0, "an integer >= 1"));
    }
    let mut c: Vec<usize> = (0..=steps).step_by(every).collect();
    if c.last() != Some(&steps) {
        c.push(steps);
    }
    Ok(c)
}

impl TheoryPlan {
    /// The implicit run analyzed.
    pub fn run(&self) -> &RunConfig {
        match self {
            TheoryPlan::Paper { run, .. } | TheoryPlan::Family { run, .. } => run,
        }
    }

    /// The steps analyzed.
    pub fn checkpoints(&self) -> &[usize] {
        match self {
            TheoryPlan::Paper { config, .. } => &config.checkpoints,
            TheoryPlan::Family { checkpoints, .. } => checkpoints,
        }
    }

    /// The paper's analysis settings, when this is it.
    pub fn into_paper(self) -> Option<(RunConfig, TheoryConfig)> {
        match self {
            TheoryPlan::Paper { run, config } => Some((run, config)),
            TheoryPlan::Family { .. } => None,
        }
    }

    /// Runs the analysis on the run's problem; `progress(step)` after each checkpoint of the
    /// paper's analysis.
    pub fn analyze(&self, progress: &mut dyn FnMut(usize)) -> Result<TheoryOutcome, TheoryError> {
        match self {
            TheoryPlan::Paper { run, config } => {
                let problem = run.domain_spec().try_problem(run.offset, run.seed)?;
                crate::config::check_data(run, &problem)?;
                check_problem(config, &problem)?;
                let report = analyze(config, &problem, progress);
                Ok(TheoryOutcome::Paper {
                    run: *run,
                    report: Box::new(report),
                })
            }
            TheoryPlan::Family { run, checkpoints } => {
                let problem = run.domain_spec().try_problem(run.offset, run.seed)?;
                let rows = family_analysis(run, &problem, checkpoints)?;
                Ok(TheoryOutcome::Family(FamilyReport { run: *run, rows }))
            }
        }
    }
}

/// The analysis of a model-family run: Theorem 1 generalized at each checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyReport {
    /// The implicit run.
    pub run: RunConfig,
    /// One row per checkpoint, ascending.
    pub rows: Vec<FamilyCheckpoint>,
}

impl FamilyReport {
    /// The report as text: the model, then a line per checkpoint (`P`'s extreme eigenvalues and
    /// the one-step oracle's relative error at `α` and `α/4`), then what does not apply.
    pub fn render_text(&self) -> String {
        let run = &self.run;
        let mut text = format!(
            "domain {}, offset {}, seed {}: implicit model with {} pseudo-action(s), reduce {}, learn_eta {}\n\
             Theorem 1 (generalized: P = A⁻¹CA⁻ᵀ, A = I − Σ_a diag(π_a) η S_a), one-step oracle at α = {} and α/4:\n\
             step  λmin(P)  λmax(P)  rel.err(α)  rel.err(α/4)\n",
            run.domain,
            run.offset,
            run.seed,
            run.actions,
            run.reduce.text(),
            run.learn_eta.text(),
            run.lr,
        );
        for r in &self.rows {
            text.push_str(&format!(
                "{:>5}  {:.3e}  {:.3e}  {:.3e}  {:.3e}\n",
                r.step, r.p_lambda_min, r.p_lambda_max, r.thm1_rel_err, r.thm1_rel_err_quarter
            ));
        }
        text.push_str(
            "Perron split, Theorem 4, Theorem 5 / Corollaries 2–3: do not apply (stated for the paper's \
             Markov reward chain with one action and a fixed η).\n",
        );
        text
    }

    /// The rows as CSV ([`THEORY_FAMILY_CSV`]), numbers in Rust's shortest round-trip form.
    pub fn csv(&self) -> String {
        let mut csv =
            String::from("step,p_lambda_min,p_lambda_max,thm1_rel_err,thm1_rel_err_quarter\n");
        for r in &self.rows {
            csv.push_str(&format!(
                "{},{},{},{},{}\n",
                r.step, r.p_lambda_min, r.p_lambda_max, r.thm1_rel_err, r.thm1_rel_err_quarter
            ));
        }
        csv
    }
}

/// The result of [`TheoryPlan::analyze`].
#[derive(Debug, Clone, PartialEq)]
pub enum TheoryOutcome {
    /// The paper's checkpoint analysis.
    Paper {
        /// The implicit run.
        run: RunConfig,
        /// The report.
        report: Box<TheoryReport>,
    },
    /// The model family's.
    Family(FamilyReport),
}

/// The files [`TheoryOutcome::write`] made.
#[derive(Debug, Clone, PartialEq)]
pub struct TheoryFiles {
    /// The table ([`THEORY_CSV`] or [`THEORY_FAMILY_CSV`]).
    pub table: PathBuf,
    /// The figures (each in its formats); `None` for the family, which has none.
    pub figures: Option<Vec<Vec<PathBuf>>>,
}

impl TheoryOutcome {
    /// The report as text.
    pub fn render_text(&self) -> String {
        match self {
            TheoryOutcome::Paper { run, report } => {
                let title = format!(
                    "domain {}, offset {}, seed {}",
                    run.domain, run.offset, run.seed
                );
                output::render_text(report, &title)
            }
            TheoryOutcome::Family(f) => f.render_text(),
        }
    }

    /// Writes the table (and the paper's figures) into `dir`, created if needed.
    pub fn write(&self, dir: &Path) -> Result<TheoryFiles, TheoryError> {
        std::fs::create_dir_all(dir).map_err(io_error("create", dir))?;
        match self {
            TheoryOutcome::Paper { report, .. } => {
                let table = dir.join(THEORY_CSV);
                let file = std::fs::File::create(&table).map_err(io_error("create", &table))?;
                output::write_csv(file, report)?;
                let figures = output::write_figures(dir, report)?;
                Ok(TheoryFiles {
                    table,
                    figures: Some(figures),
                })
            }
            TheoryOutcome::Family(f) => {
                let table = dir.join(THEORY_FAMILY_CSV);
                std::fs::write(&table, f.csv()).map_err(io_error("write", &table))?;
                Ok(TheoryFiles {
                    table,
                    figures: None,
                })
            }
        }
    }
}

/// The analysis settings from run settings (`param` is ignored: both runs are made) and the
/// theory's own options, validated: the implicit run's learning rate is `settings.lr` or the
/// paper's best (SPEC §6), the explicit run's `lr_explicit` or its best; checkpoints every
/// `every` (default 50) updates and after the last; `mc` (default 1000, at least 10) minibatches
/// per Monte-Carlo estimate. Returns the implicit run's config (domain, offset, seed) as well.
/// Refuses the model family (`m > 1` or a learned `η`), which [`super::resolve`] sends to its
/// own analysis.
pub fn resolve_paper(
    settings: &RunSettings,
    lr_explicit: Option<f64>,
    every: Option<usize>,
    mc: Option<usize>,
) -> Result<(RunConfig, TheoryConfig), ConfigError> {
    let imp = RunSettings {
        param: Some(ParamKind::Implicit),
        ..*settings
    }
    .resolve()?;
    // The checkpoint analysis (Perron split, Theorems 4 and 5) is the paper's, for its model;
    // for the family only Theorem 1 generalizes ([`super::family_preconditioner`]).
    let family = "1 (the analysis covers the paper's model; for m > 1 or a learned η only Theorem 1 generalizes, and the Perron split, Theorems 4 and 5 do not apply)";
    if imp.actions != 1 {
        return Err(ConfigError::invalid("actions", imp.actions, family));
    }
    if imp.learn_eta != crate::param::LearnEta::None {
        return Err(ConfigError::invalid(
            "learn_eta",
            imp.learn_eta.text(),
            &family.replacen('1', "none", 1),
        ));
    }
    let exp = RunSettings {
        param: Some(ParamKind::Explicit),
        lr: lr_explicit,
        ..*settings
    }
    .resolve()
    .map_err(|e| match e {
        ConfigError::Invalid {
            field,
            value,
            allowed,
        } if field == "lr" => ConfigError::Invalid {
            field: "lr_explicit".into(),
            value,
            allowed,
        },
        e => e,
    })?;
    fixed_targets(&imp)?;
    let checkpoints = checkpoints(imp.steps, every)?;
    let mc_samples = mc.unwrap_or(1000);
    if !(10..=10_000_000).contains(&mc_samples) {
        return Err(ConfigError::invalid(
            "mc",
            mc_samples,
            "10 <= mc <= 10000000",
        ));
    }
    let cfg = TheoryConfig {
        eta: imp.eta,
        lr_implicit: imp.lr,
        lr_explicit: exp.lr,
        seed: imp.seed,
        steps: imp.steps,
        batch_size: imp.batch_size,
        sampling: imp.sampling,
        checkpoints,
        mc_samples,
    };
    Ok((imp, cfg))
}

/// Checks that `cfg` can run on `problem`: a batch without replacement needs `b ≤ n`.
pub fn check_problem(cfg: &TheoryConfig, problem: &Problem) -> Result<(), ConfigError> {
    crate::config::check_batch(cfg.sampling, cfg.batch_size, problem.train.len())
}
