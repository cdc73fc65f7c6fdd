//! Domains: the paper's three environments, their policies, and the data sets they yield (SPEC §4).
//!
//! A [`DomainSpec`] names a domain and its options; [`DomainSpec::problem`] rolls out its policy
//! and returns the training samples and the test set for one reward offset and run seed.

pub mod chain;
mod csv_rows;
pub mod data_dir;
pub mod error;
pub mod file;
pub mod four_rooms;
pub mod mountain_car;
pub mod npy;
pub mod own;
pub mod tabular;
pub mod targets;
pub mod transitions;

use crate::data::Problem;
use serde::{Deserialize, Serialize};
pub use targets::Targets;

/// A domain: the paper's three (SPEC §4) or a problem of one's own (SPEC §8.6).
///
/// An own domain carries its full name (`file:PATH`, `data:DIR`) as an interned `&'static str`
/// ([`own::intern`]), so the type stays `Copy`; its contents are loaded, validated and cached
/// once per process by [`own::load`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DomainKind {
    /// 11-state chain, γ = 0.9, one-hot features.
    Chain,
    /// 11×11 four-rooms grid with a terminal state, γ = 0.9, one-hot features.
    FourRooms,
    /// Mountain car, γ = 0.99, 20×20 normalized RBF features.
    MountainCar,
    /// A finite MDP from a TOML file: the name `file:PATH` (SPEC §8.6).
    File(&'static str),
    /// A supervised data set from a directory: the name `data:DIR` (SPEC §8.6).
    Data(&'static str),
}

impl DomainKind {
    /// The paper's domains, in the paper's order.
    pub const ALL: [DomainKind; 3] = [
        DomainKind::Chain,
        DomainKind::FourRooms,
        DomainKind::MountainCar,
    ];

    /// The name used on the command line and in exports (`chain`, `four-rooms`,
    /// `mountain-car`, `file:PATH`, `data:DIR`).
    pub fn name(self) -> &'static str {
        match self {
            DomainKind::Chain => "chain",
            DomainKind::FourRooms => "four-rooms",
            DomainKind::MountainCar => "mountain-car",
            DomainKind::File(n) | DomainKind::Data(n) => n,
        }
    }

    /// The directory name of the published data (SPEC §7). For an own domain, one directory
    /// level distinct for every name: the name with `/`, `\` and `:` replaced by `_` (its last
    /// 100 characters), then `-` and the first 12 hex digits of the name's BLAKE3 hash, so
    /// that `file:sub/c.toml` and `file:sub_c.toml` do not share a directory.
    pub fn published_name(self) -> &'static str {
        match self {
            DomainKind::Chain => "chain_rollout",
            DomainKind::FourRooms => "four_rooms_rollout",
            DomainKind::MountainCar => "mountaincar",
            own => {
                let name = own.name();
                let flat: Vec<char> = name.replace(['/', '\\', ':'], "_").chars().collect();
                let tail: String = flat[flat.len().saturating_sub(100)..].iter().collect();
                let hash = blake3::hash(name.as_bytes()).to_hex();
                own::intern(&format!("{tail}-{}", &hash[..12]))
            }
        }
    }

    /// Parses a name (see [`DomainKind::name`]) without reading an own domain's files.
    pub fn from_name(s: &str) -> Option<Self> {
        if let Some(d) = Self::ALL.into_iter().find(|d| d.name() == s) {
            return Some(d);
        }
        match (s.strip_prefix("file:"), s.strip_prefix("data:")) {
            (Some(p), _) if !p.is_empty() => Some(DomainKind::File(own::intern(s))),
            (_, Some(p)) if !p.is_empty() => Some(DomainKind::Data(own::intern(s))),
            _ => None,
        }
    }

    /// The same domain under its canonical name ([`own::canonical_name`]): an own domain's path
    /// resolved, so that two spellings of one file are one domain; the paper's domains are
    /// returned as they are. Applied to names the user gives (flags, grids), not to names read
    /// from a store.
    pub fn canonical(self) -> Self {
        match self {
            DomainKind::File(n) => DomainKind::File(own::intern(&own::canonical_name(n))),
            DomainKind::Data(n) => DomainKind::Data(own::intern(&own::canonical_name(n))),
            d => d,
        }
    }

    /// True for the paper's domains.
    pub fn is_builtin(self) -> bool {
        !matches!(self, DomainKind::File(_) | DomainKind::Data(_))
    }

    /// An own domain's loaded contents (`None` for the paper's domains).
    pub fn own(self) -> Option<Result<&'static own::Entry, own::OwnError>> {
        match self {
            DomainKind::File(n) | DomainKind::Data(n) => Some(own::load(n)),
            _ => None,
        }
    }

    /// The environment's discount `γ` (NaN for a data set, or an own domain that cannot be
    /// loaded).
    pub fn gamma(self) -> f64 {
        match self {
            DomainKind::Chain | DomainKind::FourRooms => 0.9,
            DomainKind::MountainCar => 0.99,
            own => match own.own() {
                Some(Ok(own::Entry {
                    loaded: own::Loaded::File(f),
                    ..
                })) => f.gamma,
                Some(Ok(own::Entry {
                    loaded: own::Loaded::Data(d),
                    ..
                })) => d.gamma.unwrap_or(f64::NAN),
                _ => f64::NAN,
            },
        }
    }

    /// Feature dimension `k` without a bias feature (0 for an own domain that cannot be
    /// loaded).
    pub fn feature_dim(self) -> usize {
        match self {
            DomainKind::Chain => chain::N_STATES,
            DomainKind::FourRooms => four_rooms::N_CELLS,
            DomainKind::MountainCar => mountain_car::N_FEATURES,
            own => match own.own() {
                Some(Ok(e)) => match &e.loaded {
                    own::Loaded::File(f) => f.k,
                    own::Loaded::Data(d) => d.train.k,
                },
                _ => 0,
            },
        }
    }
}

