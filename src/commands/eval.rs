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
    let mut data_layer = a.data;
    // The size of the images the model learned from, unless told otherwise (then they must agree).
    // An image folder's cache is the one the run used when the flags are the same: its own size
    // when none was given.
    if data_layer.dataset != Some(crate::config::DatasetKind::Folder) {
        data_layer.image_size = data_layer.image_size.or(Some(ck.state.image_size as usize));
    }
    let mut layer = Layer {
        data: data_layer,
        model: model_layer(&ck.state),
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
    check_classes(&a.checkpoint, &ck.state, &config.data, data::classes(&config.data))?;
    if let Some(size) = config.data.image_size {
        check_size(&a.checkpoint, &ck.state, size as i64)?;
    }
    let device = device::prepare(&config.run)?;
    let mut data = Data::load(&config.data, config.run.seed, device, true)?;
    check_classes(&a.checkpoint, &ck.state, &config.data, Some(data.classes))?;
    check_size(&a.checkpoint, &ck.state, data.image_size)?;
    check_names(&a.checkpoint, &ck.state, data.class_names.as_deref())?;
    // Normalise as the model was trained.
    data.set_statistics(ck.state.mean, ck.state.std);
    let mut learner = Learner::sized(&config.model, &config.run, (ck.state.num_classes, ck.state.image_size), device);
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

/// The model settings a checkpoint was trained with (`eval` and `predict` rebuild its network).
pub(super) fn model_layer(state: &RunState) -> ModelLayer {
    ModelLayer { arch: Some(state.arch), depth: Some(state.depth), width: state.width, ..ModelLayer::default() }
}

/// The model's outputs must be the data's classes (checked before any data is read when the data
/// set says how many it has, after for an image folder): a usage error that says which data set
/// and labels the checkpoint learned, when it records them.
fn check_classes(path: &Path, state: &RunState, settings: &DataSettings, classes: Option<usize>) -> Result<()> {
    let Some(classes) = classes.filter(|&c| c != state.num_classes) else { return Ok(()) };
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

/// The images must have the size the model learned from.
fn check_size(path: &Path, state: &RunState, size: i64) -> Result<()> {
    if size != state.image_size {
        crate::usage!(
            "--image-size {size}: the model of --checkpoint {} learned from {}x{} images; leave --image-size out",
            path.display(),
            state.image_size,
            state.image_size
        );
    }
    Ok(())
}

/// When both the checkpoint and the data name their classes, the names must be the same, in the
/// same order (an image folder with other class folders is another problem).
fn check_names(path: &Path, state: &RunState, names: Option<&[String]>) -> Result<()> {
    if let (Some(trained), Some(names)) = (state.class_names.as_deref(), names) {
        if trained != names {
            crate::usage!(
                "--checkpoint {}: the model learned the classes [{}], but this data has [{}]",
                path.display(),
                trained.join(", "),
                names.join(", ")
            );
        }
    }
    Ok(())
}
