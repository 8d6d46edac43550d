//! What runs the computation and watches it: the device and its threads (`device`), bf16
//! autocast (`autocast`) and whether this CPU has bf16 instructions (`cpu_bf16`), the memory
//! allocator's settings (`malloc`), process CPU time (`cpu_time`), progress on stderr
//! (`progress`) and Ctrl-C / SIGTERM (`signals`).

pub mod autocast;
pub mod cpu_bf16;
pub mod cpu_time;
pub mod device;
pub mod malloc;
pub mod progress;
pub mod signals;
