//! `clr export`: the network of a trained run as TorchScript or safetensors (see `crate::export`),
//! rebuilt from its checkpoint on the CPU in float32.

use super::Report;
use crate::cli::ExportArgs;
use crate::export::{self, Format, ModelCard};
use crate::model::{self, arch::NetConfig};
use crate::run_dir::RunDir;
use crate::train::checkpoint;
use anyhow::Result;
use tch::{nn, Device};

pub fn run(a: ExportArgs) -> Result<Report> {
    // A run folder, or a checkpoint file in one.
    let path = if a.run_dir.is_dir() { RunDir::new(&a.run_dir).checkpoint_pt() } else { a.run_dir.clone() };
    crate::files::check_parent(&a.out, "--out")?;
    let ck = checkpoint::load(&path)?;
    let state = &ck.state;
    let net = NetConfig {
        arch: state.arch,
        depth: state.depth,
        width: state.width,
        classes: state.num_classes as i64,
        image_size: state.image_size,
    };
    net.check()?;
    let mut vs = nn::VarStore::new(Device::Cpu);
    let module = model::build(&vs.root(), &net);
    model::load_variables(&vs, &ck.model)?;
    vs.freeze();
    let mut extra = Vec::new();
    if let (Some(dataset), Some(labels)) = (state.dataset, state.labels) {
        extra = vec![("dataset".to_string(), dataset.to_string()), ("labels".to_string(), labels.to_string())];
    }
    let card = ModelCard { net, mean: state.mean, std: state.std, steps: state.step, extra };
    match a.format {
        Format::TorchScript => export::torchscript(module.as_ref(), &card, &a.out)?,
        Format::Safetensors => export::safetensors(&vs, &card, &a.out)?,
    }
    Ok(Report::Export { format: a.format, net, steps: state.step, out: a.out })
}
