//! `clr bench`: training and evaluation throughput of the same step the trainer runs
//! (augmented batch from the device-resident set, forward, backward, SGD), after a warm-up.

use crate::augment::{self, EpochPlan};
use crate::config::Config;
use crate::dataset::Data;
use crate::learner::Learner;
use crate::train::EVAL_BATCH;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;
use tch::Device;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchReport {
    pub train_images_per_sec: f64,
    pub eval_images_per_sec: f64,
    pub seconds_per_step: f64,
    /// CPU seconds of the whole process per timed step (all threads; a steadier figure than the
    /// wall clock on a shared machine, best compared at `--threads 1`). None where unknown.
    pub cpu_seconds_per_step: Option<f64>,
    /// Peak memory: on CUDA the device memory the process holds (nvidia-smi), on the CPU the
    /// peak resident set size (VmHWM). None when it cannot be read.
    pub peak_memory_bytes: Option<u64>,
    pub peak_memory_kind: String,
    pub device: String,
    pub precision: String,
    pub depth: usize,
    pub batch_size: usize,
    pub steps: u64,
    pub warmup: u64,
    pub train_images: usize,
    pub data: String,
    pub threads: i64,
}

pub fn run(config: &Config, steps: u64, warmup: u64, out: &Path) -> Result<BenchReport> {
    let device = crate::device::prepare(config)?;
    if steps == 0 {
        crate::usage!("--steps must be at least 1");
    }
    let data = Data::load(config, device, false)?;
    let steps_per_epoch = data.steps_per_epoch(config.batch_size);
    let mut learner = Learner::new(config, device);

    let mut plan = EpochPlan::new(data.train.len, config.seed, 0, true, device);
    let mut timed_images = 0usize;
    let mut started = Instant::now();
    let mut cpu_started = crate::cpu_time::process_seconds();
    let mut last_loss = None;
    for i in 0..warmup + steps {
        if i == warmup {
            // Everything queued so far belongs to the warm-up.
            sync(last_loss.take());
            started = Instant::now();
            cpu_started = crate::cpu_time::process_seconds();
        }
        let step = i % steps_per_epoch;
        if i > 0 && step == 0 {
            plan = EpochPlan::new(data.train.len, config.seed, i / steps_per_epoch, true, device);
        }
        let (x, y) = augment::train_batch(&data, &plan, step, config.batch_size);
        if i >= warmup {
            timed_images += y.size()[0] as usize;
        }
        let (loss, _) = learner.step(&x, &y, 0.01, config.momentum);
        last_loss = Some(loss);
    }
    sync(last_loss);
    let train_seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = crate::cpu_time::process_seconds().zip(cpu_started).map(|(end, start)| end - start);

    learner.evaluate(&data, &data.test, EVAL_BATCH, Some(1));
    let eval_started = Instant::now();
    learner.evaluate(&data, &data.test, EVAL_BATCH, None);
    let eval_seconds = eval_started.elapsed().as_secs_f64();

    let (peak_memory_bytes, peak_memory_kind) = peak_memory(device);
    let report = BenchReport {
        train_images_per_sec: timed_images as f64 / train_seconds,
        eval_images_per_sec: data.test.len as f64 / eval_seconds,
        seconds_per_step: train_seconds / steps as f64,
        cpu_seconds_per_step: cpu_seconds.map(|s| s / steps as f64),
        peak_memory_bytes,
        peak_memory_kind,
        device: crate::device::name(device),
        precision: format!("{:?}", config.precision).to_lowercase(),
        depth: config.depth,
        batch_size: config.batch_size,
        steps,
        warmup,
        train_images: data.train.len,
        data: data.source.clone(),
        threads: tch::get_num_threads() as i64,
    };
    crate::atomic::write_json(out, &report)?;
    print_table(&report);
    Ok(report)
}

/// Wait for the device: reading a value the last step produced forces everything queued.
fn sync(loss: Option<tch::Tensor>) {
    if let Some(l) = loss {
        let _ = l.double_value(&[]);
    }
}

fn peak_memory(device: Device) -> (Option<u64>, String) {
    match device {
        Device::Cuda(_) => (cuda_process_memory(), "cuda: device memory held by this process (nvidia-smi)".into()),
        _ => (peak_rss(), "cpu: peak resident set size (VmHWM)".into()),
    }
}

fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn cuda_process_memory() -> Option<u64> {
    let out = std::process::Command::new("nvidia-smi")
        .args(["--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"])
        .output()
        .ok()?;
    let pid = std::process::id().to_string();
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let mut parts = l.split(',').map(str::trim);
        (parts.next()? == pid).then(|| parts.next()?.parse::<u64>().ok().map(|mib| mib * 1024 * 1024))?
    })
}

fn print_table(r: &BenchReport) {
    println!("{:<24} {}", "device", r.device);
    println!("{:<24} resnet (depth {}, batch {})", "model", r.depth, r.batch_size);
    println!("{:<24} {}", "precision", r.precision);
    println!("{:<24} {:.1}", "train images/s", r.train_images_per_sec);
    println!("{:<24} {:.4}", "seconds/step", r.seconds_per_step);
    if let Some(cpu) = r.cpu_seconds_per_step {
        println!("{:<24} {:.4}", "CPU seconds/step", cpu);
    }
    println!("{:<24} {:.1}", "eval images/s", r.eval_images_per_sec);
    match r.peak_memory_bytes {
        Some(b) => println!("{:<24} {:.1} MiB ({})", "peak memory", b as f64 / 1048576.0, r.peak_memory_kind),
        None => println!("{:<24} unknown", "peak memory"),
    }
}
