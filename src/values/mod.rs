//! What a run learned, in pictures (`imprl values`): the predicted values `V̂ = Φθ̂` against
//! the true ones, and the learned model `σ(F)` against the true transition matrix of the data
//! policy `P^π` (SPEC §1, §4), from the arrays of [`crate::saved`] (a fresh run or a saved
//! `.npz`).
//!
//! - [`Learned`]: one run's arrays, read back by name;
//! - [`Truth`]: what is exactly known of a domain in its feature coordinates (`P^π`, `r^π`,
//!   `V^π` for one-hot tabular domains);
//! - [`draw`]: the figures with their CSV tables.

mod draw;

pub use draw::{draw, DrawnFiles};

use crate::config::{RunConfig, RunSettings};
use crate::domain::{chain, four_rooms, own, DomainKind};
use crate::npz::{ArrayData, NamedArray};
use crate::param::ParamKind;

/// A run's arrays (those of [`crate::saved::arrays`]) read back for drawing.
#[derive(Debug, Clone)]
pub struct Learned {
    /// The run's settings.
    pub cfg: RunConfig,
    /// Updates done at each checkpoint (one entry without checkpoints).
    pub steps: Vec<usize>,
    /// `θ̂` at each checkpoint (`k` each).
    pub theta: Vec<Vec<f64>>,
    /// The logits `F` at each checkpoint (`k·m·k` each, row-major `(k, m, k)`; `m = 1`: `k × k`),
    /// for an implicit model.
    pub logits: Option<Vec<Vec<f64>>>,
    /// Pseudo-actions `m` of the logits.
    pub m: usize,
    /// `w` at each checkpoint (`k·m`), for an implicit model.
    pub w: Option<Vec<Vec<f64>>>,
    /// `η` (the first entry of the saved `eta`), for an implicit model.
    pub eta: Option<f64>,
    /// Feature dimension `k`.
    pub k: usize,
    /// The test set's features (`n × k`, row-major).
    pub features_test: Vec<f64>,
    /// The test set's targets (`n`).
    pub targets_test: Vec<f64>,
    /// `V̂` on the test set at each checkpoint (`n` each).
    pub values_test: Vec<Vec<f64>>,
    /// The update at which the run diverged, if it did.
    pub diverged_at: Option<usize>,
}

/// An array that is missing or has the wrong shape.
fn bad(name: &str, why: &str) -> String {
    format!("array `{name}`: {why}")
}

fn find<'a>(arrays: &'a [NamedArray], name: &str) -> Option<&'a NamedArray> {
    arrays.iter().find(|a| a.name == name)
}

/// The `c` checkpoints of array `name` of trailing size `inner` (shape `(c, …)` with checkpoints,
/// `(…)` without).
fn stacked(
    arrays: &[NamedArray],
    name: &str,
    c: usize,
    checkpoints: bool,
    inner: usize,
) -> Result<Option<Vec<Vec<f64>>>, String> {
    let Some(a) = find(arrays, name) else {
        return Ok(None);
    };
    let v = a.as_f64().ok_or_else(|| bad(name, "not float64"))?;
    if checkpoints && a.shape.first() != Some(&c) {
        return Err(bad(name, "its leading axis is not the checkpoints'"));
    }
    if v.len() != c * inner {
        return Err(bad(
            name,
            &format!("{} values, {} expected", v.len(), c * inner),
        ));
    }
    Ok(Some(v.chunks(inner.max(1)).map(<[f64]>::to_vec).collect()))
}

