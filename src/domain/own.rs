//! Problems of one's own (SPEC §8.6): the `file:PATH` and `data:DIR` domains' names, and the
//! process-wide registry of their loaded, validated contents.
//!
//! A [`DomainKind`](super::DomainKind) must stay `Copy`, so an own domain is named by an
//! interned `&'static str` (its full text, `file:/home/me/examples/chain.toml`); the loaded problem is
//! cached per name with the BLAKE3 hash of the bytes it was built from, so one process never
//! mixes two versions of a file, and the results store records that hash
//! ([`crate::store::Store::check_domain_files`]).

use super::data_dir::DataDir;
use super::file::FileMdp;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};

pub use super::error::OwnError;

/// The text `s` with a `'static` lifetime, one allocation per distinct text per process.
pub fn intern(s: &str) -> &'static str {
    static SET: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut set = SET
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(&v) = set.get(s) {
        return v;
    }
    let v: &'static str = Box::leak(s.to_string().into_boxed_str());
    set.insert(v);
    v
}

/// The canonical spelling of an own domain's name (`file:PATH`, `data:DIR`), so that one file
/// reached by several paths, or from several working directories, is one domain: its absolute
/// path with symbolic links, `.` and `..` resolved ([`std::fs::canonicalize`]).
/// `file:./examples/chain.toml`, `file:examples/../examples/chain.toml` and the absolute path
/// of that file are all `file:/…/examples/chain.toml`, whatever the working directory. A name
/// whose path cannot be resolved (a missing file) is returned unchanged, so that loading it
/// reports the path as given; so is any other text.
///
/// Only names given by the user are canonicalized; names read back from a results store are
/// taken as stored (a store keeps reading whatever spelling its runs were made with).
pub fn canonical_name(name: &str) -> String {
    let (prefix, path) = match (name.strip_prefix("file:"), name.strip_prefix("data:")) {
        (Some(p), _) => ("file:", p),
        (_, Some(p)) => ("data:", p),
        _ => return name.to_string(),
    };
    match std::fs::canonicalize(path) {
        Ok(abs) => format!("{prefix}{}", abs.to_string_lossy()),
        Err(_) => name.to_string(),
    }
}

/// A loaded own domain.
#[derive(Debug)]
pub enum Loaded {
    /// A finite MDP from a TOML file.
    File(FileMdp),
    /// A supervised data set from a directory.
    Data(DataDir),
}

/// A loaded own domain with the BLAKE3 hash (hex) of the bytes it was read from.
#[derive(Debug)]
pub struct Entry {
    /// The loaded problem.
    pub loaded: Loaded,
    /// BLAKE3 of the file (or of the data files, in a fixed order), hex.
    pub hash: String,
}

/// A name's cached load: the result, and whether it is known to match the file's current
/// contents (see [`refresh`]).
struct Cached {
    result: Result<&'static Entry, OwnError>,
    current: bool,
}

type Registry = Mutex<HashMap<&'static str, Cached>>;

fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// Marks every loaded own domain as possibly changed: the next [`load`] of a name reads its
/// files again, keeps the loaded problem when their BLAKE3 hash is unchanged and loads the new
/// contents otherwise (an error is never kept: a fixed file loads). A long-lived process (the
/// Python package) calls it at the start of each call, so that an edited file is never served
/// from the cache; the command line, one command per process, never does (a process never
/// mixes two versions of a file).
pub fn refresh() {
    let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
    for c in reg.values_mut() {
        c.current = false;
    }
}

/// Reads and validates own domain `name` (no cache).
fn read(name: &str) -> Result<Entry, OwnError> {
    if let Some(path) = name.strip_prefix("file:") {
        FileMdp::load(path).map(|(m, hash)| Entry {
            loaded: Loaded::File(m),
            hash,
        })
    } else if let Some(dir) = name.strip_prefix("data:") {
        DataDir::load(dir).map(|(d, hash)| Entry {
            loaded: Loaded::Data(d),
            hash,
        })
    } else {
        Err(OwnError::new(name, "not a file: or data: domain"))
    }
}

/// The loaded domain named `name` (`file:PATH` or `data:DIR`), loading and validating it on
/// first use; later calls return the same result until [`refresh`], after which the files are
/// read again and the cached problem kept only if their content hash is unchanged.
pub fn load(name: &'static str) -> Result<&'static Entry, OwnError> {
    let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = reg.get(name) {
        if c.current {
            return c.result.clone();
        }
    }
    let fresh = read(name);
    let result = match (reg.get(name).map(|c| &c.result), fresh) {
        (Some(Ok(old)), Ok(new)) if old.hash == new.hash => Ok(*old),
        (_, fresh) => fresh.map(|e| &*Box::leak(Box::new(e))),
    };
    reg.insert(
        name,
        Cached {
            result: result.clone(),
            current: true,
        },
    );
    result
}

/// The SGD curvature `λ` ([`crate::data::Dataset::sgd_curvature`]) of an own domain's training
/// rows for minibatch size `batch`: the rows of `spec` (targets, bias) at seed 0 and offset 0,
/// so that every seed and offset of a domain share one default learning rate. Computed once per
/// `(spec, batch)` per process; `None` for the paper's domains and for a domain that cannot be
/// loaded (its error is reported by the run's checks).
pub fn sgd_curvature(spec: &super::DomainSpec, batch: usize) -> Option<f64> {
    type Cache = Mutex<HashMap<(super::DomainSpec, usize), Option<f64>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    if spec.kind.is_builtin() {
        return None;
    }
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&(*spec, batch))
    {
        return *v;
    }
    let v = spec
        .try_problem(0.0, 0)
        .ok()
        .and_then(|p| p.train.sgd_curvature(batch.min(p.train.len())));
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert((*spec, batch), v);
    v
}
