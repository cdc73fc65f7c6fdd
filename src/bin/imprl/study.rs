//! `imprl study`: designed studies over the library's sweeps.

use crate::args::{ModelFamilyArgs, StudyCommand};
use crate::progress::Terminal;
use crate::Interrupted;
use imprl::config::check_count;
use imprl::sweep::SweepOptions;

pub fn study(which: &StudyCommand) -> anyhow::Result<()> {
    match which {
        StudyCommand::ModelFamily(args) => model_family(args),
    }
}

fn model_family(args: &ModelFamilyArgs) -> anyhow::Result<()> {
    let seeds = check_count("seeds", args.seeds)?;
    let opts = SweepOptions::new(args.jobs, false)?;
    let mut terminal = Terminal::new(args.progress)?;
    let report = imprl::study::model_family::run(&args.out, seeds, &opts, &mut terminal)?;
    for s in &report.sweeps {
        println!("{s}");
    }
    for (d, eta) in &report.best_etas {
        println!("{}: best fixed η = {eta}", d.name());
    }
    if report.interrupted() {
        return match terminal.signal() {
            Some(sig) => Err(Interrupted(sig).into()),
            None => Ok(()),
        };
    }
    for f in &report.files {
        println!("wrote {}", f.display());
    }
    Ok(())
}
