//! `imprl theory`, `compare` and `plot`: analyses of runs.

use crate::args::{CompareArgs, PlotArgs, ReportArgs, TheoryArgs};
use anyhow::Context;
use imprl::config::ConfigError;
use imprl::plot::{PlotOptions, PlotReport};
use std::io::Write;
use std::path::Path;

pub fn theory(args: &TheoryArgs) -> anyhow::Result<()> {
    let settings = args.settings.settings()?;
    let plan = imprl::theory::resolve(&settings, args.lr_explicit, args.every, args.mc)?;
    if let Some(dir) = &args.out {
        crate::stores::check_out_dir(dir, "--out")?;
    }
    let total = plan.checkpoints().len();
    let mut done = 0;
    let outcome = plan
        .analyze(&mut |step| {
            done += 1;
            eprintln!("checkpoint {done}/{total} (step {step}) done");
        })
        .map_err(cli_error)?;
    print!("{}", outcome.render_text());
    if let Some(dir) = &args.out {
        let files = outcome.write(dir).map_err(cli_error)?;
        match files.figures {
            Some(figs) => println!(
                "\nwrote {} and {} figures to {}",
                files.table.display(),
                figs.len(),
                dir.display()
            ),
            None => println!("\nwrote {}", files.table.display()),
        }
    }
    Ok(())
}

/// A theory error as the command line reports it: refused settings as usage errors (exit 2),
/// an own domain's load error as its one line.
fn cli_error(e: imprl::theory::TheoryError) -> anyhow::Error {
    use imprl::theory::TheoryError;
    match e {
        TheoryError::Config(c) => c.into(),
        TheoryError::Problem(p) => anyhow::anyhow!("{p}"),
        e => e.into(),
    }
}

pub fn compare(args: &CompareArgs) -> anyhow::Result<()> {
    if !args.reference.exists() {
        return Err(ConfigError::File {
            path: args.reference.display().to_string(),
            message: "--reference: no such file or directory".into(),
        }
        .into());
    }
    crate::stores::require_store(&args.results)?;
    // A reference that cannot be read is bad input, like a missing one.
    let (theirs, skipped) =
        imprl::compare::load_reference(&args.reference).map_err(|e| ConfigError::File {
            path: args.reference.display().to_string(),
            message: format!("--reference: {e}"),
        })?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.results.join("compare"));
    let records = imprl::compare::load_ours(&args.results)?;
    compare_with(&theirs, skipped, &records, &out)
}

/// Compares our runs `records` (those of a results store) with the published summary `theirs`
/// (`skipped` published jobs left out), prints the tables and writes them and the figure to
/// `out`, naming every file written.
fn compare_with(
    theirs: &std::collections::BTreeMap<imprl::compare::ConfigKey, imprl::compare::SideStats>,
    skipped: usize,
    records: &[imprl::record::RunRecord],
    out: &Path,
) -> anyhow::Result<()> {
    use imprl::compare;
    let (ours, excluded) = compare::summarize_ours(records);
    let c = compare::compare(&ours, theirs);
    let seed_sets = compare::seed_sets::check(&compare::per_seed_finals(records), theirs);
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
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let csv_path = out.join("comparison.csv");
    let file = std::fs::File::create(&csv_path)
        .with_context(|| format!("cannot create {}", csv_path.display()))?;
    compare::write_csv(&c, file).with_context(|| format!("cannot write {}", csv_path.display()))?;
    let mut written = vec![csv_path];
    written.extend(compare::plot(&c, &out.join("comparison.svg"))?);
    if !seed_sets.is_empty() {
        let path = out.join("seed_sets.csv");
        let file = std::fs::File::create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        compare::seed_sets::write_csv(&seed_sets, file)
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
    let _ = writeln!(so, "wrote {}", names.join(", "));
    Ok(())
}

/// For `reproduce` and `report`: compares the chain runs of `results` (those that follow the
/// published protocol) with the published summary shipped with imprl, into `results/compare`,
/// unless a comparison is already there; says what it did, and what the other domains need.
pub fn compare_shipped(results: &Path, records: &[imprl::record::RunRecord]) -> anyhow::Result<()> {
    use imprl::domain::DomainKind;
    let out = results.join("compare");
    let has = |d: DomainKind| {
        records
            .iter()
            .any(|r| r.config.domain == d && r.config.follows_protocol())
    };
    if out.join("comparison.csv").is_file() {
        return Ok(());
    }
    if has(DomainKind::Chain) {
        println!(
            "comparing the chain runs with the published summary shipped with imprl ({}):",
            imprl::compare::CHAIN_SUMMARY_NAME
        );
        compare_with(&imprl::compare::chain_summary()?, 0, records, &out)?;
    }
    if has(DomainKind::FourRooms) || has(DomainKind::MountainCar) {
        println!("four rooms and mountain car are compared with the published runs themselves, which imprl does not ship: imprl compare --reference PUBLISHED_DIR --results {} (docs/compare.md)", results.display());
    }
    Ok(())
}

pub fn plot(args: &PlotArgs) -> anyhow::Result<()> {
    let records = crate::stores::open_existing(&args.results)?.load_all()?;
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
pub fn print_plot_report(report: &PlotReport, out: &std::path::Path) {
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

pub fn report(args: &ReportArgs) -> anyhow::Result<()> {
    crate::stores::require_store(&args.results)?;
    // The page shows what the directory holds: figures are drawn and the chain compared with
    // the shipped summary when they are missing, and the terminal says so.
    // The runs are read for that only when something is missing (the page reads them itself).
    let figures = args.results.join("figures");
    let no_figures = !imprl::report::has_figures(&figures)?;
    if no_figures || !args.results.join("compare/comparison.csv").is_file() {
        let records = crate::stores::open_existing(&args.results)?.load_all()?;
        if no_figures {
            println!(
                "no figures in {}: drawing them (imprl plot, its defaults)",
                figures.display()
            );
            let drawn = imprl::plot::draw_all(&records, &figures, PlotOptions::default())?;
            print_plot_report(&drawn, &figures);
        }
        compare_shipped(&args.results, &records)?;
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.results.join(imprl::report::REPORT_FILE));
    write_report_page(&args.results, &out)
}

/// Writes the report page of results directory `dir` to `out` and says so.
pub fn write_report_page(dir: &Path, out: &Path) -> anyhow::Result<()> {
    let s = imprl::report::write_report(dir, out)?;
    println!(
        "wrote {} ({} figures, {} tables, {} runs)",
        out.display(),
        s.figures,
        s.tables,
        s.runs
    );
    Ok(())
}
