//! Summaries along training: one [`Stat`] per evaluation step over the runs of a configuration
//! (the learning curves of SPEC §6 and the learned discount of SPEC §8.2).

use super::Stat;
use crate::metrics::EvalRow;
use crate::record::RunRecord;

/// The statistics over `runs` of `metric` at every step that some run evaluated, ascending:
/// at step `t`, [`Stat::of`] the values `metric(x)` of each run's first evaluation `x` with
/// `x.timestep = t` (a run without one, or whose `metric` is `None` there, does not count).
pub fn per_timestep(
    runs: &[&RunRecord],
    metric: impl Fn(&EvalRow) -> Option<f64>,
) -> Vec<(usize, Stat)> {
    let mut steps: Vec<usize> = runs
        .iter()
        .flat_map(|r| r.rows.iter().map(|x| x.timestep))
        .collect();
    steps.sort_unstable();
    steps.dedup();
    steps
        .into_iter()
        .map(|t| {
            let v: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.rows.iter().find(|x| x.timestep == t))
                .filter_map(&metric)
                .collect();
            (t, Stat::of(&v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RunSettings;
    use crate::domain::DomainKind;
    use crate::param::ParamKind;
    use crate::train::Outcome;

    fn rec(seed: u64, rows: &[(usize, f64)]) -> RunRecord {
        let config = RunSettings {
            domain: Some(DomainKind::Chain),
            param: Some(ParamKind::Explicit),
            seed: Some(seed),
            ..RunSettings::default()
        }
        .resolve()
        .expect("valid");
        RunRecord {
            theta: None,
            config,
            outcome: Outcome::Finished,
            runtime_s: 0.0,
            rows: rows
                .iter()
                .map(|&(t, x)| EvalRow::from_residuals(t, &[x]))
                .collect(),
        }
    }

    #[test]
    fn every_step_of_some_run_over_the_runs_that_have_it() {
        let a = rec(0, &[(0, 1.0), (10, 3.0), (20, 5.0)]);
        // A run that stopped early: it counts only where it was evaluated.
        let b = rec(1, &[(0, 3.0), (10, 7.0)]);
        let s = per_timestep(&[&b, &a], |x| Some(x.residual_norm));
        assert_eq!(
            s.iter().map(|(t, s)| (*t, s.n, s.mean)).collect::<Vec<_>>(),
            [(0, 2, 2.0), (10, 2, 5.0), (20, 1, 5.0)]
        );
        // A metric absent at a step leaves that run out there.
        let s = per_timestep(&[&a, &b], |x| (x.timestep != 10).then_some(x.residual_norm));
        assert_eq!(s[1].1.n, 0);
        assert!(s[1].1.mean.is_nan());
    }
}
