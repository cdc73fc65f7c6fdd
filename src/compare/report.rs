//! The comparison written out: the per-configuration CSV and the terminal summary.

use super::{Agreement, Comparison, ConfigKey};
use crate::domain::DomainKind;
use crate::param::ParamKind;
use crate::stats::KEY_COLUMNS;
use std::fmt::Write as _;

fn opt(x: Option<f64>) -> String {
    x.map_or(String::new(), |v| v.to_string())
}

fn count(x: Option<usize>) -> String {
    x.map_or("?".to_string(), |v| v.to_string())
}

/// The per-configuration CSV header (see [`write_csv`]): the key's columns, then these.
const RESULT_COLUMNS: [&str; 29] = [
    "ours_runs",
    "ours_diverged",
    "theirs_runs",
    "theirs_failed",
    "theirs_diverged",
    "final_norm_ours_n",
    "final_norm_ours_mean",
    "final_norm_ours_sd",
    "final_norm_theirs_n",
    "final_norm_theirs_mean",
    "final_norm_theirs_sd",
    "final_norm_z",
    "init_ones_ours_n",
    "init_ones_ours_mean",
    "init_ones_ours_sd",
    "init_ones_theirs_n",
    "init_ones_theirs_mean",
    "init_ones_theirs_sd",
    "init_ones_z",
    "init_ortho_ours_n",
    "init_ortho_ours_mean",
    "init_ortho_ours_sd",
    "init_ortho_theirs_n",
    "init_ortho_theirs_mean",
    "init_ortho_theirs_sd",
    "init_ortho_z",
    "runtime_ours_s",
    "runtime_theirs_s",
    "note",
];

/// The per-configuration CSV header (see [`write_csv`]).
pub fn csv_header() -> Vec<&'static str> {
    KEY_COLUMNS.iter().chain(&RESULT_COLUMNS).copied().collect()
}

/// Writes the full per-configuration table as CSV: configurations on both sides, then those on
/// one side only (with `note` = `only ours` / `only published`, followed by the settings that
/// differ from the published protocol, e.g. `only ours (solver=lu)`). An unknown published sd
/// (summary CSV) is left empty and the note says our sd stood in for it; `final_norm_z` is
/// empty when either side diverged. Divergence counts unknown on the published side are `?`.
pub fn write_csv(c: &Comparison, out: impl std::io::Write) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let header = csv_header();
    w.write_record(&header)?;
    let key_fields = |k: &ConfigKey| k.grid_fields().to_vec();
    for r in &c.rows {
        let mut f = key_fields(&r.key);
        f.extend([
            r.ours.runs.to_string(),
            count(r.ours.diverged),
            r.theirs.runs.to_string(),
            r.theirs.failed.to_string(),
            count(r.theirs.diverged),
        ]);
        for (m, z) in [
            (&r.final_norm, r.final_z()),
            (&r.init_ones, r.init_ones.z),
            (&r.init_ortho, r.init_ortho.z),
        ] {
            f.extend([
                m.ours.n.to_string(),
                m.ours.mean.to_string(),
                opt(m.ours.known_sd()),
                m.theirs.n.to_string(),
                m.theirs.mean.to_string(),
                opt(m.theirs.known_sd()),
                opt(z),
            ]);
        }
        f.push(r.ours.runtime_s.to_string());
        f.push(r.theirs.runtime_s.to_string());
        let mut notes = Vec::new();
        if r.either_diverged() {
            notes.push("diverged");
        }
        if r.init_ones.sd_assumed || r.init_ortho.sd_assumed || r.final_norm.sd_assumed {
            notes.push("published sd unknown: ours used for both sides");
        }
        f.push(notes.join("; "));
        w.write_record(&f)?;
    }
    for (keys, note) in [
        (&c.only_ours, "only ours"),
        (&c.only_theirs, "only published"),
    ] {
        for k in keys {
            let mut f = key_fields(k);
            f.resize(header.len() - 1, String::new());
            let other = k.protocol_differences();
            f.push(if other.is_empty() {
                note.to_string()
            } else {
                format!("{note} ({})", other.join(" "))
            });
            w.write_record(&f)?;
        }
    }
    w.flush()?;
    Ok(())
}

