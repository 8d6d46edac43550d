//! The maths of the LR range test, pure (no libtorch, files or flags): the ramp that raises the LR
//! step by step (`ramp.rs`), the analysis that smooths the curve, stops the test and picks the LR
//! (`analysis.rs`), and for `--sweep NAME=V1,V2,…` the flag's values and Smith's rule that picks one
//! of them from their curves (`sweep/`). `range_test/` runs the test on a model and writes its files.

pub mod analysis;
pub mod grid;
pub mod ramp;
pub mod repeats;
pub mod rules;
pub mod sweep;

pub use analysis::{LrFindRow, RangeTestReport, RangeTracker, StopReason, Suggestion, TrackerSettings};
pub use ramp::{ramp_lr, RampMode};
pub use rules::Rule;
pub use sweep::{Sweep, SweepParam, SweepReport, Tested};