impl Learned {
    /// Reads the arrays of a run (as [`crate::saved::arrays`] writes them); the error names the
    /// array that is missing or malformed.
    pub fn from_arrays(arrays: &[NamedArray]) -> Result<Learned, String> {
        let settings = match find(arrays, "settings").map(|a| &a.data) {
            Some(ArrayData::Text(t)) => t.clone(),
            _ => return Err(bad("settings", "missing")),
        };
        let table: toml::Table = settings
            .parse()
            .map_err(|e| bad("settings", &format!("not TOML: {e}")))?;
        let cfg = RunSettings::from_toml_table(&table)
            .and_then(|s| s.resolve())
            .map_err(|e| bad("settings", &e.to_string()))?;
        let steps: Vec<usize> = match find(arrays, "timestep").map(|a| (&a.data, &a.shape)) {
            Some((ArrayData::I64(v), shape)) => {
                if v.iter().any(|&s| s < 0) {
                    return Err(bad("timestep", "negative"));
                }
                let s: Vec<usize> = v.iter().map(|&s| s as usize).collect();
                if shape.is_empty() && s.len() != 1 {
                    return Err(bad("timestep", "not a scalar"));
                }
                s
            }
            _ => return Err(bad("timestep", "missing or not integer")),
        };
        let checkpoints = find(arrays, "timestep").is_some_and(|a| !a.shape.is_empty());
        let c = steps.len();
        let ft = find(arrays, "features_test").ok_or_else(|| bad("features_test", "missing"))?;
        let (n, k) = match ft.shape[..] {
            [n, k] if k > 0 => (n, k),
            _ => return Err(bad("features_test", "not of shape (n, k)")),
        };
        let features_test = ft
            .as_f64()
            .ok_or_else(|| bad("features_test", "not float64"))?
            .to_vec();
        let targets_test = find(arrays, "targets_test")
            .and_then(NamedArray::as_f64)
            .ok_or_else(|| bad("targets_test", "missing"))?
            .to_vec();
        if targets_test.len() != n || features_test.len() != n * k {
            return Err(bad("targets_test", "does not match features_test"));
        }
        let theta =
            stacked(arrays, "theta", c, checkpoints, k)?.ok_or_else(|| bad("theta", "missing"))?;
        let values_test = stacked(arrays, "values_test", c, checkpoints, n)?
            .ok_or_else(|| bad("values_test", "missing"))?;
        let m = match find(arrays, "logits").map(|a| a.shape.len() - usize::from(checkpoints)) {
            Some(3) => find(arrays, "logits").map_or(1, |a| a.shape[a.shape.len() - 2]),
            _ => 1,
        };
        let logits = stacked(arrays, "logits", c, checkpoints, k * m * k)?;
        let w = stacked(arrays, "w", c, checkpoints, k * m)?;
        let eta = find(arrays, "eta")
            .and_then(NamedArray::as_f64)
            .and_then(|v| v.first().copied());
        let diverged_at = match find(arrays, "diverged_at").map(|a| &a.data) {
            Some(ArrayData::I64(v)) => v.first().and_then(|&s| usize::try_from(s).ok()),
            _ => None,
        };
        Ok(Learned {
            cfg,
            steps,
            theta,
            logits,
            m,
            w,
            eta,
            k,
            features_test,
            targets_test,
            values_test,
            diverged_at,
        })
    }

    /// The parameterization's name, as the figures label it.
    pub fn label(&self) -> &'static str {
        if self.cfg.param == ParamKind::Implicit && self.cfg.actions > 1 {
            "implicit (family)"
        } else {
            self.cfg.param.name()
        }
    }

    /// Number of test states.
    pub fn n(&self) -> usize {
        self.targets_test.len()
    }

    /// `σ(F)` of pseudo-action `a` at checkpoint `c` (row-major `k × k`), for an implicit model.
    pub fn model(&self, c: usize, a: usize) -> Option<Vec<f64>> {
        let f = self.logits.as_ref()?.get(c)?;
        let (k, m) = (self.k, self.m);
        let mut s = vec![0.0; k * k];
        for i in 0..k {
            let row = &f[(i * m + a) * k..(i * m + a + 1) * k];
            softmax_into(row, &mut s[i * k..(i + 1) * k]);
        }
        Some(s)
    }
}

