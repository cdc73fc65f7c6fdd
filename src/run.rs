//! One training run end to end: domain → data → parameterization → trainer (docs/method.md,
//! docs/protocol.md).

use crate::config::{check_batch, check_domain, ConfigError, RunConfig};
use crate::data::Problem;
use crate::param::{LearnEta, ModelSpec};
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
    let spec = model_spec(cfg)?;
    let mut param = cfg
        .param
        .init_model(problem.train.k, &spec, cfg.seed, cfg.solver);
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

/// The model of `cfg` (SPEC §8.1, §8.2): its discount, pseudo-actions, reduction, temperature
/// and whether `η` is learned. A learned `η = σ(ρ)` needs `ρ₀ = logit(η₀)` finite: `eta > 0`.
pub fn model_spec(cfg: &RunConfig) -> Result<ModelSpec, ConfigError> {
    if cfg.learn_eta != LearnEta::None && cfg.eta <= 0.0 {
        return Err(ConfigError::invalid(
            "eta",
            cfg.eta,
            "0 < eta < 1 when learn_eta is not none (η = σ(ρ) starts at ρ = logit(eta))",
        ));
    }
    Ok(ModelSpec {
        eta: cfg.eta,
        actions: cfg.actions,
        reduce: cfg.reduce,
        temperature: cfg.temperature,
        learn_eta: cfg.learn_eta,
        eta_lr_factor: cfg.eta_lr_factor,
    })
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