impl Serialize for DomainKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for DomainKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DomainKind::from_name(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown domain {s}")))
    }
}

/// Command-line values: the paper's domains only (`reproduce --domains`).
impl clap::ValueEnum for DomainKind {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

impl std::fmt::Display for DomainKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Four rooms' slip model (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Slip {
    /// Published runs: the intended action with probability 2/3, each other one with 1/9.
    #[default]
    Published,
    /// Paper's prose: the intended action with probability 2/3, stay in place with 1/3.
    Stay,
}

/// A domain with its options: everything needed to build its data sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DomainSpec {
    /// Which domain.
    pub kind: DomainKind,
    /// Four rooms' slip model (ignored elsewhere).
    pub slip: Slip,
    /// Append a constant feature 1 (`USE_BIAS`, false in the published runs).
    pub bias: bool,
    /// Training targets: Monte Carlo returns (published) or n-step TD (SPEC §8.5).
    pub targets: Targets,
}

impl DomainSpec {
    /// The published setting of `kind`: published slip, no bias feature.
    pub fn published(kind: DomainKind) -> Self {
        Self {
            kind,
            slip: Slip::Published,
            bias: false,
            targets: Targets::Mc,
        }
    }

    /// Feature dimension `k` (one more with the bias feature).
    pub fn feature_dim(&self) -> usize {
        self.kind.feature_dim() + usize::from(self.bias)
    }

    /// Training samples and test set for reward offset `offset` and run seed `seed`.
    ///
    /// Training data come from [`crate::rng::Stream::TrainData`], mountain car's test
    /// trajectories from [`crate::rng::Stream::TestData`].
    ///
    /// # Panics
    /// If an own domain cannot be loaded (its name was validated when it was parsed from user
    /// input; see [`DomainSpec::try_problem`]).
    pub fn problem(&self, offset: f64, seed: u64) -> Problem {
        self.try_problem(offset, seed)
            .unwrap_or_else(|e| panic!("domain {}: {e}", self.kind))
    }

    /// [`DomainSpec::problem`], with an own domain's load error returned.
    pub fn try_problem(&self, offset: f64, seed: u64) -> Result<Problem, own::OwnError> {
        let mut p = match self.kind {
            DomainKind::Chain => chain::problem_with(self.targets, offset, seed),
            DomainKind::FourRooms => {
                four_rooms::problem_with(self.slip, self.targets, offset, seed)
            }
            DomainKind::MountainCar => mountain_car::problem_with(self.targets, offset, seed),
            DomainKind::File(n) | DomainKind::Data(n) => match &own::load(n)?.loaded {
                own::Loaded::File(f) => f.problem(self.targets, offset, seed),
                own::Loaded::Data(d) => d
                    .problem(self.targets)
                    .map_err(|m| own::OwnError::new(n, m))?,
            },
        };
        if self.bias {
            p.train = p.train.with_bias();
            p.test = p.test.with_bias();
        }
        Ok(p)
    }
}
