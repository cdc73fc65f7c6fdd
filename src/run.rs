//! One training run end to end: domain → data → parameterization → trainer (SPEC §3–§5).

use crate::config::{ConfigError, RunConfig};
use crate::data::Problem;
use crate::rng::{stream, Stream};
use crate::train::{train, Observer, RunLog, Sampling};

/// Runs `cfg` on an already built `problem` (that of `cfg.domain`, `cfg.offset`, `cfg.seed`).
///
/// The initialization comes from the seed's [`Stream::Init`], the minibatches from its
/// [`Stream::Batches`], so a seed determines the run bit for bit.
pub fn run_on(
    cfg: &RunConfig,
    problem: &Problem,
    observer: &mut dyn Observer,
) -> Result<RunLog, ConfigError> {
    check_batch(cfg.sampling, cfg.batch_size, problem)?;
    let mut param = cfg
        .param
        .init(problem.train.k, cfg.eta, cfg.seed, cfg.solver);
    let mut rng = stream(cfg.seed, Stream::Batches);
    Ok(train(
        param.as_mut(),
        problem,
        &cfg.schedule(),
        &mut rng,
        observer,
    ))
}

/// Checks that minibatches of `batch_size` can be drawn from `problem`'s training set: without
/// replacement, a batch needs `batch_size ≤ n`.
pub fn check_batch(
    sampling: Sampling,
    batch_size: usize,
    problem: &Problem,
) -> Result<(), ConfigError> {
    let n = problem.train.len();
    if sampling == Sampling::WithoutReplacement && batch_size > n {
        return Err(ConfigError::invalid(
            "batch_size",
            batch_size,
            &format!("at most the {n} training samples when sampling without replacement"),
        ));
    }
    Ok(())
}

/// Builds the run's data and runs it (see [`run_on`]).
pub fn run(cfg: &RunConfig, observer: &mut dyn Observer) -> Result<RunLog, ConfigError> {
    let problem = cfg.domain.problem(cfg.offset, cfg.seed);
    run_on(cfg, &problem, observer)
}
