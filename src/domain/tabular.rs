//! Finite MDPs: exact policy evaluation, value iteration, ε-greedy policies, sampling and
//! truncated discounted returns (SPEC §4, "Chain", "Four rooms" and "All domains").
//!
//! Rewards are deterministic functions of the state–action pair in both tabular domains, so an
//! MDP stores one reward `R[s][a]` per pair; the reward offset `c` of SPEC §4 is added to every
//! reward by the functions that take an `offset`.

use faer::linalg::solvers::Solve;
use faer::Mat;
use rand::Rng;

/// Greedy actions are those whose value is within this of the maximum (ties share the greedy mass).
pub const TIE_TOL: f64 = 1e-9;

/// A finite MDP with `n_states` states and `n_actions` actions.
///
/// Transitions are stored sparsely: for every pair `(s, a)` the list of successors `s'` with
/// `P(s' | s, a) > 0`. The reward of taking `a` in `s` is `R[s][a]` (deterministic).
#[derive(Debug, Clone, PartialEq)]
pub struct TabularMdp {
    n_states: usize,
    n_actions: usize,
    /// `succ[s * n_actions + a]` = `[(s', P(s'|s,a))]`, probabilities summing to 1.
    succ: Vec<Vec<(usize, f64)>>,
    /// `reward[s * n_actions + a]` = `R[s][a]`.
    reward: Vec<f64>,
}

impl TabularMdp {
    /// An MDP from dense transition probabilities `p[s][a][s']` (flattened, length
    /// `n_states · n_actions · n_states`) and rewards `r[s][a]` (length `n_states · n_actions`).
    /// Zero probabilities are dropped.
    ///
    /// # Panics
    /// If the lengths do not match, or a row `P(·|s,a)` is not a probability vector (negative
    /// entry, or sum off 1 by more than 1e-12).
    #[track_caller]
    pub fn from_dense(n_states: usize, n_actions: usize, p: &[f64], r: &[f64]) -> Self {
        assert_eq!(
            p.len(),
            n_states * n_actions * n_states,
            "transition tensor has the wrong size"
        );
        assert_eq!(
            r.len(),
            n_states * n_actions,
            "reward table has the wrong size"
        );
        for row in p.chunks_exact(n_states) {
            assert!(
                row.iter().all(|&q| q >= 0.0),
                "negative transition probability"
            );
            let total: f64 = row.iter().sum();
            assert!(
                (total - 1.0).abs() <= 1e-12,
                "transition row sums to {total}, not 1"
            );
        }
        Self::from_probabilities(n_states, n_actions, p, r)
    }

    /// An MDP from dense transition probabilities as [`TabularMdp::from_dense`], for rows
    /// already checked by the caller (non-negative, summing to 1 within the caller's
    /// tolerance, e.g. a file's 1e-9); zero probabilities are dropped.
    pub fn from_probabilities(n_states: usize, n_actions: usize, p: &[f64], r: &[f64]) -> Self {
        let succ = p
            .chunks_exact(n_states)
            .map(|row| {
                row.iter()
                    .enumerate()
                    .filter(|(_, &q)| q > 0.0)
                    .map(|(j, &q)| (j, q))
                    .collect()
            })
            .collect();
        Self {
            n_states,
            n_actions,
            succ,
            reward: r.to_vec(),
        }
    }

    /// An MDP from the successors of every `(s, a)` (row `s·m + a`: the states of positive
    /// probability, by increasing state, with their probabilities) and the rewards (row-major
    /// `n × m`): what [`TabularMdp::from_probabilities`] keeps of a dense tensor, without it.
    pub fn from_successors(
        n_states: usize,
        n_actions: usize,
        succ: Vec<Vec<(usize, f64)>>,
        r: &[f64],
    ) -> Self {
        Self {
            n_states,
            n_actions,
            succ,
            reward: r.to_vec(),
        }
    }

    /// Number of states.
    pub fn n_states(&self) -> usize {
        self.n_states
    }

    /// Number of actions.
    pub fn n_actions(&self) -> usize {
        self.n_actions
    }

    /// Successors of `(s, a)` with their probabilities `P(s'|s,a) > 0`.
    pub fn successors(&self, s: usize, a: usize) -> &[(usize, f64)] {
        &self.succ[s * self.n_actions + a]
    }

    /// Transition probability `P(s'|s,a)`.
    pub fn prob(&self, s: usize, a: usize, s_next: usize) -> f64 {
        self.successors(s, a)
            .iter()
            .filter(|(j, _)| *j == s_next)
            .map(|(_, q)| q)
            .sum()
    }

    /// Reward `R[s][a]` (without offset).
    pub fn reward(&self, s: usize, a: usize) -> f64 {
        self.reward[s * self.n_actions + a]
    }

