//! The total-evaluation property test's parts: the adversarial fixture, the grammar of
//! generated statements, and the report of outcomes.

pub mod fixture;
pub mod grammar;
pub mod report;
