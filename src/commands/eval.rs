//! `clr eval`: test accuracy and loss of a saved checkpoint.

use super::Report;
use crate::cli::EvalArgs;
use crate::config::{DataSettings, DatasetKind, Layer, ModelLayer, RunLayer};
use crate::data::{self, Data};
use crate::engine::Learner;
use crate::run_dir::RunDir;
use crate::runtime::device;
use crate::train::checkpoint::RunState;
use anyhow::Result;
use std::path::Path;

pub fn run(a: EvalArgs) -> Result<Report> {
    check_is_a_file(&a.checkpoint)?;
    let ck = crate::train::checkpoint::load(&a.checkpoint)?;
    let mut layer = Layer {
        data: a.data,
        // The network the checkpoint holds.
        model: ModelLayer {
            arch: Some(ck.state.arch),
            depth: Some(ck.state.depth),
            width: ck.state.width,
            ..ModelLayer::default()
        },
        run: RunLayer {
            device: Some(a.device),
            precision: Some(a.precision),
            threads: a.threads,
            ..RunLayer::default()
        },
        ..Layer::default()
    };
    synthetic_as_trained(&a.checkpoint, &ck.state, &mut layer)?;
    let config = layer.resolve()?;
    check_classes(&a.checkpoint, &ck.state, &config.data)?;
    let device = device::prepare(&config.run)?;
    let mut data = Data::load(&config.data, config.run.seed, device, true)?;
    // Normalise as the model was trained.
    data.set_statistics(ck.state.mean, ck.state.std);
    let mut learner = Learner::new(&config.model, &config.run, ck.state.num_classes, device);
    learner.restore(&ck.model, None)?;
    let (test_loss, test_acc) = learner.evaluate(&data, &data.test, a.batch_size as usize, None)?;
    Ok(Report::Eval { test_acc, test_loss, images: data.test.len, source: data.source.clone() })
}

/// `--checkpoint` names a file: a run folder or a device is said to be one, not "not found".
fn check_is_a_file(path: &Path) -> Result<()> {
    if path.is_dir() {
        crate::usage!(
            "--checkpoint {}: a folder; the checkpoint of a run is {}",
            path.display(),
            RunDir::new(path).checkpoint_pt().display()
        );
    }
    if path.exists() && !path.is_file() {
        let file = RunDir::new("RUN_DIR").checkpoint_pt();
        crate::usage!("--checkpoint {}: not a regular file (a run's checkpoint is {})", path.display(), file.display());
    }
    Ok(())
}

/// Synthetic test images depend on the seed and both sizes: the run's, from the checkpoint (any
/// other seed makes other class patterns, and the accuracy would be meaningless). A checkpoint
/// that does not record them, or sizes given that differ from them, are refused.
fn synthetic_as_trained(path: &Path, state: &RunState, layer: &mut Layer) -> Result<()> {
    let data = &mut layer.data;
    if data.dataset != Some(DatasetKind::Synthetic) || state.dataset.is_some_and(|d| d != DatasetKind::Synthetic) {
        return Ok(());
    }
    let place = format!("--checkpoint {}", path.display());
    let Some(set) = state.synthetic else {
        crate::usage!(
            "{place}: the checkpoint does not record the seed and sizes of its synthetic data (an older clr), so \
             its test set cannot be rebuilt; --resume the run once to record them"
        );
    };
    let given =
        [("--synthetic-train", data.synthetic_train, set.train), ("--synthetic-test", data.synthetic_test, set.test)];
    if let Some((flag, Some(n), _)) = given.into_iter().find(|(_, g, t)| g.is_some_and(|g| g != *t)) {
        crate::usage!(
            "{place}: {flag} {n}, but the model was trained on --synthetic-train {} --synthetic-test {} --seed {} \
             (leave them out: eval uses the run's)",
            set.train,
            set.test,
            set.seed
        );
    }
    (data.synthetic_train, data.synthetic_test) = (Some(set.train), Some(set.test));
    layer.run.seed = Some(set.seed);
    Ok(())
}

/// The model's outputs must be the data's classes (before any data is read): a usage error that
/// says which data set and labels the checkpoint learned, when it records them.
fn check_classes(path: &Path, state: &RunState, settings: &DataSettings) -> Result<()> {
    let classes = data::classes(settings);
    if classes == state.num_classes {
        return Ok(());
    }
    let (given, outputs) = (format!("--dataset {} --labels {}", settings.dataset, settings.labels), state.num_classes);
    let hint = match (state.dataset, state.labels) {
        (Some(d), Some(l)) => format!("it was trained with --dataset {d} --labels {l}"),
        _ => "pass the data set and --labels it was trained with".to_string(),
    };
    crate::usage!(
        "--checkpoint {}: the model has {outputs} outputs, but {given} has {classes} classes; {hint}",
        path.display()
    )
}
