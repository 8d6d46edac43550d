//! clr: Leslie Smith's learning-rate discipline for CIFAR-10 ResNets, on tch/libtorch.
//!
//! Data flows config → data → model → schedule → loop → records and plots:
//!
//! | layer | modules |
//! | --- | --- |
//! | input | `cli` (clap structs) → `config` (typed layers, one validated [`config::Config`]) |
//! | data | `data` (`cifar`, `download`, `synthetic`, `idx`, `mnist`, `mnist_download`, `folder`, `decode`, `cache`, `stats`, `augment`, `gather`, `batches`: one batch stream) |
//! | model | `model` (`arch`: which network; `resnet`, `fused`, `layout`; `preact`, `densenet`, `lenet`, `smith3`, `smith_wide`, `layers`), `optim` (`sgd`; `schedule`, pure), `lr_finder` (the range test's maths, pure: `analysis`, `ramp`, `sweep`) |
//! | engine | `engine` (`session`: one start-up of device, data and signals; `learner`: one step, evaluation; `reader`: grouped loss reads and the agreed stop) |
//! | loops | `train` (`Trainer`: open, run, finish; checkpoints, summary), `range_test` (the range test and `--sweep` on the engine), `bench` |
//! | output | `records` (CSV rows, summary.json), `run_dir` (a run folder's file names, typed readers, lock), `tensorboard` (event files), `plot` (PNGs), `export` (TorchScript, safetensors), `files` (atomic writes) |
//! | runtime | `runtime` (device, autocast, cpu_bf16, malloc, cpu_time, progress, signals), `dist` (c10d process groups and collectives, torchrun's env, the launcher), `ffi` (the C++ shims' calling convention) |
//! | commands | `commands` (one function per command, returning a report), `main` (prints, exit codes) |
//!
//! Pure modules (`optim::schedule`, `lr_finder`) use neither libtorch, nor clap, nor CSV; `records`
//! gives their points CSV headers. No file depends on a file that depends on it, and no top-level
//! module on one that depends on it (`tests/architecture.rs` checks this and the rest of the shape).

pub mod bench;
pub mod cli;
pub mod commands;
pub mod config;
pub mod data;
pub mod dist;
pub mod engine;
pub mod error;
pub mod export;
mod ffi;
pub mod files;
pub mod grid;
pub mod lr_finder;
pub mod model;
mod named;
pub mod optim;
pub mod plot;
pub mod range_test;
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
