//! The settings that identify a configuration of the published grid, matched across spellings
//! of the same number (SPEC §6).

use crate::domain::DomainKind;
use crate::param::ParamKind;
use std::cmp::Ordering;

/// A float normalized for matching: equal when equal to about 10 significant digits, so that
/// `.25000000000000000000`, `0.25` and `1.0 / 4.0` match.
fn canon(x: f64) -> f64 {
    let y = if x == 0.0 { 0.0 } else { x };
    format!("{y:.9e}").parse().unwrap_or(y)
}

/// The settings that identify a configuration of the published grid.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    /// Domain.
    pub domain: DomainKind,
    /// Parameterization.
    pub param: ParamKind,
    /// Internal discount η.
    pub eta: f64,
    /// Learning rate.
    pub lr: f64,
    /// Reward offset.
    pub offset: f64,
    /// Minibatch size.
    pub batch_size: usize,
}

impl ConfigKey {
    fn cmp_key(&self) -> (DomainKind, ParamKind, [f64; 3], usize) {
        (
            self.domain,
            self.param,
            [canon(self.eta), canon(self.lr), canon(self.offset)],
            self.batch_size,
        )
    }
}

impl PartialEq for ConfigKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for ConfigKey {}
impl PartialOrd for ConfigKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ConfigKey {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.cmp_key(), other.cmp_key());
        a.0.cmp(&b.0)
            .then(a.1.cmp(&b.1))
            .then_with(|| {
                a.2.iter()
                    .zip(&b.2)
                    .map(|(x, y)| x.total_cmp(y))
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
            })
            .then(a.3.cmp(&b.3))
    }
}

impl std::fmt::Display for ConfigKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} η={} lr={} c={} b={}",
            self.domain.name(),
            self.param.name(),
            self.eta,
            self.lr,
            self.offset,
            self.batch_size
        )
    }
}

/// A chain explicit key with η = 0.8, offset 0.3, batch 25 and learning rate `lr`.
#[cfg(test)]
pub(crate) fn test_key(lr: f64) -> ConfigKey {
    ConfigKey {
        domain: DomainKind::Chain,
        param: ParamKind::Explicit,
        eta: 0.8,
        lr,
        offset: 0.3,
        batch_size: 25,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(lr: f64) -> ConfigKey {
        test_key(lr)
    }

    #[test]
    fn keys_match_published_spellings() {
        let published: f64 = ".25000000000000000000".parse().unwrap();
        assert_eq!(key(published), key(1.0 / 4.0));
        assert_eq!(key(0.1 + 0.2 - 0.2 + 0.15), key(0.25));
        assert_ne!(key(0.25), key(0.2500001));
        let mut k = key(0.25);
        k.offset = 3.0 / 10.0;
        assert_eq!(k, key(0.25));
        assert_eq!(canon(-0.0), canon(0.0));
    }
}
