//! imprl: implicit (end-to-end model-based) versus explicit parameterizations of linear value
//! functions, after Gehring, Kawaguchi, Huang and Kaelbling (NeurIPS 2021).
#![warn(missing_docs)]

pub mod data;
pub mod domain;
pub mod features;
pub mod rng;