/// `out = softmax(row)` (the maximum subtracted first).
pub fn softmax_into(row: &[f64], out: &mut [f64]) {
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut z = 0.0;
    for (o, &x) in out.iter_mut().zip(row) {
        *o = (x - max).exp();
        z += *o;
    }
    out.iter_mut().for_each(|o| *o /= z);
}

/// What is exactly known of a tabular domain with one-hot features, in feature coordinates
/// (feature `i` = state `i`, SPEC §4): the data policy's transition matrix `P^π` (`k × k`), its
/// rewards `r^π` (offset included) and values `V^π`, with `V^π = r^π + γP^πV^π` exactly.
///
/// Four rooms' terminal state has no feature (its feature row is 0): the goal's row, all of
/// whose mass goes to the terminal state, is taken as a self-loop, and `r^π` at the goal as
/// `(1 − γ)V^π(goal)`, so that the identity holds on the 121 cells. The same for the terminal
/// states of a file MDP (value 0).
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    /// Feature dimension `k` (= states with a feature).
    pub k: usize,
    /// `P^π` in feature coordinates, row-major `k × k`; rows sum to 1 unless [`Truth::note`]
    /// says otherwise (a file MDP's rows leaking to featureless terminal states).
    pub p: Vec<f64>,
    /// `r^π + c` (length `k`).
    pub r: Vec<f64>,
    /// `V^π` (length `k`).
    pub v: Vec<f64>,
    /// The discount `γ`.
    pub gamma: f64,
    /// What was done to make `P^π` a stochastic matrix in feature coordinates, if anything.
    pub note: Option<String>,
}

impl Truth {
    /// True when every row of `p` sums to 1 (to 1e-12): then it has a stationary distribution.
    pub fn is_stochastic(&self) -> bool {
        self.p
            .chunks(self.k.max(1))
            .all(|row| (row.iter().sum::<f64>() - 1.0).abs() < 1e-12)
    }

    /// The truth of run `cfg`'s domain at its offset, when it is a tabular domain with one-hot
    /// features and no bias feature (chain, four rooms, a file MDP whose features are the
    /// identity); `None` otherwise.
    pub fn of(cfg: &RunConfig) -> Option<Truth> {
        let spec = cfg.domain_spec();
        if spec.bias {
            return None;
        }
        let c = cfg.offset;
        match spec.kind {
            DomainKind::Chain => {
                let (p, r) = chain::mdp().policy_matrix(&chain::policy());
                let r = r.iter().map(|x| x + c).collect();
                Some(Truth {
                    k: chain::N_STATES,
                    p,
                    r,
                    v: chain::exact_values(c),
                    gamma: DomainKind::Chain.gamma(),
                    note: None,
                })
            }
            DomainKind::FourRooms => {
                let mdp = four_rooms::mdp(spec.slip);
                let (p, _) = mdp.policy_matrix(&four_rooms::policy(spec.slip));
                let v = four_rooms::exact_values(spec.slip, c)[..four_rooms::N_CELLS].to_vec();
                let goal = four_rooms::cell(four_rooms::GOAL.0, four_rooms::GOAL.1);
                Some(Truth::restricted(
                    &p,
                    four_rooms::N_STATES,
                    four_rooms::N_CELLS,
                    &[goal],
                    v,
                    DomainKind::FourRooms.gamma(),
                    "the goal's row (to the terminal state, which has no feature) taken as a self-loop",
                ))
            }
            DomainKind::File(name) => {
                let Ok(entry) = own::load(name) else {
                    return None;
                };
                let own::Loaded::File(f) = &entry.loaded else {
                    return None;
                };
                file_truth(f, c)
            }
            _ => None,
        }
    }

