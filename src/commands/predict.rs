//! `clr predict`: the most likely classes of image files, by a trained checkpoint. Each file is
//! decoded and resized exactly as an image folder's cache does (`data::decode`), at the size the
//! model learned from, and normalised with its training set's statistics; for a network trained
//! on an MNIST-format set, as its IDX images were prepared (grey, 28×28 padded to 32×32).

use super::eval::model_layer;
use super::Report;
use crate::cli::PredictArgs;
use crate::config::{DatasetKind, Layer, RunLayer};
use crate::data::{self, decode};
use crate::engine::Learner;
use crate::runtime::device;
use anyhow::Result;
use rayon::prelude::*;
use std::path::PathBuf;
use tch::{Kind, Tensor};

/// The top classes of one image: (label, name when the checkpoint has them, probability), most
/// likely first.
pub type Ranked = Vec<(usize, Option<String>, f64)>;

pub fn run(a: PredictArgs) -> Result<Report> {
    let ck = crate::train::checkpoint::load(&a.checkpoint)?;
    let layer = Layer {
        model: model_layer(&ck.state),
        run: RunLayer { device: Some(a.device), precision: Some(a.precision), ..RunLayer::default() },
        ..Layer::default()
    };
    let config = layer.resolve()?;
    if let Some(missing) = a.images.iter().find(|p| !p.is_file()) {
        crate::usage!("{}: no such image file", missing.display());
    }
    let size = ck.state.image_size;
    // A network trained on IDX images saw them padded, not resized: prepare the files alike.
    let idx_trained = matches!(ck.state.dataset, Some(DatasetKind::Mnist | DatasetKind::FashionMnist));
    let prepare = |p: &PathBuf| {
        if idx_trained {
            data::mnist::file_planes(p, size as usize)
        } else {
            decode::decode(p, size as u32).map(|(planes, _)| planes)
        }
    };
    let decoded: Vec<Vec<u8>> = a.images.par_iter().map(prepare).collect::<Result<_>>()?;
    let device = device::prepare(&config.run)?;
    let mut learner = Learner::sized(&config.model, &config.run, (ck.state.num_classes, size), device);
    learner.restore(&ck.model, None)?;
    let n = decoded.len() as i64;
    let pixels = Tensor::from_slice(&decoded.concat()).view([n, data::CHANNELS, size, size]);
    let (shift, scale) = data::normalization(ck.state.mean, ck.state.std, tch::Device::Cpu);
    let probabilities = learner.probabilities(&((pixels.to_kind(Kind::Float) - shift) * scale));
    let k = (a.top_k as usize).min(ck.state.num_classes);
    let (values, labels) = probabilities.topk(k as i64, -1, true, true);
    let names = ck.state.class_names.as_deref();
    let rows = (0..decoded.len())
        .map(|i| {
            let ranked: Ranked = (0..k)
                .map(|j| {
                    let label = labels.int64_value(&[i as i64, j as i64]) as usize;
                    let name = names.and_then(|n| n.get(label)).cloned();
                    (label, name, values.double_value(&[i as i64, j as i64]))
                })
                .collect();
            (a.images[i].clone(), ranked)
        })
        .collect();
    Ok(Report::Predict { rows })
}

/// `path: cat (0.912), dog (0.051)`: a class without a name is `class 3`.
pub fn line(path: &std::path::Path, ranked: &Ranked) -> String {
    let classes: Vec<String> = ranked
        .iter()
        .map(|(label, name, p)| format!("{} ({p:.3})", name.clone().unwrap_or_else(|| format!("class {label}"))))
        .collect();
    format!("{}: {}", path.display(), classes.join(", "))
}

/// The rows of a report.
pub type Rows = Vec<(PathBuf, Ranked)>;
