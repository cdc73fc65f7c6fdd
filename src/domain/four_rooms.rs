//! The four-rooms grid (SPEC §4, "Four rooms"), γ = 0.9, one-hot features.
//!
//! 11×11 cells, cell `(row, col)` has index `row·11 + col`; state 121 is an absorbing terminal
//! state (122 states). Actions move by `(+1,0), (−1,0), (0,+1), (0,−1)` in `(row, col)`; a move
//! off the grid or into a wall stays in place. With [`Slip::Published`] the executed move is the
//! intended one with probability 2/3 and each other one with 1/9; with [`Slip::Stay`] it is the
//! intended one with probability 2/3, and the agent stays in place with probability 1/3. From the
//! goal `(7, 1)` every action leads to the terminal state with reward +1; the terminal state loops
//! with reward 0; every other reward is 0. Wall cells are ordinary states (one can start there).

use super::tabular::{discounted_returns_into, epsilon_greedy, TabularMdp, Trajectory};
use super::targets::{push_td_rows, Targets};
use super::{DomainKind, Slip};
use crate::data::{Dataset, Problem};
use crate::features::one_hot_into;
use crate::rng::{stream, Stream};
use rand::Rng;
use std::sync::OnceLock;

/// Side of the grid.
pub const SIDE: usize = 11;
/// Number of grid cells (and the feature dimension).
pub const N_CELLS: usize = SIDE * SIDE;
/// Number of states: the cells plus the terminal state.
pub const N_STATES: usize = N_CELLS + 1;
/// Index of the absorbing terminal state.
pub const TERMINAL: usize = N_CELLS;
/// Number of actions.
pub const N_ACTIONS: usize = 4;
/// The moves of the actions, in `(row, col)`.
pub const MOVES: [(isize, isize); N_ACTIONS] = [(1, 0), (-1, 0), (0, 1), (0, -1)];
/// The goal cell `(row, col)`.
pub const GOAL: (usize, usize) = (7, 1);
/// The wall cells `(row, col)`.
pub const WALLS: [(usize, usize); 17] = [
    (0, 5),
    (2, 5),
    (3, 5),
    (4, 5),
    (6, 4),
    (7, 4),
    (9, 4),
    (10, 4),
    (5, 0),
    (5, 2),
    (5, 3),
    (5, 4),
    (5, 5),
    (5, 6),
    (5, 7),
    (5, 9),
    (5, 10),
];
/// The policy's ε.
pub const EPSILON: f64 = 0.1;
/// Value-iteration tolerance (the published runs' 1e-6).
pub const VI_TOL: f64 = 1e-6;
/// Number of training trajectories.
pub const N_TRAJECTORIES: usize = 80;
/// Steps per training trajectory.
pub const N_STEPS: usize = 80;

/// Index `row·11 + col` of a cell.
pub fn cell(row: usize, col: usize) -> usize {
    row * SIDE + col
}

/// True if `(row, col)` is a wall cell.
pub fn is_wall(row: usize, col: usize) -> bool {
    WALLS.contains(&(row, col))
}

/// The cell reached from cell `s` (`< N_CELLS`) by the move of action `a`, the deterministic
/// part of the dynamics: `s` itself if the move leaves the grid or enters a wall.
pub fn move_from(s: usize, a: usize) -> usize {
    let (row, col) = (s / SIDE, s % SIDE);
    let (dr, dc) = MOVES[a];
    match (row.checked_add_signed(dr), col.checked_add_signed(dc)) {
        (Some(r), Some(c)) if r < SIDE && c < SIDE && !is_wall(r, c) => cell(r, c),
        _ => s,
    }
}

