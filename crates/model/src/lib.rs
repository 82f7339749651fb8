//! snaptree's domain, the lowest layer: machines and snapshot trees, operations, the rules
//! about them (health, cleanup, the change flow, reports) and what makes foreign text safe
//! to show. No I/O and no async runtime: every other layer builds on it.

pub mod model;
pub mod safe;
