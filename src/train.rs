//! `clr train`: the training run. config → data → model → schedule → loop → logs, checkpoint,
//! summary and plot. Every random choice is a function of the seed and the step, and the
//! checkpoint holds the model, the momentum buffers and the epoch's running sums, so `--resume`
//! continues exactly where the run stopped.

use crate::augment::{self, EpochPlan};
use crate::checkpoint::{self, EpochSums, Meta};
use crate::config::{self, Config};
use crate::dataset::Data;
use crate::learner::Learner;
use crate::progress::{interrupt, Progress};
use crate::records::{self, EpochRow, RowWriter, StepRow};
use crate::schedule::Schedule;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// Steps between reads of the loss from the device (each read synchronises it).
const LOG_EVERY: usize = 10;
/// Test-set batch size (no gradients: large batches are cheap).
pub const EVAL_BATCH: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Completed,
    Interrupted,
    Diverged,
}

/// `summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub status: Status,
    pub final_test_acc: Option<f64>,
    pub best_test_acc: Option<f64>,
    pub final_test_loss: Option<f64>,
    pub final_train_loss: Option<f64>,
    /// Epochs completed.
    pub epochs: u64,
    pub steps: u64,
    /// Training seconds (evaluation excluded), resumed parts included.
    pub seconds: f64,
    pub train_images_per_sec: f64,
    pub device: String,
    pub data: String,
    pub depth: usize,
    pub policy: String,
}

