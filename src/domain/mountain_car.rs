//! Mountain car (SPEC §4, "Mountain car"), γ = 0.99, 20×20 normalized RBF features.
//!
//! Published dynamics (Sutton & Barto Ex. 10.1 constants), action `a ∈ {0, 1, 2}` = left, idle,
//! right: `v' = v + 0.001(a − 1) − 0.0025 cos(3x)`, then `x ← clip(x + v', −1.2, 0.6)` (the
//! *unclipped* `v'` moves the car) and `v ← clip(v', −0.07, 0.07)`; no velocity reset at the left
//! wall. Reward −1 per step; the transition reaching `x ≥ 0.5` has reward 0 and ends the episode.
//! The reward offset `c` is added to every reward. Start `x ~ U(−0.6, −0.4)`, `v = 0`;
//! trajectories are cut at 200 steps. Policy: ε-greedy (ε = 0.1, uniform over the 3 actions)
//! around the "energy pump", left when `v < 0`, else right.

use super::tabular::{discounted_returns_into, sample_action};
use super::targets::{push_td_rows, Targets};
use super::DomainKind;
use crate::data::{Dataset, Problem};
use crate::features::RbfGrid;
use crate::rng::{stream, Stream};
use rand::Rng;
use std::sync::OnceLock;

/// Number of RBF features (20 × 20 centres).
pub const N_FEATURES: usize = 400;
/// Number of actions: 0 = left, 1 = idle, 2 = right.
pub const N_ACTIONS: usize = 3;
/// Position bounds.
pub const X_RANGE: (f64, f64) = (-1.2, 0.6);
/// Velocity bound: `|v| ≤ 0.07`.
pub const V_MAX: f64 = 0.07;
/// The episode ends when a transition reaches `x ≥ X_GOAL`.
pub const X_GOAL: f64 = 0.5;
/// Trajectories are cut after this many steps.
pub const MAX_STEPS: usize = 200;
/// The policy's ε.
pub const EPSILON: f64 = 0.1;
/// Number of training trajectories.
pub const N_TRAIN_TRAJECTORIES: usize = 10;
/// Number of test states.
pub const N_TEST: usize = 1000;

/// A state `(x, v)`: position and velocity.
pub type State = [f64; 2];

/// One transition from `s` under action `a`: returns the next state, the reward without offset
/// (−1, or 0 on the terminating transition) and whether the episode ended (`x' ≥ 0.5`).
pub fn step(s: State, a: usize) -> (State, f64, bool) {
    let [x, v] = s;
    let v_new = v + 0.001 * (a as f64 - 1.0) - 0.0025 * (3.0 * x).cos();
    let x_new = (x + v_new).clamp(X_RANGE.0, X_RANGE.1);
    let done = x_new >= X_GOAL;
    (
        [x_new, v_new.clamp(-V_MAX, V_MAX)],
        if done { 0.0 } else { -1.0 },
        done,
    )
}

/// The policy's action distribution in state `s`: `1 − ε + ε/3` on the preferred action (left if
/// `v < 0`, else right), `ε/3` on each other one.
pub fn policy(s: State) -> [f64; N_ACTIONS] {
    let preferred = if s[1] < 0.0 { 0 } else { 2 };
    let mut p = [EPSILON / N_ACTIONS as f64; N_ACTIONS];
    p[preferred] += 1.0 - EPSILON;
    p
}

/// The feature map: normalized RBFs on a 20×20 grid of centres spanning
/// `[−1.2, 0.6] × [−0.07, 0.07]` (end points included), widths 0.1 × span = `(0.18, 0.014)`,
/// `φ(x) = softmax_c(−Σ_d ((x_d − c_d)/w_d)²)`; feature `20·i + j` has centre `(x_i, v_j)`.
/// Built once.
pub fn rbf() -> &'static RbfGrid {
    static GRID: OnceLock<RbfGrid> = OnceLock::new();
    GRID.get_or_init(|| {
        let span = [X_RANGE.1 - X_RANGE.0, 2.0 * V_MAX];
        RbfGrid::new(
            [X_RANGE.0, -V_MAX],
            [X_RANGE.1, V_MAX],
            [20, 20],
            [0.1 * span[0], 0.1 * span[1]],
        )
    })
}

/// Rolls out one episode of at most [`MAX_STEPS`] steps from a random start
/// (`x ~ U(−0.6, −0.4)`, `v = 0`): writes the states an action was taken in, `s_0..s_{T−1}`,
/// into `states` and the rewards `r_0 + c, …, r_{T−1} + c` into `rewards` (both cleared first).
/// Per step, one uniform draws the action. Returns the state `s_T` reached after the last step
/// and whether the episode terminated there (reached the goal) rather than being cut.
pub fn rollout_into<R: Rng + ?Sized>(
    offset: f64,
    rng: &mut R,
    states: &mut Vec<State>,
    rewards: &mut Vec<f64>,
) -> (State, bool) {
    states.clear();
    rewards.clear();
    let mut s = [rng.random_range(-0.6..-0.4), 0.0];
    for _ in 0..MAX_STEPS {
        let a = sample_action(&policy(s), rng);
        let (next, r, done) = step(s, a);
        states.push(s);
        rewards.push(r + offset);
        if done {
            return (next, true);
        }
        s = next;
    }
    (s, false)
}