    /// The first `k` of `n` states of `p` (`n × n`), the rows of `loops` made self-loops, `r`
    /// from `V = r + γPV`.
    fn restricted(
        p: &[f64],
        n: usize,
        k: usize,
        loops: &[usize],
        v: Vec<f64>,
        gamma: f64,
        note: &str,
    ) -> Truth {
        let mut q = vec![0.0; k * k];
        for i in 0..k {
            if loops.contains(&i) {
                q[i * k + i] = 1.0;
            } else {
                q[i * k..(i + 1) * k].copy_from_slice(&p[i * n..i * n + k]);
            }
        }
        let r = (0..k)
            .map(|i| v[i] - gamma * crate::data::dot(&q[i * k..(i + 1) * k], &v))
            .collect();
        Truth {
            k,
            p: q,
            r,
            v,
            gamma,
            note: (!loops.is_empty()).then(|| note.to_string()),
        }
    }
}

/// The truth of a file MDP whose feature rows are one-hot or zero: every state with a feature
/// has its own (a bijection onto the `k` features), states without one are terminal. Rows of
/// terminal states, and rows all of whose mass goes to featureless states, are taken as
/// self-loops, as are features no state has (value 0); a row with part of its mass going to featureless (terminal, value 0) states
/// keeps that mass out (it sums to less than 1).
fn file_truth(f: &crate::domain::file::FileMdp, c: f64) -> Option<Truth> {
    let (n, k) = (f.n_states(), f.k);
    let mut feature = vec![None; n];
    let mut state = vec![None; k];
    for (s, slot) in feature.iter_mut().enumerate() {
        let row = f.phi(s);
        let ones: Vec<usize> = (0..k).filter(|&j| row[j] == 1.0).collect();
        let zeros = row.iter().filter(|&&x| x == 0.0).count();
        match (ones.as_slice(), zeros) {
            ([j], z) if z == k - 1 && state[*j].is_none() => {
                state[*j] = Some(s);
                *slot = Some(*j);
            }
            ([], z) if z == k && f.terminal[s] => {}
            _ => return None,
        }
    }
    let (p, _) = f.mdp.policy_matrix(&f.policy);
    let values = f.exact_values(c);
    // A feature no state has (the default features' column of a terminal state): value 0.
    let v: Vec<f64> = state.iter().map(|s| s.map_or(0.0, |s| values[s])).collect();
    let mut q = vec![0.0; k * k];
    let mut loops = 0;
    let mut leaks = 0;
    for (i, s) in state.iter().enumerate() {
        let row = &mut q[i * k..(i + 1) * k];
        if let Some(s) = s.filter(|&s| !f.terminal[s]) {
            for (t, ft) in feature.iter().enumerate() {
                if let Some(j) = ft {
                    row[*j] += p[s * n + t];
                }
            }
        }
        let mass: f64 = row.iter().sum();
        if mass == 0.0 {
            row[i] = 1.0;
            loops += 1;
        } else if mass < 1.0 - 1e-12 {
            leaks += 1;
        }
    }
    let r = (0..k)
        .map(|i| v[i] - f.gamma * crate::data::dot(&q[i * k..(i + 1) * k], &v))
        .collect();
    let mut notes = Vec::new();
    if loops > 0 {
        notes.push(format!(
            "{loops} rows (terminal or unused, or all to terminal states) taken as self-loops"
        ));
    }
    if leaks > 0 {
        notes.push(format!(
            "{leaks} rows sum to less than 1 (part of their mass goes to terminal states without a feature)"
        ));
    }
    Some(Truth {
        k,
        p: q,
        r,
        v,
        gamma: f.gamma,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    })
}

/// The mean over rows of the total-variation distance `½‖a_i − b_i‖₁` of two row-stochastic
/// `k × k` matrices.
pub fn mean_row_tv(a: &[f64], b: &[f64], k: usize) -> f64 {
    let total: f64 = a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum();
    0.5 * total / k as f64
}

