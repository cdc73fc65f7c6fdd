//! The `imprl` command line: a thin layer of subcommands over the library.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use imprl::config::{ConfigError, RunSettings};
use imprl::domain::{DomainKind, Slip};
use imprl::linalg::SolverKind;
use imprl::param::ParamKind;
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
    /// Follow one implicit and one explicit run and check the paper's theory along them
    /// (Theorems 1, 4, 5, Corollaries 1-3, the Perron split): report, CSV and SVG figures.
    Theory(TheoryArgs),
}

/// Settings of a theory analysis (defaults: the paper's best settings for the domain).
#[derive(Args)]
struct TheoryArgs {
    /// Domain (SPEC §4).
    #[arg(long, value_enum)]
    domain: Option<DomainKind>,
    /// Internal discount η in [0, 1) [default: 0.95].
    #[arg(long)]
    eta: Option<f64>,
    /// Learning rate of the implicit run [default: the paper's best for domain and η].
    #[arg(long)]
    lr: Option<f64>,
    /// Learning rate of the explicit run [default: the paper's best for the domain].
    #[arg(long)]
    lr_explicit: Option<f64>,
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
    /// Minibatch sampling of the runs [default: with-replacement, as published].
    #[arg(long, value_enum)]
    sampling: Option<Sampling>,
    /// Four rooms' slip model [default: published].
    #[arg(long, value_enum)]
    slip: Option<Slip>,
    /// Append a constant bias feature.
    #[arg(long)]
    bias: bool,
    /// Analyze every this many updates (and after the last) [default: 50].
    #[arg(long)]
    every: Option<usize>,
    /// Minibatches per Monte-Carlo estimate [default: 1000].
    #[arg(long)]
    mc: Option<usize>,
    /// Directory for theory.csv and the SVG figures [default: none, report only].
    #[arg(long)]
    out: Option<PathBuf>,
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
    #[arg(long, allow_negative_numbers = true)]
    eta: Option<f64>,
    /// Learning rate α > 0 [default: the paper's best for domain, param and η].
    #[arg(long, allow_negative_numbers = true)]
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
    /// The implicit model's linear solver [default: auto].
    #[arg(long, value_enum)]
    solver: Option<SolverKind>,
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
            solver: self.solver,
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
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
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

/// True when the error is a closed stdout (`imprl run | head`): not a failure of ours.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<csv::Error>().is_some_and(|ce| matches!(ce.kind(), csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe))
    })
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => cmd_run(&args),
        Command::Theory(args) => cmd_theory(&args),
    }
}

fn cmd_theory(args: &TheoryArgs) -> anyhow::Result<()> {
    let settings = RunSettings {
        domain: args.domain,
        eta: args.eta,
        lr: args.lr,
        offset: args.offset,
        seed: args.seed,
        steps: args.steps,
        batch_size: args.batch_size,
        sampling: args.sampling,
        slip: args.slip,
        bias: args.bias.then_some(true),
        ..Default::default()
    };
    let (run, cfg) = imprl::theory::resolve(&settings, args.lr_explicit, args.every, args.mc)?;
    let problem = run.domain.problem(run.offset, run.seed);
    imprl::theory::check_problem(&cfg, &problem)?;
    let total = cfg.checkpoints.len();
    let mut done = 0;
    let report = imprl::theory::analyze(&cfg, &problem, &mut |step| {
        done += 1;
        eprintln!("checkpoint {done}/{total} (step {step}) done");
    });
    let title = format!(
        "domain {}, offset {}, seed {}",
        run.domain.kind, run.offset, run.seed
    );
    print!("{}", imprl::theory::output::render_text(&report, &title));
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let csv_path = dir.join("theory.csv");
        let file = std::fs::File::create(&csv_path)
            .with_context(|| format!("cannot create {}", csv_path.display()))?;
        imprl::theory::output::write_csv(file, &report)?;
        let figs = imprl::theory::output::write_figures(dir, &report)?;
        println!(
            "\nwrote {} and {} figures to {}",
            csv_path.display(),
            figs.len(),
            dir.display()
        );
    }
    Ok(())
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
