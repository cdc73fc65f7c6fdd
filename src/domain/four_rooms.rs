//! TODO
use super::Slip;
use crate::data::Problem;
/// Number of grid cells.
pub const N_CELLS: usize = 121;
/// Four rooms problem.
pub fn problem(_slip: Slip, _offset: f64, _seed: u64) -> Problem {
    todo!()
}
