//! **The run settings, declared once.** Each entry gives a setting's name (its TOML and grid
//! key; the flag is the name with `-` for `_`), type, default, allowed values and one doc line.
//! Flags, `--help`, TOML files, grids, validation, the store's columns, run keys, the CSV
//! export's header and the README's table are all derived from this list (see
//! [`super::declare`]). Adding a setting is one entry here plus its semantics where the run
//! uses it; its default must reproduce the published runs (docs/protocol.md).
//!
//! The order is the grid's expansion order (domain outermost) and the store's sort order.

use super::declare::DefaultValue::{Derived, Required, Value};
use super::declare::Placeholder;
use super::value::{Raw, SettingType};
use super::{allowed, ConfigError, Setting};
use crate::domain::{DomainKind, Slip, Targets};
use crate::linalg::SolverKind;
use crate::optim::{OptimizerKind, OptimizerSpec};
use crate::param::{GradMode, LearnEta, ParamKind, Reduce};
use crate::published;
use crate::train::Sampling;

/// The default learning rate `α` of a run (SPEC §6, §8.4). Plain SGD: the rate of the paper's
/// figures for the run's domain, parameterization and `η` ([`published::best_lr`]). Momentum:
/// that rate times `1 − β`, so that the steady step `αg/(1 − β)` (`m → g/(1 − β)` under a
/// constant gradient) is SGD's. Adam, whose steps have length ≈ `α` per coordinate whatever the
/// gradient's scale: [`adam_lr`]. Both were measured best or near best on the three domains
/// (docs/extensions.md, *Optimizers*).
///
/// It reads `optimizer` and `momentum`, declared after `lr` (given or constant defaults, not
/// yet checked): a `β` outside `[0, 1)` counts as the default, and its own check then refuses
/// it with its own name.
fn default_lr(c: &RunConfig) -> f64 {
    let sgd = own_lr(c).unwrap_or_else(|| published::best_lr(c.domain, c.param, c.eta));
    match c.optimizer {
        OptimizerKind::Sgd => sgd,
        OptimizerKind::Momentum => {
            let beta = if (0.0..1.0).contains(&c.momentum) {
                c.momentum
            } else {
                OptimizerSpec::MOMENTUM
            };
            sgd * (1.0 - beta)
        }
        OptimizerKind::Adam => adam_lr(c.domain, c.param),
    }
}

/// Fraction of SGD's stability bound `2/λ` taken by the explicit model's default rate on an
/// own problem ([`own_lr`]).
pub const OWN_LR_FRACTION: f64 = 0.5;

/// Factor `c` of the implicit model's default rate on an own problem, `c·(1 − η)²` times the
/// explicit one ([`own_lr`]), measured (docs/own-problems.md, *Default learning rate*).
pub const OWN_IMPLICIT_FACTOR: f64 = 0.5;

/// Factor `c` of the explicit-matrix model's default rate on an own problem, as
/// [`OWN_IMPLICIT_FACTOR`].
pub const OWN_MATRIX_FACTOR: f64 = 0.25;

/// Plain SGD's default learning rate on a problem of one's own (`file:`, `data:`; SPEC §8.6),
/// from its training rows rather than the chain's: explicit `α = f·2/λ`, `f =`
/// [`OWN_LR_FRACTION`], with `λ = λ_max(E[φφᵀ]) + E‖φ‖²/B` the SGD curvature of the rows
/// ([`crate::domain::own::sgd_curvature`], batch size `B`); implicit and explicit-matrix
/// `α = c·(1 − η)²·f·2/λ` with `c =` [`OWN_IMPLICIT_FACTOR`] or [`OWN_MATRIX_FACTOR`] (their
/// gradient passes through `(I − ηP)⁻¹`, whose norm grows as `1/(1 − η)`; the square and `c`
/// were measured: the largest stable rates of four own problems, divided by at least 2.5).
/// `None` for the paper's domains (they keep the paper's rates), a domain that cannot be loaded
/// and a run that does not fit in memory.
fn own_lr(c: &RunConfig) -> Option<f64> {
    // The rows are built to measure them: not for a run that would not fit in memory (its
    // check in `check_together` then refuses it, naming the amount).
    check_memory(c).ok()?;
    let lam = crate::domain::own::sgd_curvature(&c.domain_spec(), c.batch_size)?;
    let explicit = OWN_LR_FRACTION * 2.0 / lam;
    let shrink = (1.0 - c.eta) * (1.0 - c.eta);
    Some(match c.param {
        ParamKind::Explicit => explicit,
        ParamKind::Implicit => OWN_IMPLICIT_FACTOR * shrink * explicit,
        ParamKind::ExplicitMatrix => OWN_MATRIX_FACTOR * shrink * explicit,
    })
}

