//! A finite MDP from a TOML file (`--domain file:PATH`, SPEC §8.6; schema in docs/domains.md).
//!
//! Data: `[data] trajectories` rollouts of `policy` of at most `length` steps (a terminal state
//! ends one early), each step drawing the action then the successor with one uniform each (as
//! the chain and four rooms); the reward taken is `r(s, a)`, or `r(s, a, s')` of the drawn
//! successor when the file gives rewards per transition. The start state is drawn with `random_range(0..n)` when `start`
//! is omitted (uniform; the chain's draw) and by inverse CDF over `start` otherwise. `keep =
//! "first"` keeps each trajectory's first state with its truncated discounted return (the
//! chain), `"all"` every visited state (four rooms); `targets = td:N` keeps every transition.
//! Test set: every non-terminal state once, with the exact values
//! `V = (I − γP_π)⁻¹(r_π + c)` (`r_π(s) = Σ_a π(a|s) E[r | s, a]`, `E[r | s, a] =
//! Σ_{s'} P(s'|s, a) r(s, a, s')` for rewards per transition), terminal states held at value 0 (they are absorbing with
//! reward 0 and no offset: an episode has ended there).

pub mod schema;

use super::error::OwnError;
use super::tabular::{discounted_returns, discounted_returns_into, sample_action, TabularMdp};
use super::targets::{push_td_rows, Targets};
use crate::data::{Dataset, Problem};
use crate::rng::{stream, Stream};
use faer::linalg::solvers::Solve;
use faer::Mat;
use rand::Rng;
use schema::{index, matrix, probabilities, Msg};
use toml::Value;

/// Which visited states become training rows under `mc` targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Only each trajectory's first state (the chain).
    First,
    /// Every visited state (four rooms).
    All,
}

/// The `[data]` table: how training data are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DataSpec {
    /// Number of rollouts.
    pub trajectories: usize,
    /// Steps per rollout (fewer when a terminal state is reached).
    pub length: usize,
    /// Which states are kept under `mc` targets.
    pub keep: Keep,
}

/// A validated finite MDP with its evaluated policy, features and data settings.
#[derive(Debug, Clone)]
pub struct FileMdp {
    /// Environment discount `γ ∈ [0, 1)`.
    pub gamma: f64,
    /// States, actions, transitions and rewards; with rewards per transition its reward table
    /// holds their expectation `E[r | s, a] = Σ_{s'} P(s'|s, a) r(s, a, s')`.
    pub mdp: TabularMdp,
    /// Rewards per transition `r(s, a, s')` when the file gives them: for each pair
    /// `s·m + a`, one per stored successor, in the order of [`TabularMdp::successors`].
    pub next_rewards: Option<Vec<Vec<f64>>>,
    /// The evaluated policy, row-major `n × m`.
    pub policy: Vec<f64>,
    /// The start distribution; `None` is uniform (drawn as an integer).
    pub start: Option<Vec<f64>>,
    /// `terminal[s]`: `s` is absorbing with value 0 and ends a rollout.
    pub terminal: Vec<bool>,
    /// Feature dimension `k`.
    pub k: usize,
    /// Features, row-major `n × k`.
    pub features: Vec<f64>,
    /// How training data are drawn.
    pub data: DataSpec,
}

const KEYS: [&str; 10] = [
    "gamma",
    "states",
    "actions",
    "transitions",
    "rewards",
    "policy",
    "start",
    "terminal",
    "features",
    "data",
];

/// Largest number of states or actions accepted (a guard against typing mistakes).
pub const MAX_SIZE: i64 = 100_000;

