//! `imprl run`, `sweep` and `reproduce`: training runs.

use crate::args::{Exec, ReproduceArgs, RunArgs, SweepArgs};
use crate::progress::Terminal;
use crate::Interrupted;
use anyhow::Context;
use imprl::config::check_count;
use imprl::domain::DomainKind;
use imprl::plot::PlotOptions;
use imprl::saved::Recorder;
use imprl::store::Store;
use imprl::sweep::{published_grid, Grid, LrChoice, Shard};
use imprl::train::Silent;
use std::io::Write;
use std::path::Path;

pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let settings = args.settings()?;
    let cfg = settings.resolve()?;
    // A run expected to take long says so before it starts (e.g. --grad unroll:100000).
    let expected_s = imprl::sweep::estimated_cost(&cfg) / imprl::sweep::MADDS_PER_S;
    if expected_s > 600.0 {
        eprintln!(
            "warning: this run is expected to take about {:.0} minutes (steps, features, grad and actions)",
            expected_s / 60.0
        );
    }
    let every = args
        .save_every
        .map(|n| check_count("save_every", n))
        .transpose()?;
    if let Some(p) = &args.save_params {
        crate::stores::check_output_file("save_params", p)?;
    }
    // The log's file is made before the run, so that a path that cannot be written fails first.
    let out: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let problem = imprl::run::problem(&cfg)?;
    let log = match &args.save_params {
        None => imprl::run::run_with(&cfg, &problem, &mut Silent)?.log,
        Some(path) => {
            let n = Recorder::count(cfg.steps, every);
            let bytes = n * imprl::saved::checkpoint_bytes(&cfg, &problem);
            if n > 1 {
                eprintln!(
                    "saving {n} checkpoints of the parameters: about {:.1} MB in {}",
                    bytes as f64 / 1e6,
                    path.display()
                );
            }
            let (trained, arrays) = imprl::saved::run_saving(&cfg, &problem, every, &mut Silent)?;
            imprl::npz::write(path, &arrays)
                .with_context(|| format!("cannot write {}", path.display()))?;
            let step = arrays
                .iter()
                .find(|a| a.name == "timestep")
                .and_then(|a| match &a.data {
                    imprl::npz::ArrayData::I64(v) => v.last().copied(),
                    _ => None,
                })
                .unwrap_or(0);
            let last = if trained.log.outcome.diverged_at().is_some() {
                " (the last finite ones)"
            } else {
                ""
            };
            eprintln!(
                "saved the parameters after update {step}{last} to {}",
                path.display()
            );
            trained.log
        }
    };
    if settings.lr.is_none() {
        eprintln!("learning rate {}: the default for these settings", cfg.lr);
    }
    imprl::export::write_logs_csv(out, &log.rows)?;
    if let Some(step) = log.outcome.diverged_at() {
        let why = log.failure.map(|f| format!(": {f}")).unwrap_or_default();
        eprintln!("warning: the run diverged after {step} updates{why}; the log stops at its last finite evaluation");
    }
    // One warning line: a diverged run has said so already (and is not unstable).
    let unstable = imprl::metrics::unstable_at(&log.rows, log.outcome.diverged_at());
    if let Some(step) = unstable {
        eprintln!(
            "warning: unstable: the test loss grew past {:e} times its start by update {step} (learning rate {}); try a smaller --lr",
            imprl::metrics::UNSTABLE_FACTOR,
            cfg.lr
        );
    }
    Ok(())
}

/// Runs the grid's part `exec.shard` into the store in `out`.
fn execute_grid(grid: &Grid, out: &Path, exec: &Exec) -> anyhow::Result<()> {
    let runs = grid.shard(exec.shard);
    let mut store = Store::open(out)?;
    if exec.shard == Shard::ALL {
        println!("{} runs into {}", runs.len(), store.path().display());
    } else {
        println!(
            "shard {}: {} of {} runs into {}",
            exec.shard,
            runs.len(),
            grid.len(),
            store.path().display()
        );
    }
    let mut terminal = Terminal::new(exec.progress)?;
    let summary = imprl::sweep::execute(&runs, &mut store, &exec.options, &mut terminal)?;
    println!("{summary}");
    match terminal.signal() {
        Some(sig) if summary.interrupted => Err(Interrupted(sig).into()),
        _ => Ok(()),
    }
}

pub fn sweep(args: &SweepArgs) -> anyhow::Result<()> {
    let exec = args.exec.validate()?;
    let grid = Grid::from_file(&args.config)?;
    execute_grid(&grid, &args.out, &exec)
}

pub fn reproduce(args: &ReproduceArgs) -> anyhow::Result<()> {
    let exec = args.exec.validate()?;
    let domains = if args.domains.is_empty() {
        DomainKind::ALL.to_vec()
    } else {
        let mut d = args.domains.clone();
        d.sort();
        d.dedup();
        d
    };
    let default_seeds = if args.quick {
        5
    } else {
        imprl::published::N_SEEDS
    };
    let seeds = imprl::config::check_seeds(args.seeds.unwrap_or(default_seeds))?;
    let lrs = if args.quick {
        LrChoice::Best
    } else {
        LrChoice::All
    };
    let grid = published_grid(&domains, seeds, lrs)?;
    execute_grid(&grid, &args.out, &exec)?;
    // The figures of everything the store holds so far (a shard's store gives those its part
    // of the grid supports; the report says which were skipped and why).
    let records = crate::stores::open_existing(&args.out)?.load_all()?;
    let figures = args.out.join("figures");
    let report = imprl::plot::draw_all(&records, &figures, PlotOptions::default())?;
    crate::analysis::print_plot_report(&report, &figures);
    crate::analysis::compare_shipped(&args.out, &records)?;
    drop(records);
    crate::analysis::write_report_page(&args.out, &args.out.join(imprl::report::REPORT_FILE))
}
