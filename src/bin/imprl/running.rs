//! `imprl run`, `sweep` and `reproduce`: training runs.

use crate::args::{Exec, ReproduceArgs, RunArgs, SweepArgs};
use crate::progress::Terminal;
use crate::Interrupted;
use anyhow::Context;
use imprl::domain::DomainKind;
use imprl::plot::PlotOptions;
use imprl::store::Store;
use imprl::sweep::{published_grid, Grid, LrChoice, Shard};
use imprl::train::Silent;
use std::io::Write;
use std::path::Path;

pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let cfg = args.settings()?.resolve()?;
    // A run expected to take long says so before it starts (e.g. --grad unroll:100000).
    let expected_s = imprl::sweep::estimated_cost(&cfg) / imprl::sweep::MADDS_PER_S;
    if expected_s > 600.0 {
        eprintln!(
            "warning: this run is expected to take about {:.0} minutes (steps, features, grad and actions)",
            expected_s / 60.0
        );
    }
    let log = imprl::run::run(&cfg, &mut Silent)?.log;
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
    crate::analysis::write_report_page(&args.out, &args.out.join(imprl::report::REPORT_FILE))
}
