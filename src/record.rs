//! The record of one finished run: its settings, how it ended, its evaluations and its cost.
//! This is what the results store holds and what figures and comparisons read.

use crate::config::RunConfig;
use crate::metrics::EvalRow;
use crate::train::Outcome;

/// One run as stored: settings, outcome, wall time and the evaluation log.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// The run's complete, validated settings.
    pub config: RunConfig,
    /// How the run ended.
    pub outcome: Outcome,
    /// Wall time of the run in seconds (data, initialization and training).
    pub runtime_s: f64,
    /// Evaluations in order of `timestep` (all finite; a diverged run stops early).
    pub rows: Vec<EvalRow>,
    /// The final value weights `θ̂` (the last finite ones of a run that diverged), when they were
    /// kept (`imprl sweep --save-params`); `None` otherwise.
    pub theta: Option<Vec<f64>>,
}

impl RunRecord {
    /// The evaluation before training.
    pub fn initial(&self) -> Option<&EvalRow> {
        self.rows.first()
    }

    /// The evaluation after the last update, if the run finished.
    pub fn final_row(&self) -> Option<&EvalRow> {
        match self.outcome {
            Outcome::Finished => self.rows.last(),
            Outcome::Diverged { .. } => None,
        }
    }
}
