//! The configuration of a run: every setting but the seed, so that the runs of one
//! configuration are its seeds (SPEC §6). Floats are matched across spellings of one number.

use crate::config::RunConfig;
use crate::domain::{DomainKind, DomainSpec, Slip};
use crate::linalg::SolverKind;
use crate::param::ParamKind;
use crate::train::Sampling;
use std::cmp::Ordering;

/// A float normalized for matching: equal when equal to about 10 significant digits, so that
/// `.25000000000000000000`, `0.25` and `1.0 / 4.0` match.
fn canon(x: f64) -> f64 {
    let y = if x == 0.0 { 0.0 } else { x };
    format!("{y:.9e}").parse().unwrap_or(y)
}

/// The number of SGD updates of the published runs (SPEC §6).
pub const PUBLISHED_STEPS: usize = 300;
/// The minibatch size of the published runs.
pub const PUBLISHED_BATCH: usize = 25;
/// The evaluation period of the published runs.
pub const PUBLISHED_EVAL_EVERY: usize = 10;

/// The settings of a run other than the grid's (domain, parameterization, η, learning rate,
/// offset) and the seed: how every run of a grid is trained and evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocol {
    /// Minibatch size.
    pub batch_size: usize,
    /// Number of SGD updates.
    pub steps: usize,
    /// Evaluation period.
    pub eval_every: usize,
    /// Minibatch sampling.
    pub sampling: Sampling,
    /// Four rooms' slip model.
    pub slip: Slip,
    /// Constant bias feature.
    pub bias: bool,
    /// The implicit model's linear solver.
    pub solver: SolverKind,
}

impl Protocol {
    /// The published protocol (SPEC §6): batch 25, 300 updates, evaluation every 10, sampling
    /// with replacement, the published slip, no bias feature, the default solver.
    pub const PUBLISHED: Protocol = Protocol {
        batch_size: PUBLISHED_BATCH,
        steps: PUBLISHED_STEPS,
        eval_every: PUBLISHED_EVAL_EVERY,
        sampling: Sampling::WithReplacement,
        slip: Slip::Published,
        bias: false,
        solver: SolverKind::Auto,
    };

    /// The settings in which `self` differs from `other`, as `name=value` words.
    pub fn differences_from(&self, other: &Protocol) -> Vec<String> {
        let mut out = Vec::new();
        if self.batch_size != other.batch_size {
            out.push(format!("batch_size={}", self.batch_size));
        }
        if self.steps != other.steps {
            out.push(format!("steps={}", self.steps));
        }
        if self.eval_every != other.eval_every {
            out.push(format!("eval_every={}", self.eval_every));
        }
        if self.sampling != other.sampling {
            out.push(format!(
                "sampling={}",
                crate::config::sampling_name(self.sampling)
            ));
        }
        if self.slip != other.slip {
            out.push(format!("slip={}", crate::config::slip_name(self.slip)));
        }
        if self.bias != other.bias {
            out.push(format!("bias={}", self.bias));
        }
        if self.solver != other.solver {
            out.push(format!(
                "solver={}",
                crate::config::solver_name(self.solver)
            ));
        }
        out
    }
}

/// Every setting of a run except its seed ([`ConfigKey::of`]). Ordered by domain,
/// parameterization, `η`, learning rate, offset, batch size, then the remaining settings; two
/// keys are equal when their settings are, floats compared to about 10 significant digits.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    /// Domain and its options (slip, bias feature).
    pub domain: DomainSpec,
    /// Parameterization.
    pub param: ParamKind,
    /// Internal discount η.
    pub eta: f64,
    /// Learning rate.
    pub lr: f64,
    /// Reward offset.
    pub offset: f64,
    /// Minibatch size.
    pub batch_size: usize,
    /// Number of SGD updates.
    pub steps: usize,
    /// Evaluation period.
    pub eval_every: usize,
    /// Minibatch sampling.
    pub sampling: Sampling,
    /// The implicit model's linear solver.
    pub solver: SolverKind,
}

impl ConfigKey {
    /// The configuration of a run: all of `c`'s settings except the seed. The one place where
    /// run settings become a key.
    pub fn of(c: &RunConfig) -> ConfigKey {
        ConfigKey {
            domain: c.domain,
            param: c.param,
            eta: c.eta,
            lr: c.lr,
            offset: c.offset,
            batch_size: c.batch_size,
            steps: c.steps,
            eval_every: c.eval_every,
            sampling: c.sampling,
            solver: c.solver,
        }
    }

    /// A configuration of the published protocol (SPEC §6: 300 updates, evaluation every 10,
    /// sampling with replacement, the published slip, no bias feature, the default solver) with
    /// these grid settings.
    pub fn published(
        domain: DomainKind,
        param: ParamKind,
        eta: f64,
        lr: f64,
        offset: f64,
        batch_size: usize,
    ) -> ConfigKey {
        let p = Protocol::PUBLISHED;
        ConfigKey::of(&RunConfig {
            domain: DomainSpec {
                kind: domain,
                slip: p.slip,
                bias: p.bias,
            },
            param,
            eta,
            lr,
            offset,
            seed: 0,
            steps: p.steps,
            batch_size,
            eval_every: p.eval_every,
            sampling: p.sampling,
            solver: p.solver,
        })
    }

