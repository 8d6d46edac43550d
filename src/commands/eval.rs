//! `clr eval`: test accuracy and loss of a saved checkpoint.

use super::Report;
use crate::cli::EvalArgs;
use crate::config::{Layer, ModelLayer, RunLayer};
use crate::data::Data;
use crate::learner::Learner;
use crate::runtime::device;
use anyhow::Result;

pub fn run(a: EvalArgs) -> Result<Report> {
    let ck = crate::train::checkpoint::load(&a.checkpoint)?;
    let layer = Layer {
        data: a.data,
        model: ModelLayer { depth: Some(ck.state.depth), ..ModelLayer::default() },
        run: RunLayer { device: Some(a.device), ..RunLayer::default() },
        ..Layer::default()
    };
    let config = layer.resolve()?;
    let device = device::resolve(config.run.device)?;
    let mut data = Data::load(&config.data, config.run.seed, device, true)?;
    // Normalise as the model was trained.
    data.set_statistics(ck.state.mean, ck.state.std);
    let mut learner = Learner::new(&config.model, &config.run, device);
    learner.restore(&ck.model, None)?;
    let (test_loss, test_acc) = learner.evaluate(&data, &data.test, a.batch_size as usize, None);
    Ok(Report::Eval { test_acc, test_loss, images: data.test.len, source: data.source.clone() })
}
