//! `imprl values`: what one implicit and one explicit run learned (or saved runs), drawn.

use crate::args::ValuesArgs;
use anyhow::Context;
use imprl::config::{ConfigError, RunSettings};
use imprl::param::ParamKind;
use imprl::train::Silent;
use imprl::values::Learned;

/// Checkpoints are recorded every this many updates (the figures show 0, 10, 100 and the end)
/// when the model is small enough to keep them all.
const EVERY: usize = 10;
/// Largest feature dimension whose checkpoints are kept (`k ≤ 200`: at most 320 KB each).
const MAX_K_CHECKPOINTS: usize = 200;

pub fn values(args: &ValuesArgs) -> anyhow::Result<()> {
    let settings = args.settings.settings()?;
    let models = if args.params.is_empty() {
        train_both(&settings)?
    } else {
        if settings != RunSettings::default() {
            return Err(ConfigError::invalid(
                "params",
                "with run settings",
                "saved runs alone (their settings come from the files)",
            )
            .into());
        }
        read_saved(args)?
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let drawn = imprl::values::draw(&models, &args.out, args.format)?;
    for n in &drawn.notes {
        println!("{n}");
    }
    println!(
        "wrote {} files to {}",
        drawn.files.len(),
        args.out.display()
    );
    Ok(())
}

/// One implicit and one explicit run of `settings`, recorded.
fn train_both(settings: &RunSettings) -> anyhow::Result<Vec<Learned>> {
    let cfgs = [ParamKind::Implicit, ParamKind::Explicit]
        .into_iter()
        .map(|p| {
            let mut s = *settings;
            s.param = Some(p);
            s.resolve()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let problem = imprl::run::problem(&cfgs[0])?;
    let mut out = Vec::new();
    for cfg in &cfgs {
        let every = (cfg.steps >= EVERY && problem.train.k <= MAX_K_CHECKPOINTS).then_some(EVERY);
        let (trained, arrays) = imprl::saved::run_saving(cfg, &problem, every, &mut Silent)?;
        let how = if settings.lr.is_none() {
            " (the default for these settings)"
        } else {
            ""
        };
        eprintln!("{}: learning rate {}{how}", cfg.param.name(), cfg.lr);
        if let Some(step) = trained.log.outcome.diverged_at() {
            eprintln!(
                "warning: the {} run diverged after {step} updates; its last finite parameters are drawn",
                cfg.param.name()
            );
        }
        out.push(Learned::from_arrays(&arrays).map_err(anyhow::Error::msg)?);
    }
    Ok(out)
}

/// The saved runs of `--params`, checked to be of one domain and offset.
fn read_saved(args: &ValuesArgs) -> anyhow::Result<Vec<Learned>> {
    let mut out: Vec<Learned> = Vec::new();
    for path in &args.params {
        let file = |message: String| ConfigError::File {
            path: path.display().to_string(),
            message: format!("--params: {message}"),
        };
        let arrays = imprl::npz::read(path).map_err(file)?;
        let l = Learned::from_arrays(&arrays).map_err(file)?;
        if let Some(first) = out.first() {
            if (first.cfg.domain, first.cfg.offset.to_bits(), first.k)
                != (l.cfg.domain, l.cfg.offset.to_bits(), l.k)
            {
                return Err(file(format!(
                    "not of the same domain, offset and features as {}",
                    args.params[0].display()
                ))
                .into());
            }
        }
        out.push(l);
    }
    Ok(out)
}