/// Euclidean norm of `a − b`.
pub fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// The eigenvalues of a square `k × k` matrix (row-major), largest modulus first, as
/// `(re, im)`; empty when the eigensolver fails.
pub fn eigenvalues(s: &[f64], k: usize) -> Vec<(f64, f64)> {
    let m = faer::Mat::from_fn(k, k, |i, j| s[i * k + j]);
    let mut ev: Vec<(f64, f64)> = m
        .eigenvalues()
        .map(|v| v.iter().map(|z| (z.re, z.im)).collect())
        .unwrap_or_default();
    ev.sort_by(|a, b| (b.0.hypot(b.1)).total_cmp(&a.0.hypot(a.1)));
    ev
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truths_satisfy_their_bellman_equation() {
        for domain in ["chain", "four-rooms"] {
            for offset in [0.0, 1.0] {
                let mut s = RunSettings::default();
                s.set("domain", crate::config::Raw::Text(domain))
                    .expect("domain");
                s.set("param", crate::config::Raw::Text("implicit"))
                    .expect("param");
                let text = offset.to_string();
                s.set("offset", crate::config::Raw::Text(&text))
                    .expect("offset");
                let cfg = s.resolve().expect("resolves");
                let t = Truth::of(&cfg).expect("tabular");
                let k = t.k;
                for i in 0..k {
                    let row = &t.p[i * k..(i + 1) * k];
                    assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12, "row {i}");
                    let bell = t.r[i] + t.gamma * crate::data::dot(row, &t.v);
                    assert!((bell - t.v[i]).abs() < 1e-12 * (1.0 + t.v[i].abs()));
                }
                // Away from the goal, r^π is the policy's expected reward plus the offset.
                assert!(
                    (t.r[0] - offset).abs() < 1e-9,
                    "{domain} {offset}: {}",
                    t.r[0]
                );
            }
        }
    }

    /// A file MDP with a terminal state (default one-hot features: the terminal's column is
    /// unused): state 0 goes to 1 or to the terminal, 1 always to the terminal; the truth's
    /// Bellman equation holds on the exact values, row 0 leaks half its mass, row 1 (all to the
    /// terminal) and the unused feature are self-loops.
    #[test]
    fn a_file_mdp_with_a_terminal_state_has_its_truth() {
        let t: toml::Table = r#"
gamma = 0.8
states = 3
actions = 1
terminal = [2]
transitions = [
  { s = 0, a = 0, next = 1, p = 0.5 }, { s = 0, a = 0, next = 2, p = 0.5 },
  { s = 1, a = 0, next = 2, p = 1.0 }, { s = 2, a = 0, next = 2, p = 1.0 },
]
rewards = [[1.0], [2.0], [0.0]]
policy = [[1.0], [1.0], [1.0]]
[data]
trajectories = 5
length = 4
"#
        .parse()
        .expect("toml");
        let f = crate::domain::file::FileMdp::from_table(&t).expect("valid");
        let truth = file_truth(&f, 0.5).expect("one-hot");
        assert_eq!(truth.k, 3);
        // V(1) = 2.5, V(0) = 1.5 + 0.8 · 0.5 · 2.5 = 2.5.
        assert!((truth.v[1] - 2.5).abs() < 1e-12 && (truth.v[0] - 2.5).abs() < 1e-12);
        assert_eq!(truth.p, [0.0, 0.5, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
        assert!(!truth.is_stochastic());
        for i in 0..3 {
            let row = &truth.p[i * 3..(i + 1) * 3];
            let bell = truth.r[i] + truth.gamma * crate::data::dot(row, &truth.v);
            assert!((bell - truth.v[i]).abs() < 1e-12, "row {i}");
        }
        assert!((truth.r[0] - 1.5).abs() < 1e-12, "r(0) = reward + offset");
    }

    #[test]
    fn eigenvalues_of_a_permutation_lie_on_the_unit_circle() {
        // The 3-cycle: eigenvalues are the cube roots of unity.
        let p = [0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0];
        let ev = eigenvalues(&p, 3);
        assert_eq!(ev.len(), 3);
        for (re, im) in ev {
            assert!((re.hypot(im) - 1.0).abs() < 1e-12);
        }
        assert_eq!(mean_row_tv(&p, &p, 3), 0.0);
        let id = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        assert_eq!(mean_row_tv(&p, &id, 3), 1.0);
    }
}
