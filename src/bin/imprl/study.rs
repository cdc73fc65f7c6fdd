//! `imprl study`: designed studies over the library's sweeps (`imprl::study`), each run the same
//! way: its runs into a resumable store (progress and Ctrl-C from the terminal), then its table
//! and figures.

use crate::args::{StudyArgs, StudyCommand, StudyDefaults};
use crate::progress::Terminal;
use crate::Interrupted;
use imprl::config::{check_count, ConfigError, SettingType};
use imprl::domain::DomainKind;
use imprl::study::StudyReport;
use imprl::sweep::SweepOptions;

pub fn study(which: &StudyCommand) -> anyhow::Result<()> {
    match which {
        StudyCommand::ModelFamily(args) => {
            let (seeds, opts, mut terminal) = start(&args.study, false)?;
            let report =
                imprl::study::model_family::run(&args.study.out, seeds, &opts, &mut terminal)?;
            finish(&report, &terminal, &args.study)
        }
        StudyCommand::Td(args) => {
            let (seeds, opts, mut terminal) = start(&args.study, args.repair)?;
            let report =
                imprl::study::td::run(&args.study.out, seeds, &opts, &mut terminal, args.format)?;
            finish(&report, &terminal, &args.study)
        }
        StudyCommand::Gradients(args) => {
            use imprl::study::gradients::{run, StudyOptions};
            let (seeds, opts, mut terminal) = start(&args.study, false)?;
            let mut study = StudyOptions {
                seeds: seeds as u64,
                ..StudyOptions::default()
            };
            if !args.domains.is_empty() {
                study.domains = args
                    .domains
                    .iter()
                    .map(|d| {
                        DomainKind::parse(imprl::config::Raw::Text(d))
                            .ok_or_else(|| ConfigError::invalid("domains", d, &DomainKind::kind()))
                    })
                    .collect::<Result<_, _>>()?;
            }
            let report = run(&args.study.out, &study, &opts, &mut terminal)?;
            finish(&report, &terminal, &args.study)
        }
        StudyCommand::LearnedModel(args) => {
            use imprl::study::learned_model::{run, runs, StudyOptions};
            let (seeds, _, terminal) = start(&args.study, false)?;
            let mut study = StudyOptions {
                seeds: seeds as u64,
                jobs: args.study.jobs,
                format: args.format,
                ..StudyOptions::default()
            };
            if let Some(steps) = args.steps {
                study.steps = check_count("steps", steps)?;
            }
            // Every run's settings checked before any work (bad input exits 2).
            runs(&study)?;
            let report = run(&args.study.out, &study)?;
            finish(&report, &terminal, &args.study)
        }
        StudyCommand::StateDependent(args) => state_dependent(&args.args),
    }
}

/// `imprl study state-dependent`: `python -m imprl.state_dependent ARGS` with the interpreter
/// `$IMPRL_PYTHON` (else `python3`), its exit status passed on. An interpreter that cannot be
/// started or lacks the `imprl` package is bad input (exit 2), named before any work.
fn state_dependent(args: &[String]) -> anyhow::Result<()> {
    use std::process::Command;
    let python = std::env::var_os("IMPRL_PYTHON").unwrap_or_else(|| "python3".into());
    let shown = python.to_string_lossy().into_owned();
    let missing = |why: String| {
        ConfigError::invalid(
            "IMPRL_PYTHON",
            &shown,
            &format!("a Python with the imprl package (pip install \"./python[study]\"; {why})"),
        )
    };
    let probe = Command::new(&python)
        .args(["-c", "import imprl.state_dependent"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| missing(format!("cannot start it: {e}")))?;
    if !probe.success() {
        return Err(missing("it cannot import imprl.state_dependent".into()).into());
    }
    let status = Command::new(&python)
        .args(["-m", "imprl.state_dependent"])
        .args(args)
        .status()
        .map_err(|e| missing(format!("cannot start it: {e}")))?;
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => Err(crate::Exited(code.clamp(1, 255) as u8).into()),
        None => {
            #[cfg(unix)]
            let signal = std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(15);
            #[cfg(not(unix))]
            let signal = 15;
            Err(crate::Interrupted(signal).into())
        }
    }
}

/// The study's options checked, and the terminal that shows its progress.
fn start<D: StudyDefaults>(
    study: &StudyArgs<D>,
    repair: bool,
) -> anyhow::Result<(usize, SweepOptions, Terminal)> {
    let seeds = imprl::config::check_seeds(study.seeds)?;
    let opts = SweepOptions::new(study.jobs, repair)?;
    Ok((seeds, opts, Terminal::new(study.progress)?))
}

/// Prints what the study did; an interrupted study exits as the signal says.
fn finish<D: StudyDefaults>(
    report: &StudyReport,
    terminal: &Terminal,
    study: &StudyArgs<D>,
) -> anyhow::Result<()> {
    for s in &report.sweeps {
        println!("{s}");
    }
    for note in &report.notes {
        println!("{note}");
    }
    if report.interrupted() {
        return match terminal.signal() {
            Some(sig) => Err(Interrupted(sig).into()),
            None => Ok(()),
        };
    }
    println!(
        "wrote {} files to {}",
        report.files.len(),
        study.out.display()
    );
    Ok(())
}