/// Adam's default learning rate for `(domain, param)`: the best of `2⁰, 2⁻², …, 2⁻¹⁰` (and
/// `2⁴, 2², 2¹, 2⁻¹` for explicit) by the mean final `‖r‖` over η ∈ {0.8, 0.95, 0.975}, offsets
/// {0, 0.5, 1} and 5 seeds (docs/extensions.md, *Optimizers*; no run of that sweep diverged).
/// Problems of one's own take the chain's.
pub fn adam_lr(domain: DomainKind, param: ParamKind) -> f64 {
    let domain = if domain.is_builtin() {
        domain
    } else {
        DomainKind::Chain
    };
    match (domain, param) {
        (DomainKind::MountainCar, ParamKind::Explicit) => 0.5,
        (_, ParamKind::Explicit) => 0.25,
        (_, ParamKind::Implicit) => 0.0625,
        (DomainKind::FourRooms, ParamKind::ExplicitMatrix) => 0.003_906_25,
        (_, ParamKind::ExplicitMatrix) => 0.015_625,
    }
}

/// The rules between settings, checked by [`RunSettings::resolve`] after each setting's own
/// range (SPEC §8.2, §8.6):
/// - a learned `η = σ(ρ)` starts at `ρ = logit(eta)`, which needs `eta > 0`;
/// - a data set (`data:DIR`) has no reward offset (offset 0), and `mc` targets unless it has
///   transitions (SPEC §9.4).
/// - the published solvers (`solver = published`) are those of the paper's model: the model
///   family (`actions > 1` or a learned `η`) solves its Bellman reduction by Newton's method
///   and has no published-numerics emulation yet.
fn check_together(c: &RunConfig) -> Result<(), ConfigError> {
    if c.solver == SolverKind::Published && !c.model_spec().is_singleton() {
        return Err(ConfigError::invalid(
            "solver",
            c.solver.text(),
            "lu, refine, gmres or auto with the model family (actions > 1 or learn_eta): \
             the published solvers are emulated for the paper's model only",
        ));
    }
    if c.learn_eta != LearnEta::None && c.eta <= 0.0 {
        return Err(ConfigError::invalid(
            "eta",
            c.eta.text(),
            "0 < eta < 1 when learn_eta is not none (η = σ(ρ) starts at ρ = logit(eta))",
        ));
    }
    check_memory(c)?;
    if let DomainKind::Data(name) = c.domain {
        // A data set with transitions (SPEC §9.4) takes TD targets; one that cannot be loaded
        // is reported by its loading.
        let transitions = match c.domain.own() {
            Some(Ok(e)) => {
                matches!(&e.loaded, crate::domain::own::Loaded::Data(d) if d.transitions.is_some())
            }
            _ => true,
        };
        if c.targets != Targets::Mc && !transitions {
            return Err(ConfigError::invalid(
                "targets",
                c.targets.text(),
                &format!("mc only for {name}: a data set has no transitions to bootstrap from (give transitions.csv and meta.toml)"),
            ));
        }
        if c.offset != 0.0 {
            return Err(ConfigError::invalid(
                "offset",
                c.offset.text(),
                &format!("0 only for {name}: a data set has no rewards"),
            ));
        }
    }
    Ok(())
}

/// Bytes per stored number.
const F64: f64 = 8.0;

