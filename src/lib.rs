//! imprl: implicit (end-to-end model-based) versus explicit parameterizations of linear value
//! functions, after Gehring, Kawaguchi, Huang and Kaelbling (NeurIPS 2021).
#![warn(missing_docs)]

pub mod compare;
pub mod config;
pub mod data;
pub mod domain;
pub mod export;
pub mod features;
pub mod figure;
pub mod gradients;
pub mod linalg;
pub mod memory;
pub mod metrics;
pub mod npz;
pub mod optim;
pub mod param;
pub mod plot;
pub mod published;
pub mod published_layout;
pub mod record;
pub mod report;
pub mod rng;
pub mod run;
pub mod saved;
pub mod stats;
pub mod store;
pub mod study;
pub mod sweep;
pub mod theory;
pub mod tidy;
pub mod train;
pub mod values;
