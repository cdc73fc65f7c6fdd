//! A supervised data set from files (`--domain data:DIR`, SPEC §8.6): the setting of §1
//! without an MDP. `DIR/train.csv` and `DIR/test.csv` (a header; the last column is the
//! target, the others the features), or `train_x.npy`, `train_y.npy`, `test_x.npy`,
//! `test_y.npy`. The data are fixed: the seed only draws the initialization and the
//! minibatches, and there is no reward offset. Optionally the transitions the training data
//! came from (SPEC §9.4, [`super::transitions`]): `DIR/transitions.csv` with the discount in
//! `DIR/meta.toml` (`gamma = 0.9`); then `td:N` targets are built from them, and `mc` targets
//! too when there is no `train.csv`.

use super::csv_rows;
use super::error::OwnError;
use super::npy;
use super::transitions::Transitions;
use super::Targets;
use crate::data::{Dataset, Problem};
use std::path::Path;

/// A loaded data set.
#[derive(Debug, Clone)]
pub struct DataDir {
    /// Training rows.
    pub train: Dataset,
    /// Test rows.
    pub test: Dataset,
    /// The transitions of `transitions.csv`, when the directory has them.
    pub transitions: Option<Transitions>,
    /// The discount of `meta.toml` (given with the transitions).
    pub gamma: Option<f64>,
}

const CSV: [&str; 2] = ["train.csv", "test.csv"];
const NPY: [&str; 4] = ["train_x.npy", "train_y.npy", "test_x.npy", "test_y.npy"];
const TRANSITIONS: &str = "transitions.csv";
const META: &str = "meta.toml";

/// The discount of `meta.toml`: one key, `gamma`, in [0, 1].
fn meta_gamma(text: &str) -> Result<f64, String> {
    let t: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| e.message().trim().to_string())?;
    if let Some(k) = t.keys().find(|k| k.as_str() != "gamma") {
        return Err(format!("unknown key `{k}` (allowed: gamma)"));
    }
    let v = t.get("gamma").ok_or("missing key `gamma`")?;
    let g = super::file::schema::number(v, "gamma", false)?;
    if !(0.0..=1.0).contains(&g) {
        return Err(format!("gamma: {g} is outside [0, 1]"));
    }
    Ok(g)
}

impl DataDir {
    /// Reads `dir` (CSV pair or `.npy` quadruple); returns the data and the BLAKE3 hash (hex)
    /// of the files' bytes, hashed in the fixed order of their names.
    pub fn load(dir: &str) -> Result<(DataDir, String), OwnError> {
        let base = Path::new(dir);
        let has = |f: &str| base.join(f).is_file();
        let names: &[&str] = if CSV.iter().all(|f| has(f)) {
            &CSV
        } else if NPY.iter().all(|f| has(f)) {
            &NPY
        } else if has("test.csv") && has(TRANSITIONS) {
            &CSV[1..]
        } else {
            return Err(OwnError::new(
                dir,
                "expected train.csv and test.csv, or train_x.npy, train_y.npy, test_x.npy and test_y.npy, or test.csv and transitions.csv",
            ));
        };
        let mut hasher = blake3::Hasher::new();
        let mut files = Vec::new();
        for f in names {
            let p = base.join(f);
            let bytes = std::fs::read(&p)
                .map_err(|e| OwnError::new(&p.display().to_string(), e.to_string()))?;
            hasher.update(f.as_bytes());
            hasher.update(&(bytes.len() as u64).to_le_bytes());
            hasher.update(&bytes);
            files.push((p.display().to_string(), bytes));
        }
        // The transitions and their discount, hashed after the data files (a directory
        // without them hashes as before).
        let (mut transitions, mut gamma) = (None, None);
        if has(TRANSITIONS) {
            let p = base.join(TRANSITIONS);
            let bytes = std::fs::read(&p)
                .map_err(|e| OwnError::new(&p.display().to_string(), e.to_string()))?;
            hasher.update(TRANSITIONS.as_bytes());
            hasher.update(&(bytes.len() as u64).to_le_bytes());
            hasher.update(&bytes);
            transitions = Some(Transitions::read_csv(&p.display().to_string(), &bytes)?);
            let m = base.join(META);
            let meta_path = m.display().to_string();
            let text = std::fs::read_to_string(&m).map_err(|e| {
                OwnError::new(
                    &meta_path,
                    format!("{e} (transitions.csv needs the discount: meta.toml with gamma = ...)"),
                )
            })?;
            hasher.update(META.as_bytes());
            hasher.update(&(text.len() as u64).to_le_bytes());
            hasher.update(text.as_bytes());
            gamma = Some(meta_gamma(&text).map_err(|m| OwnError::new(&meta_path, m))?);
        }
        let (train, test) = match (names.len(), &transitions, gamma) {
            (1, Some(t), Some(g)) => (
                t.training(Targets::Mc, g),
                csv_set(&files[0].0, &files[0].1)?,
            ),
            (2, ..) => (
                csv_set(&files[0].0, &files[0].1)?,
                csv_set(&files[1].0, &files[1].1)?,
            ),
            _ => (
                npy_set(&files[0], &files[1])?,
                npy_set(&files[2], &files[3])?,
            ),
        };
        if train.k != test.k {
            return Err(OwnError::new(
                dir,
                format!("train has {} features, test {}", train.k, test.k),
            ));
        }
        if let Some(t) = &transitions {
            if t.k != test.k {
                return Err(OwnError::new(
                    dir,
                    format!("transitions have {} features, test {}", t.k, test.k),
                ));
            }
        }
        Ok((
            DataDir {
                train,
                test,
                transitions,
                gamma,
            },
            hasher.finalize().to_hex().to_string(),
        ))
    }

