//! Training targets (SPEC §8.5): Monte Carlo returns (the published protocol) or n-step TD
//! targets that bootstrap with the current value weights.
//!
//! An n-step row of a stored trajectory `s_0 … s_{T−1}` (rewards `r_0 … r_{T−1}`, offset
//! included, and the state `s_T` reached after the last step) is, for `x_t`,
//! `Σ_{i<N'} γ^i r_{t+i} + γ^{N'} φ(s_{t+N'})ᵀθ` with `N' = min(N, T − t)`; the bootstrap term
//! is dropped (its discount set to 0) when `s_{t+N'}` is a true termination, and kept when the
//! trajectory was merely cut. The reward part and the discount are fixed when the data are
//! built; `φ(s_{t+N'})ᵀθ` is evaluated with the current θ inside each minibatch gradient
//! ([`crate::train::minibatch_gradient`]): a semi-gradient method.

use crate::data::Dataset;
use serde::{Deserialize, Serialize};

/// Which targets the training rows carry (setting `targets`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub enum Targets {
    /// Truncated discounted returns to the end of the stored trajectory (published).
    #[default]
    Mc,
    /// `N`-step TD targets, `N ≥ 1` (`td:1` is TD(0)), on every transition.
    Td(usize),
}

impl Targets {
    /// The text form: `mc` or `td:N`.
    pub fn text(self) -> String {
        match self {
            Targets::Mc => "mc".to_string(),
            Targets::Td(n) => format!("td:{n}"),
        }
    }

    /// Parses `mc` or `td:N` with `N ≥ 1`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s == "mc" {
            return Some(Targets::Mc);
        }
        let n: usize = s.strip_prefix("td:")?.trim().parse().ok()?;
        (n >= 1 && i64::try_from(n).is_ok()).then_some(Targets::Td(n))
    }
}

impl std::fmt::Display for Targets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text())
    }
}

/// Appends the `n`-step TD rows of one stored trajectory to `data` (which must carry a
/// bootstrap part, [`Dataset::with_bootstrap`]).
///
/// `states_x` holds the feature rows of `s_0 … s_T` (`T + 1` rows of `data.k`), `rewards` the
/// `T` rewards (offset included), `terminal[j]` whether `s_j` is a true termination (its
/// bootstrap is dropped). One row per `t < T`: target part `Σ_{i<N'} γ^i r_{t+i}`, bootstrap
/// row `s_{t+N'}`, discount `γ^{N'}` or 0.
#[track_caller]
pub fn push_td_rows(
    data: &mut Dataset,
    states_x: &[f64],
    rewards: &[f64],
    terminal: &[bool],
    gamma: f64,
    n: usize,
) {
    let k = data.k;
    let t_len = rewards.len();
    assert_eq!(states_x.len(), (t_len + 1) * k, "need the rows of s_0..s_T");
    assert_eq!(
        terminal.len(),
        t_len + 1,
        "need a termination flag per state"
    );
    let base = data.push_bootstrap_states(states_x);
    for t in 0..t_len {
        let steps = n.min(t_len - t);
        let mut part = 0.0;
        let mut disc = 1.0;
        for &r in &rewards[t..t + steps] {
            part += disc * r;
            disc *= gamma;
        }
        let j = t + steps;
        let discount = if terminal[j] { 0.0 } else { disc };
        data.push_td(&states_x[t * k..(t + 1) * k], part, base + j, discount);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_refuses_zero() {
        for t in [Targets::Mc, Targets::Td(1), Targets::Td(17)] {
            assert_eq!(Targets::parse(&t.text()), Some(t));
        }
        for bad in ["td:0", "td:", "td:-1", "td", "mc:1", "TD:1", "td:1.5"] {
            assert_eq!(Targets::parse(bad), None, "{bad}");
        }
    }

    /// A trajectory of 4 steps on scalar features `x_j = j + 1`, γ = 0.5, rewards 1, 2, 3, 4.
    fn short(terminated: bool, n: usize) -> Dataset {
        let mut d = Dataset::new(1).with_bootstrap();
        let xs = [1.0, 2.0, 3.0, 4.0, 5.0];
        let term = [false, false, false, false, terminated];
        push_td_rows(&mut d, &xs, &[1.0, 2.0, 3.0, 4.0], &term, 0.5, n);
        d
    }

    #[test]
    fn n_step_targets_by_hand() {
        let theta = [10.0];
        // Two-step targets with a cut trajectory: the last rows bootstrap from s_4 = 5.
        let d = short(false, 2);
        let targets: Vec<f64> = (0..4).map(|i| d.target(i, &theta)).collect();
        // t=0: 1 + 0.5·2 + 0.25·30 ; t=1: 2 + 1.5 + 0.25·40 ; t=2: 3 + 2 + 0.25·50 ; t=3: 4 + 0.5·50.
        assert_eq!(targets, vec![9.5, 13.5, 17.5, 29.0]);
        // Terminated: the bootstrap from s_4 is dropped, not the earlier ones.
        let d = short(true, 2);
        let targets: Vec<f64> = (0..4).map(|i| d.target(i, &theta)).collect();
        assert_eq!(targets, vec![9.5, 13.5, 5.0, 4.0]);
        // N larger than the trajectory: Monte Carlo returns plus a bootstrap at the cut.
        let d = short(false, 9);
        assert_eq!(d.target(0, &[0.0]), 1.0 + 1.0 + 0.75 + 0.5);
        assert_eq!(d.target(0, &theta), 3.25 + 0.0625 * 50.0);
    }
}