fn pct(a: &Agreement, within: usize) -> String {
    if a.compared == 0 {
        "—".to_string()
    } else {
        format!("{:5.1}%", 100.0 * within as f64 / a.compared as f64)
    }
}

/// The readable summary for the terminal: one line per domain × parameterization, the worst
/// configurations, and the configurations present on one side only.
pub fn render_table(c: &Comparison) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<13} {:<15} {:>7} {:>9} {:>15} {:>15} {:>15} {:>15} {:>17}",
        "domain",
        "param",
        "configs",
        "diverged",
        "final ≤2se/≤3se",
        "init r∥ ≤2/≤3",
        "init ‖r⊥‖ ≤2/≤3",
        "target (≥95% ≤3)",
        "s/run ours/publ."
    );
    for g in &c.groups {
        let _ = writeln!(
            s,
            "{:<13} {:<15} {:>7} {:>9} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>15} {:>8}/{:<8}",
            g.domain.name(),
            g.param.name(),
            g.configs,
            format!("{}/{}", g.diverged_ours, g.diverged_theirs),
            pct(&g.final_norm, g.final_norm.within2),
            pct(&g.final_norm, g.final_norm.within3),
            pct(&g.init_ones, g.init_ones.within2),
            pct(&g.init_ones, g.init_ones.within3),
            pct(&g.init_ortho, g.init_ortho.within2),
            pct(&g.init_ortho, g.init_ortho.within3),
            if g.meets_target() { "met" } else { "NOT met" },
            seconds(g.runtime_ours_s),
            seconds(g.runtime_theirs_s),
        );
    }
    let _ = writeln!(
        s,
        "(diverged: configurations with a diverged run, ours/published; those are left out of the final ‖r‖ shares)"
    );
    for g in &c.groups {
        if g.failed_theirs > 0 {
            let _ = writeln!(
                s,
                "{} {}: {} failed published jobs excluded",
                g.domain.name(),
                g.param.name(),
                g.failed_theirs
            );
        }
    }
    let _ = writeln!(s, "worst configurations:");
    for g in &c.groups {
        for (k, metric, z) in &g.worst {
            let _ = writeln!(s, "  {k}: {metric} z = {z:+.2}");
        }
    }
    for (keys, other, side, elsewhere) in [
        (
            &c.only_ours,
            &c.only_theirs,
            "only ours",
            "not in the reference",
        ),
        (
            &c.only_theirs,
            &c.only_ours,
            "only published",
            "not in our store",
        ),
    ] {
        // A (domain, parameterization) the other side does not have at all: one line for it.
        let covered = |k: &ConfigKey, side: &[ConfigKey]| {
            side.iter()
                .any(|o| (o.domain, o.param) == (k.domain, k.param))
                || c.rows
                    .iter()
                    .any(|r| (r.key.domain, r.key.param) == (k.domain, k.param))
        };
        let mut absent: Vec<(DomainKind, ParamKind, usize)> = Vec::new();
        for k in keys.iter().filter(|k| !covered(k, other)) {
            match absent
                .iter_mut()
                .find(|(d, p, _)| (*d, *p) == (k.domain, k.param))
            {
                Some((_, _, n)) => *n += 1,
                None => absent.push((k.domain, k.param, 1)),
            }
        }
        for (d, p, n) in &absent {
            let _ = writeln!(
                s,
                "{} {}: {n} configurations, {elsewhere}",
                d.name(),
                p.name()
            );
        }
        let keys: Vec<&ConfigKey> = keys.iter().filter(|k| covered(k, other)).collect();
        if !keys.is_empty() {
            let _ = writeln!(s, "{} configurations {side}:", keys.len());
            for k in keys.iter().take(20) {
                let _ = writeln!(s, "  {k}");
            }
            if keys.len() > 20 {
                let _ = writeln!(s, "  … ({} more in the CSV)", keys.len() - 20);
            }
        }
    }
    if c.rows.iter().any(|r| r.init_ones.sd_assumed) {
        let _ = writeln!(
            s,
            "note: the published initial standard deviations are unknown (summary CSV); ours stand in for both sides"
        );
    }
    s
}

/// A mean wall time per run: in ms below 1 s (chain runs take a fraction of a millisecond).
fn seconds(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x < 1.0 {
        format!("{:.2}ms", 1e3 * x)
    } else {
        format!("{x:.2}s")
    }
}
