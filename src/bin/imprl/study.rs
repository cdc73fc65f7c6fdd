//! `imprl study`: designed studies over the library's sweeps (`imprl::study`).

use crate::args::{ModelFamilyArgs, StudyCommand, TdStudyArgs};
use crate::progress::Terminal;
use crate::Interrupted;
use imprl::config::check_count;
use imprl::store::Store;
use imprl::sweep::SweepOptions;

pub fn study(which: &StudyCommand) -> anyhow::Result<()> {
    match which {
        StudyCommand::ModelFamily(args) => model_family(args),
        StudyCommand::Td(args) => td(args),
        StudyCommand::Gradients(args) => crate::gradmodes::study_gradients(args),
    }
}

fn model_family(args: &ModelFamilyArgs) -> anyhow::Result<()> {
    let study = &args.study;
    let seeds = check_count("seeds", study.seeds)?;
    let opts = SweepOptions::new(study.jobs, false)?;
    let mut terminal = Terminal::new(study.progress)?;
    let report = imprl::study::model_family::run(&study.out, seeds, &opts, &mut terminal)?;
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

fn td(args: &TdStudyArgs) -> anyhow::Result<()> {
    let study = &args.study;
    let options = SweepOptions::new(study.jobs, args.repair)?;
    let seeds = check_count("seeds", study.seeds)?;
    let out = &study.out;
    let runs = imprl::study::td::runs(seeds)?;
    let mut store = Store::open(out)?;
    println!("{} runs into {}", runs.len(), store.path().display());
    let mut terminal = Terminal::new(study.progress)?;
    let summary = imprl::sweep::execute(&runs, &mut store, &options, &mut terminal)?;
    println!("{summary}");
    if let Some(sig) = terminal.signal() {
        if summary.interrupted {
            return Err(Interrupted(sig).into());
        }
    }
    let records = crate::stores::open_existing(out)?.load_all()?;
    let reports = imprl::study::td::draw(&records, out, args.format)?;
    for (t, r) in &reports {
        println!(
            "{t}: {} figures in {}",
            r.figures.len(),
            out.join("figures")
                .join(imprl::study::td::tag(*t))
                .display()
        );
    }
    println!("summary: {}", out.join("summary.md").display());
    Ok(())
}
