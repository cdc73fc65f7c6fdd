//! Own domains in the store (SPEC §8.6): the store records the content hash of every
//! `file:`/`data:` domain its runs used, in its `meta` table (`domain_hash:<name>`), and
//! refuses runs of a domain whose file has changed since, so that two versions of a problem
//! are never mixed under one name.

use super::{sql_error, Store, StoreError};
use crate::config::RunConfig;
use rusqlite::OptionalExtension;

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
            let key = format!("domain_hash:{}", d.name());
            let recorded: Option<String> = self
                .conn
                .query_row("SELECT value FROM meta WHERE name = ?1", [&key], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(|e| sql_error(&path, &e))?;
            match recorded {
                Some(h) if h != entry.hash => {
                    return Err(StoreError::DomainChanged {
                        path,
                        domain: d.name().to_string(),
                        recorded: h,
                        now: entry.hash.clone(),
                    })
                }
                Some(_) => {}
                None => {
                    self.conn
                        .execute(
                            "INSERT INTO meta (name, value) VALUES (?1, ?2)",
                            [&key, &entry.hash],
                        )
                        .map_err(|e| sql_error(&path, &e))?;
                }
            }
        }
        Ok(())
    }

    /// The content hash recorded for own domain `name` (`file:PATH`, `data:DIR`), if any.
    pub fn domain_hash(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT value FROM meta WHERE name = ?1",
                [format!("domain_hash:{name}")],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| sql_error(&self.path, &e))
    }
}