/// Checks that run `c` fits in the available memory ([`crate::memory::check`]), from an
/// estimate of its largest parts (in 8-byte numbers, as floats so that no product overflows):
/// - its data: an own MDP's training rows (`trajectories`, times `length` unless `keep =
///   "first"`; with the successor's features under TD targets) and test rows, a data set's rows
///   (kept by the loader and copied for the run), each `k + 1` numbers;
/// - its model: `k` weights (explicit), `k²` (explicit matrix), `m·k²` logits and `k × k`
///   solves (implicit), times 8 for gradients, optimizer state and factorizations;
/// - its log: `steps / eval_every + 2` evaluations.
///
/// The refusal names the setting of the largest part.
fn check_memory(c: &RunConfig) -> Result<(), ConfigError> {
    use crate::domain::own::{Entry, Loaded};
    let k = c.domain_spec().feature_dim() as f64;
    let data = match c.domain.own() {
        Some(Ok(Entry {
            loaded: Loaded::File(f),
            ..
        })) => {
            let per = match (c.targets, f.data.keep) {
                (Targets::Mc, crate::domain::file::Keep::First) => 1.0,
                _ => f.data.length as f64,
            };
            let width = if c.targets == Targets::Mc {
                k + 1.0
            } else {
                2.0 * k + 2.0
            };
            f.data.trajectories as f64 * per * width + f.n_states() as f64 * (k + 1.0)
        }
        Some(Ok(Entry {
            loaded: Loaded::Data(d),
            ..
        })) => 2.0 * (d.train.len() + d.test.len()) as f64 * (k + 1.0),
        _ => 0.0,
    };
    let model = 8.0
        * match c.param {
            ParamKind::Explicit => k,
            ParamKind::ExplicitMatrix => k * k,
            ParamKind::Implicit => (c.actions as f64 + 2.0) * k * k,
        };
    let log = ((c.steps / c.eval_every.max(1)) as f64 + 2.0)
        * std::mem::size_of::<crate::metrics::EvalRow>() as f64
        / F64;
    let parts = [(data, "domain"), (model, "param"), (log, "eval_every")];
    let total: f64 = parts.iter().map(|p| p.0).sum();
    let (_, field) =
        parts.iter().copied().fold(
            (f64::NEG_INFINITY, "domain"),
            |a, b| if b.0 > a.0 { b } else { a },
        );
    let value = match field {
        "domain" => c.domain.text(),
        "param" => format!("{} with k = {k} features", c.param.text()),
        _ => format!("{} with steps = {}", c.eval_every, c.steps),
    };
    crate::memory::check(total * F64, "a run").map_err(|e| {
        ConfigError::invalid(field, value, &format!("a run that fits in memory ({e})"))
    })
}

/// Largest minibatch accepted (a guard against typing mistakes that would allocate terabytes).
pub const MAX_BATCH: usize = 1_000_000;

/// Largest number of pseudo-actions accepted (the model holds `k·m·k` logits).
pub const MAX_ACTIONS: usize = 64;

/// Largest number of updates accepted.
pub const MAX_STEPS: usize = 100_000_000;

