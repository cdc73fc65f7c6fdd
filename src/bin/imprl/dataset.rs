//! `imprl dataset`: write a domain's training and test sets as a `data:` directory.

use crate::args::DatasetArgs;
use imprl::config::{Raw, RunSettings, SettingType};
use imprl::domain::data_dir::DataDir;
use imprl::domain::{DomainKind, DomainSpec, Targets};

pub fn dataset(args: &DatasetArgs) -> anyhow::Result<()> {
    // The domain and offset are checked as run settings are (same messages, exit code 2).
    let mut s = RunSettings::default();
    s.set("domain", Raw::Text(&args.domain))?;
    s.set("offset", Raw::Text(&args.offset.to_string()))?;
    let domain: DomainKind = s.domain.unwrap_or(DomainKind::Chain);
    let problem = DomainSpec::published(domain).problem(s.offset.unwrap_or(0.0), args.seed);
    if args.npy {
        DataDir::write_npy(&args.out, &problem)?;
    } else {
        DataDir::write_csv(&args.out, &problem)?;
    }
    // The same trajectories as transitions (SPEC §9.4), for `td:N` on the data set.
    let td1 = DomainSpec {
        targets: Targets::Td(1),
        ..DomainSpec::published(domain)
    }
    .try_problem(s.offset.unwrap_or(0.0), args.seed);
    let transitions = match td1 {
        Ok(td1) if DataDir::write_transitions(&args.out, &td1)? => td1.train.len(),
        _ => 0,
    };
    println!(
        "{} training and {} test rows and {transitions} transitions of {} (seed {}, offset {}) in {}",
        problem.train.len(),
        problem.test.len(),
        domain.text(),
        args.seed,
        args.offset,
        args.out.display()
    );
    Ok(())
}