    /// The domain kind.
    pub fn kind(&self) -> DomainKind {
        self.domain.kind
    }

    /// The settings other than the grid's (domain, parameterization, η, learning rate, offset).
    pub fn protocol(&self) -> Protocol {
        Protocol {
            batch_size: self.batch_size,
            steps: self.steps,
            eval_every: self.eval_every,
            sampling: self.sampling,
            slip: self.domain.slip,
            bias: self.domain.bias,
            solver: self.solver,
        }
    }

    /// The settings in which this key differs from the published protocol (batch size
    /// excepted, it is part of the grid), as `name=value` words; empty for a published
    /// configuration.
    pub fn protocol_differences(&self) -> Vec<String> {
        self.protocol().differences_from(&Protocol {
            batch_size: self.batch_size,
            ..Protocol::PUBLISHED
        })
    }

    /// True when the key follows the published protocol in every setting but the grid's
    /// (domain, parameterization, η, learning rate, offset, batch size).
    pub fn is_published_protocol(&self) -> bool {
        self.protocol_differences().is_empty()
    }

    fn floats(&self) -> [f64; 3] {
        [canon(self.eta), canon(self.lr), canon(self.offset)]
    }

    fn rest(&self) -> (usize, usize, u8, u8, bool, u8, usize) {
        (
            self.batch_size,
            self.steps,
            self.sampling as u8,
            self.domain.slip as u8,
            self.domain.bias,
            self.solver as u8,
            self.eval_every,
        )
    }
}

impl PartialEq for ConfigKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for ConfigKey {}
impl PartialOrd for ConfigKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ConfigKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.domain
            .kind
            .cmp(&other.domain.kind)
            .then(self.param.cmp(&other.param))
            .then_with(|| {
                self.floats()
                    .iter()
                    .zip(&other.floats())
                    .map(|(x, y)| x.total_cmp(y))
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
            })
            .then_with(|| self.rest().cmp(&other.rest()))
    }
}

/// `chain explicit η=0.8 lr=0.5 c=0 b=25`, followed by the settings that differ from the
/// published protocol (e.g. ` steps=100`).
impl std::fmt::Display for ConfigKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} η={} lr={} c={} b={}",
            self.domain.kind.name(),
            self.param.name(),
            self.eta,
            self.lr,
            self.offset,
            self.batch_size
        )?;
        for d in self.protocol_differences() {
            write!(f, " {d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RunSettings;

    fn key(lr: f64) -> ConfigKey {
        ConfigKey::published(DomainKind::Chain, ParamKind::Explicit, 0.8, lr, 0.3, 25)
    }

    #[test]
    fn keys_match_published_spellings() {
        let published: f64 = ".25000000000000000000".parse().expect("number");
        assert_eq!(key(published), key(1.0 / 4.0));
        assert_eq!(key(0.1 + 0.2 - 0.2 + 0.15), key(0.25));
        assert_ne!(key(0.25), key(0.2500001));
        let mut k = key(0.25);
        k.offset = 3.0 / 10.0;
        assert_eq!(k, key(0.25));
        assert_eq!(canon(-0.0), canon(0.0));
    }

    #[test]
    fn every_setting_but_the_seed_is_part_of_the_key() {
        let base = RunSettings {
            domain: Some(DomainKind::FourRooms),
            param: Some(ParamKind::Implicit),
            ..Default::default()
        };
        let k = |s: RunSettings| ConfigKey::of(&base.overridden_by(&s).resolve().expect("valid"));
        let k0 = k(RunSettings::default());
        assert_eq!(k0.protocol(), Protocol::PUBLISHED);
        assert_eq!(k0.to_string(), "four-rooms implicit η=0.95 lr=1 c=0 b=25");
        assert_eq!(
            k0,
            k(RunSettings {
                seed: Some(7),
                ..Default::default()
            })
        );
        let others = [
            RunSettings {
                steps: Some(100),
                ..Default::default()
            },
            RunSettings {
                eval_every: Some(5),
                ..Default::default()
            },
            RunSettings {
                sampling: Some(Sampling::WithoutReplacement),
                ..Default::default()
            },
            RunSettings {
                slip: Some(Slip::Stay),
                ..Default::default()
            },
            RunSettings {
                bias: Some(true),
                ..Default::default()
            },
            RunSettings {
                solver: Some(SolverKind::Lu),
                ..Default::default()
            },
            RunSettings {
                batch_size: Some(10),
                ..Default::default()
            },
            RunSettings {
                offset: Some(0.5),
                ..Default::default()
            },
        ];
        for s in others {
            let other = k(s.clone());
            assert_ne!(other, k0, "{s:?}");
            assert_eq!(
                other.protocol() == k0.protocol(),
                s.offset.is_some(),
                "{s:?}"
            );
        }
        let k1 = k(RunSettings {
            steps: Some(100),
            solver: Some(SolverKind::Lu),
            ..Default::default()
        });
        assert_eq!(
            k1.to_string(),
            "four-rooms implicit η=0.95 lr=1 c=0 b=25 steps=100 solver=lu"
        );
    }
}
