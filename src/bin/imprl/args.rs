//! The command line's arguments. Run settings are not listed here: they come from the one
//! declaration of the settings ([`imprl::config::SETTINGS`]) through
//! [`imprl::config::cli::SettingFlags`].

use clap::{Args, Parser, Subcommand};
use imprl::config::cli::{AllButParam, SettingFlags};
use imprl::config::{ConfigError, RunSettings};
use imprl::domain::DomainKind;
use imprl::plot::{BestLr, Format};
use imprl::sweep::{Shard, SweepOptions};
use imprl::tidy::Table;
use std::path::PathBuf;

/// Implicit vs explicit linear value functions (Gehring et al., NeurIPS 2021), fast. The method,
/// the domains and the protocol are described in the repository's docs/ folder.
#[derive(Parser)]
#[command(name = "imprl", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Run work whose estimated memory exceeds the available memory (MemAvailable) instead of
    /// refusing it.
    #[arg(long, global = true)]
    pub allow_memory: bool,
}

#[derive(Subcommand)]
pub enum Command {
    /// Train one run and write its log (published `logs.csv` format) to stdout or --out.
    Run(RunArgs),
    /// Follow one implicit and one explicit run and check the paper's theory along them
    /// (Theorems 1, 4, 5, Corollaries 1-3, the Perron split): report, CSV and figures.
    Theory(TheoryArgs),
    /// Run a grid of runs (every setting may be a list) into a resumable results store.
    Sweep(SweepArgs),
    /// Run the published experiment grid (docs/protocol.md) into a resumable results store,
    /// then draw its figures.
    Reproduce(ReproduceArgs),
    /// Export a results store: a tidy CSV or Parquet table, or the published directory layout.
    Export(ExportArgs),
    /// Combine the results stores of shards into one.
    Merge(MergeArgs),
    /// Compare a results store with the published runs (table, CSV and figure).
    Compare(CompareArgs),
    /// Draw the paper's figures (SVG/PNG, each with a CSV of its numbers) from a results store.
    Plot(PlotArgs),
    /// Write one self-contained HTML page of a results directory: its figures, comparison and
    /// theory, with the settings and version that made them.
    Report(ReportArgs),
    /// Follow one implicit run (grad = ift) and compare every gradient mode (unroll:K,
    /// unroll-warm:K, truncated:K) with the exact gradient: gradients.csv and a figure.
    Gradients(GradientsArgs),
    /// Run a designed study into a resumable results store, then write its table and figures.
    #[command(subcommand)]
    Study(StudyCommand),
    /// Draw what one implicit and one explicit run learned (or saved runs of --params): the
    /// predicted values against the true ones and the learned model σ(F) against P^π, each
    /// figure with its CSV.
    Values(ValuesArgs),
    /// Write a domain's training and test sets (Monte Carlo targets, no bias column) as a
    /// directory that `--domain data:DIR` reads.
    Dataset(DatasetArgs),
}

/// The studies of `imprl study`.
#[derive(Subcommand)]
pub enum StudyCommand {
    /// The model family (README "Model family study"): final ‖r‖ against m ∈ {1, 2, 4} ×
    /// {max, logsumexp} at each domain's best fixed η, and learned versus fixed η from each
    /// grid η₀ (implicit, best learning rates, offset 0).
    ModelFamily(ModelFamilyArgs),
    /// Figures 1-3 with TD targets (td:1, td:10) next to Monte Carlo returns, on the three
    /// domains; figures per targets value and a summary table (README, "TD targets").
    Td(TdStudyArgs),
    /// Final ‖r‖ and its `1` component against K for unroll, unroll-warm and truncated, with
    /// ift as reference, at the published best settings and offsets 0, 0.5, 1, per domain,
    /// plus the cost of an update (SPEC §8.3).
    Gradients(StudyGradientsArgs),
    /// What model end-to-end training learns: σ(F) against P^π, w against r^π, θ̂ against
    /// V^π along training on the chain and four rooms, from the published and from the true
    /// model, and which part of σ(F) moves (docs/learned-model).
    LearnedModel(LearnedModelArgs),
    /// The paper's insight on state-dependent (VIN-style) models: one network maps gridworld
    /// maps to implicit, explicit and unrolled value functions (docs/state-dependent). Runs in
    /// Python: the `imprl` package with JAX and optax (pip install "./python[study]"), the
    /// interpreter $IMPRL_PYTHON or else python3; the options are the Python module's
    /// (`imprl study state-dependent --help` lists them).
    #[command(disable_help_flag = true)]
    StateDependent(StateDependentArgs),
}

