//! The `imprl` command line: a thin layer of subcommands over the library. One function per
//! subcommand (in the modules beside this file); argument types in [`args`]; the terminal's
//! progress display and signal handling in [`progress`].
//!
//! Exit codes: 0 success; 2 bad input (a setting, option or file refused before any work
//! starts); 1 a failure while working; 130 / 143 a sweep stopped by Ctrl-C / SIGTERM (its
//! finished runs are stored: the same command resumes it).

mod analysis;
mod args;
mod dataset;
mod gradmodes;
mod progress;
mod running;
mod stores;
mod study;
mod values;

use args::{Cli, Command};
use clap::Parser;
use imprl::config::ConfigError;
use std::process::ExitCode;

/// Exit code for bad input (as clap uses for usage errors).
const USAGE: u8 = 2;

/// A sweep stopped by a signal: exit with `128 + signal` after its summary was printed.
#[derive(Debug, thiserror::Error)]
#[error("stopped by signal {0}")]
pub struct Interrupted(pub i32);

/// A child process (a study run in Python) that exited with this status, after printing its
/// own messages: exit with it.
#[derive(Debug, thiserror::Error)]
#[error("exited with status {0}")]
pub struct Exited(pub u8);

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
    imprl::memory::allow_any(cli.allow_memory);
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(Interrupted(sig)) = e.downcast_ref::<Interrupted>() {
                return ExitCode::from((128 + sig) as u8);
            }
            if let Some(Exited(code)) = e.downcast_ref::<Exited>() {
                return ExitCode::from(*code);
            }
            eprintln!("error: {}", one_line(&e));
            if e.chain().any(|c| {
                c.downcast_ref::<ConfigError>().is_some()
                    || matches!(
                        c.downcast_ref::<imprl::run::RunError>(),
                        Some(imprl::run::RunError::Config(_))
                    )
                    || matches!(
                        c.downcast_ref::<imprl::store::StoreError>(),
                        Some(
                            imprl::store::StoreError::DomainConflict { .. }
                                | imprl::store::StoreError::DomainChanged { .. }
                        )
                    )
                    || matches!(
                        c.downcast_ref::<imprl::sweep::SweepError>(),
                        Some(
                            imprl::sweep::SweepError::Config(_)
                                | imprl::sweep::SweepError::Store(
                                    imprl::store::StoreError::DomainChanged { .. }
                                )
                        )
                    )
            }) {
                ExitCode::from(USAGE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// The error and its causes on one line, leaving out a cause whose text the line already holds.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line
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
        Command::Run(args) => running::run(&args),
        Command::Theory(args) => analysis::theory(&args),
        Command::Sweep(args) => running::sweep(&args),
        Command::Reproduce(args) => running::reproduce(&args),
        Command::Export(args) => stores::export(&args),
        Command::Merge(args) => stores::merge(&args),
        Command::Compare(args) => analysis::compare(&args),
        Command::Plot(args) => analysis::plot(&args),
        Command::Report(args) => analysis::report(&args),
        Command::Study(which) => study::study(&which),
        Command::Dataset(args) => dataset::dataset(&args),
        Command::Gradients(args) => gradmodes::gradients(&args),
        Command::Values(args) => values::values(&args),
    }
}
