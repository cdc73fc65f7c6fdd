//! The checksum that every stored run carries and every read verifies.

use crate::metrics::METRICS;
use crate::record::RunRecord;
use crate::train::Outcome;

/// The checksum of a run as stored: BLAKE3 of its key, outcome, runtime and every evaluation's
/// bits — the published metrics always, an optional metric (a learned `η`) by name and value
/// only when the evaluation has it, and a kept `θ̂`, so that runs without them keep the checksums
/// of earlier releases (first 16 bytes, hexadecimal).
pub fn checksum(rec: &RunRecord) -> String {
    checksum_with_key(&rec.config.key(), rec)
}

/// [`checksum`] with the run's key given: that of the settings a store had when it wrote the
/// run (settings declared since are appended to the key, so a store that lacks their columns
/// wrote the key without them).
pub(super) fn checksum_with_key(key: &str, rec: &RunRecord) -> String {
    let mut h = blake3::Hasher::new();
    h.update(key.as_bytes());
    let (status, at) = status_of(rec.outcome);
    h.update(status.as_bytes());
    h.update(&at.unwrap_or(-1).to_le_bytes());
    h.update(&rec.runtime_s.to_bits().to_le_bytes());
    for r in &rec.rows {
        h.update(&(r.timestep as u64).to_le_bytes());
        for m in &METRICS {
            let Some(x) = (m.get)(r) else { continue };
            if m.optional {
                h.update(m.name.as_bytes());
            }
            // SQLite stores an integral REAL as an integer: -0.0 reads back as 0.0.
            h.update(&(x + 0.0).to_bits().to_le_bytes());
        }
    }
    // A kept `θ̂` (sweeps with `--save-params`) by name and bits; runs without one keep the
    // checksums of earlier releases.
    if let Some(theta) = &rec.theta {
        h.update(b"theta");
        for x in theta {
            h.update(&x.to_bits().to_le_bytes());
        }
    }
    h.finalize().to_hex()[..32].to_string()
}

/// How an outcome is stored: `status` and `diverged_at` (see [`outcome_of`]).
pub(super) fn status_of(o: Outcome) -> (&'static str, Option<i64>) {
    match o {
        Outcome::Finished => ("finished", None),
        Outcome::Diverged { step } => ("diverged", Some(step as i64)),
    }
}

/// The outcome stored as `status` and `diverged_at`; `None` for a pair [`status_of`] never
/// writes.
pub(super) fn outcome_of(status: &str, diverged_at: Option<i64>) -> Option<Outcome> {
    match (status, diverged_at) {
        ("finished", _) => Some(Outcome::Finished),
        ("diverged", Some(step)) => usize::try_from(step)
            .ok()
            .map(|step| Outcome::Diverged { step }),
        _ => None,
    }
}
