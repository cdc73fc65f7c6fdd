//! One training run end to end: domain → data → parameterization → trainer (docs/method.md,
//! docs/protocol.md).

use crate::config::{check_batch, ConfigError, RunConfig};
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
    check_batch(cfg.sampling, cfg.batch_size, problem.train.len())?;
    let mut param = cfg
        .param
        .init(problem.train.k, cfg.eta, cfg.seed, cfg.solver);
    param.set_grad_mode(cfg.grad);
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
    let problem = cfg.domain_spec().problem(cfg.offset, cfg.seed);
    run_on(cfg, &problem, observer)
}
