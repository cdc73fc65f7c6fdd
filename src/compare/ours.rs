//! Our side of the comparison: run records from a results store, reduced to per-configuration
//! statistics over seeds (SPEC §7).

use super::{seed_sets, CompareError, ConfigKey, SideStats};
use crate::domain::Slip;
use crate::published_layout::LayoutError;
use crate::record::RunRecord;
use crate::store::Store;
use crate::train::Sampling;
use std::collections::BTreeMap;
use std::path::Path;

/// Our records reduced to per-configuration statistics, and how many records were left out
/// because they do not follow the published protocol (300 updates, sampling with replacement,
/// published slip, no bias feature).
pub fn summarize_ours(records: &[RunRecord]) -> (BTreeMap<ConfigKey, SideStats>, usize) {
    let mut groups: BTreeMap<ConfigKey, Vec<&RunRecord>> = BTreeMap::new();
    let mut excluded = 0;
    for r in records {
        match published_key(r) {
            Some(key) => groups.entry(key).or_default().push(r),
            None => excluded += 1,
        }
    }
    let map = groups
        .into_iter()
        .map(|(k, recs)| {
            let runs: Vec<_> = recs
                .iter()
                .map(|r| (r.initial().copied(), r.final_row().copied(), r.runtime_s))
                .collect();
            let diverged = recs
                .iter()
                .filter(|r| r.outcome.diverged_at().is_some())
                .count();
            (k, SideStats::from_runs(&runs, diverged, 0))
        })
        .collect();
    (map, excluded)
}

/// The configuration ([`ConfigKey::of`]) of a record that follows the published protocol (300
/// updates, sampling with replacement, published slip, no bias feature); `None` otherwise.
/// Other settings (solver, evaluation period) stay in the key: a configuration run with another
/// solver is not the published one.
fn published_key(r: &RunRecord) -> Option<ConfigKey> {
    let c = &r.config;
    let published = c.steps == crate::published::STEPS
        && c.sampling == Sampling::WithReplacement
        && c.slip == Slip::Published
        && !c.bias;
    published.then(|| ConfigKey::of(c))
}

/// Our final `‖r‖` per configuration (published protocol only) and seed, for
/// [`seed_sets::check`].
pub fn per_seed_finals(records: &[RunRecord]) -> seed_sets::PerSeed {
    let mut out = seed_sets::PerSeed::new();
    for r in records {
        if let Some(key) = published_key(r) {
            out.entry(key)
                .or_default()
                .insert(r.config.seed, r.final_row().map(|e| e.residual_norm));
        }
    }
    out
}

/// Our run records, read from the results store in `dir` (see [`summarize_ours`] and
/// [`per_seed_finals`]).
pub fn load_ours(dir: &Path) -> Result<Vec<RunRecord>, CompareError> {
    if !Store::exists(dir) {
        return Err(LayoutError::Format {
            path: dir.join(crate::store::DB_FILE),
            message: "no results store here".into(),
        }
        .into());
    }
    Ok(Store::open_read(dir)?.load_all()?)
}
