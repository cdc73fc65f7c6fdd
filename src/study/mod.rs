//! Studies: one command each, that run a designed set of runs into a resumable results store
//! (through [`crate::sweep`]: resumable, stopped cleanly by Ctrl-C, with progress) and summarize
//! it as a table and figures. Each study is its own module, with one entry point `run(out, …,
//! opts, observer) -> StudyReport`:
//!
//! - [`td`]: the paper's Figures 1–3 with TD targets next to Monte Carlo returns (SPEC §8.5);
//! - [`model_family`]: pseudo-actions, reductions and a learned discount (SPEC §8.1, §8.2);
//! - [`gradients`]: implicit differentiation against unrolled and truncated gradients (SPEC §8.3);
//! - [`learned_model`]: what model end-to-end training learns, against the true one (SPEC §1,
//!   §2); its runs are followed by an observer, not stored.

pub mod gradients;
pub mod learned_model;
pub mod model_family;
pub mod td;

use crate::config::{ConfigError, RunConfig};
use crate::plot::PlotError;
use crate::record::RunRecord;
use crate::store::{Store, StoreError};
use crate::sweep::{execute, SweepError, SweepObserver, SweepOptions, SweepSummary};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// A failure of a study.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// A run's settings or an option were refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The sweep failed.
    #[error(transparent)]
    Sweep(#[from] SweepError),
    /// The results store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A figure or table could not be written.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// A run of a study that does not go through the sweep failed.
    #[error("{0}")]
    Failed(String),
}

/// What a study's `run` did.
#[derive(Debug, Clone, Default)]
pub struct StudyReport {
    /// Its sweeps, in order (a later part is not started when an earlier one was interrupted).
    pub sweeps: Vec<SweepSummary>,
    /// What the study found on the way, in one line each (e.g. the best `η` it went on with).
    pub notes: Vec<String>,
    /// Files written (none when interrupted).
    pub files: Vec<PathBuf>,
}

impl StudyReport {
    /// True when a sweep was stopped early (run the same command again to resume).
    pub fn interrupted(&self) -> bool {
        self.sweeps.iter().any(|s| s.interrupted)
    }
}

/// Runs `runs` into the results store in `out` (resuming what it holds) and adds the sweep's
/// summary to `report`; false when the sweep was interrupted.
pub fn sweep_into(
    out: &Path,
    runs: &[RunConfig],
    opts: &SweepOptions,
    observer: &mut dyn SweepObserver,
    report: &mut StudyReport,
) -> Result<bool, StudyError> {
    let mut store = Store::open(out)?;
    report
        .sweeps
        .push(execute(runs, &mut store, opts, observer)?);
    Ok(!report.interrupted())
}

/// The stored records of `runs` in the store in `out`, in the store's order (that of the
/// settings).
pub fn records_of(out: &Path, runs: &[RunConfig]) -> Result<Vec<RunRecord>, StudyError> {
    let keys: HashSet<String> = runs.iter().map(RunConfig::key).collect();
    Ok(Store::open_read(out)?
        .load_all()?
        .into_iter()
        .filter(|r| keys.contains(&r.config.key()))
        .collect())
}

/// A failure to write `path` as a study's [`PlotError::Io`].
fn io_error(path: &Path, e: impl std::fmt::Display) -> StudyError {
    StudyError::Plot(PlotError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}
