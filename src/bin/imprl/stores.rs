//! `imprl export` and `merge`: results stores.

use crate::args::{ExportArgs, ExportFormat, MergeArgs};
use anyhow::Context;
use imprl::config::ConfigError;
use imprl::store::Store;
use imprl::tidy::{Table, TidyTable};
use std::io::Write;
use std::path::Path;

/// A missing results store is bad input.
pub fn require_store(dir: &Path) -> Result<(), ConfigError> {
    if Store::exists(dir) {
        Ok(())
    } else {
        Err(ConfigError::File {
            path: dir.display().to_string(),
            message: format!("no results store ({}) there", imprl::store::DB_FILE),
        })
    }
}

/// The store in `dir`, opened for reading (see [`require_store`]).
/// Checks, before any work, that `path` can be an output file of option `field`: its directory
/// exists and it is not a directory.
pub fn check_output_file(field: &str, path: &Path) -> Result<(), ConfigError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if path.as_os_str().is_empty() || path.is_dir() {
        return Err(ConfigError::invalid(field, path.display(), "a file path"));
    }
    if !dir.is_dir() {
        return Err(ConfigError::invalid(
            field,
            path.display(),
            "a file in an existing directory",
        ));
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

pub fn open_existing(dir: &Path) -> anyhow::Result<Store> {
    require_store(dir)?;
    Ok(Store::open_read(dir)?)
}

pub fn export(args: &ExportArgs) -> anyhow::Result<()> {
    if matches!(args.format, ExportFormat::Published) && args.table != Table::Evals {
        return Err(ConfigError::invalid(
            "table",
            args.table.name(),
            "`evals` with --format published (the published layout has no other table)",
        )
        .into());
    }
    let store = open_existing(&args.results)?;
    let records = store.load_all()?;
    match args.format {
        ExportFormat::Csv => {
            let out: Box<dyn Write> = match &args.out {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("cannot create {}", p.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            // A closed pipe (`| head`) ends the program quietly (see `main`).
            match args.table {
                Table::Evals => imprl::export::write_tidy_csv(out, records)?,
                Table::Theta => imprl::export::write_table_csv(out, &TidyTable::thetas(&records))?,
            };
        }
        ExportFormat::Published => {
            let dir = args
                .out
                .clone()
                .unwrap_or_else(|| args.results.join("published"));
            let n = imprl::published_layout::write_published(&dir, records)?;
            eprintln!("{n} runs written to {}", dir.display());
        }
        ExportFormat::Parquet => {
            let path = args.out.clone().unwrap_or_else(|| {
                args.results.join(match args.table {
                    Table::Evals => "results.parquet",
                    Table::Theta => "theta.parquet",
                })
            });
            let table = args.table.of(&records);
            let file = std::fs::File::create(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            imprl::tidy::parquet::write_parquet(&table, std::io::BufWriter::new(file))
                .with_context(|| format!("cannot write {}", path.display()))?;
            let runs = match args.table {
                Table::Evals => records.len(),
                Table::Theta => records.iter().filter(|r| r.theta.is_some()).count(),
            };
            eprintln!("{runs} runs written to {}", path.display());
        }
    }
    Ok(())
}

pub fn merge(args: &MergeArgs) -> anyhow::Result<()> {
    check_out_dir(&args.out, "--out")?;
    // Every input is opened and verified before the output is touched.
    let mut inputs = Vec::new();
    for dir in &args.shards {
        let store = open_existing(dir)?;
        store.for_each(|_| Ok(()))?;
        inputs.push((dir, store));
    }
    // Own domains: the shards (and an existing output) must agree on each domain's contents.
    let existing = if Store::exists(&args.out) {
        Some(Store::open_read(&args.out)?)
    } else {
        None
    };
    let all: Vec<&Store> = existing
        .iter()
        .chain(inputs.iter().map(|(_, s)| s))
        .collect();
    imprl::store::check_domain_hashes(&all)?;
    drop(existing);
    let mut out = Store::open(&args.out)?;
    for (dir, shard) in &inputs {
        let n = out.merge_from(shard)?;
        println!("{}: {n} runs merged", dir.display());
    }
    println!("{} runs in {}", out.len()?, out.path().display());
    Ok(())
}
