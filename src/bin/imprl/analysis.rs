//! `imprl theory`, `compare` and `plot`: analyses of runs.

use crate::args::{CompareArgs, PlotArgs, ReportArgs, TheoryArgs};
use anyhow::Context;
use imprl::config::ConfigError;
use imprl::plot::{PlotOptions, PlotReport};
use std::io::Write;
use std::path::Path;

pub fn theory(args: &TheoryArgs) -> anyhow::Result<()> {
    let settings = args.settings.settings()?;
    let implicit = imprl::config::RunSettings {
        param: Some(imprl::param::ParamKind::Implicit),
        ..settings
    }
    .resolve()?;
    if implicit.actions != 1 || implicit.learn_eta != imprl::param::LearnEta::None {
        return theory_family(&implicit, args);
    }
    let (run, cfg) = imprl::theory::resolve(&settings, args.lr_explicit, args.every, args.mc)?;
    let problem = run.domain_spec().problem(run.offset, run.seed);
    imprl::theory::check_problem(&cfg, &problem)?;
    let total = cfg.checkpoints.len();
    let mut done = 0;
    let report = imprl::theory::analyze(&cfg, &problem, &mut |step| {
        done += 1;
        eprintln!("checkpoint {done}/{total} (step {step}) done");
    });
    let title = format!(
        "domain {}, offset {}, seed {}",
        run.domain, run.offset, run.seed
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

/// `imprl theory` for the model family (m > 1 or a learned η): Theorem 1 generalized along the
/// run; the Perron split and Theorems 4–5 do not apply and are named as such.
fn theory_family(run: &imprl::config::RunConfig, args: &TheoryArgs) -> anyhow::Result<()> {
    if run.targets != imprl::domain::Targets::Mc {
        return Err(ConfigError::invalid(
            "targets",
            imprl::config::SettingType::text(&run.targets),
            "mc (the theorems are stated for fixed targets; TD targets move with θ)",
        )
        .into());
    }
    let every = args.every.unwrap_or(50);
    if every == 0 {
        return Err(ConfigError::invalid("every", 0, "an integer >= 1").into());
    }
    let mut checkpoints: Vec<usize> = (0..=run.steps).step_by(every).collect();
    if checkpoints.last() != Some(&run.steps) {
        checkpoints.push(run.steps);
    }
    let problem = run
        .domain_spec()
        .try_problem(run.offset, run.seed)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let rows = imprl::theory::family_analysis(run, &problem, &checkpoints)?;
    let mut text = format!(
        "domain {}, offset {}, seed {}: implicit model with {} pseudo-action(s), reduce {}, learn_eta {}\n\
         Theorem 1 (generalized: P = A⁻¹CA⁻ᵀ, A = I − Σ_a diag(π_a) η S_a), one-step oracle at α = {} and α/4:\n\
         step  λmin(P)  λmax(P)  rel.err(α)  rel.err(α/4)\n",
        run.domain,
        run.offset,
        run.seed,
        run.actions,
        imprl::config::SettingType::text(&run.reduce),
        imprl::config::SettingType::text(&run.learn_eta),
        run.lr,
    );
    for r in &rows {
        text.push_str(&format!(
            "{:>5}  {:.3e}  {:.3e}  {:.3e}  {:.3e}\n",
            r.step, r.p_lambda_min, r.p_lambda_max, r.thm1_rel_err, r.thm1_rel_err_quarter
        ));
    }
    text.push_str(
        "Perron split, Theorem 4, Theorem 5 / Corollaries 2–3: do not apply (stated for the paper's \
         Markov reward chain with one action and a fixed η).\n",
    );
    print!("{text}");
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("theory_family.csv");
        let mut csv =
            String::from("step,p_lambda_min,p_lambda_max,thm1_rel_err,thm1_rel_err_quarter\n");
        for r in &rows {
            csv.push_str(&format!(
                "{},{},{},{},{}\n",
                r.step, r.p_lambda_min, r.p_lambda_max, r.thm1_rel_err, r.thm1_rel_err_quarter
            ));
        }
        std::fs::write(&path, csv).with_context(|| format!("cannot write {}", path.display()))?;
        println!("\nwrote {}", path.display());
    }
    Ok(())
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
