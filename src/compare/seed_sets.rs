//! Is a group-wide shift a seed-set effect? (issue 5)
//!
//! Both sides run every configuration with one fixed set of seeds (ours `0..n`; the published job
//! logs reuse their 20 seeds across configurations), and a seed fixes a run's data set and
//! initialization. So the configurations of a domain × parameterization are not independent
//! comparisons: a seed set whose data happen to be hard raises every configuration at once, and
//! the per-configuration z values move together.
//!
//! With more seeds on our side than the published set has, the published set can be put among
//! ours. Split our seeds of every configuration into disjoint sets of the published size `m`
//! (in seed order) and compute, for each set `b`,
//! `T_b = mean over configurations of (mean_b − mean_rest)/√(sd_b²/m + sd_rest²/n_rest)`, the
//! shift of that set against all our other seeds; and for the published set
//! `T_pub = mean over configurations of (mean_pub − mean_all)/√(sd_pub²/m + sd_all²/n_all)`.
//! If `T_pub` lies within the spread of the `T_b`, the published shift is what any set of `m`
//! seeds shows: a seed-set effect, not a difference of implementation. Only configurations where
//! no run diverged on either side take part (the final `‖r‖` of a diverged run does not exist).

use super::{welch, ConfigKey, SideStats};
use crate::domain::DomainKind;
use crate::param::ParamKind;
use crate::stats::Stat;
use std::collections::BTreeMap;

/// The seed-set check of one domain × parameterization on the final `‖r‖`.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedSetCheck {
    /// Domain.
    pub domain: DomainKind,
    /// Parameterization.
    pub param: ParamKind,
    /// Seeds per set: the smallest published number of runs of the configurations used.
    pub set_size: usize,
    /// Configurations used (no divergence on either side, enough seeds on ours).
    pub configs: usize,
    /// `T_b` of each of our disjoint seed sets, in seed order.
    pub ours: Vec<f64>,
    /// `T_pub` of the published seed set.
    pub published: f64,
}

impl SeedSetCheck {
    /// Share of our seed sets whose shift is at least as large as the published one
    /// (`|T_b| ≥ |T_pub|`): near 0 when the published set stands out, large when it does not.
    pub fn share_as_extreme(&self) -> f64 {
        let n = self
            .ours
            .iter()
            .filter(|t| t.abs() >= self.published.abs())
            .count();
        n as f64 / self.ours.len() as f64
    }

    /// Mean and standard deviation of our sets' shifts.
    pub fn spread(&self) -> Stat {
        Stat::of(&self.ours)
    }
}

/// Our final `‖r‖` per configuration and seed; `None` for a run that diverged.
pub type PerSeed = BTreeMap<ConfigKey, BTreeMap<u64, Option<f64>>>;

/// The seed-set check of every domain × parameterization where our side has at least two full
/// seed sets of the published size in every usable configuration.
pub fn check(ours: &PerSeed, theirs: &BTreeMap<ConfigKey, SideStats>) -> Vec<SeedSetCheck> {
    // Per group: each usable configuration's finals (our seeds in order) and published side.
    type Usable<'a> = Vec<(Vec<f64>, &'a SideStats)>;
    let mut groups: BTreeMap<(DomainKind, ParamKind), Usable> = BTreeMap::new();
    for (key, seeds) in ours {
        let Some(t) = theirs.get(key) else { continue };
        let finals: Option<Vec<f64>> = seeds.values().copied().collect();
        match finals {
            Some(v) if !t.any_diverged() && t.final_norm.known_sd().is_some() => groups
                .entry((key.kind(), key.param))
                .or_default()
                .push((v, t)),
            _ => {}
        }
    }
    groups
        .into_iter()
        .filter_map(|((domain, param), configs)| {
            let set_size = configs.iter().map(|(_, t)| t.final_norm.n).min()?;
            let sets = configs.iter().map(|(v, _)| v.len()).min()? / set_size.max(1);
            if set_size < 2 || sets < 2 {
                return None;
            }
            let ours = (0..sets)
                .map(|b| {
                    mean(configs.iter().map(|(v, _)| {
                        let range = b * set_size..(b + 1) * set_size;
                        let rest: Vec<f64> = v
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| !range.contains(i))
                            .map(|(_, &x)| x)
                            .collect();
                        shift(Stat::of(&v[range]), Stat::of(&rest))
                    }))
                })
                .collect();
            let published = mean(
                configs
                    .iter()
                    .map(|(v, t)| shift(t.final_norm, Stat::of(v))),
            );
            Some(SeedSetCheck {
                domain,
                param,
                set_size,
                configs: configs.len(),
                ours,
                published,
            })
        })
        .collect()
}

/// `(mean_a − mean_b)/√(sd_a²/n_a + sd_b²/n_b)` ([`welch`]'s z; 0 when both are constant and
/// equal).
fn shift(a: Stat, b: Stat) -> f64 {
    welch(a, b).z.unwrap_or(f64::NAN)
}

