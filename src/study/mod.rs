//! Studies: one command that runs a designed grid into a results store and draws and
//! summarizes what it shows. Each study is its own module.
//!
//! - [`td`]: the paper's Figures 1–3 with TD targets next to Monte Carlo returns (SPEC §8.5).

pub mod td;
