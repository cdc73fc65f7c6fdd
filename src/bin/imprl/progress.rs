//! The terminal's view of a sweep: a bar or plain lines from the library's progress reports,
//! and Ctrl-C / SIGTERM turned into a clean stop: the first signal lets the runs in flight
//! finish and be stored, a second stops them at their next update (they are run again when the
//! sweep is resumed), both say so and end with the summary; a third ends the program at once.

use crate::args::ProgressArg;
use imprl::record::RunRecord;
use imprl::sweep::{Status, SweepObserver};
use signal_hook::consts::{SIGINT, SIGTERM};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Period of plain progress lines.
const LINE_PERIOD: Duration = Duration::from_secs(5);

/// Resolution of the bar's position (it counts work, in thousandths of the total).
const BAR_STEPS: u64 = 1000;

enum View {
    Bar(indicatif::ProgressBar),
    Lines { last: Instant },
    Quiet,
}

/// Shows a sweep's progress and watches for Ctrl-C and SIGTERM.
pub struct Terminal {
    view: View,
    signal: Arc<AtomicUsize>,
    /// Set by each signal; cleared when [`SweepObserver::cancelled`] counts it.
    seen: Arc<AtomicBool>,
    /// Signals counted: 1 stops the sweep, 2 its runs in flight.
    count: AtomicUsize,
    /// Set at the second signal: a third ends the program at once.
    hard: Arc<AtomicBool>,
    /// The handlers installed for the sweep (removed when it ends: a signal after the sweep, e.g.
    /// while figures are drawn, ends the program as usual).
    handlers: Vec<signal_hook::SigId>,
}

impl Terminal {
    /// A display of the chosen kind; installs the signal handlers.
    pub fn new(mode: ProgressArg) -> anyhow::Result<Terminal> {
        let mode = match mode {
            ProgressArg::Auto if std::io::stdout().is_terminal() => ProgressArg::Bar,
            ProgressArg::Auto => ProgressArg::Lines,
            m => m,
        };
        let view = match mode {
            ProgressArg::Bar => {
                let bar = indicatif::ProgressBar::with_draw_target(
                    Some(BAR_STEPS),
                    indicatif::ProgressDrawTarget::stdout(),
                );
                // At most 80 columns: 20 for the bar, ~45 for the message, ~12 for the ETA.
                if let Ok(style) =
                    indicatif::ProgressStyle::with_template("{bar:20} {wide_msg} ETA {eta}")
                {
                    bar.set_style(style);
                }
                View::Bar(bar)
            }
            ProgressArg::Lines => View::Lines {
                last: Instant::now(),
            },
            _ => View::Quiet,
        };
        let signal = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(AtomicBool::new(false));
        let hard = Arc::new(AtomicBool::new(false));
        let mut handlers = Vec::new();
        for sig in [SIGINT, SIGTERM] {
            // A third signal ends the program at once.
            handlers.push(signal_hook::flag::register_conditional_shutdown(
                sig,
                128 + sig,
                hard.clone(),
            )?);
            handlers.push(signal_hook::flag::register(sig, seen.clone())?);
            handlers.push(signal_hook::flag::register_usize(
                sig,
                signal.clone(),
                sig as usize,
            )?);
        }
        Ok(Terminal {
            view,
            signal,
            seen,
            count: AtomicUsize::new(0),
            hard,
            handlers,
        })
    }

    /// The signal that stopped the sweep, if any.
    pub fn signal(&self) -> Option<i32> {
        match self.signal.load(Ordering::Relaxed) {
            0 => None,
            s => Some(s as i32),
        }
    }
}

impl Drop for Terminal {
    /// After the sweep, a signal ends the program at once with `128 + signal`, as by default
    /// (removing a handler would leave the signal ignored).
    fn drop(&mut self) {
        for id in self.handlers.drain(..) {
            signal_hook::low_level::unregister(id);
        }
        let now = Arc::new(AtomicBool::new(true));
        for sig in [SIGINT, SIGTERM] {
            let _ = signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, now.clone());
        }
    }
}

impl SweepObserver for Terminal {
    fn on_workers(&mut self, workers: usize, pending: usize) {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        eprintln!(
            "note: --jobs capped at {workers} workers ({pending} runs to do, at most {} per core on {cores} cores)",
            imprl::sweep::MAX_WORKERS_PER_CORE
        );
    }

    fn on_run(&mut self, _run: &RunRecord, s: &Status) {
        let line = format!(
            "{}/{} runs, {:.1}/s, {} diverged",
            s.done,
            s.total,
            s.rate(),
            s.diverged
        );
        match &mut self.view {
            View::Bar(bar) => {
                bar.set_position((s.share * BAR_STEPS as f64) as u64);
                bar.set_message(line);
            }
            View::Lines { last } => {
                if last.elapsed() >= LINE_PERIOD {
                    *last = Instant::now();
                    println!(
                        "progress: {line} ({:.1}% of the work), ETA {:.0} s",
                        100.0 * s.share,
                        s.remaining_s()
                    );
                }
            }
            View::Quiet => {}
        }
    }

    fn on_finish(&mut self) {
        if let View::Bar(bar) = &self.view {
            bar.finish();
        }
    }

    fn cancelled(&self) -> bool {
        if self.seen.swap(false, Ordering::Relaxed)
            && self.count.fetch_add(1, Ordering::Relaxed) >= 1
        {
            self.hard.store(true, Ordering::Relaxed);
        }
        self.count.load(Ordering::Relaxed) >= 1
    }

    fn stop_now(&self) -> bool {
        self.cancelled();
        self.count.load(Ordering::Relaxed) >= 2
    }

    fn on_stop(&mut self, in_flight: usize, now: bool) {
        let msg = if now {
            format!("stopping now: {in_flight} run(s) in flight stop at their next update and are not stored (the same command runs them again)")
        } else {
            format!("stopping: no new run starts; waiting for the {in_flight} run(s) in flight to finish and be stored (Ctrl-C again stops them now)")
        };
        match &self.view {
            View::Bar(bar) => bar.suspend(|| eprintln!("{msg}")),
            _ => eprintln!("{msg}"),
        }
    }
}
