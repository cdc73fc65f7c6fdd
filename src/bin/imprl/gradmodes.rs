//! `imprl gradients`: every gradient mode of SPEC §8.3 against the exact one along one run.

use crate::args::GradientsArgs;
use anyhow::Context;
use imprl::config::SettingType;
use imprl::figure::Format;
use imprl::param::ParamKind;
use std::path::{Path, PathBuf};

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

pub fn gradients(args: &GradientsArgs) -> anyhow::Result<()> {
    let mut settings = args.settings.settings()?;
    settings.param = Some(ParamKind::Implicit);
    let cfg = settings.resolve()?;
    let problem = imprl::run::problem(&cfg)?;
    let (log, rows) = imprl::gradients::follow(&cfg, &problem, &args.ks, args.every)?;
    if let Some(step) = log.outcome.diverged_at() {
        eprintln!("warning: the followed run diverged after {step} updates");
    }
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("gradients-{}", cfg.domain.text())));
    create_dir(&dir)?;
    let csv = dir.join("gradients.csv");
    let file =
        std::fs::File::create(&csv).with_context(|| format!("cannot create {}", csv.display()))?;
    imprl::gradients::write_csv(std::io::BufWriter::new(file), &rows)?;
    println!("mode          K  rel_err_dw_l1   1-cos_full      bound   (mean over compared steps)");
    for fam in imprl::gradients::FAMILIES {
        for &k in &args.ks {
            let m = |f: fn(&imprl::gradients::GradientRow) -> f64| {
                imprl::gradients::mean_over_steps(&rows, fam, k, f)
            };
            println!(
                "{fam:<12} {k:>3}  {:>12.3e}  {:>11.3e}  {:>9.3e}",
                m(|r| r.rel_err_dw_l1),
                m(|r| 1.0 - r.cos_full),
                m(|r| r.bound)
            );
        }
    }
    let title = format!(
        "gradient modes vs ift: {}, offset {}, η = {}, seed {}",
        cfg.domain.text(),
        cfg.offset.text(),
        cfg.eta.text(),
        cfg.seed
    );
    let fig = imprl::gradients::figure(&rows, &args.ks, &title);
    let written = fig.save_as(&dir, "gradients", Format::Both)?;
    println!("wrote {} and {} figures", csv.display(), written.len());
    Ok(())
}
