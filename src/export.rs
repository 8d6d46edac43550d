//! A trained network in files that PyTorch reads without clr (`clr export`):
//!
//! - **TorchScript**: the network traced in evaluation mode (tch's `CModule::create_by_tracing`)
//!   behind its input normalisation, so that the file is the whole model: `torch.jit.load(F)(x)`
//!   takes x, N×3×S×S float RGB in [0, 1] (torchvision's `ToTensor()`), and returns the logits.
//!   Every network here evaluates on plain libtorch operations (the fused batch-norm kernels only
//!   train), which tracing records; the weights become constants of the graph.
//! - **safetensors**: the variables under PyTorch's names (scripts/gen_model_fixtures.py defines
//!   the same modules), batch norm's `num_batches_tracked` included (the steps trained), and in
//!   the metadata what it takes to use them: arch, depth, width, classes, image size, and the
//!   normalisation mean and std, per channel on the 0–255 pixel scale: the network's input is
//!   (pixel − mean) / std.
//!
//! Both are written to a temporary file and renamed into place (`files`).

use crate::error::{first_line, UsageError};
use crate::files;
use crate::model::arch::NetConfig;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::Path;
use tch::nn::{self, ModuleT};
use tch::{CModule, Device, Kind, Tensor};

/// The file formats of `clr export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    TorchScript,
    Safetensors,
}
crate::named_enum!(Format, "format", TorchScript => "torchscript", Safetensors => "safetensors");

/// What a trained network needs besides its weights to be used.
#[derive(Debug, Clone)]
pub struct ModelCard {
    pub net: NetConfig,
    /// Per-channel normalisation of the training data, 0–255 scale.
    pub mean: [f64; 3],
    pub std: [f64; 3],
    /// Optimiser steps trained (batch norm's `num_batches_tracked`).
    pub steps: u64,
    /// Free-form facts for the metadata (data set, labels).
    pub extra: Vec<(String, String)>,
}

/// Trace `net` (on the CPU, NCHW, in evaluation mode, its variables frozen) behind the
/// normalisation of `card`, and save the TorchScript module to `path`.
pub fn torchscript(net: &dyn ModuleT, card: &ModelCard, path: &Path) -> Result<()> {
    let channel = |v: [f64; 3]| Tensor::from_slice(&v).to_kind(Kind::Float).view([1, 3, 1, 1]);
    let (mean, scale) = (channel(card.mean), channel(card.std.map(|s| 1.0 / s)));
    let size = card.net.image_size;
    // Two images: the traced graph must not take the batch size for a constant.
    let example = Tensor::zeros([2, 3, size, size], (Kind::Float, Device::Cpu));
    let mut forward = |inputs: &[Tensor]| vec![net.forward_t(&((&inputs[0] * 255.0 - &mean) * &scale), false)];
    let module = tch::no_grad(|| CModule::create_by_tracing("clr", "forward", &[example], &mut forward))
        .map_err(|e| anyhow::anyhow!("cannot trace --arch {}: {}", card.net.arch, first_line(&e.to_string())))?;
    files::write_with(path, |tmp| {
        module.save(tmp).map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), first_line(&e.to_string())))
    })
}

/// Write the variables of `vs` under their (PyTorch) names, each batch norm's
/// `num_batches_tracked`, and `card` as metadata, to `path`.
pub fn safetensors(vs: &nn::VarStore, card: &ModelCard, path: &Path) -> Result<()> {
    let mut tensors: Vec<(String, Tensor)> =
        vs.variables().into_iter().map(|(n, t)| (n, t.detach().to_device(Device::Cpu).contiguous())).collect();
    let batch_norms: Vec<String> =
        tensors.iter().filter_map(|(n, _)| n.strip_suffix(".running_mean").map(str::to_string)).collect();
    for bn in batch_norms {
        tensors.push((format!("{bn}.num_batches_tracked"), Tensor::from(card.steps as i64)));
    }
    let views = tensors.iter().map(|(n, t)| Ok((n.clone(), View::of(t)?))).collect::<Result<Vec<_>>>()?;
    let bytes = safetensors::tensor::serialize(views, &Some(metadata(card)))
        .with_context(|| format!("cannot serialise {}", path.display()))?;
    files::write_bytes(path, &bytes)
}

/// The metadata of a safetensors export (string values, as the format requires).
fn metadata(card: &ModelCard) -> HashMap<String, String> {
    let list = |v: [f64; 3]| format!("[{}, {}, {}]", v[0], v[1], v[2]);
    let net = &card.net;
    let mut m: HashMap<String, String> = [
        ("format", "pt".to_string()),
        ("producer", format!("clr {}", env!("CARGO_PKG_VERSION"))),
        ("arch", net.arch.to_string()),
        ("depth", net.depth.to_string()),
        ("num_classes", net.classes.to_string()),
        ("image_size", net.image_size.to_string()),
        ("mean", list(card.mean)),
        ("std", list(card.std)),
        ("input", "N x 3 x image_size x image_size float: (RGB pixel in 0..255 - mean) / std".to_string()),
        ("steps", card.steps.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if let Some(w) = net.width {
        m.insert("width".into(), w.to_string());
    }
    m.extend(card.extra.iter().cloned());
    m
}

/// A tensor's bytes for the safetensors writer.
struct View {
    dtype: safetensors::Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View {
    fn of(t: &Tensor) -> Result<View> {
        let dtype = match t.kind() {
            Kind::Float => safetensors::Dtype::F32,
            Kind::Int64 => safetensors::Dtype::I64,
            other => return Err(UsageError::new(format!("cannot export a tensor of kind {other:?}")).into()),
        };
        let numel = t.numel();
        let mut data = vec![0u8; numel * t.kind().elt_size_in_bytes()];
        t.f_copy_data_u8(&mut data, numel)?;
        Ok(View { dtype, shape: t.size().iter().map(|&d| d as usize).collect(), data })
    }
}

impl safetensors::View for View {
    fn dtype(&self) -> safetensors::Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        (&self.data[..]).into()
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}
