//! One training run end to end: domain → data → parameterization → trainer (docs/method.md,
//! docs/protocol.md), returning what was learned with the log.

use crate::config::{check_data, ConfigError, RunConfig};
use crate::data::Problem;
use crate::param::Parameterization;
use crate::record::RunRecord;
use crate::rng::{stream, Stream};
use crate::train::{train, Observer, RunLog, Stopped};

/// A run that ended (finished or diverged): its log and its trained model, the parameters
/// after the last update (after the failed update, for a run that diverged).
pub struct Trained {
    /// The evaluations and how the run ended.
    pub log: RunLog,
    /// The parameterization after training: `θ` and its named parameter arrays
    /// ([`Parameterization::params`]).
    pub model: Box<dyn Parameterization>,
}

/// Why a run did not end.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunError {
    /// Its settings or its data were refused (bad input: nothing was run).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Its observer stopped it.
    #[error(transparent)]
    Stopped(#[from] Stopped),
}

/// The data of run `cfg`: the training samples and the test set of its domain, reward offset
/// and seed (docs/domains.md), checked against its settings ([`check_data`]).
pub fn problem(cfg: &RunConfig) -> Result<Problem, ConfigError> {
    let problem = cfg
        .domain_spec()
        .try_problem(cfg.offset, cfg.seed)
        .map_err(|e| ConfigError::File {
            path: e.path,
            message: e.message,
        })?;
    check_data(cfg, &problem)?;
    Ok(problem)
}

/// The initial model of run `cfg` for feature dimension `k` (SPEC §3, §8.1, §8.2): its
/// initialization from the seed's [`Stream::Init`], its solver and its gradient mode.
pub fn build_model(cfg: &RunConfig, k: usize) -> Box<dyn Parameterization> {
    let mut model = cfg
        .param
        .init_model(k, &cfg.model_spec(), cfg.seed, cfg.solver);
    model.set_grad_mode(cfg.grad);
    model
}

/// Trains `model` (as [`build_model`] gives it, or the same model built by its own type, so
/// that an observer sees that type) on `problem` by the schedule of `cfg`, minibatches from the
/// seed's [`Stream::Batches`]: a seed determines the run bit for bit.
pub fn train_model<P: Parameterization + ?Sized>(
    cfg: &RunConfig,
    problem: &Problem,
    model: &mut P,
    observer: &mut dyn Observer<P>,
) -> Result<RunLog, Stopped> {
    let mut rng = stream(cfg.seed, Stream::Batches);
    train(model, problem, &cfg.schedule(), &mut rng, observer)
}

/// Runs `cfg` on its data `problem` (that of [`problem`]`(cfg)`, checked again here).
pub fn run_with(
    cfg: &RunConfig,
    problem: &Problem,
    observer: &mut dyn Observer,
) -> Result<Trained, RunError> {
    check_data(cfg, problem)?;
    let mut model = build_model(cfg, problem.train.k);
    let log = train_model(cfg, problem, model.as_mut(), observer)?;
    Ok(Trained { log, model })
}

/// Builds the data of run `cfg` and runs it (see [`run_with`]).
pub fn run(cfg: &RunConfig, observer: &mut dyn Observer) -> Result<Trained, RunError> {
    run_with(cfg, &problem(cfg)?, observer)
}

/// Runs `cfg` (see [`run`]) into its record: settings, outcome, evaluations and wall time (data,
/// initialization and training), what the results store keeps; with `keep_theta`, also its
/// final value weights `θ̂` (the last finite ones: [`crate::train::FiniteTheta`]).
pub fn record(
    cfg: &RunConfig,
    keep_theta: bool,
    observer: &mut dyn Observer,
) -> Result<RunRecord, RunError> {
    let t0 = std::time::Instant::now();
    let problem = problem(cfg)?;
    let (trained, theta) = if keep_theta {
        let mut both = (crate::train::FiniteTheta::default(), observer);
        let trained = run_with(cfg, &problem, &mut both)?;
        (trained, Some(both.0.theta))
    } else {
        (run_with(cfg, &problem, observer)?, None)
    };
    Ok(RunRecord {
        config: *cfg,
        outcome: trained.log.outcome,
        runtime_s: t0.elapsed().as_secs_f64(),
        rows: trained.log.rows,
        theta,
    })
}