/// Train with `config` into `out`; with `resume`, continue from `out`'s checkpoint.
pub fn run(config: &Config, out: &Path, resume: bool, progress: bool) -> Result<Summary> {
    let device = crate::device::prepare(config)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;

    let data = Data::load(config, device, progress)?;
    let steps_per_epoch = data.steps_per_epoch(config.batch_size);
    let schedule = Schedule::new(config.schedule_config(steps_per_epoch)?)?;
    let total_steps = schedule.total_steps();
    let mut learner = Learner::new(config, device);

    let ck_path = out.join(checkpoint::FILE_NAME);
    let mut state = if resume {
        let ck = checkpoint::load(&ck_path)?;
        if ck.meta.steps_per_epoch != steps_per_epoch || ck.meta.depth != config.depth {
            bail!(
                "{}: saved with {} steps per epoch at depth {}, but this data and config give {} at depth {}: \
                 resume with the same data and batch size",
                ck_path.display(),
                ck.meta.steps_per_epoch,
                ck.meta.depth,
                steps_per_epoch,
                config.depth
            );
        }
        ck.restore_model(&mut learner.vs)?;
        learner.sgd.load_buffers(&ck.momentum)?;
        ck.meta
    } else {
        check_fresh_out(out)?;
        config::save(config, out)?;
        Meta {
            format: 1,
            depth: config.depth,
            step: 0,
            steps_per_epoch,
            mean: data.mean,
            std: data.std,
            sums: EpochSums::default(),
            best_test_acc: 0.0,
            seconds: 0.0,
        }
    };
    let (mut step_log, mut epoch_log) = open_logs(out, resume, state.step, steps_per_epoch)?;
    if !resume {
        // A checkpoint of step 0, so that a run killed in its first epoch can be resumed too.
        checkpoint::save(&ck_path, &learner.vs, &learner.sgd, &state)?;
    }

    let mut bar = Progress::new(total_steps, progress);
    bar.line(&format!(
        "train: {} on {}, depth {}, {} images, {} steps/epoch, {} steps, {} → {}",
        config.policy,
        crate::device::name(device),
        config.depth,
        data.train.len,
        steps_per_epoch,
        total_steps,
        data.source,
        out.display()
    ));
    if state.step > 0 {
        bar.line(&format!("resuming at step {} (epoch {})", state.step, state.step / steps_per_epoch));
    }
    interrupt::install();

    let mut status = Status::Completed;
    let mut divergence: Option<Divergence> = None;
    'epochs: while state.step < total_steps {
        let epoch = state.step / steps_per_epoch;
        let plan = EpochPlan::new(data.train.len, config.seed, epoch, true, device);
        let epoch_end = ((epoch + 1) * steps_per_epoch).min(total_steps);
        let epoch_started = Instant::now();
        let mut pending: Vec<(StepRow, Tensor, Tensor)> = Vec::new();
        let mut stop = false;
        while state.step < epoch_end {
            let step = state.step;
            let (lr, momentum) = (schedule.lr(step), schedule.momentum(step));
            let (x, y) = augment::train_batch(&data, &plan, step % steps_per_epoch, config.batch_size);
            let images = y.size()[0] as f64;
            let (loss, correct) = learner.step(&x, &y, lr, momentum);
            pending.push((StepRow { step, epoch, lr, momentum, loss: f64::NAN }, loss, correct));
            state.sums.seen += images;
            state.step += 1;
            stop = interrupt::requested();
            if pending.len() >= LOG_EVERY || state.step == epoch_end || stop {
                if let Some((step, lr, loss)) = flush(&mut pending, &mut state.sums, &mut step_log)? {
                    state.step = step;
                    divergence = Some(Divergence { step, lr, what: format!("the training loss is {loss}") });
                    break 'epochs;
                }
                let elapsed = state.sums.seconds + epoch_started.elapsed().as_secs_f64();
                bar.update(state.step, step_message(&state, steps_per_epoch, lr, elapsed));
            }
            if stop && state.step < epoch_end {
                let seconds = epoch_started.elapsed().as_secs_f64();
                state.sums.seconds += seconds;
                state.seconds += seconds;
                checkpoint::save(&ck_path, &learner.vs, &learner.sgd, &state)?;
                status = Status::Interrupted;
                bar.line(&format!(
                    "interrupted at step {}: checkpoint saved; continue with --resume {}",
                    state.step,
                    out.display()
                ));
                break 'epochs;
            }
        }
        // The end of the epoch, also when Ctrl-C came during its last step.
        let seconds = epoch_started.elapsed().as_secs_f64();
        let train_seconds = state.sums.seconds + seconds;
        let (test_loss, test_acc) = learner.evaluate(&data, &data.test, EVAL_BATCH, None);
        if !test_loss.is_finite() {
            // The weights blew up on a step whose own loss was still finite: this epoch's
            // checkpoint would hold them, so the last good one stays.
            let last = epoch_end - 1;
            divergence = Some(Divergence {
                step: last,
                lr: schedule.lr(last),
                what: format!("the test loss after this step is {test_loss}"),
            });
            break 'epochs;
        }
        let row = EpochRow {
            epoch,
            lr: schedule.lr(epoch_end - 1),
            train_loss: state.sums.loss_sum / steps_in(epoch, steps_per_epoch, total_steps) as f64,
            train_acc: state.sums.correct / state.sums.seen.max(1.0),
            test_loss,
            test_acc,
            seconds: train_seconds,
        };
        epoch_log.write(&row)?;
        state.best_test_acc = state.best_test_acc.max(test_acc);
        state.sums = EpochSums::default();
        state.seconds += seconds;
        checkpoint::save(&ck_path, &learner.vs, &learner.sgd, &state)?;
        bar.line(&format!(
            "epoch {epoch:>3}  lr {:.5}  train loss {:.4} acc {:.4}  test loss {:.4} acc {:.4}  {:.1}s",
            row.lr, row.train_loss, row.train_acc, test_loss, test_acc, train_seconds
        ));
        if stop && state.step < total_steps {
            status = Status::Interrupted;
            bar.line(&format!(
                "interrupted after epoch {epoch}: checkpoint saved; continue with --resume {}",
                out.display()
            ));
            break;
        }
    }
    bar.finish();

    if let Some(d) = divergence {
        summarize(config, &data, device, &state, Status::Diverged, out)?;
        // Best effort: the divergence is the error to report, not a failed plot.
        let _ = draw(out);
        bail!(
            "training diverged: {} at step {} (epoch {}, lr {:.6}); the last good checkpoint ({}) and every log \
             row before that step are kept. Lower --max-lr or --base-lr.",
            d.what,
            d.step,
            d.step / steps_per_epoch,
            d.lr,
            ck_path.display()
        );
    }
    let summary = summarize(config, &data, device, &state, status, out)?;
    draw(out)?;
    Ok(summary)
}

/// Where and how a run blew up.
struct Divergence {
    step: u64,
    lr: f64,
    what: String,
}

/// A new run never writes over an old one: its checkpoint would be mistaken for this run's
/// by `--resume`.
pub fn check_fresh_out(out: &Path) -> Result<()> {
    for file in [checkpoint::FILE_NAME, "steps.csv"] {
        if out.join(file).exists() {
            crate::usage!(
                "--out {} already holds a run ({file}): continue it with --resume {}, or choose another --out",
                out.display(),
                out.display()
            );
        }
    }
    Ok(())
}

/// Steps that epoch `epoch` runs (the last one may be cut by the schedule's end).
fn steps_in(epoch: u64, steps_per_epoch: u64, total: u64) -> u64 {
    ((epoch + 1) * steps_per_epoch).min(total) - epoch * steps_per_epoch
}