/// The four-rooms MDP with slip model `slip` (SPEC §4; see the module docs).
pub fn mdp(slip: Slip) -> TabularMdp {
    let n = N_STATES;
    let goal = cell(GOAL.0, GOAL.1);
    let mut p = vec![0.0; n * N_ACTIONS * n];
    let mut r = vec![0.0; n * N_ACTIONS];
    for s in 0..n {
        for a in 0..N_ACTIONS {
            let row = &mut p[(s * N_ACTIONS + a) * n..(s * N_ACTIONS + a + 1) * n];
            if s == TERMINAL {
                row[TERMINAL] = 1.0;
            } else if s == goal {
                row[TERMINAL] = 1.0;
                r[s * N_ACTIONS + a] = 1.0;
            } else {
                match slip {
                    Slip::Published => {
                        for b in 0..N_ACTIONS {
                            row[move_from(s, b)] += if a == b { 2.0 / 3.0 } else { 1.0 / 9.0 };
                        }
                    }
                    Slip::Stay => {
                        row[move_from(s, a)] += 2.0 / 3.0;
                        row[s] += 1.0 / 3.0;
                    }
                }
            }
        }
    }
    TabularMdp::from_dense(n, N_ACTIONS, &p, &r)
}

/// Everything about four rooms that does not depend on the offset or the seed, computed once
/// per slip model.
struct Model {
    mdp: TabularMdp,
    pi: Vec<f64>,
    /// `V(c) = v0 + c·w` (see [`TabularMdp::evaluate_affine`]).
    v0: Vec<f64>,
    w: Vec<f64>,
}

fn model(slip: Slip) -> &'static Model {
    static PUBLISHED: OnceLock<Model> = OnceLock::new();
    static STAY: OnceLock<Model> = OnceLock::new();
    let cell = match slip {
        Slip::Published => &PUBLISHED,
        Slip::Stay => &STAY,
    };
    cell.get_or_init(|| {
        let mdp = mdp(slip);
        let gamma = DomainKind::FourRooms.gamma();
        let (_, q) = mdp.value_iteration(gamma, VI_TOL);
        let pi = epsilon_greedy(&q, N_ACTIONS, EPSILON);
        let (v0, w) = mdp.evaluate_affine(&pi, gamma);
        Model { mdp, pi, v0, w }
    })
}

/// The data-collecting policy (row-major `N_STATES × N_ACTIONS`): ε-greedy (ε = 0.1, ties share
/// the greedy mass) on `Q* = R + γPV*`, `V*` from value iteration to 1e-6 at offset 0.
pub fn policy(slip: Slip) -> Vec<f64> {
    model(slip).pi.clone()
}

/// Exact policy values `V = (I − γP_π)⁻¹(r_π + c·1)` of all 122 states, `c = offset`, γ = 0.9.
pub fn exact_values(slip: Slip, offset: f64) -> Vec<f64> {
    let m = model(slip);
    m.v0.iter().zip(&m.w).map(|(v, w)| v + offset * w).collect()
}

/// The feature row of state `s`: one-hot of dimension 121, the terminal state → zero vector.
fn features_into(s: usize, phi: &mut [f64]) {
    one_hot_into((s < N_CELLS).then_some(s), phi);
}

/// The four-rooms problem for slip model `slip`, reward offset `offset` and run seed `seed`
/// (SPEC §4), Monte Carlo targets (see [`problem_with`]).
pub fn problem(slip: Slip, offset: f64, seed: u64) -> Problem {
    problem_with(slip, Targets::Mc, offset, seed)
}