    /// The Markov reward process of policy `pi` (`n_states × n_actions`, row-major, rows are
    /// action distributions): `P_π[s][s'] = Σ_a π(a|s) P(s'|s,a)` (dense, row-major
    /// `n_states × n_states`) and `r_π[s] = Σ_a π(a|s) R[s][a]` (without offset).
    #[track_caller]
    pub fn policy_matrix(&self, pi: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (n, m) = (self.n_states, self.n_actions);
        assert_eq!(pi.len(), n * m, "policy has the wrong size");
        let mut p = vec![0.0; n * n];
        let mut r = vec![0.0; n];
        for s in 0..n {
            for a in 0..m {
                let w = pi[s * m + a];
                if w == 0.0 {
                    continue;
                }
                r[s] += w * self.reward(s, a);
                for &(j, q) in self.successors(s, a) {
                    p[s * n + j] += w * q;
                }
            }
        }
        (p, r)
    }

    /// The affine dependence of the policy values on the reward offset `c`:
    /// `V(c) = (I − γP_π)⁻¹(r_π + c·1) = v₀ + c·w` with `v₀ = (I − γP_π)⁻¹ r_π` and
    /// `w = (I − γP_π)⁻¹ 1`; returns `(v₀, w)`. One LU factorization (partial pivoting, faer)
    /// solves both. Requires `γ < 1` (or a proper policy).
    pub fn evaluate_affine(&self, pi: &[f64], gamma: f64) -> (Vec<f64>, Vec<f64>) {
        let n = self.n_states;
        let (p, r) = self.policy_matrix(pi);
        let a = Mat::from_fn(n, n, |i, j| {
            f64::from(u8::from(i == j)) - gamma * p[i * n + j]
        });
        let rhs = Mat::from_fn(n, 2, |i, j| if j == 0 { r[i] } else { 1.0 });
        let sol = a.partial_piv_lu().solve(&rhs);
        (
            (0..n).map(|i| sol[(i, 0)]).collect(),
            (0..n).map(|i| sol[(i, 1)]).collect(),
        )
    }

    /// Exact policy values `V = (I − γP_π)⁻¹(r_π + c·1)`, `c = offset` added to every reward
    /// (SPEC §4, test sets of the tabular domains).
    pub fn evaluate(&self, pi: &[f64], gamma: f64, offset: f64) -> Vec<f64> {
        let (v0, w) = self.evaluate_affine(pi, gamma);
        v0.iter().zip(&w).map(|(v, w)| v + offset * w).collect()
    }

    /// `Q[s][a] = R[s][a] + γ Σ_{s'} P(s'|s,a) V[s']` (row-major `n_states × n_actions`).
    pub fn q_values(&self, v: &[f64], gamma: f64) -> Vec<f64> {
        (0..self.n_states * self.n_actions)
            .map(|i| {
                self.reward[i] + gamma * self.succ[i].iter().map(|&(j, q)| q * v[j]).sum::<f64>()
            })
            .collect()
    }

    /// Value iteration `V ← max_a (R + γPV)` from `V = 0` until `max_s |ΔV(s)| < tol`
    /// (the published runs used `tol = 1e-6`), then `Q* = R + γPV*` (SPEC §4, four rooms).
    /// Returns `(V*, Q*)`, `Q*` row-major `n_states × n_actions`. Requires `γ < 1`.
    pub fn value_iteration(&self, gamma: f64, tol: f64) -> (Vec<f64>, Vec<f64>) {
        let m = self.n_actions;
        let mut v = vec![0.0; self.n_states];
        loop {
            let q = self.q_values(&v, gamma);
            let mut delta = 0.0_f64;
            for (s, vs) in v.iter_mut().enumerate() {
                let best = q[s * m..(s + 1) * m]
                    .iter()
                    .copied()
                    .fold(f64::NEG_INFINITY, f64::max);
                delta = delta.max((best - *vs).abs());
                *vs = best;
            }
            if delta < tol {
                break;
            }
        }
        let q = self.q_values(&v, gamma);
        (v, q)
    }

    /// One step from `(s, a)`: samples `s' ~ P(·|s,a)` with one uniform draw (inverse CDF over
    /// the stored successors) and returns `(s', R[s][a])` (without offset).
    pub fn step<R: Rng + ?Sized>(&self, s: usize, a: usize, rng: &mut R) -> (usize, f64) {
        let k = self.step_index(s, a, rng);
        (self.successors(s, a)[k].0, self.reward(s, a))
    }

