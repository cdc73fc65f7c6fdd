//! Studies: grids of runs that answer one question, each with its own summary and figures.

pub mod gradients;