/// The four-rooms problem with training targets `targets` (SPEC §4, §8.5).
///
/// Training: 80 trajectories of 80 steps from [`Stream::TrainData`], each starting uniformly in
/// one of the 122 states; every visited state `s_0..s_79` is kept, with `mc` with the truncated
/// discounted return `G_t = Σ_{j=t}^{79} γ^{j−t}(r_j + c)` of the rest of its trajectory, with
/// `td:N` with its N-step target, the bootstrap dropped where it would come from the terminal
/// state (6400 rows either way).
/// Test: all 122 states with their exact values. One-hot features (k = 121; terminal → 0).
pub fn problem_with(slip: Slip, targets: Targets, offset: f64, seed: u64) -> Problem {
    let gamma = DomainKind::FourRooms.gamma();
    let m = model(slip);
    let mut rng = stream(seed, Stream::TrainData);
    let mut train = Dataset::new(N_CELLS);
    if targets != Targets::Mc {
        train = train.with_bootstrap();
    }
    train.x.reserve(N_TRAJECTORIES * N_STEPS * N_CELLS);
    train.y.reserve(N_TRAJECTORIES * N_STEPS);
    let mut phi = [0.0; N_CELLS];
    let mut traj = Trajectory::with_capacity(N_STEPS);
    let mut returns = [0.0; N_STEPS];
    let mut rows = Vec::new();
    for _ in 0..N_TRAJECTORIES {
        let s0 = rng.random_range(0..N_STATES);
        m.mdp
            .rollout_into(&m.pi, s0, N_STEPS, offset, &mut rng, &mut traj);
        match targets {
            Targets::Mc => {
                discounted_returns_into(&traj.rewards, gamma, &mut returns);
                for (&s, &g) in traj.states.iter().zip(&returns) {
                    features_into(s, &mut phi);
                    train.push(&phi, g);
                }
            }
            Targets::Td(n) => {
                rows.clear();
                let states: Vec<usize> = traj.states.iter().copied().chain([traj.last]).collect();
                for &s in &states {
                    features_into(s, &mut phi);
                    rows.extend_from_slice(&phi);
                }
                let terminal: Vec<bool> = states.iter().map(|&s| s == TERMINAL).collect();
                push_td_rows(&mut train, &rows, &traj.rewards, &terminal, gamma, n);
            }
        }
    }
    let mut test = Dataset::new(N_CELLS);
    for (s, v) in exact_values(slip, offset).into_iter().enumerate() {
        features_into(s, &mut phi);
        test.push(&phi, v);
    }
    Problem { train, test, gamma }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walls_and_edges_stay() {
        // Off the grid.
        assert_eq!(move_from(cell(0, 0), 1), cell(0, 0));
        assert_eq!(move_from(cell(0, 0), 3), cell(0, 0));
        assert_eq!(move_from(cell(10, 10), 0), cell(10, 10));
        assert_eq!(move_from(cell(10, 10), 2), cell(10, 10));
        // Into a wall.
        assert_eq!(move_from(cell(0, 4), 2), cell(0, 4)); // (0,5) is a wall
        assert_eq!(move_from(cell(4, 0), 0), cell(4, 0)); // (5,0) is a wall
                                                          // Free moves.
        assert_eq!(move_from(cell(1, 4), 2), cell(1, 5));
        assert_eq!(move_from(cell(3, 3), 0), cell(4, 3));
        assert_eq!(move_from(cell(3, 3), 1), cell(2, 3));
        assert_eq!(move_from(cell(3, 3), 3), cell(3, 2));
        // From a wall cell into a free cell.
        assert_eq!(move_from(cell(5, 0), 1), cell(4, 0));
    }

    #[test]
    fn slip_probabilities() {
        let m = mdp(Slip::Published);
        // (3,3): all four moves free.
        let s = cell(3, 3);
        assert!((m.prob(s, 0, cell(4, 3)) - 2.0 / 3.0).abs() < 1e-15);
        assert!((m.prob(s, 0, cell(2, 3)) - 1.0 / 9.0).abs() < 1e-15);
        // Corner (0,0), action down: up and left stay (2/9), right 1/9, down 2/3.
        let c = cell(0, 0);
        assert!((m.prob(c, 0, c) - 2.0 / 9.0).abs() < 1e-15);
        assert!((m.prob(c, 0, cell(0, 1)) - 1.0 / 9.0).abs() < 1e-15);
        let st = mdp(Slip::Stay);
        assert!((st.prob(s, 2, cell(3, 4)) - 2.0 / 3.0).abs() < 1e-15);
        assert!((st.prob(s, 2, s) - 1.0 / 3.0).abs() < 1e-15);
        assert_eq!(st.prob(s, 2, cell(4, 3)), 0.0);
        for mm in [&m, &st] {
            let g = cell(GOAL.0, GOAL.1);
            for a in 0..N_ACTIONS {
                assert_eq!((mm.prob(g, a, TERMINAL), mm.reward(g, a)), (1.0, 1.0));
                assert_eq!(
                    (mm.prob(TERMINAL, a, TERMINAL), mm.reward(TERMINAL, a)),
                    (1.0, 0.0)
                );
            }
        }
    }
}