    /// The draw of [`TabularMdp::step`] (one uniform, inverse CDF over the stored successors),
    /// returned as the successor's position in [`TabularMdp::successors`]`(s, a)`, for callers
    /// that keep something per successor (a reward `r(s, a, s')`).
    pub fn step_index<R: Rng + ?Sized>(&self, s: usize, a: usize, rng: &mut R) -> usize {
        let succ = self.successors(s, a);
        let u: f64 = rng.random();
        sample_index(succ.iter().map(|&(_, q)| q), u).unwrap_or(succ.len() - 1)
    }

    /// Rolls out policy `pi` for `n_steps` steps from `start` into `out` (its buffers are reused):
    /// the visited states `s_0 = start, …, s_{T−1}` (the states an action was taken in), the
    /// rewards `r_0 + c, …, r_{T−1} + c`, `c = offset`, and the state `s_T` reached after the last
    /// step. Each step draws the action (one uniform), then the successor (one uniform).
    pub fn rollout_into<R: Rng + ?Sized>(
        &self,
        pi: &[f64],
        start: usize,
        n_steps: usize,
        offset: f64,
        rng: &mut R,
        out: &mut Trajectory,
    ) {
        let m = self.n_actions;
        out.states.clear();
        out.rewards.clear();
        let mut s = start;
        for _ in 0..n_steps {
            let a = sample_action(&pi[s * m..(s + 1) * m], rng);
            let (s_next, r) = self.step(s, a, rng);
            out.states.push(s);
            out.rewards.push(r + offset);
            s = s_next;
        }
        out.last = s;
    }

    /// Samples a start state from the distribution `start` (length `n_states`) and rolls out
    /// `n_steps` steps of `pi` (see [`TabularMdp::rollout_into`]); returns the trajectory.
    pub fn rollout<R: Rng + ?Sized>(
        &self,
        pi: &[f64],
        start: &[f64],
        n_steps: usize,
        offset: f64,
        rng: &mut R,
    ) -> Trajectory {
        let s0 = sample_action(start, rng);
        let mut t = Trajectory::with_capacity(n_steps);
        self.rollout_into(pi, s0, n_steps, offset, rng, &mut t);
        t
    }
}

/// A stored trajectory: states `s_0..s_{T−1}`, rewards `r_0..r_{T−1}` (offset included) and the
/// state `s_T` reached after the last step.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// `s_0, …, s_{T−1}`: the states an action was taken in.
    pub states: Vec<usize>,
    /// `r_0, …, r_{T−1}`, reward offset included.
    pub rewards: Vec<f64>,
    /// `s_T`, the state after the last step (not a training sample).
    pub last: usize,
}

impl Trajectory {
    /// An empty trajectory with room for `n_steps` steps.
    pub fn with_capacity(n_steps: usize) -> Self {
        Self {
            states: Vec::with_capacity(n_steps),
            rewards: Vec::with_capacity(n_steps),
            last: 0,
        }
    }
}

/// Index `k` with `Σ_{j<k} w_j ≤ u < Σ_{j≤k} w_j` (inverse CDF), `None` if `u` is beyond the total
/// (rounding): callers then take the last index with positive weight.
fn sample_index(weights: impl Iterator<Item = f64>, u: f64) -> Option<usize> {
    let mut acc = 0.0;
    for (k, w) in weights.enumerate() {
        acc += w;
        if u < acc {
            return Some(k);
        }
    }
    None
}

/// Samples an index from the probability vector `probs` with one uniform draw (inverse CDF);
/// rounding leftovers go to the last index with positive probability.
pub fn sample_action<R: Rng + ?Sized>(probs: &[f64], rng: &mut R) -> usize {
    let u: f64 = rng.random();
    sample_index(probs.iter().copied(), u).unwrap_or_else(|| {
        probs
            .iter()
            .rposition(|&p| p > 0.0)
            .unwrap_or(probs.len() - 1)
    })
}

/// ε-greedy policy on action values `q` (row-major, rows of `n_actions`):
/// `π(a|s) = ε/|A| + (1 − ε)·[a ∈ G(s)]/|G(s)|`, `G(s)` the greedy actions (values within
/// [`TIE_TOL`] of the row maximum; tied greedy actions share the greedy mass equally). ε is
/// spread over all actions, the greedy ones included (SPEC §4).
#[track_caller]
pub fn epsilon_greedy(q: &[f64], n_actions: usize, eps: f64) -> Vec<f64> {
    assert!(
        n_actions > 0 && q.len() % n_actions == 0,
        "q is not a table of n_actions columns"
    );
    let mut pi = Vec::with_capacity(q.len());
    for row in q.chunks_exact(n_actions) {
        let best = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let greedy = |x: f64| best - x <= TIE_TOL;
        let n_greedy = row.iter().filter(|&&x| greedy(x)).count() as f64;
        let base = eps / n_actions as f64;
        pi.extend(row.iter().map(|&x| {
            base + if greedy(x) {
                (1.0 - eps) / n_greedy
            } else {
                0.0
            }
        }));
    }
    pi
}

