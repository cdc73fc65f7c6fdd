//! Domains: the paper's three environments, their policies, and the data sets they yield (SPEC §4).
//!
//! A [`DomainSpec`] names a domain and its options; [`DomainSpec::problem`] rolls out its policy
//! and returns the training samples and the test set for one reward offset and run seed.

pub mod chain;
pub mod four_rooms;
pub mod mountain_car;
pub mod tabular;
pub mod targets;

use crate::data::Problem;
use serde::{Deserialize, Serialize};
pub use targets::Targets;

/// The three domains of the paper (SPEC §4).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum DomainKind {
    /// 11-state chain, γ = 0.9, one-hot features.
    Chain,
    /// 11×11 four-rooms grid with a terminal state, γ = 0.9, one-hot features.
    FourRooms,
    /// Mountain car, γ = 0.99, 20×20 normalized RBF features.
    MountainCar,
}

impl DomainKind {
    /// All domains, in the paper's order.
    pub const ALL: [DomainKind; 3] = [
        DomainKind::Chain,
        DomainKind::FourRooms,
        DomainKind::MountainCar,
    ];

    /// The name used on the command line and in exports (`chain`, `four-rooms`, `mountain-car`).
    pub fn name(self) -> &'static str {
        match self {
            DomainKind::Chain => "chain",
            DomainKind::FourRooms => "four-rooms",
            DomainKind::MountainCar => "mountain-car",
        }
    }

    /// The directory name of the published data (SPEC §7).
    pub fn published_name(self) -> &'static str {
        match self {
            DomainKind::Chain => "chain_rollout",
            DomainKind::FourRooms => "four_rooms_rollout",
            DomainKind::MountainCar => "mountaincar",
        }
    }

    /// Parses a CLI name (see [`DomainKind::name`]).
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == s)
    }

    /// The environment's discount `γ`.
    pub fn gamma(self) -> f64 {
        match self {
            DomainKind::Chain | DomainKind::FourRooms => 0.9,
            DomainKind::MountainCar => 0.99,
        }
    }

    /// Feature dimension `k` without a bias feature.
    pub fn feature_dim(self) -> usize {
        match self {
            DomainKind::Chain => chain::N_STATES,
            DomainKind::FourRooms => four_rooms::N_CELLS,
            DomainKind::MountainCar => mountain_car::N_FEATURES,
        }
    }
}

impl std::fmt::Display for DomainKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Four rooms' slip model (SPEC §4).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Slip {
    /// Published runs: the intended action with probability 2/3, each other one with 1/9.
    #[default]
    Published,
    /// Paper's prose: the intended action with probability 2/3, stay in place with 1/3.
    Stay,
}

/// A domain with its options: everything needed to build its data sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    pub fn problem(&self, offset: f64, seed: u64) -> Problem {
        let mut p = match self.kind {
            DomainKind::Chain => chain::problem_with(self.targets, offset, seed),
            DomainKind::FourRooms => {
                four_rooms::problem_with(self.slip, self.targets, offset, seed)
            }
            DomainKind::MountainCar => mountain_car::problem_with(self.targets, offset, seed),
        };
        if self.bias {
            p.train = p.train.with_bias();
            p.test = p.test.with_bias();
        }
        p
    }
}