/// Options of `imprl study state-dependent`: given, as they are, to
/// `python -m imprl.state_dependent`, which declares them.
#[derive(Args)]
pub struct StateDependentArgs {
    /// The study's options (see `imprl study state-dependent --help`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub args: Vec<String>,
}

/// `imprl study learned-model`: into `study-learned-model` (made again each time), 10 seeds.
#[derive(Clone)]
pub struct LearnedModelDefaults;
impl StudyDefaults for LearnedModelDefaults {
    const OUT: &'static str = "study-learned-model";
    const SEEDS: &'static str = "10";
}

/// Options of `imprl study learned-model`.
#[derive(Args)]
pub struct LearnedModelArgs {
    #[command(flatten)]
    pub study: StudyArgs<LearnedModelDefaults>,
    /// Updates per run [default: the paper's 300].
    #[arg(long)]
    pub steps: Option<usize>,
    /// Image formats.
    #[arg(long, value_enum, default_value_t = Format::Both)]
    pub format: Format,
}

/// The defaults of one study's [`StudyArgs`].
pub trait StudyDefaults: Clone + Send + Sync + 'static {
    /// Output directory.
    const OUT: &'static str;
    /// Seeds per configuration.
    const SEEDS: &'static str;
}

/// Options shared by the studies of `imprl study`, with the defaults of study `D`.
#[derive(Args, Clone)]
pub struct StudyArgs<D: StudyDefaults> {
    /// Output directory (the study's results, table and figures).
    #[arg(long, default_value = D::OUT)]
    pub out: PathBuf,
    /// Seeds per configuration (seeds 0..N).
    #[arg(long, default_value = D::SEEDS)]
    pub seeds: usize,
    /// Worker threads [default: all cores].
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Progress display [default: a bar on a terminal, else plain lines].
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,
    #[arg(skip)]
    pub defaults: std::marker::PhantomData<D>,
}

/// `imprl study model-family`: into `model-family` (a results store: rerunning resumes), the
/// published number of seeds.
#[derive(Clone)]
pub struct ModelFamilyDefaults;
impl StudyDefaults for ModelFamilyDefaults {
    const OUT: &'static str = "model-family";
    const SEEDS: &'static str = "20";
}

/// Options of `imprl values`.
#[derive(Args)]
pub struct ValuesArgs {
    /// Settings of the two runs (implicit and explicit; --lr sets both, else each takes its
    /// default).
    #[command(flatten)]
    pub settings: SettingFlags<AllButParam>,
    /// Output directory of the figures and their CSV tables.
    #[arg(long, default_value = "results/values")]
    pub out: PathBuf,
    /// Image formats.
    #[arg(long, value_enum, default_value_t = Format::Both)]
    pub format: Format,
    /// Draw these saved runs (`imprl run --save-params`, one or two, of one domain and offset)
    /// instead of training; no run setting is taken with it.
    #[arg(long, num_args = 1..=2, value_name = "FILE.npz")]
    pub params: Vec<PathBuf>,
}

/// Options of `imprl study model-family`.
#[derive(Args)]
pub struct ModelFamilyArgs {
    #[command(flatten)]
    pub study: StudyArgs<ModelFamilyDefaults>,
}

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

/// Options of `imprl dataset`.
#[derive(Args)]
pub struct DatasetArgs {
    /// The domain (any that `--domain` accepts).
    #[arg(long)]
    pub domain: String,
    /// Run seed whose data are written.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Reward offset c.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub offset: f64,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Write train_x.npy, train_y.npy, test_x.npy, test_y.npy instead of train.csv, test.csv.
    #[arg(long)]
    pub npy: bool,
}

/// `imprl study td`: into `study-td` (a results store: rerunning resumes), 10 seeds.
#[derive(Clone)]
pub struct TdDefaults;
impl StudyDefaults for TdDefaults {
    const OUT: &'static str = "study-td";
    const SEEDS: &'static str = "10";
}

