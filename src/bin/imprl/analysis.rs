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
        check_out_dir(dir, "--out")?;
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

/// Checks, before any work, that `dir` can be an output directory: it is one, or it does not
/// exist yet (it is created when written); anything else is bad input naming `flag`.
pub fn check_out_dir(dir: &Path, flag: &str) -> Result<(), ConfigError> {
    if dir.as_os_str().is_empty() {
        return Err(ConfigError::File {
            path: String::new(),
            message: format!("{flag}: an empty path"),
        });
    }
    if dir.exists() && !dir.is_dir() {
        return Err(ConfigError::File {
            path: dir.display().to_string(),
            message: format!("{flag}: exists and is not a directory"),
        });
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
    use imprl::compare;
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
        compare::load_reference(&args.reference).map_err(|e| ConfigError::File {
            path: args.reference.display().to_string(),
            message: format!("--reference: {e}"),
        })?;
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
