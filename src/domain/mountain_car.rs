//! TODO
use crate::data::Problem;
/// Number of RBF features.
pub const N_FEATURES: usize = 400;
/// Mountain car problem.
pub fn problem(_offset: f64, _seed: u64) -> Problem {
    todo!()
}
