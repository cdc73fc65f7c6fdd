//! One training run end to end: domain → data → parameterization → trainer (docs/method.md,
//! docs/protocol.md).

use crate::config::{check_batch, check_domain, ConfigError, RunConfig};
use crate::data::Problem;
use crate::rng::{stream, Stream};
use crate::train::{train, Observer, RunLog};

/// Runs `cfg` on an already built `problem` (that of `cfg.domain_spec()`, `cfg.offset`,
/// `cfg.seed`).
///
/// The initialization comes from the seed's [`Stream::Init`], the minibatches from its
/// [`Stream::Batches`], so a seed determines the run bit for bit.
pub fn run_on(
    cfg: &RunConfig,
    problem: &Problem,
    observer: &mut dyn Observer,
) -> Result<RunLog, ConfigError> {
    check_domain(cfg)?;
    check_batch(cfg.sampling, cfg.batch_size, problem.train.len())?;
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

/// Builds the run's data and runs it (see [`run_on`]).
pub fn run(cfg: &RunConfig, observer: &mut dyn Observer) -> Result<RunLog, ConfigError> {
    check_domain(cfg)?;
    let problem = cfg
        .domain_spec()
        .try_problem(cfg.offset, cfg.seed)
        .map_err(|e| ConfigError::File {
            path: e.path,
            message: e.message,
        })?;
    run_on(cfg, &problem, observer)
}
