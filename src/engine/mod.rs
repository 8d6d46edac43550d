//! The step engine that `train`, `range-test` (and its `--sweep`) and `bench` drive:
//!
//! - [`session`]: one run start-up (this rank's device, the data loaded once, rank 0 first when it
//!   may download; the stop signals), shared by every run made on that data;
//! - [`learner`]: a model with its optimiser: one SGD step on a batch (this rank's share of it),
//!   and evaluation;
//! - [`reader`]: the grouped reads of the steps' losses and the stop the ranks agree on;
//! - [`digest`]: a test hook that writes a digest of each rank's replica at the end of a run.
//!
//! A loop takes batches from `data::batches`, steps the learner at the LR its schedule gives, and
//! pushes each step's device values into its reader, which says when they are read and when to stop.

pub mod digest;
pub mod learner;
pub mod reader;
pub mod session;

pub use learner::{Learner, EVAL_BATCH};
pub use reader::{agreed_stop, Read, Reader, READ_EVERY};
pub use session::Session;