impl FileMdp {
    /// Reads and validates the file at `path`; returns the MDP and the BLAKE3 hash (hex) of
    /// the bytes read.
    pub fn load(path: &str) -> Result<(FileMdp, String), OwnError> {
        let bytes = std::fs::read(path).map_err(|e| OwnError::new(path, e.to_string()))?;
        let hash = blake3::hash(&bytes).to_hex().to_string();
        let text = String::from_utf8(bytes).map_err(|_| OwnError::new(path, "not UTF-8 text"))?;
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e.span().map(|s| text[..s.start].lines().count().max(1));
            let msg = e.message().trim().to_string();
            OwnError::new(
                path,
                match line {
                    Some(l) => format!("line {l}: {msg}"),
                    None => msg,
                },
            )
        })?;
        let m = Self::from_table(&table).map_err(|msg| OwnError::new(path, msg))?;
        Ok((m, hash))
    }

    /// Validates a parsed file (SPEC §8.6); the error names the offending entry.
    pub fn from_table(t: &toml::Table) -> Result<FileMdp, Msg> {
        if let Some(k) = t.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(format!("unknown key `{k}` (allowed: {})", KEYS.join(", ")));
        }
        let req = |k: &str| t.get(k).ok_or_else(|| format!("missing key `{k}`"));
        let gamma = schema::number(req("gamma")?, "gamma", false)?;
        if !(0.0..1.0).contains(&gamma) {
            return Err(format!("gamma: {gamma} is outside [0, 1)"));
        }
        let n = schema::integer(req("states")?, "states", 1, MAX_SIZE)?;
        let m = schema::integer(req("actions")?, "actions", 1, MAX_SIZE)?;
        // Rewards and policy first: their numbers are in the file, so what is allocated for
        // them (and for the sparse transitions' n·m rows) is bounded by the file's size.
        // `r(s, a)`, or `r(s, a, s')` as `[s][a][s']` or as `r` in the sparse transitions.
        let dense_rewards = t
            .get("rewards")
            .map(|v| schema::rewards(v, n, m))
            .transpose()?;
        let policy_rows = schema::array(req("policy")?, "policy", n, "states")?;
        let mut policy = Vec::with_capacity(n * m);
        for (s, row) in policy_rows.iter().enumerate() {
            policy.extend(probabilities(row, &format!("policy[{s}]"), m, "actions")?);
        }
        // The dense n × n matrices of the exact values (P_π, I − γP_π and its LU) and of the
        // default one-hot features, before any is allocated.
        let dense = if t.contains_key("features") { 3.0 } else { 4.0 };
        crate::memory::check(
            dense * 8.0 * (n as f64) * (n as f64),
            &format!("states: {n} states (dense {n} × {n} matrices)"),
        )?;
        let (p, sparse_r) = schema::transitions(req("transitions")?, n, m)?;
        let mut r_sa = vec![0.0; n * m];
        let start = t
            .get("start")
            .map(|v| probabilities(v, "start", n, "states"))
            .transpose()?;
        let mut terminal = vec![false; n];
        if let Some(v) = t.get("terminal") {
            let list = v
                .as_array()
                .ok_or_else(|| format!("terminal: expected an array, found {}", v.type_str()))?;
            for (i, s) in list.iter().enumerate() {
                terminal[index(s, &format!("terminal[{i}]"), n, "states")?] = true;
            }
        }
        if terminal.iter().all(|&x| x) {
            return Err(
                "terminal: every state is terminal: no training rows and no test states".into(),
            );
        }
        let starts_live = match &start {
            None => true,
            Some(p) => p.iter().zip(&terminal).any(|(&q, &end)| q > 0.0 && !end),
        };
        if !starts_live {
            return Err(
                "start: every start state is terminal: no training rows (a rollout from a terminal state has no step)"
                    .into(),
            );
        }
        let (k, features) = match t.get("features") {
            Some(v) => {
                let first = v
                    .as_array()
                    .and_then(|a| a.first())
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                if first == 0 {
                    return Err("features: expected n rows of k >= 1 numbers".into());
                }
                (
                    first,
                    matrix(v, "features", n, first, "states", "features")?,
                )
            }
            None => {
                let mut f = vec![0.0; n * n];
                for s in (0..n).filter(|&s| !terminal[s]) {
                    f[s * n + s] = 1.0;
                }
                (n, f)
            }
        };
        let data = data_spec(t.get("data"))?;
        // Rewards per transition: the rewards of the successors kept (`P > 0`), in their order,
        // and their expectation per pair (summed in increasing `s'`).
        let next_rewards: Option<Vec<Vec<f64>>> = match (dense_rewards, sparse_r) {
            (Some(_), Some(_)) => {
                return Err(
                    "rewards: given twice, as `rewards` and as `r` in the sparse transitions"
                        .into(),
                )
            }
            (None, None) => return Err("missing key `rewards`".into()),
            (Some((r, false)), None) => {
                r_sa = r;
                None
            }
            (Some((r3, true)), None) => Some(
                p.iter()
                    .enumerate()
                    .map(|(row, succ)| succ.iter().map(|&(j, _)| r3[row * n + j]).collect())
                    .collect(),
            ),
            (None, Some(rs)) => Some(rs),
        };
        if let Some(rs) = &next_rewards {
            for ((mean, succ), rs) in r_sa.iter_mut().zip(&p).zip(rs) {
                *mean = succ.iter().zip(rs).map(|(&(_, q), r)| q * r).sum();
            }
        }
        let mdp = TabularMdp::from_successors(n, m, p, &r_sa);
        Ok(FileMdp {
            gamma,
            mdp,
            next_rewards,
            policy,
            start,
            terminal,
            k,
            features,
            data,
        })
    }

    /// One step from `(s, a)`: the successor drawn as [`TabularMdp::step`] draws it, with
    /// `r(s, a, s')` when the file gives rewards per transition, else `r(s, a)`.
    fn step(&self, s: usize, a: usize, rng: &mut impl Rng) -> (usize, f64) {
        match &self.next_rewards {
            None => self.mdp.step(s, a, rng),
            Some(nr) => {
                let i = self.mdp.step_index(s, a, rng);
                let pair = s * self.mdp.n_actions() + a;
                (self.mdp.successors(s, a)[i].0, nr[pair][i])
            }
        }
    }

    /// True when a seed may draw no training row at all: some start state of positive
    /// probability is terminal (a rollout from it has no step), so every trajectory may start
    /// there. (At least one start state is live: [`FileMdp::from_table`] refuses the rest.)
    pub fn may_have_no_rows(&self) -> bool {
        match &self.start {
            None => self.terminal.contains(&true),
            Some(p) => p
                .iter()
                .zip(&self.terminal)
                .any(|(&q, &end)| q > 0.0 && end),
        }
    }

    /// Number of states.
    pub fn n_states(&self) -> usize {
        self.mdp.n_states()
    }

    /// Feature row of state `s`.
    pub fn phi(&self, s: usize) -> &[f64] {
        &self.features[s * self.k..(s + 1) * self.k]
    }

    /// Exact policy values `V = (I − γP_π)⁻¹(r_π + c)` with terminal states held at 0 (their
    /// rows of `P_π` and `r_π + c` replaced by 0). Without terminal states this is
    /// [`TabularMdp::evaluate`] (the same LU, bit for bit).
    pub fn exact_values(&self, offset: f64) -> Vec<f64> {
        if !self.terminal.contains(&true) {
            return self.mdp.evaluate(&self.policy, self.gamma, offset);
        }
        let n = self.n_states();
        let (p, r) = self.mdp.policy_matrix(&self.policy);
        let live = |i: usize| f64::from(u8::from(!self.terminal[i]));
        let a = Mat::from_fn(n, n, |i, j| {
            f64::from(u8::from(i == j)) - self.gamma * live(i) * p[i * n + j]
        });
        let rhs = Mat::from_fn(n, 1, |i, _| live(i) * (r[i] + offset));
        let sol = a.partial_piv_lu().solve(&rhs);
        (0..n).map(|i| sol[(i, 0)]).collect()
    }

    /// The problem for `targets`, reward offset `offset` and run seed `seed` (module docs).
    pub fn problem(&self, targets: Targets, offset: f64, seed: u64) -> Problem {
        let n = self.n_states();
        let m = self.mdp.n_actions();
        let mut rng = stream(seed, Stream::TrainData);
        let mut train = Dataset::new(self.k);
        if targets != Targets::Mc {
            train = train.with_bootstrap();
        }
        let len = self.data.length;
        let (mut states, mut rewards) = (Vec::with_capacity(len), Vec::with_capacity(len));
        let mut returns = vec![0.0; len];
        let mut rows = Vec::new();
        for _ in 0..self.data.trajectories {
            let s0 = match &self.start {
                None => rng.random_range(0..n),
                Some(p) => sample_action(p, &mut rng),
            };
            states.clear();
            rewards.clear();
            let mut s = s0;
            for _ in 0..len {
                if self.terminal[s] {
                    break;
                }
                let a = sample_action(&self.policy[s * m..(s + 1) * m], &mut rng);
                let (next, r) = self.step(s, a, &mut rng);
                states.push(s);
                rewards.push(r + offset);
                s = next;
            }
            if states.is_empty() {
                continue;
            }
            match (targets, self.data.keep) {
                (Targets::Mc, Keep::First) => {
                    let g0 = discounted_returns(&rewards, self.gamma)[0];
                    train.push(self.phi(s0), g0);
                }
                (Targets::Mc, Keep::All) => {
                    let g = &mut returns[..rewards.len()];
                    discounted_returns_into(&rewards, self.gamma, g);
                    for (&x, &y) in states.iter().zip(g.iter()) {
                        train.push(self.phi(x), y);
                    }
                }
                (Targets::Td(steps), _) => {
                    rows.clear();
                    for &x in states.iter().chain([&s]) {
                        rows.extend_from_slice(self.phi(x));
                    }
                    let term: Vec<bool> = states
                        .iter()
                        .chain([&s])
                        .map(|&x| self.terminal[x])
                        .collect();
                    push_td_rows(&mut train, &rows, &rewards, &term, self.gamma, steps);
                }
            }
        }
        let values = self.exact_values(offset);
        let mut test = Dataset::new(self.k);
        for (s, v) in values
            .iter()
            .enumerate()
            .filter(|(s, _)| !self.terminal[*s])
        {
            test.push(self.phi(s), *v);
        }
        Problem {
            train,
            test,
            gamma: self.gamma,
        }
    }
}

/// The `[data]` table (every key optional: 50 trajectories of 100 steps, keep "all").
fn data_spec(v: Option<&Value>) -> Result<DataSpec, Msg> {
    let mut d = DataSpec {
        trajectories: 50,
        length: 100,
        keep: Keep::All,
    };
    let Some(v) = v else { return Ok(d) };
    let t = v
        .as_table()
        .ok_or_else(|| format!("data: expected a table, found {}", v.type_str()))?;
    for (key, v) in t {
        match key.as_str() {
            "trajectories" => {
                d.trajectories = schema::integer(v, "data.trajectories", 1, 10_000_000)?
            }
            "length" => d.length = schema::integer(v, "data.length", 1, 10_000_000)?,
            "keep" => {
                d.keep = match v.as_str() {
                    Some("first") => Keep::First,
                    Some("all") => Keep::All,
                    _ => return Err(format!("data.keep: {v} is not \"first\" or \"all\"")),
                }
            }
            other => {
                return Err(format!(
                    "data: unknown key `{other}` (allowed: trajectories, length, keep)"
                ))
            }
        }
    }
    Ok(d)
}