/// One line per check: the published shift, our sets' shifts and how many are as extreme.
pub fn render(checks: &[SeedSetCheck]) -> String {
    let mut s = String::new();
    if checks.is_empty() {
        return s;
    }
    s.push_str("seed sets (final ‖r‖; mean over configurations of the shift of a seed set against the other seeds, in combined se):\n");
    for c in checks {
        let sp = c.spread();
        s.push_str(&format!(
            "  {} {}: published set {:+.2}; our {} sets of {} seeds {:+.2} ± {:.2} (min {:+.2}, max {:+.2}); {:.0}% of ours shifted as much ({} configurations)\n",
            c.domain.name(),
            c.param.name(),
            c.published,
            c.ours.len(),
            c.set_size,
            sp.mean,
            sp.sd,
            c.ours.iter().copied().fold(f64::INFINITY, f64::min),
            c.ours.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            100.0 * c.share_as_extreme(),
            c.configs,
        ));
    }
    s
}

/// Writes the checks as CSV: one row per seed set (`set` = its index, or `published`).
pub fn write_csv(checks: &[SeedSetCheck], out: impl std::io::Write) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "domain",
        "param",
        "set",
        "first_seed_index",
        "set_size",
        "configs",
        "shift",
    ])?;
    for c in checks {
        let (d, p) = (c.domain.name(), c.param.name());
        let (size, n) = (c.set_size.to_string(), c.configs.to_string());
        for (b, t) in c.ours.iter().enumerate() {
            let first = (b * c.set_size).to_string();
            w.write_record([d, p, &b.to_string(), &first, &size, &n, &t.to_string()])?;
        }
        w.write_record([d, p, "published", "", &size, &n, &c.published.to_string()])?;
    }
    w.flush()?;
    Ok(())
}

fn mean(x: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = x.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    s / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::ConfigKey;

    fn key(lr: f64) -> ConfigKey {
        ConfigKey::published(DomainKind::Chain, ParamKind::Explicit, 0.8, lr, 0.3, 25)
    }

    fn side(mean: f64, sd: f64, n: usize) -> SideStats {
        let m = Stat { n, mean, sd };
        SideStats {
            runs: n,
            diverged: Some(0),
            failed: 0,
            final_norm: m,
            init_ones: m,
            init_ortho: m,
            runtime_s: 1.0,
        }
    }

    /// Three sets of two seeds: set shifts and the published shift by hand.
    #[test]
    fn shifts_of_seed_sets_by_hand() {
        let finals = [1.0, 3.0, 2.0, 2.0, 5.0, 7.0];
        let ours: PerSeed = [(
            key(1.0),
            finals
                .iter()
                .enumerate()
                .map(|(s, &v)| (s as u64, Some(v)))
                .collect(),
        )]
        .into();
        let theirs = [(key(1.0), side(4.0, 2.0, 2))].into();
        let c = check(&ours, &theirs);
        assert_eq!(c.len(), 1);
        let c = &c[0];
        assert_eq!((c.set_size, c.configs), (2, 1));
        let z = |a: &[f64], b: &[f64]| shift(Stat::of(a), Stat::of(b));
        let expect = [
            z(&[1.0, 3.0], &[2.0, 2.0, 5.0, 7.0]),
            z(&[2.0, 2.0], &[1.0, 3.0, 5.0, 7.0]),
            z(&[5.0, 7.0], &[1.0, 3.0, 2.0, 2.0]),
        ];
        for (a, b) in c.ours.iter().zip(expect) {
            assert!((a - b).abs() < 1e-12, "{a} {b}");
        }
        // Published: mean 4, sd 2, n 2 against ours: mean 10/3, sd of the six values.
        let all = Stat::of(&finals);
        let se = (4.0 / 2.0 + all.sd * all.sd / 6.0).sqrt();
        assert!((c.published - (4.0 - all.mean) / se).abs() < 1e-12);
        // Every set of ours is shifted more than the published one (|T_pub| ≈ 0.40)...
        assert_eq!(c.share_as_extreme(), 1.0, "{c:?}");
        // ...and none as much as a published set with mean 20.
        let far = [(key(1.0), side(20.0, 2.0, 2))].into();
        assert_eq!(check(&ours, &far)[0].share_as_extreme(), 0.0);
    }

    /// Fewer than two full sets, or a diverged run, leave a group out.
    #[test]
    fn groups_without_two_sets_or_with_divergence_are_left_out() {
        let theirs: BTreeMap<_, _> = [(key(1.0), side(4.0, 2.0, 3))].into();
        let five: PerSeed = [(key(1.0), (0..5).map(|s| (s, Some(s as f64))).collect())].into();
        assert!(check(&five, &theirs).is_empty());
        let mut six: PerSeed = [(key(1.0), (0..6).map(|s| (s, Some(s as f64))).collect())].into();
        assert_eq!(check(&six, &theirs).len(), 1);
        six.get_mut(&key(1.0)).unwrap().insert(2, None);
        assert!(check(&six, &theirs).is_empty());
    }
}
