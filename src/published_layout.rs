//! The directory layout of the published data (SPEC §7): a writer, so that tools written for
//! the published data read ours unchanged, and a reader, for comparisons with the published runs.
//!
//! Layout: `<domain>/<method>/<run-id>/results.csv`, a GNU parallel job log (columns Seq, Host,
//! Starttime, JobRuntime, Send, Receive, Exitval, Signal, Command, SEED, LEARNING_RATE,
//! BATCH_SIZE, MDP_MODULE_DISCOUNT, REWARD_OFFSET, USE_BIAS, Stdout, Stderr; quoted fields may
//! hold newlines), and `<run-id>/<Seq>/logs.csv` per job with the published evaluation columns.
//! Domains are named as in [`DomainKind::published_name`]; methods `explicit`, `implicit` and
//! (ours only) `explicit_matrix`.

use crate::domain::DomainKind;
use crate::export::write_logs_csv;
use crate::metrics::{EvalRow, Metric};
use crate::param::ParamKind;
use crate::record::RunRecord;
use std::collections::btree_map::{BTreeMap, Entry};
use std::path::{Path, PathBuf};

/// The job-log columns of `results.csv`.
pub const RESULTS_HEADER: [&str; 17] = [
    "Seq",
    "Host",
    "Starttime",
    "JobRuntime",
    "Send",
    "Receive",
    "Exitval",
    "Signal",
    "Command",
    "SEED",
    "LEARNING_RATE",
    "BATCH_SIZE",
    "MDP_MODULE_DISCOUNT",
    "REWARD_OFFSET",
    "USE_BIAS",
    "Stdout",
    "Stderr",
];

/// The `<run-id>` directory name of the runs we write.
pub const RUN_ID: &str = "imprl";

/// A failure to read or write the published layout.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// A file or directory cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A CSV file is malformed.
    #[error("{path}: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The CSV error.
        source: csv::Error,
    },
    /// A value or column is missing or malformed.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The method directory name of a parameterization (`explicit`, `implicit`, `explicit_matrix`).
pub fn method_name(p: ParamKind) -> &'static str {
    match p {
        ParamKind::Explicit => "explicit",
        ParamKind::Implicit => "implicit",
        ParamKind::ExplicitMatrix => "explicit_matrix",
    }
}

/// The parameterization of a method directory name (see [`method_name`]).
pub fn method_param(name: &str) -> Option<ParamKind> {
    ParamKind::ALL.into_iter().find(|&p| method_name(p) == name)
}

/// The domain of a published domain directory name (see [`DomainKind::published_name`]).
pub fn published_domain(name: &str) -> Option<DomainKind> {
    DomainKind::ALL
        .into_iter()
        .find(|d| d.published_name() == name)
}

/// One job of a published job log, with its evaluation log.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedRun {
    /// Domain directory name (`chain_rollout`, …).
    pub domain_dir: String,
    /// The domain, when the directory name is a known one.
    pub domain: Option<DomainKind>,
    /// Method directory name (`explicit`, `implicit`, …).
    pub method: String,
    /// The parameterization, when the method name is a known one.
    pub param: Option<ParamKind>,
    /// The `<run-id>` directory (a time stamp in the published data).
    pub run_id: String,
    /// Job number `Seq`, also the name of the job's log directory.
    pub seq: u64,
    /// `SEED`.
    pub seed: u64,
    /// `LEARNING_RATE`.
    pub lr: f64,
    /// `BATCH_SIZE`.
    pub batch_size: usize,
    /// `MDP_MODULE_DISCOUNT`, the internal discount η.
    pub eta: f64,
    /// `REWARD_OFFSET`.
    pub offset: f64,
    /// `USE_BIAS`.
    pub use_bias: bool,
    /// `JobRuntime` in seconds.
    pub runtime_s: f64,
    /// `Exitval`.
    pub exitval: i64,
    /// `Signal`.
    pub signal: i64,
    /// The job's `logs.csv` (empty when a failed job left none).
    pub rows: Vec<EvalRow>,
}

impl PublishedRun {
    /// True when the job failed (non-zero `Exitval` or `Signal`).
    pub fn failed(&self) -> bool {
        self.exitval != 0 || self.signal != 0
    }
}

