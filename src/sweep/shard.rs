//! Shards: disjoint parts of a grid, so that a sweep can be spread over machines (a Slurm job
//! array, GNU parallel) and the parts' stores merged.

use crate::config::ConfigError;

/// One of `count` disjoint parts of a grid (`index` counted from 0): the runs whose position
/// `i` in the grid has `i mod count = index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, `0 ≤ index < count`.
    pub index: usize,
    /// Number of shards, `≥ 1`.
    pub count: usize,
}

impl Shard {
    /// The whole grid.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parses `I/N` (`0 ≤ I < N`); errors name the option `shard`.
    pub fn parse(s: &str) -> Result<Shard, ConfigError> {
        let allowed = "I/N with 0 <= I < N, e.g. 0/4";
        let bad = || ConfigError::invalid("shard", s, allowed);
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// True when the run at position `i` of the grid belongs to this shard.
    pub fn contains(&self, i: usize) -> bool {
        i % self.count == self.index
    }
}

impl std::str::FromStr for Shard {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Shard::parse(s)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_refuse_naming_the_option() {
        assert_eq!(Shard::parse("2/4").ok(), Some(Shard { index: 2, count: 4 }));
        for bad in ["4/4", "1", "a/2", "0/0", "-1/2"] {
            let e = Shard::parse(bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains("`shard`"), "{bad}: {e}");
        }
    }
}