/// Read the pending losses from the device at once, log them, and return the first
/// non-finite one (step, lr, loss): rows before it are written, it and those after are not.
fn flush(
    pending: &mut Vec<(StepRow, Tensor, Tensor)>,
    sums: &mut EpochSums,
    log: &mut RowWriter,
) -> Result<Option<(u64, f64, f64)>> {
    if pending.is_empty() {
        return Ok(None);
    }
    let losses: Vec<Tensor> = pending.iter().map(|p| p.1.to_kind(Kind::Double)).collect();
    let accs: Vec<Tensor> = pending.iter().map(|p| p.2.to_kind(Kind::Double)).collect();
    let values = Tensor::stack(&[Tensor::stack(&losses, 0), Tensor::stack(&accs, 0)], 0).to_device(Device::Cpu);
    let values: Vec<f64> = Vec::try_from(values.flatten(0, -1))?;
    let n = pending.len();
    for (i, (row, _, _)) in pending.drain(..).enumerate() {
        let loss = values[i];
        if !loss.is_finite() {
            return Ok(Some((row.step, row.lr, loss)));
        }
        log.write(&StepRow { loss, ..row })?;
        sums.loss_sum += loss;
        sums.correct += values[n + i];
    }
    Ok(None)
}

fn step_message(state: &Meta, steps_per_epoch: u64, lr: f64, seconds: f64) -> String {
    let steps_done = state.step - (state.step - 1) / steps_per_epoch * steps_per_epoch;
    let per_step = state.sums.loss_sum / steps_done.max(1) as f64;
    let acc = state.sums.correct / state.sums.seen.max(1.0);
    let rate = state.sums.seen / seconds.max(1e-9);
    format!("epoch {} lr {lr:.5} loss {per_step:.4} acc {acc:.4} {rate:.0} img/s", (state.step - 1) / steps_per_epoch)
}

/// Open steps.csv and epochs.csv: new files, or on resume the existing ones cut back to the
/// checkpoint (rows a killed run wrote after its last checkpoint are dropped, so the resumed
/// run writes them again exactly once).
fn open_logs(out: &Path, resume: bool, step: u64, steps_per_epoch: u64) -> Result<(RowWriter, RowWriter)> {
    let steps_path = out.join("steps.csv");
    let epochs_path = out.join("epochs.csv");
    if !resume {
        return Ok((RowWriter::create::<StepRow>(&steps_path)?, RowWriter::create::<EpochRow>(&epochs_path)?));
    }
    let completed_epochs = step / steps_per_epoch;
    truncate::<StepRow>(&steps_path, |r| r.step < step)?;
    truncate::<EpochRow>(&epochs_path, |r| r.epoch < completed_epochs)?;
    Ok((RowWriter::append(&steps_path)?, RowWriter::append(&epochs_path)?))
}

/// Keep the rows of a CSV file that `keep` accepts (a torn last line is dropped), atomically.
fn truncate<T>(path: &Path, keep: impl Fn(&T) -> bool) -> Result<()>
where
    T: records::Row + serde::de::DeserializeOwned,
{
    let rows: Vec<T> = if path.exists() { records::read_rows_lenient(path)? } else { Vec::new() };
    crate::atomic::write_with(path, |tmp| {
        let mut w = RowWriter::create::<T>(tmp)?;
        for row in rows.iter().filter(|r| keep(r)) {
            w.write(row)?;
        }
        Ok(())
    })
}

/// Write summary.json from epochs.csv (it holds every epoch, those before a resume too) and the
/// run's state.
fn summarize(
    config: &Config,
    data: &Data,
    device: Device,
    state: &Meta,
    status: Status,
    out: &Path,
) -> Result<Summary> {
    let rows: Vec<EpochRow> = records::read_rows(&out.join("epochs.csv"))?;
    let last = rows.last();
    let seconds = state.seconds;
    // Images trained on: whole epochs, then full batches of the epoch in progress.
    let (done, partial) = (state.step / state.steps_per_epoch, state.step % state.steps_per_epoch);
    let images = (done as usize * data.train.len + partial as usize * config.batch_size) as f64;
    let summary = Summary {
        status,
        final_test_acc: last.map(|r| r.test_acc),
        best_test_acc: rows.iter().map(|r| r.test_acc).fold(None, |m: Option<f64>, a| Some(m.map_or(a, |m| m.max(a)))),
        final_test_loss: last.map(|r| r.test_loss),
        final_train_loss: last.map(|r| r.train_loss),
        epochs: rows.len() as u64,
        steps: state.step,
        seconds,
        train_images_per_sec: if seconds > 0.0 { images / seconds } else { 0.0 },
        device: crate::device::name(device),
        data: data.source.clone(),
        depth: config.depth,
        policy: config.policy.to_string(),
    };
    crate::atomic::write_json(&out.join("summary.json"), &summary)?;
    Ok(summary)
}

/// Redraw curves.png from the run's CSV files.
fn draw(out: &Path) -> Result<()> {
    let steps: Vec<StepRow> = records::read_rows(&out.join("steps.csv"))?;
    let epochs: Vec<EpochRow> = records::read_rows(&out.join("epochs.csv"))?;
    crate::plot::curves_png(&out.join("curves.png"), &steps, &epochs, &format!("clr train: {}", out.display()))
}
