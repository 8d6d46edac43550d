//! `clr eval`: test accuracy and loss of a saved checkpoint.

use super::Report;
use crate::cli::EvalArgs;
use crate::config::{DataSettings, Layer, ModelLayer, RunLayer};
use crate::data::{self, Data};
use crate::engine::Learner;
use crate::runtime::device;
use crate::train::checkpoint::RunState;
use anyhow::Result;
use std::path::Path;

pub fn run(a: EvalArgs) -> Result<Report> {
    let ck = crate::train::checkpoint::load(&a.checkpoint)?;
    let layer = Layer {
        data: a.data,
        // The network the checkpoint holds.
        model: ModelLayer {
            arch: Some(ck.state.arch),
            depth: Some(ck.state.depth),
            width: ck.state.width,
            ..ModelLayer::default()
        },
        run: RunLayer { device: Some(a.device), precision: Some(a.precision), ..RunLayer::default() },
        ..Layer::default()
    };
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
