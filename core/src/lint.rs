//! lint
use crate::analysis::Analysis;
pub fn run(_a: &mut Analysis) {}