    /// The problem for `targets`: `mc` the fixed training set, `td:N` the rows built from the
    /// transitions (an error without them); the test set; `gamma` that of `meta.toml` (NaN
    /// without transitions: there is no MDP).
    pub fn problem(&self, targets: Targets) -> Result<Problem, String> {
        let train = match (targets, &self.transitions, self.gamma) {
            (Targets::Mc, ..) => self.train.clone(),
            (Targets::Td(_), Some(t), Some(g)) => t.training(targets, g),
            _ => return Err("td targets need transitions.csv and meta.toml".into()),
        };
        Ok(Problem {
            train,
            test: self.test.clone(),
            gamma: self.gamma.unwrap_or(f64::NAN),
        })
    }

    /// Writes the transitions of `td1` (the TD(0) training data of a domain,
    /// [`Transitions::from_td1`]) as `transitions.csv`, and its discount as `meta.toml`, in
    /// `dir`; false (nothing written) for data without a bootstrap part.
    pub fn write_transitions(dir: &Path, td1: &Problem) -> std::io::Result<bool> {
        let Some(t) = Transitions::from_td1(&td1.train) else {
            return Ok(false);
        };
        std::fs::create_dir_all(dir)?;
        t.write_csv(&dir.join(TRANSITIONS))?;
        std::fs::write(
            dir.join(META),
            format!(
                "# The discount of transitions.csv (imprl, SPEC §9.4).\ngamma = {:?}\n",
                td1.gamma
            ),
        )?;
        Ok(true)
    }

    /// Writes `problem`'s training and test sets as `train.csv` and `test.csv` in `dir`
    /// (columns `x0, …, x{k−1}, y`; numbers in their shortest exact form, so reading them back
    /// gives the same bits).
    pub fn write_csv(dir: &Path, problem: &Problem) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for (name, set) in [("train.csv", &problem.train), ("test.csv", &problem.test)] {
            let mut w = csv::Writer::from_path(dir.join(name))?;
            let mut header: Vec<String> = (0..set.k).map(|j| format!("x{j}")).collect();
            header.push("y".into());
            w.write_record(&header)?;
            for i in 0..set.len() {
                let mut rec: Vec<String> = set.row(i).iter().map(f64::to_string).collect();
                rec.push(set.y[i].to_string());
                w.write_record(&rec)?;
            }
            w.flush()?;
        }
        Ok(())
    }

    /// Writes `problem`'s sets as the four `.npy` files in `dir`.
    pub fn write_npy(dir: &Path, problem: &Problem) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for (prefix, set) in [("train", &problem.train), ("test", &problem.test)] {
            let mut f = std::fs::File::create(dir.join(format!("{prefix}_x.npy")))?;
            npy::write(&mut f, &[set.len(), set.k], &set.x)?;
            let mut f = std::fs::File::create(dir.join(format!("{prefix}_y.npy")))?;
            npy::write(&mut f, &[set.len()], &set.y)?;
        }
        Ok(())
    }
}

/// A data set from CSV bytes: a header, then rows of numbers, the last column the target.
fn csv_set(path: &str, bytes: &[u8]) -> Result<Dataset, OwnError> {
    let err = |m: String| OwnError::new(path, m);
    let mut r = csv_rows::reader(bytes);
    let cols = r.headers().map_err(|e| err(e.to_string()))?.len();
    if cols < 2 {
        return Err(err(format!(
            "header has {cols} column(s); need at least one feature and the target"
        )));
    }
    let mut set = Dataset::new(cols - 1);
    let mut row = Vec::with_capacity(cols);
    for rec in csv_rows::rows(&mut r, cols, &err) {
        let (line, rec) = rec?;
        row.clear();
        for (j, f) in rec.iter().enumerate() {
            row.push(csv_rows::number(f, line, j + 1, &err)?);
        }
        set.push(&row[..cols - 1], row[cols - 1]);
    }
    if set.is_empty() {
        return Err(err("no data rows".into()));
    }
    Ok(set)
}

/// A data set from `.npy` features (`n × k`) and targets (`n`).
fn npy_set(x: &(String, Vec<u8>), y: &(String, Vec<u8>)) -> Result<Dataset, OwnError> {
    let xa = npy::parse(&x.1).map_err(|m| OwnError::new(&x.0, m))?;
    let ya = npy::parse(&y.1).map_err(|m| OwnError::new(&y.0, m))?;
    if xa.shape.len() != 2 || xa.shape[1] == 0 || xa.shape[0] == 0 {
        return Err(OwnError::new(
            &x.0,
            format!("shape {:?}: expected (n, k) with n, k >= 1", xa.shape),
        ));
    }
    let n = xa.shape[0];
    if ya.shape != [n] && ya.shape != [n, 1] {
        return Err(OwnError::new(
            &y.0,
            format!(
                "shape {:?}: expected ({n},) to match the features",
                ya.shape
            ),
        ));
    }
    for (name, a) in [(&x.0, &xa), (&y.0, &ya)] {
        if let Some(i) = a.data.iter().position(|v| !v.is_finite()) {
            return Err(OwnError::new(name, format!("entry {i} is not finite")));
        }
    }
    Ok(Dataset {
        k: xa.shape[1],
        x: xa.data,
        y: ya.data,
        bootstrap: None,
    })
}