/// Truncated discounted returns to the end of the stored trajectory (SPEC §4, "All domains"):
/// `G_t = Σ_{j=t}^{T−1} γ^{j−t} r_j`, no bootstrap, computed backwards by
/// `G_{T−1} = r_{T−1}`, `G_t = r_t + γ G_{t+1}`.
pub fn discounted_returns(rewards: &[f64], gamma: f64) -> Vec<f64> {
    let mut g = vec![0.0; rewards.len()];
    discounted_returns_into(rewards, gamma, &mut g);
    g
}

/// [`discounted_returns`] written into `out` (same length as `rewards`).
#[track_caller]
pub fn discounted_returns_into(rewards: &[f64], gamma: f64, out: &mut [f64]) {
    assert_eq!(out.len(), rewards.len());
    let mut acc = 0.0;
    for (g, &r) in out.iter_mut().zip(rewards).rev() {
        acc = r + gamma * acc;
        *g = acc;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_small_table() {
        let r = [1.0, 2.0, 4.0];
        assert_eq!(discounted_returns(&r, 0.0), vec![1.0, 2.0, 4.0]);
        assert_eq!(
            discounted_returns(&r, 0.5),
            vec![1.0 + 1.0 + 1.0, 2.0 + 2.0, 4.0]
        );
        assert_eq!(discounted_returns(&r, 1.0), vec![7.0, 6.0, 4.0]);
        assert!(discounted_returns(&[], 0.9).is_empty());
    }

    #[test]
    fn epsilon_greedy_with_ties() {
        let pi = epsilon_greedy(&[1.0, 1.0 + 1e-12, 0.0, -1.0, 3.0, 2.0, 1.0, 0.0], 4, 0.2);
        let expect = [0.45, 0.45, 0.05, 0.05, 0.85, 0.05, 0.05, 0.05];
        for (p, e) in pi.iter().zip(expect) {
            assert!((p - e).abs() < 1e-15, "{pi:?}");
        }
        // All tied: uniform.
        assert_eq!(epsilon_greedy(&[2.0, 2.0], 2, 0.1), vec![0.5, 0.5]);
        // ε = 1: uniform regardless of values.
        assert_eq!(epsilon_greedy(&[0.0, 5.0], 2, 1.0), vec![0.5, 0.5]);
    }

    /// Two states, one action: 0 → 1 (reward 1), 1 → 1 (reward 0).
    fn two_state() -> TabularMdp {
        TabularMdp::from_dense(2, 1, &[0.0, 1.0, 0.0, 1.0], &[1.0, 0.0])
    }

    #[test]
    fn evaluate_by_hand() {
        let m = two_state();
        // V1 = c/(1−γ), V0 = 1 + c + γ V1.
        let v = m.evaluate(&[1.0, 1.0], 0.5, 2.0);
        assert!(
            (v[1] - 4.0).abs() < 1e-12 && (v[0] - 5.0).abs() < 1e-12,
            "{v:?}"
        );
        let (vs, q) = m.value_iteration(0.5, 1e-10);
        assert!((vs[0] - 1.0).abs() < 1e-9 && vs[1].abs() < 1e-9);
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn value_iteration_picks_best_action() {
        // One state, two self-loop actions with rewards 1 and 2: V* = 2/(1−γ).
        let m = TabularMdp::from_dense(1, 2, &[1.0, 1.0], &[1.0, 2.0]);
        let (v, q) = m.value_iteration(0.9, 1e-10);
        assert!((v[0] - 20.0).abs() < 1e-8);
        assert!((q[1] - 20.0).abs() < 1e-8 && (q[0] - 19.0).abs() < 1e-8);
    }

    #[test]
    fn rollout_adds_offset_and_follows_transitions() {
        let m = two_state();
        let mut rng = crate::rng::stream(1, crate::rng::Stream::TrainData);
        let t = m.rollout(&[1.0, 1.0], &[1.0, 0.0], 3, 0.5, &mut rng);
        assert_eq!(t.states, vec![0, 1, 1]);
        assert_eq!(t.rewards, vec![1.5, 0.5, 0.5]);
        assert_eq!(t.last, 1);
    }

    #[test]
    fn sampling_frequencies() {
        let mut rng = crate::rng::stream(3, crate::rng::Stream::TrainData);
        let probs = [0.2, 0.0, 0.5, 0.3];
        let mut counts = [0usize; 4];
        let n = 100_000;
        for _ in 0..n {
            counts[sample_action(&probs, &mut rng)] += 1;
        }
        assert_eq!(counts[1], 0);
        for (c, p) in counts.iter().zip(probs) {
            assert!((*c as f64 / n as f64 - p).abs() < 0.01, "{counts:?}");
        }
    }
}
