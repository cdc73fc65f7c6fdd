//! Own domains in the store (SPEC §8.6): the store records the content hash of every
//! `file:`/`data:` domain its runs used, in its `meta` table (`domain_hash:<name>`), and
//! refuses runs of a domain whose file has changed since, so that two versions of a problem
//! are never mixed under one name. Merging stores carries these hashes over and refuses stores
//! that recorded different contents for one domain.

use super::{sql_error, Store, StoreError};
use crate::config::RunConfig;
use rusqlite::OptionalExtension;
use std::collections::BTreeMap;
use std::path::Path;

/// The `meta` key prefix of an own domain's recorded hash.
const HASH_KEY: &str = "domain_hash:";

impl Store {
    /// Records the content hash of each own domain in `runs`, or refuses when the store holds
    /// runs of that name made from different contents ([`StoreError::DomainChanged`]). An own
    /// domain that cannot be loaded is refused too.
    pub fn check_domain_files(&mut self, runs: &[RunConfig]) -> Result<(), StoreError> {
        let mut names: Vec<_> = runs
            .iter()
            .map(|c| c.domain)
            .filter(|d| !d.is_builtin())
            .collect();
        names.sort();
        names.dedup();
        let path = self.path.clone();
        for d in names {
            let Some(entry) = d.own() else { continue };
            let entry = entry.map_err(|e| StoreError::Format {
                path: path.clone(),
                message: e.to_string(),
            })?;
            match self.domain_hash(d.name())? {
                Some(h) if h != entry.hash => {
                    return Err(StoreError::DomainChanged {
                        path,
                        domain: d.name().to_string(),
                        recorded: h,
                        now: entry.hash.clone(),
                    })
                }
                Some(_) => {}
                None => insert_hash(&self.conn, &path, d.name(), &entry.hash)?,
            }
        }
        Ok(())
    }

    /// The content hash recorded for own domain `name` (`file:PATH`, `data:DIR`), if any.
    pub fn domain_hash(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT value FROM meta WHERE name = ?1",
                [format!("{HASH_KEY}{name}")],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| sql_error(&self.path, &e))
    }

    /// Every own domain's recorded content hash, by domain name (`file:PATH`, `data:DIR`).
    pub fn domain_hashes(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let sql = |e: rusqlite::Error| sql_error(&self.path, &e);
        let mut st = self
            .conn
            .prepare("SELECT name, value FROM meta WHERE substr(name, 1, ?1) = ?2")
            .map_err(sql)?;
        let rows = st
            .query_map(rusqlite::params![HASH_KEY.len() as i64, HASH_KEY], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(sql)?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (name, hash) = row.map_err(sql)?;
            out.insert(name[HASH_KEY.len()..].to_string(), hash);
        }
        Ok(out)
    }

    /// Records here the own domains' hashes that `other` recorded, after checking that none
    /// differs from one recorded here ([`StoreError::DomainConflict`], nothing written).
    pub fn merge_domain_hashes(&mut self, other: &Store) -> Result<(), StoreError> {
        check_domain_hashes(&[&*self, other])?;
        let ours = self.domain_hashes()?;
        let theirs = other.domain_hashes()?;
        let path = self.path.clone();
        let sql = |e: rusqlite::Error| sql_error(&path, &e);
        let tx = self.conn.transaction().map_err(sql)?;
        for (domain, hash) in theirs.iter().filter(|(d, _)| !ours.contains_key(*d)) {
            insert_hash(&tx, &path, domain, hash)?;
        }
        tx.commit().map_err(sql)
    }
}

/// Records `hash` as the content hash of own domain `domain` in the `meta` table of the store
/// at `path` reached by `conn`.
fn insert_hash(
    conn: &rusqlite::Connection,
    path: &Path,
    domain: &str,
    hash: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO meta (name, value) VALUES (?1, ?2)",
        [format!("{HASH_KEY}{domain}"), hash.to_string()],
    )
    .map(|_| ())
    .map_err(|e| sql_error(path, &e))
}

/// Checks that no two of `stores` recorded different contents for one own domain (the first
/// conflict, as [`StoreError::DomainConflict`] naming both stores and both hashes); used to
/// refuse a merge before its output is written.
pub fn check_domain_hashes(stores: &[&Store]) -> Result<(), StoreError> {
    let mut seen: BTreeMap<String, (String, &Store)> = BTreeMap::new();
    for store in stores {
        for (domain, hash) in store.domain_hashes()? {
            match seen.get(&domain) {
                Some((h, first)) if *h != hash => {
                    return Err(StoreError::DomainConflict {
                        path: first.path.clone(),
                        other: store.path.clone(),
                        domain,
                        ours: h.clone(),
                        theirs: hash,
                    })
                }
                Some(_) => {}
                None => {
                    seen.insert(domain, (hash, store));
                }
            }
        }
    }
    Ok(())
}
