//! `range-test --sweep NAME=V1,V2,…`, pure: the flag parsed (`param.rs`) and the choice among the
//! values' range tests, with the content of `sweep.json` and `sweep.csv` (`choice.rs`).

pub mod choice;
pub mod param;

pub use choice::{Favoured, Outcome, SweepEntry, SweepReport, Tested};
pub use param::{Sweep, SweepParam};
