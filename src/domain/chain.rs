//! The 11-state chain (SPEC §4, "Chain"), γ = 0.9, one-hot features.
//!
//! Action 0 ("advance"): `s → s+1` for `s = 0..8` with reward 0, `9 → 0` with reward +10,
//! `10 → 0` with reward 0. Action 1 ("wrong"): `s → 10` for `s = 0..9` with reward 0,
//! `10 → 0` with reward +1. The policy is ε-greedy (ε = 0.1) on the preferences (1, 0):
//! `P(advance) = 0.95`.

use super::tabular::{discounted_returns, epsilon_greedy, TabularMdp, Trajectory};
use super::targets::{push_td_rows, Targets};
use super::DomainKind;
use crate::data::{Dataset, Problem};
use crate::features::one_hot_into;
use crate::rng::{stream, Stream};
use rand::Rng;

/// Number of chain states (and the feature dimension).
pub const N_STATES: usize = 11;
/// Number of actions: 0 = advance, 1 = wrong.
pub const N_ACTIONS: usize = 2;
/// The policy's ε.
pub const EPSILON: f64 = 0.1;
/// Number of training trajectories.
pub const N_TRAJECTORIES: usize = 50;
/// Steps per training trajectory (rewards summed into the first state's return).
pub const N_STEPS: usize = 100;

/// The chain MDP (SPEC §4): deterministic transitions, rewards as in the module docs.
pub fn mdp() -> TabularMdp {
    let n = N_STATES;
    let mut p = vec![0.0; n * N_ACTIONS * n];
    let mut r = vec![0.0; n * N_ACTIONS];
    for s in 0..n {
        // advance
        let (next, reward) = match s {
            0..=8 => (s + 1, 0.0),
            9 => (0, 10.0),
            _ => (0, 0.0),
        };
        p[(s * N_ACTIONS) * n + next] = 1.0;
        r[s * N_ACTIONS] = reward;
        // wrong
        let (next, reward) = if s < 10 { (10, 0.0) } else { (0, 1.0) };
        p[(s * N_ACTIONS + 1) * n + next] = 1.0;
        r[s * N_ACTIONS + 1] = reward;
    }
    TabularMdp::from_dense(n, N_ACTIONS, &p, &r)
}

/// The data-collecting policy (row-major `N_STATES × N_ACTIONS`): ε-greedy with ε = 0.1 on
/// preferences (1, 0), i.e. `π(advance|s) = 0.95`, `π(wrong|s) = 0.05` in every state.
pub fn policy() -> Vec<f64> {
    let prefs: Vec<f64> = (0..N_STATES).flat_map(|_| [1.0, 0.0]).collect();
    epsilon_greedy(&prefs, N_ACTIONS, EPSILON)
}

/// Exact policy values `V = (I − γP_π)⁻¹(r_π + c·1)` of all 11 states, `c = offset`, γ = 0.9.
pub fn exact_values(offset: f64) -> Vec<f64> {
    mdp().evaluate(&policy(), DomainKind::Chain.gamma(), offset)
}

/// The chain problem for reward offset `offset` and run seed `seed` (SPEC §4), Monte Carlo
/// targets (see [`problem_with`]).
pub fn problem(offset: f64, seed: u64) -> Problem {
    problem_with(Targets::Mc, offset, seed)
}

/// The chain problem with training targets `targets` (SPEC §4, §8.5).
///
/// Training: 50 trajectories of 100 steps from [`Stream::TrainData`], start state uniform over
/// the 11 states. With `mc`, only each trajectory's first state is kept, with its truncated
/// discounted return `Σ_{t<100} γ^t (r_t + c)` (50 rows); with `td:N`, every transition is
/// kept with its N-step target (5000 rows; the chain never terminates). Test: all 11 states
/// with their exact values. Features are one-hot (k = 11).
pub fn problem_with(targets: Targets, offset: f64, seed: u64) -> Problem {
    let gamma = DomainKind::Chain.gamma();
    let m = mdp();
    let pi = policy();
    let mut rng = stream(seed, Stream::TrainData);
    let mut train = Dataset::new(N_STATES);
    if targets != Targets::Mc {
        train = train.with_bootstrap();
    }
    let mut phi = [0.0; N_STATES];
    let mut traj = Trajectory::with_capacity(N_STEPS);
    let mut rows = Vec::new();
    for _ in 0..N_TRAJECTORIES {
        let s0 = rng.random_range(0..N_STATES);
        m.rollout_into(&pi, s0, N_STEPS, offset, &mut rng, &mut traj);
        match targets {
            Targets::Mc => {
                let g0 = discounted_returns(&traj.rewards, gamma)[0];
                one_hot_into(Some(s0), &mut phi);
                train.push(&phi, g0);
            }
            Targets::Td(n) => {
                rows.clear();
                for &s in traj.states.iter().chain([&traj.last]) {
                    one_hot_into(Some(s), &mut phi);
                    rows.extend_from_slice(&phi);
                }
                let terminal = vec![false; traj.states.len() + 1];
                push_td_rows(&mut train, &rows, &traj.rewards, &terminal, gamma, n);
            }
        }
    }
    let values = m.evaluate(&pi, gamma, offset);
    let mut test = Dataset::new(N_STATES);
    for (s, v) in values.iter().enumerate() {
        one_hot_into(Some(s), &mut phi);
        test.push(&phi, *v);
    }
    Problem { train, test, gamma }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_are_as_specified() {
        let m = mdp();
        assert_eq!(m.successors(3, 0), &[(4, 1.0)]);
        assert_eq!(
            (m.successors(9, 0), m.reward(9, 0)),
            (&[(0, 1.0)][..], 10.0)
        );
        assert_eq!(
            (m.successors(10, 0), m.reward(10, 0)),
            (&[(0, 1.0)][..], 0.0)
        );
        assert_eq!(
            (m.successors(4, 1), m.reward(4, 1)),
            (&[(10, 1.0)][..], 0.0)
        );
        assert_eq!(
            (m.successors(10, 1), m.reward(10, 1)),
            (&[(0, 1.0)][..], 1.0)
        );
        let pi = policy();
        assert!(pi
            .chunks(2)
            .all(|r| (r[0] - 0.95).abs() < 1e-15 && (r[1] - 0.05).abs() < 1e-15));
    }
}
