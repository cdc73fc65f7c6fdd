//! Studies: one command each, that run a designed set of runs into a resumable results store
//! (through [`crate::sweep`]) and summarize it as a table and figures. Each study is its own
//! module:
//!
//! - [`td`]: the paper's Figures 1–3 with TD targets next to Monte Carlo returns (SPEC §8.5);
//! - [`model_family`]: pseudo-actions, reductions and a learned discount (SPEC §8.1, §8.2);
//! - [`gradients`]: implicit differentiation against unrolled and truncated gradients (SPEC §8.3).

pub mod gradients;
pub mod model_family;
pub mod td;

use crate::config::ConfigError;
use crate::plot::PlotError;
use crate::store::StoreError;
use crate::sweep::SweepError;

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
}
