//! clr: Leslie Smith's learning-rate discipline for CIFAR-10 ResNets, on tch/libtorch.
//!
//! Data flows config → data → model → schedule → loop → records and plots:
//!
//! | layer | modules |
//! | --- | --- |
//! | input | `cli` (clap structs) → `config` (typed layers, one validated [`config::Config`]) |
//! | data | `data` (`cifar`, `download`, `synthetic`, `idx`, `mnist`, `mnist_download`, `folder`, `decode`, `cache`, `stats`, `augment`, `gather`, `batches`: one batch stream) |
//! | model | `model` (`resnet`, `fused`, `layout`), `optim` (`sgd`; `schedule`, pure), `learner` (one step, evaluation) |
//! | loops | `train` (the trainer, checkpoints, summary), `lr_finder` (the range test and `--sweep`; `analysis`, `sweep_choice`, pure), `bench` |
//! | output | `records` (CSV rows), `tensorboard` (event files), `plot` (PNGs), `files` (atomic writes), `run_dir` (a run folder's lock) |
//! | runtime | `runtime` (device, autocast, cpu_bf16, malloc, cpu_time, progress, signals), `dist` (c10d process groups, torchrun's env) |
//! | commands | `commands` (one function per command, returning a report), `main` (prints, exit codes) |
//!
//! Pure modules (`optim::schedule`, `lr_finder::{analysis, sweep, sweep_choice, sweep_param}`) use neither
//! libtorch, nor clap, nor CSV; `records` gives their points CSV headers. No file depends on a
//! file that depends on it (`tests/architecture.rs` checks this and the rest of the shape).

pub mod bench;
pub mod cli;
pub mod commands;
pub mod config;
pub mod data;
pub mod dist;
pub mod error;
pub mod files;
pub mod learner;
pub mod lr_finder;
pub mod model;
mod named;
pub mod optim;
pub mod plot;
pub mod records;
pub mod run_dir;
pub mod runtime;
pub mod tensorboard;
pub mod train;

/// libtorch's default random generator is one per process: unit tests that seed it and rely
/// on the draws that follow take this lock, so that tests running in parallel do not interleave.
#[cfg(test)]
pub(crate) fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
