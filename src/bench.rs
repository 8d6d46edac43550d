//! `clr bench`: training and evaluation throughput of the same step the trainer runs
//! (augmented batch from the device-resident set, forward, backward, SGD), after a warm-up.

use crate::config::Config;
use crate::data::batches::BatchStream;
use crate::data::Data;
use crate::learner::{Learner, EVAL_BATCH};
use crate::runtime::device;
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
    let device = device::prepare(&config.run)?;
    if steps == 0 {
        crate::usage!("--steps must be at least 1");
    }
    let data = Data::load(&config.data, config.run.seed, device, false)?;
    let mut learner = Learner::new(&config.model, &config.run, data.classes, device);

    let mut timed_images = 0usize;
    let mut started = Instant::now();
    let mut last_loss = None;
    let stream = BatchStream::new(&data, config.run.seed, config.model.batch_size, 0);
    for batch in stream.take((warmup + steps) as usize) {
        if batch.step == warmup {
            // Everything queued so far belongs to the warm-up.
            sync(last_loss.take());
            started = Instant::now();
        }
        if batch.step >= warmup {
            timed_images += batch.len();
        }
        let (loss, _) = learner.step(&batch, 0.01, config.model.momentum)?;
        last_loss = Some(loss);
    }
    sync(last_loss);
    let train_seconds = started.elapsed().as_secs_f64();

    learner.evaluate(&data, &data.test, EVAL_BATCH, Some(1))?;
    let eval_started = Instant::now();
    learner.evaluate(&data, &data.test, EVAL_BATCH, None)?;
    let eval_seconds = eval_started.elapsed().as_secs_f64();

    let (peak_memory_bytes, peak_memory_kind) = peak_memory(device);
    let report = BenchReport {
        train_images_per_sec: timed_images as f64 / train_seconds,
        eval_images_per_sec: data.test.len as f64 / eval_seconds,
        seconds_per_step: train_seconds / steps as f64,
        peak_memory_bytes,
        peak_memory_kind,
        device: device::name(device),
        precision: config.run.precision.to_string(),
        depth: config.model.depth,
        batch_size: config.model.batch_size,
        steps,
        warmup,
        train_images: data.train.len,
        data: data.source.clone(),
        threads: tch::get_num_threads() as i64,
    };
    crate::files::write_json(out, &report)?;
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

impl BenchReport {
    /// The printed table.
    pub fn table(&self) -> Vec<String> {
        let mut lines = vec![
            format!("{:<24} {}", "device", self.device),
            format!("{:<24} resnet (depth {}, batch {})", "model", self.depth, self.batch_size),
            format!("{:<24} {}", "precision", self.precision),
            format!("{:<24} {:.1}", "train images/s", self.train_images_per_sec),
            format!("{:<24} {:.4}", "seconds/step", self.seconds_per_step),
            format!("{:<24} {:.1}", "eval images/s", self.eval_images_per_sec),
        ];
        lines.push(match self.peak_memory_bytes {
            Some(b) => format!("{:<24} {:.1} MiB ({})", "peak memory", b as f64 / 1048576.0, self.peak_memory_kind),
            None => format!("{:<24} unknown", "peak memory"),
        });
        lines
    }
}
