//! What runs the computation and watches it: the device and its threads (`device`), bf16
//! autocast (`autocast`), progress on stderr (`progress`) and Ctrl-C / SIGTERM (`signals`).

pub mod autocast;
pub mod device;
pub mod progress;
pub mod signals;