/// The jobs of a published directory tree, successful and failed ones apart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PublishedData {
    /// Jobs with `Exitval` and `Signal` zero, with their logs.
    pub runs: Vec<PublishedRun>,
    /// Jobs with a non-zero `Exitval` or `Signal` (their logs, if any, are read too).
    pub failed: Vec<PublishedRun>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LayoutError + '_ {
    move |source| LayoutError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn csv_err(path: &Path) -> impl FnOnce(csv::Error) -> LayoutError + '_ {
    move |source| LayoutError::Csv {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads the successful jobs of every `results.csv` under `dir` (which may be the root of the
/// layout, a domain directory, a method directory or a run directory), sorted by domain, method,
/// run id and `Seq`. Failed jobs are left out: see [`read_published_all`].
pub fn read_published(dir: &Path) -> Result<Vec<PublishedRun>, LayoutError> {
    Ok(read_published_all(dir)?.runs)
}

/// Reads every job of every `results.csv` under `dir`, successful and failed ones apart. The
/// domain, method and run id come from the last three directories of each `results.csv`'s path
/// (`<domain>/<method>/<run-id>/results.csv`).
pub fn read_published_all(dir: &Path) -> Result<PublishedData, LayoutError> {
    let mut files = Vec::new();
    find_results(dir, &mut files)?;
    files.sort();
    let mut all = Vec::new();
    for f in files {
        all.extend(read_results_csv(&f)?);
    }
    all.sort_by(|a, b| {
        (&a.domain_dir, &a.method, &a.run_id, a.seq).cmp(&(
            &b.domain_dir,
            &b.method,
            &b.run_id,
            b.seq,
        ))
    });
    let (failed, runs) = all.into_iter().partition(|r| r.failed());
    Ok(PublishedData { runs, failed })
}

fn find_results(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LayoutError> {
    let direct = dir.join("results.csv");
    if direct.is_file() {
        out.push(direct);
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let p = entry.path();
        if p.is_dir() {
            find_results(&p, out)?;
        }
    }
    Ok(())
}

fn name_of(p: Option<&Path>) -> String {
    p.and_then(|p| p.file_name())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Reads one job log `<domain>/<method>/<run-id>/results.csv` and the `<Seq>/logs.csv` beside it.
pub fn read_results_csv(path: &Path) -> Result<Vec<PublishedRun>, LayoutError> {
    let run_dir = path.parent().unwrap_or(Path::new("."));
    let method_dir = run_dir.parent();
    let domain_dir = method_dir.and_then(Path::parent);
    let (run_id, method, domain_name) = (
        name_of(Some(run_dir)),
        name_of(method_dir),
        name_of(domain_dir),
    );
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .map_err(csv_err(path))?;
    let headers = rdr.headers().map_err(csv_err(path))?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| LayoutError::Format {
                path: path.to_path_buf(),
                message: format!("no column {name}"),
            })
    };
    let c_seq = col("Seq")?;
    let c_runtime = col("JobRuntime")?;
    let c_exit = col("Exitval")?;
    let c_signal = col("Signal")?;
    let c_seed = col("SEED")?;
    let c_lr = col("LEARNING_RATE")?;
    let c_batch = col("BATCH_SIZE")?;
    let c_eta = col("MDP_MODULE_DISCOUNT")?;
    let c_offset = col("REWARD_OFFSET")?;
    let c_bias = col("USE_BIAS").ok();
    let mut out = Vec::new();
    for (line, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(csv_err(path))?;
        let field = |c: usize| rec.get(c).unwrap_or("").trim();
        let bad = |name: &str, v: &str| LayoutError::Format {
            path: path.to_path_buf(),
            message: format!("record {}: bad {name} `{v}`", line + 1),
        };
        macro_rules! parse {
            ($c:expr, $name:expr, $t:ty) => {
                field($c).parse::<$t>().map_err(|_| bad($name, field($c)))?
            };
        }
        let seq = parse!(c_seq, "Seq", u64);
        let exitval = parse!(c_exit, "Exitval", i64);
        let signal = parse!(c_signal, "Signal", i64);
        let use_bias = match c_bias.map(field) {
            None | Some("") | Some("False") | Some("false") => false,
            Some("True") | Some("true") => true,
            Some(v) => return Err(bad("USE_BIAS", v)),
        };
        let logs = run_dir.join(seq.to_string()).join("logs.csv");
        let failed = exitval != 0 || signal != 0;
        let rows = if logs.is_file() {
            read_logs_csv(&logs)?
        } else if failed {
            Vec::new()
        } else {
            return Err(LayoutError::Format {
                path: logs,
                message: "missing log of a successful job".into(),
            });
        };
        out.push(PublishedRun {
            domain: published_domain(&domain_name),
            domain_dir: domain_name.clone(),
            param: method_param(&method),
            method: method.clone(),
            run_id: run_id.clone(),
            seq,
            seed: parse!(c_seed, "SEED", u64),
            lr: parse!(c_lr, "LEARNING_RATE", f64),
            batch_size: parse!(c_batch, "BATCH_SIZE", usize),
            eta: parse!(c_eta, "MDP_MODULE_DISCOUNT", f64),
            offset: parse!(c_offset, "REWARD_OFFSET", f64),
            use_bias,
            runtime_s: parse!(c_runtime, "JobRuntime", f64),
            exitval,
            signal,
            rows,
        });
    }
    Ok(out)
}

/// Reads a published `logs.csv` (`timestep,mse,res_ones_norm,res_ortho_norm,residual_norm`).
/// Non-finite values are kept: `inf` as infinity, and empty fields (how the published logs
/// write NaN after a run diverged) as NaN.
pub fn read_logs_csv(path: &Path) -> Result<Vec<EvalRow>, LayoutError> {
    let mut rdr = csv::Reader::from_path(path).map_err(csv_err(path))?;
    let headers = rdr.headers().map_err(csv_err(path))?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| LayoutError::Format {
                path: path.to_path_buf(),
                message: format!("no column {name}"),
            })
    };
    let c_timestep = column(crate::metrics::TIMESTEP)?;
    let published: Vec<(&Metric, usize)> = crate::metrics::required()
        .map(|m| column(m.name).map(|c| (m, c)))
        .collect::<Result<_, _>>()?;
    let mut rows = Vec::new();
    for (line, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(csv_err(path))?;
        let bad = |v: &str| LayoutError::Format {
            path: path.to_path_buf(),
            message: format!("record {}: bad number `{v}`", line + 1),
        };
        let get = |c: usize| rec.get(c).unwrap_or("").trim();
        let ts = get(c_timestep);
        let timestep = ts
            .parse::<usize>()
            .or_else(|_| ts.parse::<f64>().map(|x| x as usize))
            .map_err(|_| bad(ts))?;
        let mut row = EvalRow::empty(timestep);
        for &(m, c) in &published {
            let x = match get(c) {
                "" => f64::NAN,
                v => v.parse::<f64>().map_err(|_| bad(v))?,
            };
            (m.set)(&mut row, Some(x));
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Writes the published layout under `dir`: for every (domain, parameterization) of the
/// records, `<domain>/<method>/imprl/results.csv` (one job per record, `Seq` from 1 in the
/// records' order, `Exitval` and `Signal` 0, `JobRuntime` the run's wall time) and
/// `<Seq>/logs.csv` (the run's evaluations; a diverged run's log stops at its last finite
/// evaluation). Records come as an iterator so that a whole store need not be in memory.
/// Returns the number of jobs written.
pub fn write_published(
    dir: &Path,
    records: impl IntoIterator<Item = RunRecord>,
) -> Result<usize, LayoutError> {
    struct Group {
        dir: PathBuf,
        writer: csv::Writer<std::fs::File>,
        seq: u64,
    }
    let mut groups: BTreeMap<(DomainKind, ParamKind), Group> = BTreeMap::new();
    let mut dirs: BTreeMap<&'static str, DomainKind> = BTreeMap::new();
    let mut n = 0;
    for rec in records {
        let c = rec.config;
        let key = (c.domain, c.param);
        let g = match groups.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                // Two domains in one directory would overwrite each other's jobs.
                let other = *dirs.entry(c.domain.published_name()).or_insert(c.domain);
                if other != c.domain {
                    return Err(LayoutError::Format {
                        path: dir.join(c.domain.published_name()),
                        message: format!(
                            "domains {other} and {} map to this one directory; nothing of {} written",
                            c.domain, c.domain
                        ),
                    });
                }
                let rel = Path::new(c.domain.published_name())
                    .join(method_name(c.param))
                    .join(RUN_ID);
                let gdir = dir.join(&rel);
                std::fs::create_dir_all(&gdir).map_err(io_err(&gdir))?;
                let file = gdir.join("results.csv");
                let mut writer = csv::Writer::from_path(&file).map_err(csv_err(&file))?;
                writer
                    .write_record(RESULTS_HEADER)
                    .map_err(csv_err(&file))?;
                e.insert(Group {
                    dir: gdir,
                    writer,
                    seq: 0,
                })
            }
        };
        g.seq += 1;
        let seq = g.seq;
        let job_dir = g.dir.join(seq.to_string());
        std::fs::create_dir_all(&job_dir).map_err(io_err(&job_dir))?;
        let logs = job_dir.join("logs.csv");
        let file = std::fs::File::create(&logs).map_err(io_err(&logs))?;
        write_job_log(file, &rec).map_err(csv_err(&logs))?;
        let result_dir = format!(
            "results/{}/{}/{RUN_ID}/{seq}/",
            c.domain.published_name(),
            method_name(c.param)
        );
        let bias = if c.bias { "True" } else { "False" };
        let command = format!(
            "imprl run --domain {} --param {} --seed {} --lr {} --batch-size {} --eta {} --offset {} --steps {} --eval-every {} --sampling {}{} --out {result_dir}logs.csv",
            c.domain.name(),
            c.param.name(),
            c.seed,
            c.lr,
            c.batch_size,
            c.eta,
            c.offset,
            c.steps,
            c.eval_every,
            crate::config::SettingType::text(&c.sampling),
            if c.bias { " --bias" } else { "" },
        );
        let stderr = match rec.outcome.diverged_at() {
            Some(step) => format!("warning: the run diverged after {step} updates\n"),
            None => String::new(),
        };
        let file = g.dir.join("results.csv");
        g.writer
            .write_record([
                seq.to_string(),
                ":".to_string(),
                "0".to_string(),
                format!("{:.3}", rec.runtime_s),
                "0".to_string(),
                "0".to_string(),
                "0".to_string(),
                "0".to_string(),
                command,
                c.seed.to_string(),
                c.lr.to_string(),
                c.batch_size.to_string(),
                c.eta.to_string(),
                c.offset.to_string(),
                bias.to_string(),
                format!("Using result dir: {result_dir}\n"),
                stderr,
            ])
            .map_err(csv_err(&file))?;
        n += 1;
    }
    for g in groups.values_mut() {
        let file = g.dir.join("results.csv");
        g.writer.flush().map_err(|e| LayoutError::Io {
            path: file,
            source: e,
        })?;
    }
    Ok(n)
}

/// Writes a run's `logs.csv`; a diverged run's log goes on, as the published logs do, with
/// empty (NaN) values at every evaluation time after its last finite evaluation.
fn write_job_log(file: std::fs::File, rec: &RunRecord) -> csv::Result<()> {
    let out = std::io::BufWriter::new(file);
    if rec.outcome.diverged_at().is_none() {
        return write_logs_csv(out, &rec.rows);
    }
    let c = &rec.config;
    let last = rec.rows.last().map(|r| r.timestep);
    let columns = crate::metrics::log_columns(&rec.rows);
    let mut w = csv::Writer::from_writer(out);
    w.write_record(crate::export::logs_header(&columns))?;
    for r in &rec.rows {
        w.write_record(crate::export::log_fields(r, &columns))?;
    }
    let every = c.eval_every.max(1);
    let due = (0..=c.steps).filter(|&t| t % every == 0 || t == c.steps);
    for t in due.filter(|&t| last.is_none_or(|l| t > l)) {
        w.write_record(
            std::iter::once(t.to_string()).chain(std::iter::repeat_n(String::new(), columns.len())),
        )?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_layout_reads_the_published_sample() {
        // A synthetic sample in the published format, made from our own runs with the quirks
        // of the published job logs (tests/data/README.md, tests/data/make_layout_sample.sh).
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/published_layout_sample");
        let data = read_published_all(&dir).expect("read");
        assert!(data.failed.is_empty());
        assert_eq!(data.runs.len(), 12);
        let r = &data.runs[0];
        assert_eq!(r.domain, Some(DomainKind::Chain));
        assert_eq!(r.param, Some(ParamKind::Explicit));
        assert_eq!((r.run_id.as_str(), r.seq), ("000000000001", 1));
        assert_eq!((r.seed, r.lr, r.batch_size), (101, 4.0, 25));
        assert_eq!((r.eta, r.offset, r.use_bias), (0.9, 0.6, false));
        assert_eq!(r.runtime_s, 2.914);
        assert_eq!(r.rows.len(), 31);
        assert_eq!(r.rows[0].timestep, 0);
        assert_eq!(r.rows[30].timestep, 300);
        let r3 = &data.runs[2];
        assert_eq!((r3.seq, r3.lr), (3, 0.25));
        assert!(data.runs[6..]
            .iter()
            .all(|r| r.param == Some(ParamKind::Implicit)));
        // A diverged run: inf, then empty fields (NaN), still 31 rows.
        let d = &data.runs[8];
        assert_eq!((d.seq, d.rows.len()), (3, 31));
        assert_eq!(d.rows[9].mse, f64::INFINITY);
        assert!(
            d.rows[12].mse.is_nan()
                && d.rows[11].mse.is_infinite()
                && d.rows[30].residual_norm.is_nan()
        );
    }
}
