//! The configuration of a run: every setting but the seed, so that the runs of one
//! configuration are its seeds (docs/protocol.md). Built from the one declaration of the
//! settings ([`crate::config::SETTINGS`]): the grid's settings (domain, parameterization, η,
//! learning rate, offset, batch size) are fields, every other setting is part of the run's
//! [`Protocol`]. Floats are matched across spellings of one number.

use crate::config::{RunConfig, SETTINGS};
use crate::domain::DomainKind;
use crate::param::ParamKind;
use std::cmp::Ordering;
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

/// A float normalized for matching: equal when equal to about 10 significant digits, so that
/// `.25000000000000000000`, `0.25` and `1.0 / 4.0` match.
fn canon(x: f64) -> f64 {
    let y = if x == 0.0 { 0.0 } else { x };
    format!("{y:.9e}").parse().unwrap_or(y)
}

/// The CSV columns of a key's grid settings ([`ConfigKey::grid_fields`]); the figures' tables
/// use the first five (they are drawn at the published batch size).
pub const KEY_COLUMNS: [&str; 6] = ["domain", "param", "eta", "lr", "offset", "batch_size"];

/// The settings that make the published grid's axes: fields of [`ConfigKey`] (and the seed,
/// which is no part of it).
fn is_grid(name: &str) -> bool {
    name == "seed" || KEY_COLUMNS.contains(&name)
}

/// `text` as a `&'static str`, stored once per distinct text (a store holds few protocols), so
/// that keys stay `Copy`.
fn intern(text: String) -> &'static str {
    static TABLE: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut table = TABLE
        .get_or_init(|| Mutex::new(HashSet::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(s) = table.get(text.as_str()) {
        return s;
    }
    let s: &'static str = Box::leak(text.into_boxed_str());
    table.insert(s);
    s
}

/// The settings of a run other than the grid's (domain, parameterization, η, learning rate,
/// offset, batch size) and the seed — how every run of a grid is trained and evaluated — as
/// `name=value` words in declaration order. A setting declared later is part of it without a
/// change here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Protocol(&'static str);

impl Protocol {
    /// The protocol of `c`.
    pub fn of(c: &RunConfig) -> Protocol {
        let words: Vec<String> = c
            .texts()
            .into_iter()
            .filter(|(n, _)| !is_grid(n))
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        Protocol(intern(words.join(" ")))
    }

    /// The published protocol (docs/protocol.md): every setting at its declared default (300
    /// updates, evaluation every 10, sampling with replacement, the published slip, no bias
    /// feature, the default solver).
    pub fn published() -> Protocol {
        let defaults: Vec<String> = SETTINGS
            .iter()
            .filter(|s| !is_grid(s.name))
            .map(|s| format!("{}={}", s.name, (s.default_text)().unwrap_or_default()))
            .collect();
        Protocol(intern(defaults.join(" ")))
    }

    /// The `name=value` words.
    pub fn words(&self) -> impl Iterator<Item = &'static str> {
        self.0.split(' ').filter(|w| !w.is_empty())
    }

    /// The value of setting `name` in this protocol, as text.
    pub fn get(&self, name: &str) -> Option<&'static str> {
        self.words()
            .find_map(|w| w.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
    }

    /// The settings in which `self` differs from `other`, as `name=value` words.
    pub fn differences_from(&self, other: &Protocol) -> Vec<String> {
        self.words()
            .filter(|w| !other.words().any(|o| o == *w))
            .map(str::to_string)
            .collect()
    }
}

/// Every setting of a run except its seed ([`ConfigKey::of`]). Ordered by domain,
/// parameterization, `η`, learning rate, offset, batch size, then the protocol; two keys are
/// equal when their settings are, floats compared to about 10 significant digits.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    /// Domain.
    pub domain: DomainKind,
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
    /// Every other setting but the seed.
    pub protocol: Protocol,
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
            protocol: Protocol::of(c),
        }
    }

    /// A configuration of the published protocol ([`Protocol::published`]) with these grid
    /// settings.
    pub fn published(
        domain: DomainKind,
        param: ParamKind,
        eta: f64,
        lr: f64,
        offset: f64,
        batch_size: usize,
    ) -> ConfigKey {
        ConfigKey {
            domain,
            param,
            eta,
            lr,
            offset,
            batch_size,
            protocol: Protocol::published(),
        }
    }

    /// The domain.
    pub fn kind(&self) -> DomainKind {
        self.domain
    }

    /// The settings other than the grid's (domain, parameterization, η, learning rate, offset,
    /// batch size).
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The settings in which this key differs from the published protocol, as `name=value`
    /// words; empty for a published configuration.
    pub fn protocol_differences(&self) -> Vec<String> {
        self.protocol.differences_from(&Protocol::published())
    }

    /// True when the key follows the published protocol in every setting but the grid's
    /// (domain, parameterization, η, learning rate, offset, batch size).
    pub fn is_published_protocol(&self) -> bool {
        self.protocol == Protocol::published()
    }

    /// The grid's settings as CSV fields, in the order of [`KEY_COLUMNS`].
    pub fn grid_fields(&self) -> [String; 6] {
        [
            self.domain.name().to_string(),
            self.param.name().to_string(),
            self.eta.to_string(),
            self.lr.to_string(),
            self.offset.to_string(),
            self.batch_size.to_string(),
        ]
    }

    fn floats(&self) -> [f64; 3] {
        [canon(self.eta), canon(self.lr), canon(self.offset)]
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
            .cmp(&other.domain)
            .then(self.param.cmp(&other.param))
            .then_with(|| {
                self.floats()
                    .iter()
                    .zip(&other.floats())
                    .map(|(x, y)| x.total_cmp(y))
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
            })
            .then_with(|| self.batch_size.cmp(&other.batch_size))
            .then_with(|| self.protocol.cmp(&other.protocol))
    }
}

/// `chain explicit η=0.8 lr=0.5 c=0 b=25`, followed by the settings that differ from the
/// published protocol (e.g. ` steps=100`).
impl std::fmt::Display for ConfigKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} η={} lr={} c={} b={}",
            self.domain.name(),
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
    use crate::domain::Slip;
    use crate::linalg::SolverKind;
    use crate::train::Sampling;

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
        assert_eq!(k0.protocol(), Protocol::published());
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
            let other = k(s);
            assert_ne!(other, k0, "{s:?}");
            assert_eq!(
                other.protocol() == k0.protocol(),
                s.offset.is_some() || s.batch_size.is_some(),
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
