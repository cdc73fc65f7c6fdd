//! `imprl gradients` and `imprl study gradients`: the gradient modes of SPEC §8.3.

use crate::args::{ProgressArg, StudyArgs, StudyDefaults};
use anyhow::Context;
use clap::Args;
use imprl::config::cli::{AllButParam, SettingFlags};
use imprl::config::{check_count, ConfigError, SettingType};
use imprl::domain::DomainKind;
use imprl::figure::Format;
use imprl::param::ParamKind;
use std::path::{Path, PathBuf};

/// Options of `imprl gradients`.
#[derive(Args)]
pub struct GradientsArgs {
    /// Settings of the followed run (implicit, `grad = ift`).
    #[command(flatten)]
    pub settings: SettingFlags<AllButParam>,
    /// The K of the compared modes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16,32,64")]
    pub ks: Vec<usize>,
    /// Compare every this many updates.
    #[arg(long, default_value_t = 50)]
    pub every: usize,
    /// Directory for gradients.csv and the figure [default: gradients-<domain>].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `imprl study gradients`: into `study-gradients` (every run made again), 20 seeds.
#[derive(Clone)]
pub struct GradientsDefaults;
impl StudyDefaults for GradientsDefaults {
    const OUT: &'static str = "study-gradients";
    const SEEDS: &'static str = "20";
}

/// Options of `imprl study gradients`.
#[derive(Args)]
pub struct StudyGradientsArgs {
    #[command(flatten)]
    pub study: StudyArgs<GradientsDefaults>,
    /// Domains, comma-separated [default: all three].
    #[arg(long, value_delimiter = ',')]
    pub domains: Vec<String>,
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

pub fn gradients(args: &GradientsArgs) -> anyhow::Result<()> {
    let mut settings = args.settings.settings()?;
    settings.param = Some(ParamKind::Implicit);
    let cfg = settings.resolve()?;
    let problem = cfg.domain_spec().problem(cfg.offset, cfg.seed);
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

pub fn study_gradients(args: &StudyGradientsArgs) -> anyhow::Result<()> {
    use imprl::study::gradients as sg;
    let study = &args.study;
    let seeds = check_count("seeds", study.seeds)?;
    let jobs = match study.jobs {
        Some(j) => check_count("jobs", j)?,
        None => rayon::current_num_threads(),
    };
    let mut opts = sg::StudyOptions {
        seeds: seeds as u64,
        ..sg::StudyOptions::default()
    };
    if !args.domains.is_empty() {
        opts.domains = args
            .domains
            .iter()
            .map(|d| {
                DomainKind::parse(imprl::config::Raw::Text(d))
                    .ok_or_else(|| ConfigError::invalid("domains", d, &DomainKind::kind()))
            })
            .collect::<Result<_, _>>()?;
    }
    let runs = sg::runs(&opts)?;
    let dir = &study.out;
    create_dir(dir)?;
    // Runs done, on stderr every 100 runs (none with `--progress quiet`).
    let quiet = study.progress == ProgressArg::Quiet;
    if !quiet {
        eprintln!("{} runs on {jobs} threads", runs.len());
    }
    let start = std::time::Instant::now();
    let rows = sg::run_all(&runs, jobs, &|done, total| {
        if !quiet && (done % 100 == 0 || done == total) {
            eprintln!(
                "{done}/{total} runs ({:.0} s)",
                start.elapsed().as_secs_f64()
            );
        }
    })?;
    let summary = sg::summarize(&rows);
    let path = dir.join("summary.csv");
    let file = std::fs::File::create(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    sg::write_summary(std::io::BufWriter::new(file), &summary)?;
    let mut n = 0;
    for &d in &opts.domains {
        let f = sg::metric_figure(&summary, d, &opts.ks, "final ‖r‖", |s| s.residual);
        n += f
            .save_as(dir, &format!("residual-{}", d.text()), Format::Both)?
            .len();
        let f = sg::metric_figure(&summary, d, &opts.ks, "final res_ones_norm", |s| s.ones);
        n += f
            .save_as(dir, &format!("ones-{}", d.text()), Format::Both)?
            .len();
    }
    n += sg::cost_figure(&summary, &opts.ks)
        .save_as(dir, "cost", Format::Both)?
        .len();
    println!(
        "wrote {} and {n} figures to {}",
        path.display(),
        dir.display()
    );
    Ok(())
}
