//! The `imprl` command line: a thin layer of subcommands over the library.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use imprl::config::{ConfigError, RunSettings};
use imprl::domain::{DomainKind, Slip};
use imprl::linalg::SolverKind;
use imprl::param::ParamKind;
use imprl::plot::{BestLr, Format, PlotOptions, PlotReport};
use imprl::record::RunRecord;
use imprl::store::Store;
use imprl::sweep::{published_grid, Grid, LrChoice, ProgressMode, Shard, SweepError, SweepOptions};
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
    /// Run a grid of runs (every setting may be a list) into a resumable results store.
    Sweep(SweepArgs),
    /// Run the published experiment grid (SPEC §6) into a resumable results store.
    Reproduce(ReproduceArgs),
    /// Export a results store as a tidy CSV or in the published directory layout.
    Export(ExportArgs),
    /// Combine the results stores of shards into one.
    Merge(MergeArgs),
    /// Compare a results store with the published runs (table, CSV and figure).
    Compare(CompareArgs),
    /// Draw the paper's figures (SVG/PNG, each with a CSV of its numbers) from a results store.
    Plot(PlotArgs),
}

/// Settings of a theory analysis (defaults: the paper's best settings for the domain).
#[derive(Args)]
struct TheoryArgs {
    #[command(flatten)]
    run: RunFlags,
    /// Learning rate of the explicit run [default: the paper's best for the domain]; --lr sets
    /// the implicit run's.
    #[arg(long)]
    lr_explicit: Option<f64>,
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

#[derive(Args)]
struct CompareArgs {
    /// The published data: the directory layout (`<domain>/<method>/<run-id>/results.csv`, any
    /// subset) or a per-configuration summary CSV such as chain_summary.csv.
    #[arg(long)]
    reference: PathBuf,
    /// Our results directory (a results store).
    #[arg(long)]
    results: PathBuf,
    /// Output directory for comparison.csv and comparison.svg [default: RESULTS/compare].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Options shared by the commands that run sweeps.
#[derive(Args)]
struct ExecArgs {
    /// Run only shard I of N (I counted from 0): the runs whose index in the grid is I mod N.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Worker threads [default: all cores].
    #[arg(long)]
    jobs: Option<usize>,
    /// Progress display [default: a bar on a terminal, else plain lines].
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    progress: ProgressArg,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ProgressArg {
    Auto,
    Bar,
    Lines,
    Quiet,
}

#[derive(Args)]
struct SweepArgs {
    /// Grid file (TOML): any run setting may be a list; `[lr]` may give rates per
    /// "<domain>.<param>".
    #[arg(long)]
    config: PathBuf,
    /// Output directory (holds the results store; rerunning resumes).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    exec: ExecArgs,
}

#[derive(Args)]
struct ReproduceArgs {
    /// Domains, comma-separated [default: all three].
    #[arg(long, value_enum, value_delimiter = ',')]
    domains: Vec<DomainKind>,
    /// Output directory (holds the results store; rerunning resumes).
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// A quick look: 5 seeds and only the paper's best learning rates.
    #[arg(long)]
    quick: bool,
    /// Seeds 0..N per configuration [default: 20, or 5 with --quick].
    #[arg(long)]
    seeds: Option<usize>,
    #[command(flatten)]
    exec: ExecArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    /// One tidy row per run × evaluation.
    Csv,
    /// The published directory layout (`results.csv` job logs and `<Seq>/logs.csv`).
    Published,
}

#[derive(Args)]
struct ExportArgs {
    /// Results directory (of `imprl sweep`, `reproduce` or `merge`).
    #[arg(long)]
    results: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    format: ExportFormat,
    /// Output: a file for csv [default: stdout], a directory for published [default:
    /// RESULTS/published].
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct MergeArgs {
    /// Output directory of the merged store (created or added to).
    #[arg(long)]
    out: PathBuf,
    /// Results directories of the shards.
    #[arg(required = true)]
    shards: Vec<PathBuf>,
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
    /// Parameterization (SPEC §1).
    #[arg(long, value_enum)]
    param: Option<ParamKind>,
    #[command(flatten)]
    run: RunFlags,
    /// Evaluate every this many updates [default: 10].
    #[arg(long)]
    eval_every: Option<usize>,
    /// The implicit model's linear solver [default: auto].
    #[arg(long, value_enum)]
    solver: Option<SolverKind>,
    /// Output CSV file [default: stdout].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The run settings that `imprl run` and `imprl theory` share.
#[derive(Args)]
struct RunFlags {
    /// Domain (SPEC §4).
    #[arg(long, value_enum)]
    domain: Option<DomainKind>,
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
    /// Minibatch sampling [default: with-replacement, as published].
    #[arg(long, value_enum)]
    sampling: Option<Sampling>,
    /// Four rooms' slip model [default: published].
    #[arg(long, value_enum)]
    slip: Option<Slip>,
    /// Append a constant bias feature.
    #[arg(long)]
    bias: bool,
}

impl RunFlags {
    /// These flags as settings (unset ones left to later defaults).
    fn settings(&self) -> RunSettings {
        RunSettings {
            domain: self.domain,
            eta: self.eta,
            lr: self.lr,
            offset: self.offset,
            seed: self.seed,
            steps: self.steps,
            batch_size: self.batch_size,
            sampling: self.sampling,
            slip: self.slip,
            bias: self.bias.then_some(true),
            ..Default::default()
        }
    }
}

impl RunArgs {
    fn settings(&self) -> Result<RunSettings, ConfigError> {
        let file = match &self.config {
            Some(p) => RunSettings::from_file(p)?,
            None => RunSettings::default(),
        };
        let flags = RunSettings {
            param: self.param,
            eval_every: self.eval_every,
            solver: self.solver,
            ..self.run.settings()
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
        Command::Sweep(args) => cmd_sweep(&args),
        Command::Reproduce(args) => cmd_reproduce(&args),
        Command::Export(args) => cmd_export(&args),
        Command::Merge(args) => cmd_merge(&args),
        Command::Compare(args) => cmd_compare(&args),
        Command::Plot(args) => cmd_plot(&args),
    }
}

fn cmd_theory(args: &TheoryArgs) -> anyhow::Result<()> {
    let settings = args.run.settings();
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
        let why = log.failure.map(|f| format!(": {f}")).unwrap_or_default();
        eprintln!("warning: the run diverged after {step} updates{why}; the log stops at its last finite evaluation");
    }
    Ok(())
}

impl ExecArgs {
    fn shard(&self) -> Result<Shard, ConfigError> {
        match &self.shard {
            Some(s) => Shard::parse(s),
            None => Ok(Shard::ALL),
        }
    }

    fn options(&self) -> Result<SweepOptions, ConfigError> {
        if self.jobs == Some(0) {
            return Err(ConfigError::invalid("jobs", 0, "an integer >= 1"));
        }
        Ok(SweepOptions {
            jobs: self.jobs,
            progress: match self.progress {
                ProgressArg::Auto => ProgressMode::Auto,
                ProgressArg::Bar => ProgressMode::Bar,
                ProgressArg::Lines => ProgressMode::Lines,
                ProgressArg::Quiet => ProgressMode::Quiet,
            },
            ..Default::default()
        })
    }
}

fn sweep_error(e: SweepError) -> anyhow::Error {
    match e {
        SweepError::Config(c) => c.into(),
        other => other.into(),
    }
}

fn execute_grid(grid: &Grid, out: &std::path::Path, exec: &ExecArgs) -> anyhow::Result<()> {
    let shard = exec.shard()?;
    let opts = exec.options()?;
    let runs = grid.shard(shard);
    let mut store = Store::open(out)?;
    if shard == Shard::ALL {
        println!("{} runs into {}", runs.len(), store.path().display());
    } else {
        println!(
            "shard {shard}: {} of {} runs into {}",
            runs.len(),
            grid.len(),
            store.path().display()
        );
    }
    let summary = imprl::sweep::execute(&runs, &mut store, &opts).map_err(sweep_error)?;
    println!("{summary}");
    Ok(())
}

fn cmd_sweep(args: &SweepArgs) -> anyhow::Result<()> {
    let grid = Grid::from_file(&args.config)?;
    // Validate the scheduling options before any run starts.
    args.exec.shard()?;
    args.exec.options()?;
    execute_grid(&grid, &args.out, &args.exec)
}

fn cmd_reproduce(args: &ReproduceArgs) -> anyhow::Result<()> {
    let domains = if args.domains.is_empty() {
        DomainKind::ALL.to_vec()
    } else {
        let mut d = args.domains.clone();
        d.sort();
        d.dedup();
        d
    };
    let seeds = args.seeds.unwrap_or(if args.quick {
        5
    } else {
        imprl::published::N_SEEDS
    });
    if seeds == 0 {
        return Err(ConfigError::invalid("seeds", 0, "an integer >= 1").into());
    }
    let lrs = if args.quick {
        LrChoice::Best
    } else {
        LrChoice::All
    };
    let grid = published_grid(&domains, seeds, lrs);
    args.exec.shard()?;
    args.exec.options()?;
    execute_grid(&grid, &args.out, &args.exec)?;
    // The figures of everything the store holds so far (a shard's store gives those its part
    // of the grid supports; the report says which were skipped and why).
    let records = load_records(&args.out)?;
    let figures = args.out.join("figures");
    let report = imprl::plot::draw_all(&records, &figures, PlotOptions::default())?;
    print_plot_report(&report, &figures);
    Ok(())
}

fn open_existing(dir: &std::path::Path) -> anyhow::Result<Store> {
    if !Store::exists(dir) {
        anyhow::bail!(
            "{}: no results store ({}) there",
            dir.display(),
            imprl::store::DB_FILE
        );
    }
    Ok(Store::open(dir)?)
}

fn cmd_export(args: &ExportArgs) -> anyhow::Result<()> {
    let store = open_existing(&args.results)?;
    let records = store.load_all()?;
    match args.format {
        ExportFormat::Csv => {
            let out: Box<dyn Write> = match &args.out {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("cannot create {}", p.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            // A closed pipe (`| head`) ends the program quietly (see `main`).
            imprl::export::write_tidy_csv(out, records)?;
        }
        ExportFormat::Published => {
            let dir = args
                .out
                .clone()
                .unwrap_or_else(|| args.results.join("published"));
            let n = imprl::published_layout::write_published(&dir, records)?;
            eprintln!("{n} runs written to {}", dir.display());
        }
    }
    Ok(())
}

fn cmd_merge(args: &MergeArgs) -> anyhow::Result<()> {
    let mut out = Store::open(&args.out)?;
    for dir in &args.shards {
        let shard = open_existing(dir)?;
        let n = out.merge_from(&shard)?;
        println!("{}: {n} runs merged", dir.display());
    }
    println!("{} runs in {}", out.len()?, out.path().display());
    Ok(())
}

fn cmd_compare(args: &CompareArgs) -> anyhow::Result<()> {
    use imprl::compare;
    for (flag, p) in [
        ("--reference", &args.reference),
        ("--results", &args.results),
    ] {
        if !p.exists() {
            return Err(ConfigError::File {
                path: p.display().to_string(),
                message: format!("{flag}: no such file or directory"),
            }
            .into());
        }
    }
    let (theirs, skipped) = compare::load_reference(&args.reference)?;
    let records = compare::load_ours(&args.results)?;
    let (ours, excluded) = compare::summarize_ours(&records);
    let c = compare::compare(&ours, &theirs);
    let seed_sets = compare::seed_sets::check(&compare::per_seed_finals(&records), &theirs);
    drop(records);
    // A closed pipe (`| head`) must not abort the comparison: terminal output is best effort.
    let mut so = std::io::stdout().lock();
    let _ = write!(so, "{}", compare::render_table(&c));
    let _ = write!(so, "{}", compare::seed_sets::render(&seed_sets));
    if skipped > 0 {
        let _ = writeln!(so, "{skipped} published jobs of unknown domain or method, or with a bias feature, left out");
    }
    if excluded > 0 {
        let _ = writeln!(so, "{excluded} of our runs do not follow the published protocol (300 updates, sampling with replacement, published slip, no bias) and were left out");
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.results.join("compare"));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let csv_path = out.join("comparison.csv");
    let file = std::fs::File::create(&csv_path)
        .with_context(|| format!("cannot create {}", csv_path.display()))?;
    compare::write_csv(&c, file).with_context(|| format!("cannot write {}", csv_path.display()))?;
    let fig = out.join("comparison.svg");
    compare::plot(&c, &fig)?;
    let _ = writeln!(so, "wrote {} and {}", csv_path.display(), fig.display());
    if !seed_sets.is_empty() {
        let path = out.join("seed_sets.csv");
        let file = std::fs::File::create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        compare::seed_sets::write_csv(&seed_sets, file)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let _ = writeln!(so, "wrote {}", path.display());
    }
    Ok(())
}
/// All run records of the results store in `dir`.
fn load_records(dir: &std::path::Path) -> anyhow::Result<Vec<RunRecord>> {
    Ok(open_existing(dir)?.load_all()?)
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