declare_settings! {
    /// Environment (docs/domains.md).
    domain: DomainKind = Required, "" => |_| true;
    /// Parameterization of the value weights θ (docs/method.md).
    param: ParamKind = Required, "" => |_| true;
    /// Internal discount η of the implicit model; it also sets the explicit runs' initialization.
    eta: f64 = Value(0.95), "0 <= eta < 1" => |x| (0.0..1.0).contains(x);
    /// Learning rate α of the optimizer.
    lr: f64 = Derived(default_lr, "the paper's best for domain, param and eta (own problems: from the data's second moment); times 1 - momentum for momentum; for adam a measured rate per domain and param"),
        "a finite number > 0" => |x| x.is_finite() && *x > 0.0;
    /// Reward offset c added to every reward.
    offset: f64 = Value(0.0), "a finite number" => |x| x.is_finite();
    /// Run seed: data, initialization and minibatches.
    seed: u64 = Value(0), "an integer from 0 to 9223372036854775807" => |x| i64::try_from(*x).is_ok();
    /// Number of SGD updates.
    steps: usize = Value(published::STEPS), "an integer from 0 to 100000000" => |x| *x <= MAX_STEPS;
    /// Minibatch size.
    batch_size: usize = Value(published::BATCH_SIZE), "an integer from 1 to 1000000" => |x| (1..=MAX_BATCH).contains(x);
    /// Evaluate on the test set every this many updates (and before the first and after the last).
    eval_every: usize = Value(published::EVAL_EVERY), "an integer from 1 to 9223372036854775807" => |x| *x >= 1 && i64::try_from(*x).is_ok();
    /// Minibatch sampling: with replacement (published runs) or without (the paper's prose).
    sampling: Sampling = Value(Sampling::WithReplacement), "" => |_| true;
    /// Four rooms' slip model: published (2/3 intended, 1/9 each other) or stay (the paper's prose).
    slip: Slip = Value(Slip::Published), "" => |_| true;
    /// Append a constant feature 1 (USE_BIAS; false in the published runs).
    bias: bool = Value(false), "" => |_| true;
    /// The implicit model's linear solver: LU, refinement, GMRES, auto (LU for k <= 32, else GMRES), all exact to 1e-10; or published (the published runs' value iteration and JAX GMRES, unconverged results used).
    solver: SolverKind = Value(SolverKind::Auto), "" => |_| true;
    /// Pseudo-actions m of the implicit model (1: the paper's Markov reward chain; docs/extensions.md).
    actions: usize = Value(1), "an integer from 1 to 64" => |x| (1..=MAX_ACTIONS).contains(x);
    /// Bellman reduction over pseudo-actions: max (policy iteration) or logsumexp (Newton); the identity when actions = 1.
    reduce: Reduce = Value(Reduce::Max), "" => |_| true;
    /// Temperature τ of the logsumexp reduction.
    temperature: f64 = Value(1.0), "a finite number > 0" => |x| x.is_finite() && *x > 0.0;
    /// Learn the internal discount η = σ(ρ) from eta as its start: no, one scalar, or one per state and pseudo-action.
    learn_eta: LearnEta = Value(LearnEta::None), "" => |_| true;
    /// Learning rate of a learned η's ρ as a factor of lr (the optimizer's rate; 1: the same rate).
    eta_lr_factor: f64 = Value(1.0), "a finite number > 0" => |x| x.is_finite() && *x > 0.0;
    /// Training targets: mc (truncated returns, published) or td:N (N-step TD, semi-gradient).
    targets: Targets = Value(Targets::Mc), "" => |_| true;
    /// Optimizer of the parameters: plain SGD (published runs), heavy-ball momentum or Adam (docs/extensions.md).
    optimizer: OptimizerKind = Value(OptimizerKind::Sgd), "" => |_| true;
    /// Heavy-ball momentum β of `optimizer = momentum` (m ← βm + g, ψ ← ψ − αm).
    momentum: f64 = Value(OptimizerSpec::MOMENTUM), "0 <= momentum < 1" => |x| (0.0..1.0).contains(x);
    /// Adam's first-moment decay β₁ (`optimizer = adam`).
    adam_beta1: f64 = Value(OptimizerSpec::BETA1), "0 <= adam_beta1 < 1" => |x| (0.0..1.0).contains(x);
    /// Adam's second-moment decay β₂ (`optimizer = adam`).
    adam_beta2: f64 = Value(OptimizerSpec::BETA2), "0 <= adam_beta2 < 1" => |x| (0.0..1.0).contains(x);
    /// Adam's ε, added outside the square root (`optimizer = adam`).
    adam_eps: f64 = Value(OptimizerSpec::EPS), "a finite number > 0" => |x| x.is_finite() && *x > 0.0;
    /// Implicit model's gradient: ift (exact), unroll:K (VIN, θ_K from 0), unroll-warm:K, truncated:K (SPEC §8.3).
    grad: GradMode = Value(GradMode::Ift), "" => |_| true;
}
