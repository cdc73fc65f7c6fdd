//! The `imprl` command line: a thin layer of subcommands over the library.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use imprl::config::{ConfigError, RunSettings};
use imprl::domain::{DomainKind, Slip};
use imprl::param::ParamKind;
use imprl::plot::{BestLr, Format, PlotOptions, PlotReport};
use imprl::record::RunRecord;
use imprl::train::{NoObserver, Sampling};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Implicit vs explicit linear value functions (Gehring et al., NeurIPS 2021), fast.
#[derive(Parser)]
#[command(name = "imprl", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train one run and write its log (published `logs.csv` format) to stdout or --out.
    Run(RunArgs),
    /// Draw the paper's figures (SVG/PNG, each with a CSV of its numbers) from a results store.
    Plot(PlotArgs),
}

/// Options of `imprl plot`.
#[derive(Args)]
struct PlotArgs {
    /// Results store directory.
    #[arg(long)]
    results: PathBuf,
    /// Output directory [default: <results>/figures].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Image formats.
    #[arg(long, value_enum, default_value_t = Format::Both)]
    format: Format,
    /// Learning rates of the "best" figures: the paper's (SPEC §6) or the lowest final ‖r‖.
    #[arg(long, value_enum, default_value_t = BestLr::Published)]
    best: BestLr,
}

/// Settings of one run; any of them may also come from --config (flags override the file).
#[derive(Args)]
struct RunArgs {
    /// TOML file with run settings (field names as in the flags, with `_` for `-`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Domain (SPEC §4).
    #[arg(long, value_enum)]
    domain: Option<DomainKind>,
    /// Parameterization (SPEC §1).
    #[arg(long, value_enum)]
    param: Option<ParamKind>,
    /// Internal discount η in [0, 1) [default: 0.95].
    #[arg(long)]
    eta: Option<f64>,
    /// Learning rate α > 0 [default: the paper's best for domain, param and η].
    #[arg(long)]
    lr: Option<f64>,
    /// Reward offset c added to every reward [default: 0].
    #[arg(long, allow_negative_numbers = true)]
    offset: Option<f64>,
    /// Run seed [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Number of SGD updates [default: 300].
    #[arg(long)]
    steps: Option<usize>,
    /// Minibatch size [default: 25].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Evaluate every this many updates [default: 10].
    #[arg(long)]
    eval_every: Option<usize>,
    /// Minibatch sampling [default: with-replacement, as published].
    #[arg(long, value_enum)]
    sampling: Option<Sampling>,
    /// Four rooms' slip model [default: published].
    #[arg(long, value_enum)]
    slip: Option<Slip>,
    /// Append a constant bias feature.
    #[arg(long)]
    bias: bool,
    /// Output CSV file [default: stdout].
    #[arg(long)]
    out: Option<PathBuf>,
}

impl RunArgs {
    fn settings(&self) -> Result<RunSettings, ConfigError> {
        let file = match &self.config {
            Some(p) => RunSettings::from_file(p)?,
            None => RunSettings::default(),
        };
        let flags = RunSettings {
            domain: self.domain,
            param: self.param,
            eta: self.eta,
            lr: self.lr,
            offset: self.offset,
            seed: self.seed,
            steps: self.steps,
            batch_size: self.batch_size,
            eval_every: self.eval_every,
            sampling: self.sampling,
            slip: self.slip,
            bias: self.bias.then_some(true),
        };
        Ok(file.overridden_by(&flags))
    }
}

/// Exit code for bad input (as clap uses for usage errors).
const USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's message, on one line: the error and the allowed values, without usage.
            let text = e.to_string();
            let line: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| {
                    !l.is_empty()
                        && !l.starts_with("Usage:")
                        && !l.starts_with("For more information")
                })
                .collect();
            eprintln!("{}", line.join(" "));
            return ExitCode::from(USAGE);
        }
    };
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(c) = e.downcast_ref::<ConfigError>() {
                eprintln!("error: {c}");
                ExitCode::from(USAGE)
            } else {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => cmd_run(&args),
        Command::Plot(args) => cmd_plot(&args),
    }
}

/// All run records of the results store in `dir`.
fn load_records(dir: &std::path::Path) -> anyhow::Result<Vec<RunRecord>> {
    // To be wired to the results store (`Store::open(dir)?.load_all()?`) when it lands.
    anyhow::bail!(
        "{}: reading a results store is not available in this build yet",
        dir.display()
    )
}

fn cmd_plot(args: &PlotArgs) -> anyhow::Result<()> {
    if !args.results.is_dir() {
        return Err(ConfigError::invalid(
            "results",
            args.results.display(),
            "an existing results directory",
        )
        .into());
    }
    let records = load_records(&args.results)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.results.join("figures"));
    let opts = PlotOptions {
        format: args.format,
        best: args.best,
    };
    let report = imprl::plot::draw_all(&records, &out, opts)?;
    print_plot_report(&report, &out);
    Ok(())
}

/// Prints where the figures are and what was skipped and why.
fn print_plot_report(report: &PlotReport, out: &std::path::Path) {
    println!(
        "{} figures in {} ({} files)",
        report.figures.len(),
        out.display(),
        report.files().len()
    );
    for f in &report.figures {
        let files: Vec<String> = f
            .images
            .iter()
            .chain([&f.table])
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        println!("  {}: {}", f.name, files.join(", "));
    }
    for (what, why) in &report.skipped {
        println!("  skipped {what}: {why}");
    }
}

fn cmd_run(args: &RunArgs) -> anyhow::Result<()> {
    let cfg = args.settings()?.resolve()?;
    let log = imprl::run::run(&cfg, &mut NoObserver)?;
    let out: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    imprl::export::write_logs_csv(out, &log.rows)?;
    if let Some(step) = log.outcome.diverged_at() {
        eprintln!("warning: the run diverged after {step} updates; the log stops at its last finite evaluation");
    }
    Ok(())
}
