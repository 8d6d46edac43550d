//! clr: Leslie Smith's learning-rate discipline for CIFAR-10 ResNets, on tch/libtorch.
//!
//! Data flows config → data → model → schedule → train loop → logs and plots:
//! `cli` → `config` → `download`/`cifar`/`dataset`/`augment` → `resnet`/`sgd`/`learner` →
//! `schedule` → `train`/`range_test`/`bench` → `records`/`checkpoint`/`plot`.
//! Speed on the CPU: `gather` (the batch in one pass), `fused` (batch norm + ReLU kernels),
//! `layout` (channels-last gradients), `autocast` and `cpu_bf16` (bf16), `cpu_time` (bench), `malloc` (no page faults per step).

pub mod app;
pub mod atomic;
pub mod augment;
pub mod autocast;
pub mod bench;
pub mod checkpoint;
pub mod cifar;
pub mod cli;
pub mod config;
pub mod cpu_bf16;
pub mod cpu_time;
pub mod dataset;
pub mod device;
pub mod download;
pub mod error;
pub mod fused;
pub mod gather;
pub mod layout;
pub mod learner;
pub mod malloc;
pub mod plot;
pub mod progress;
pub mod range_finder;
pub mod range_test;
pub mod records;
pub mod resnet;
pub mod schedule;
pub mod sgd;
pub mod train;

/// libtorch's default random generator is one per process: unit tests that seed it and rely
/// on the draws that follow take this lock, so that tests running in parallel do not interleave.
#[cfg(test)]
pub(crate) fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
