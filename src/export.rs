//! Writers of the published formats (SPEC §7).

use crate::train::EvalRow;
use std::io::Write;

/// The published `logs.csv` header.
pub const LOGS_HEADER: [&str; 5] = [
    "timestep",
    "mse",
    "res_ones_norm",
    "res_ortho_norm",
    "residual_norm",
];

/// Writes evaluations as the published `logs.csv` (`timestep,mse,res_ones_norm,res_ortho_norm,
/// residual_norm`), floats in their shortest exact decimal form.
pub fn write_logs_csv(out: impl Write, rows: &[EvalRow]) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(LOGS_HEADER)?;
    for r in rows {
        write_log_row(&mut w, r)?;
    }
    w.flush()?;
    Ok(())
}

/// Writes one `logs.csv` row (see [`LOGS_HEADER`]).
pub(crate) fn write_log_row<W: Write>(w: &mut csv::Writer<W>, r: &EvalRow) -> csv::Result<()> {
    w.write_record([
        r.timestep.to_string(),
        r.mse.to_string(),
        r.res_ones_norm.to_string(),
        r.res_ortho_norm.to_string(),
        r.residual_norm.to_string(),
    ])
}

/// The header of the tidy sweep export: one row per run × evaluation.
pub const TIDY_HEADER: [&str; 13] = [
    "domain",
    "param",
    "eta",
    "lr",
    "offset",
    "seed",
    "batch_size",
    "timestep",
    "mse",
    "res_ones_norm",
    "res_ortho_norm",
    "residual_norm",
    "diverged",
];

/// Writes runs as a tidy CSV ([`TIDY_HEADER`]): one row per run and evaluation, domain and
/// parameterization spelled as on the command line, floats in their shortest exact decimal
/// form, `diverged` `true` for every row of a run that diverged. Returns the number of runs.
pub fn write_tidy_csv<W: Write>(
    out: W,
    records: impl IntoIterator<Item = crate::record::RunRecord>,
) -> csv::Result<usize> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(TIDY_HEADER)?;
    let mut n = 0;
    for rec in records {
        let c = &rec.config;
        let diverged = rec.outcome.diverged_at().is_some();
        for r in &rec.rows {
            w.write_record([
                c.domain.kind.name().to_string(),
                c.param.name().to_string(),
                c.eta.to_string(),
                c.lr.to_string(),
                c.offset.to_string(),
                c.seed.to_string(),
                c.batch_size.to_string(),
                r.timestep.to_string(),
                r.mse.to_string(),
                r.res_ones_norm.to_string(),
                r.res_ortho_norm.to_string(),
                r.residual_norm.to_string(),
                diverged.to_string(),
            ])?;
        }
        n += 1;
    }
    w.flush()?;
    Ok(n)
}
