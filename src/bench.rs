//! `clr bench`: training and evaluation throughput of the same step the trainer runs
//! (augmented batch from the device-resident set, forward, backward, SGD: the engine's learner on
//! a session's data), after a warm-up.

use crate::config::Config;
use crate::data::batches::BatchStream;
use crate::data::Data;
use crate::engine::{Learner, Session, EVAL_BATCH};
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
    /// CPU seconds of the whole process per timed step (all threads; a steadier figure than the
    /// wall clock on a shared machine, best compared at `--threads 1`). None where unknown.
    pub cpu_seconds_per_step: Option<f64>,
    /// Peak memory: on CUDA the caching allocator's peak (else the GPU's memory used, from
    /// nvidia-smi), on the CPU the peak resident set size (VmHWM). None when it cannot be read.
    pub peak_memory_bytes: Option<u64>,
    pub peak_memory_kind: String,
    pub device: String,
    pub precision: String,
    /// The network (bench files older than this field measured a resnet).
    #[serde(default)]
    pub arch: crate::model::arch::Arch,
    pub depth: usize,
    #[serde(default)]
    pub width: Option<usize>,
    pub batch_size: usize,
    pub steps: u64,
    pub warmup: u64,
    /// Images in the timed steps: `steps` full batches (the warm-up, an epoch's short last batch
    /// and its first, which draws and uploads the epoch's plan, are not timed).
    pub timed_images: usize,
    pub train_images: usize,
    pub data: String,
    pub threads: i64,
}

pub fn run(config: &Config, steps: u64, warmup: u64, out: &Path) -> Result<BenchReport> {
    if steps == 0 {
        crate::usage!("--steps must be at least 1");
    }
    let session = Session::alone(config)?;
    let (device, data) = (session.device(), session.data());
    let mut learner = session.learner(config);

    let timing = time_training(config, data, &mut learner, steps, warmup)?;
    let train_seconds = timing.seconds;

    learner.evaluate(data, &data.test, EVAL_BATCH, Some(1))?;
    let eval_started = Instant::now();
    learner.evaluate(data, &data.test, EVAL_BATCH, None)?;
    let eval_seconds = eval_started.elapsed().as_secs_f64();

    let (peak_memory_bytes, peak_memory_kind) = peak_memory(device);
    let report = BenchReport {
        train_images_per_sec: timing.images as f64 / train_seconds,
        timed_images: timing.images,
        cpu_seconds_per_step: timing.cpu_seconds.map(|s| s / steps as f64),
        eval_images_per_sec: data.test.len as f64 / eval_seconds,
        seconds_per_step: train_seconds / steps as f64,
        peak_memory_bytes,
        peak_memory_kind,
        device: device::name(device),
        precision: config.run.precision.to_string(),
        arch: config.model.arch,
        depth: config.model.depth,
        width: config.model.width,
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

/// What the timed steps took.
struct Timing {
    seconds: f64,
    /// Process CPU seconds (every thread) over the same steps; None where unknown.
    cpu_seconds: Option<f64>,
    images: usize,
}

/// Train `warmup` steps, then time `steps` full batches of the same step `train` runs. A step
/// that is not representative (an epoch's first: it draws and uploads the plan; its short last:
/// a new shape, which cuDNN's benchmark mode tunes for) runs with the clock stopped.
fn time_training(config: &Config, data: &Data, learner: &mut Learner, steps: u64, warmup: u64) -> Result<Timing> {
    let mut stream = BatchStream::new(data, config.run.seed, config.model.batch_size, 0);
    let spe = stream.steps_per_epoch();
    let short_last = !data.train.len.is_multiple_of(config.model.batch_size);
    // With one or two steps an epoch every step is a boundary: time them all after the warm-up.
    let boundary = |k: u64| spe > 2 && (k.is_multiple_of(spe) || (short_last && k % spe == spe - 1));
    let mut clock = Stopwatch::default();
    let mut timing = Timing { seconds: 0.0, cpu_seconds: None, images: 0 };
    let (mut timed, mut last) = (0, None);
    while timed < steps {
        let k = stream.position();
        let timing_this = k >= warmup && !boundary(k);
        clock.run(timing_this, last.take());
        let batch = stream.next().expect("the stream is endless");
        let (loss, _) = learner.step(&batch, 0.01, config.model.momentum)?;
        if timing_this {
            (timed, timing.images) = (timed + 1, timing.images + batch.len());
        }
        last = Some(loss);
    }
    clock.run(false, last);
    (timing.seconds, timing.cpu_seconds) = (clock.elapsed, clock.cpu_elapsed);
    Ok(timing)
}

/// A clock that runs only while told to; at each change it waits for the device, so that queued
/// work is counted where it was started.
#[derive(Default)]
struct Stopwatch {
    elapsed: f64,
    cpu_elapsed: Option<f64>,
    since: Option<(Instant, Option<f64>)>,
}

impl Stopwatch {
    fn run(&mut self, on: bool, last: Option<tch::Tensor>) {
        if on == self.since.is_some() {
            return;
        }
        // Reading a value the last step produced forces everything queued.
        if let Some(l) = last {
            let _ = l.double_value(&[]);
        }
        let cpu_now = crate::runtime::cpu_time::process_seconds();
        match self.since.take() {
            Some((t, cpu)) => {
                self.elapsed += t.elapsed().as_secs_f64();
                let spent = cpu_now.zip(cpu).map(|(now, then)| now - then);
                self.cpu_elapsed = spent.map(|s| s + self.cpu_elapsed.unwrap_or(0.0));
            }
            None => self.since = Some((Instant::now(), cpu_now)),
        }
    }
}

fn peak_memory(device: Device) -> (Option<u64>, String) {
    match device {
        Device::Cuda(n) => match crate::runtime::device::cuda_peak_allocated(n) {
            Some(bytes) => (Some(bytes), "cuda: peak allocated by the caching allocator".into()),
            None => (gpu_memory_used(n), "cuda: memory used on the GPU, all processes (nvidia-smi)".into()),
        },
        _ => (peak_rss(), "cpu: peak resident set size (VmHWM)".into()),
    }
}

fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The fallback: what the whole GPU uses now (process ids seldom match inside a container).
fn gpu_memory_used(index: usize) -> Option<u64> {
    let out = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=memory.used", "--format=csv,noheader,nounits", &format!("--id={index}")])
        .output()
        .ok()?;
    let mib: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some(mib * 1024 * 1024)
}

impl BenchReport {
    /// The printed table.
    pub fn table(&self) -> Vec<String> {
        let mut lines = vec![
            format!("{:<24} {}", "device", self.device),
            format!(
                "{:<24} {} (depth {}{}, batch {})",
                "model",
                self.arch,
                self.depth,
                self.width.map_or(String::new(), |w| format!(", width {w}")),
                self.batch_size
            ),
            format!("{:<24} {}", "precision", self.precision),
            format!("{:<24} {:.1}", "train images/s", self.train_images_per_sec),
            format!("{:<24} {:.4}", "seconds/step", self.seconds_per_step),
        ];
        if let Some(cpu) = self.cpu_seconds_per_step {
            lines.push(format!("{:<24} {:.4}", "CPU seconds/step", cpu));
        }
        lines.push(format!("{:<24} {:.1}", "eval images/s", self.eval_images_per_sec));
        lines.push(match self.peak_memory_bytes {
            Some(b) => format!("{:<24} {:.1} MiB ({})", "peak memory", b as f64 / 1048576.0, self.peak_memory_kind),
            None => format!("{:<24} unknown", "peak memory"),
        });
        lines
    }
}
