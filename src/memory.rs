//! The memory a piece of work will need, checked against what the machine has before it
//! starts: a run (or the loading of a problem) that would exceed the available memory is refused
//! as bad input with the amount it needs, instead of being killed or aborted half-way.
//!
//! The available memory is `MemAvailable` of `/proc/meminfo` (Linux); where it cannot be read,
//! nothing is refused. [`allow_any`] (the command line's `--allow-memory`) lifts the check.

use std::sync::atomic::{AtomicBool, Ordering};

static ALLOW_ANY: AtomicBool = AtomicBool::new(false);

/// Lifts (`true`) or restores (`false`) the check of [`check`] for this process.
pub fn allow_any(allow: bool) {
    ALLOW_ANY.store(allow, Ordering::Relaxed);
}

/// The memory available to new work, in bytes (`MemAvailable`), if known.
pub fn available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line
        .trim_start_matches("MemAvailable:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kb.checked_mul(1024)
}

/// `bytes` in words: `1.5 GiB`, `12.0 MiB`.
pub fn human(bytes: f64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    if bytes >= GIB {
        format!("{:.1} GiB", bytes / GIB)
    } else {
        format!("{:.1} MiB", bytes / MIB)
    }
}

/// `Ok` when `needed` bytes (an estimate, as a float so that no product overflows) fit in the
/// available memory or the check is lifted; else the refusal in words: what needs it, how much,
/// how much there is, and the option that lifts the check.
pub fn check(needed: f64, what: &str) -> Result<(), String> {
    // Below this, no machine that runs the program lacks the memory: spare the reading.
    const SURELY_AVAILABLE: f64 = (256u64 << 20) as f64;
    if ALLOW_ANY.load(Ordering::Relaxed) || needed < SURELY_AVAILABLE {
        return Ok(());
    }
    let Some(avail) = available() else {
        return Ok(());
    };
    if needed <= avail as f64 {
        return Ok(());
    }
    Err(format!(
        "{what} needs about {} of memory, more than the {} available (--allow-memory runs it anyway)",
        human(needed),
        human(avail as f64)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_needs_are_refused_and_small_ones_pass() {
        if available().is_none() {
            return;
        }
        let e = check(1e30, "this").expect_err("more than any machine");
        assert!(e.starts_with("this needs about"), "{e}");
        assert!(e.contains("--allow-memory"), "{e}");
        assert!(check(1024.0, "this").is_ok());
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(1.5 * (1u64 << 30) as f64), "1.5 GiB");
        assert_eq!(human(12.0 * (1u64 << 20) as f64), "12.0 MiB");
    }
}
