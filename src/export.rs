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
        w.write_record([
            r.timestep.to_string(),
            r.mse.to_string(),
            r.res_ones_norm.to_string(),
            r.res_ortho_norm.to_string(),
            r.residual_norm.to_string(),
        ])?;
    }
    w.flush()?;
    Ok(())
}
