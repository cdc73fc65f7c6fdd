//! `imprl study td`: the TD-targets study (see `imprl::study::td`).

use crate::args::{StudyArgs, StudyKind, TdStudyArgs};
use crate::progress::Terminal;
use crate::Interrupted;
use imprl::config::check_count;
use imprl::store::Store;

pub fn study(args: &StudyArgs) -> anyhow::Result<()> {
    match &args.kind {
        StudyKind::Td(a) => td(a),
    }
}

fn td(args: &TdStudyArgs) -> anyhow::Result<()> {
    let exec = args.exec.validate()?;
    let seeds = check_count("seeds", args.seeds)?;
    let runs = imprl::study::td::runs(seeds);
    let mut store = Store::open(&args.out)?;
    println!("{} runs into {}", runs.len(), store.path().display());
    let mut terminal = Terminal::new(exec.progress)?;
    let summary = imprl::sweep::execute(&runs, &mut store, &exec.options, &mut terminal)?;
    println!("{summary}");
    if let Some(sig) = terminal.signal() {
        if summary.interrupted {
            return Err(Interrupted(sig).into());
        }
    }
    let records = crate::stores::open_existing(&args.out)?.load_all()?;
    let reports = imprl::study::td::draw(&records, &args.out, args.format)?;
    for (t, r) in &reports {
        println!(
            "{t}: {} figures in {}",
            r.figures.len(),
            args.out
                .join("figures")
                .join(imprl::study::td::tag(*t))
                .display()
        );
    }
    println!("summary: {}", args.out.join("summary.md").display());
    Ok(())
}