/// Options of `imprl study td`.
#[derive(Args)]
pub struct TdStudyArgs {
    #[command(flatten)]
    pub study: StudyArgs<TdDefaults>,
    /// Image formats.
    #[arg(long, value_enum, default_value_t = Format::Both)]
    pub format: Format,
    /// Delete runs that fail their checksum (damaged store) and run them again.
    #[arg(long)]
    pub repair: bool,
    /// Keep every run's final value weights θ̂ in the store (8·k bytes a run; exported by
    /// `export --table theta`). Runs already stored without them are not run again.
    #[arg(long)]
    pub save_params: bool,
}

/// Options of `imprl report`.
#[derive(Args)]
pub struct ReportArgs {
    /// Results directory: its store, and the figures/, compare/ and theory/ written there.
    #[arg(long)]
    pub results: PathBuf,
    /// Output HTML file [default: <results>/report.html].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Settings of one run; any of them may also come from --config (flags override the file).
#[derive(Args)]
pub struct RunArgs {
    /// TOML file with run settings (the names of the flags, with `_` for `-`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub settings: SettingFlags,
    /// Output CSV file [default: stdout].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write what the run learned to this NumPy .npz file: theta, the parameterization's
    /// arrays, the test set's features, predictions and targets, and the settings.
    #[arg(long, value_name = "PATH.npz")]
    pub save_params: Option<PathBuf>,
    /// With --save-params: checkpoints every N updates (0, N, 2N, …, and the last), each array
    /// with a leading checkpoint axis.
    #[arg(long, value_name = "N", requires = "save_params")]
    pub save_every: Option<usize>,
}

impl RunArgs {
    /// The file's settings overridden by the flags.
    pub fn settings(&self) -> Result<RunSettings, ConfigError> {
        let file = match &self.config {
            Some(p) => RunSettings::from_file(p)?,
            None => RunSettings::default(),
        };
        Ok(file.overridden_by(&self.settings.settings()?))
    }
}

/// Settings of a theory analysis (defaults: the paper's best settings for the domain); it runs
/// both parameterizations, so `--param` is not taken.
#[derive(Args)]
pub struct TheoryArgs {
    #[command(flatten)]
    pub settings: SettingFlags<AllButParam>,
    /// Learning rate of the explicit run [default: the paper's best for the domain]; --lr sets
    /// the implicit run's.
    #[arg(long, allow_negative_numbers = true)]
    pub lr_explicit: Option<f64>,
    /// Analyze every this many updates (and after the last) [default: 50].
    #[arg(long)]
    pub every: Option<usize>,
    /// Minibatches per Monte-Carlo estimate [default: 1000].
    #[arg(long)]
    pub mc: Option<usize>,
    /// Directory for theory.csv and the figures [default: none, report only].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args)]
pub struct CompareArgs {
    /// The published data: the directory layout (`<domain>/<method>/<run-id>/results.csv`, any
    /// subset) or a per-configuration summary CSV such as chain_summary.csv.
    #[arg(long)]
    pub reference: PathBuf,
    /// Our results directory (a results store).
    #[arg(long)]
    pub results: PathBuf,
    /// Output directory for comparison.csv and the figure [default: RESULTS/compare].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Options shared by the commands that run sweeps.
#[derive(Args)]
pub struct ExecArgs {
    /// Run only shard I of N (I counted from 0): the runs whose index in the grid is I mod N.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Worker threads [default: all cores].
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Progress display [default: a bar on a terminal, else plain lines].
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,
    /// Delete runs that fail their checksum (damaged store) and run them again.
    #[arg(long)]
    pub repair: bool,
    /// Keep every run's final value weights θ̂ in the store (8·k bytes a run; exported by
    /// `export --table theta`). Runs already stored without them are not run again.
    #[arg(long)]
    pub save_params: bool,
}

/// The validated scheduling options of a sweep.
pub struct Exec {
    pub shard: Shard,
    pub options: SweepOptions,
    pub progress: ProgressArg,
}

impl ExecArgs {
    /// Parses and checks the options, once, before any work.
    pub fn validate(&self) -> Result<Exec, ConfigError> {
        Ok(Exec {
            shard: self.shard.as_deref().map_or(Ok(Shard::ALL), Shard::parse)?,
            options: SweepOptions::new(self.jobs, self.repair)?.saving_params(self.save_params),
            progress: self.progress,
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressArg {
    Auto,
    Bar,
    Lines,
    Quiet,
}

#[derive(Args)]
pub struct SweepArgs {
    /// Grid file (TOML): any run setting may be a list; `[lr]` may give rates per
    /// "<domain>.<param>".
    #[arg(long)]
    pub config: PathBuf,
    /// Output directory (holds the results store; rerunning resumes).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub exec: ExecArgs,
}

#[derive(Args)]
pub struct ReproduceArgs {
    /// Domains, comma-separated [default: all three].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub domains: Vec<DomainKind>,
    /// Output directory (holds the results store; rerunning resumes).
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// A quick look: 5 seeds and only the paper's best learning rates.
    #[arg(long)]
    pub quick: bool,
    /// Seeds 0..N per configuration [default: 20, or 5 with --quick].
    #[arg(long)]
    pub seeds: Option<usize>,
    #[command(flatten)]
    pub exec: ExecArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    /// One tidy row per run × evaluation, every setting a column.
    Csv,
    /// The published directory layout (`results.csv` job logs and `<Seq>/logs.csv`).
    Published,
    /// The tidy table of `csv` as one typed Parquet file (for pandas, polars, Arrow).
    Parquet,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Results directory (of `imprl sweep`, `reproduce` or `merge`).
    #[arg(long)]
    pub results: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,
    /// Which table: `evals` (one row per run and evaluation) or `theta` (one row per run and
    /// component of the final θ̂ kept by `sweep --save-params`); csv and parquet only.
    #[arg(long, default_value = "evals", value_parser = parse_table)]
    pub table: Table,
    /// Output: a file for csv [default: stdout], a directory for published [default:
    /// RESULTS/published], a file for parquet [default: RESULTS/results.parquet, or
    /// RESULTS/theta.parquet for the theta table].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// A table's name ([`Table::name`]).
fn parse_table(s: &str) -> Result<Table, String> {
    Table::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
        format!("one of: {}", names.join(", "))
    })
}

#[derive(Args)]
pub struct MergeArgs {
    /// Output directory of the merged store (created or added to).
    #[arg(long)]
    pub out: PathBuf,
    /// Results directories of the shards.
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
}

/// Options of `imprl plot`.
#[derive(Args)]
pub struct PlotArgs {
    /// Results store directory.
    #[arg(long)]
    pub results: PathBuf,
    /// Output directory [default: <results>/figures].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Image formats.
    #[arg(long, value_enum, default_value_t = Format::Both)]
    pub format: Format,
    /// Learning rates of the "best" figures: the paper's or those with the lowest final ‖r‖.
    #[arg(long, value_enum, default_value_t = BestLr::Published)]
    pub best: BestLr,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn study(args: &[&str]) -> Cli {
        Cli::try_parse_from(["imprl", "study"].iter().chain(args)).expect("parses")
    }

    /// Every study takes the same options, with its own output directory and seeds by default
    /// and all cores unless `--jobs`; none takes `--shard`.
    #[test]
    fn the_studies_share_their_options() {
        assert_eq!(
            ModelFamilyDefaults::SEEDS.parse::<usize>(),
            Ok(imprl::published::N_SEEDS)
        );
        let shared = |c: Cli| match c.command {
            Command::Study(StudyCommand::ModelFamily(a)) => {
                (a.study.out, a.study.seeds, a.study.jobs)
            }
            Command::Study(StudyCommand::Td(a)) => (a.study.out, a.study.seeds, a.study.jobs),
            Command::Study(StudyCommand::Gradients(a)) => {
                (a.study.out, a.study.seeds, a.study.jobs)
            }
            Command::Study(StudyCommand::LearnedModel(a)) => {
                (a.study.out, a.study.seeds, a.study.jobs)
            }
            _ => unreachable!("a study"),
        };
        for (name, out, seeds) in [
            ("model-family", "model-family", 20),
            ("td", "study-td", 10),
            ("gradients", "study-gradients", 20),
            ("learned-model", "study-learned-model", 10),
        ] {
            assert_eq!(shared(study(&[name])), (PathBuf::from(out), seeds, None));
            assert_eq!(
                shared(study(&[
                    name,
                    "--out",
                    "x",
                    "--seeds",
                    "3",
                    "--jobs",
                    "2",
                    "--progress",
                    "quiet"
                ])),
                (PathBuf::from("x"), 3, Some(2))
            );
            assert!(Cli::try_parse_from(["imprl", "study", name, "--shard", "0/2"]).is_err());
        }
    }
}
