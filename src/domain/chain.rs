//! TODO
use crate::data::Problem;
/// Number of chain states.
pub const N_STATES: usize = 11;
/// Chain problem.
pub fn problem(_offset: f64, _seed: u64) -> Problem {
    todo!()
}