/// Appends `states` with their truncated discounted returns (to the end of `rewards`) to `data`.
fn push_all(
    data: &mut Dataset,
    states: &[State],
    rewards: &[f64],
    gamma: f64,
    buf: &mut Vec<f64>,
    phi: &mut [f64],
) {
    buf.resize(rewards.len(), 0.0);
    discounted_returns_into(rewards, gamma, buf);
    for (&s, &g) in states.iter().zip(buf.iter()) {
        rbf().features_into(s, phi);
        data.push(phi, g);
    }
}

/// The mountain-car problem for reward offset `offset` and run seed `seed` (SPEC §4).
///
/// Training: 10 episodes from [`Stream::TrainData`]; every state an action was taken in
/// (`s_0..s_{T−1}`) is kept with its truncated discounted return `G_t = Σ_{j=t}^{T−1}
/// γ^{j−t}(r_j + c)` to the end of its episode (cut at 200 steps, no bootstrap).
/// Test: episodes from [`Stream::TestData`], likewise, until exactly 1000 states are kept. The
/// last episode is cut at the state that completes the 1000 and its returns are those of the
/// stored, truncated trajectory (rewards after the cut are not counted), consistently with "returns
/// are truncated discounted sums to the end of the stored trajectory".
pub fn problem(offset: f64, seed: u64) -> Problem {
    problem_with(Targets::Mc, offset, seed)
}

/// The mountain-car problem with training targets `targets` (SPEC §4, §8.5): as [`problem`],
/// with `td:N` every training state `s_t` carrying its N-step target, the bootstrap dropped
/// after the goal and kept at the 200-step cut. The test set does not depend on `targets`.
pub fn problem_with(targets: Targets, offset: f64, seed: u64) -> Problem {
    let gamma = DomainKind::MountainCar.gamma();
    let mut states = Vec::with_capacity(MAX_STEPS);
    let mut rewards = Vec::with_capacity(MAX_STEPS);
    let mut buf = Vec::with_capacity(MAX_STEPS);
    let mut phi = vec![0.0; N_FEATURES];

    let mut rng = stream(seed, Stream::TrainData);
    let mut train = Dataset::new(N_FEATURES);
    if targets != Targets::Mc {
        train = train.with_bootstrap();
    }
    let mut rows = Vec::new();
    for _ in 0..N_TRAIN_TRAJECTORIES {
        let (last, done) = rollout_into(offset, &mut rng, &mut states, &mut rewards);
        match targets {
            Targets::Mc => push_all(&mut train, &states, &rewards, gamma, &mut buf, &mut phi),
            Targets::Td(n) => {
                rows.clear();
                for &s in states.iter().chain([&last]) {
                    rbf().features_into(s, &mut phi);
                    rows.extend_from_slice(&phi);
                }
                let mut terminal = vec![false; states.len() + 1];
                terminal[states.len()] = done;
                push_td_rows(&mut train, &rows, &rewards, &terminal, gamma, n);
            }
        }
    }

    let mut rng = stream(seed, Stream::TestData);
    let mut test = Dataset::new(N_FEATURES);
    test.x.reserve(N_TEST * N_FEATURES);
    while test.len() < N_TEST {
        rollout_into(offset, &mut rng, &mut states, &mut rewards);
        let keep = states.len().min(N_TEST - test.len());
        push_all(
            &mut test,
            &states[..keep],
            &rewards[..keep],
            gamma,
            &mut buf,
            &mut phi,
        );
    }
    Problem { train, test, gamma }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamics_by_hand() {
        // Unclipped v' moves the car; v is clipped afterwards.
        let v_raw = 0.07 + 0.001 - 0.0025 * (-1.8f64).cos();
        assert!(v_raw > V_MAX);
        let (s, r, done) = step([-0.6, 0.07], 2);
        assert_eq!(s, [-0.6 + v_raw, V_MAX]);
        assert_eq!((r, done), (-1.0, false));
        let (s, _, _) = step([0.0, 0.0], 1);
        assert_eq!(s, [-0.0025, -0.0025]);
        // Left wall: x clipped, velocity not reset.
        let (s, _, _) = step([-1.19, -0.05], 0);
        assert_eq!(s[0], -1.2);
        assert!(s[1] < 0.0);
        // Terminating transition: reward 0.
        let (s, r, done) = step([0.49, 0.05], 2);
        assert!(s[0] >= 0.5 && done && r == 0.0);
        // Clipped at 0.6.
        let (s, _, _) = step([0.59, 0.07], 2);
        assert_eq!(s[0], 0.6);
    }

    #[test]
    fn policy_prefers_pump() {
        let p = policy([0.0, -0.01]);
        assert!((p[0] - (0.9 + 0.1 / 3.0)).abs() < 1e-15 && (p[2] - 0.1 / 3.0).abs() < 1e-15);
        let p = policy([0.0, 0.0]);
        assert!((p[2] - (0.9 + 0.1 / 3.0)).abs() < 1e-15);
    }
}
