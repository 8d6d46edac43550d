//! The networks (`--arch`, see [`arch::Arch`]): the CIFAR ResNet of He et al. (`resnet`), with
//! CPU-speed pieces: batch norm, residual add and ReLU fused into one op (`fused`, C++ in
//! csrc/bn_relu.cpp), and shortcut and pooling written so that gradients stay channels-last
//! (`layout`); and, in plain libtorch operations, the other networks of Smith's papers:
//! pre-activation ResNet-18 and WRN (`preact`), DenseNet (`densenet`), LeNet-5 (`lenet`), Caffe's
//! 3-layer CIFAR-10 net (`smith3`) and Smith's wide ResNet (`smith_wide`). `layers` holds the
//! layers they share. Each module cites its paper; parameter names are PyTorch's, checked against
//! PyTorch definitions (scripts/gen_model_fixtures.py, tests in `fixtures_tests.rs`).
//!
//! Every network runs in evaluation mode on plain libtorch operations (the fused kernels only
//! train), so it can be traced for TorchScript (`export`). To add a network: a module here, a
//! variant of `Arch` with its depth rule, a line in [`build`], its PyTorch twin in the script.

pub mod arch;
pub mod densenet;
pub mod fused;
pub mod layers;
pub mod layout;
pub mod lenet;
pub mod preact;
pub mod resnet;
pub mod smith3;
pub mod smith_wide;

use anyhow::{bail, Context, Result};
use arch::{Arch, NetConfig};
use std::collections::HashMap;
use tch::nn::{self, ModuleT};
use tch::Tensor;

/// The network `config` describes, its variables created under `vs`. The config must have
/// passed [`NetConfig::check`].
pub fn build(vs: &nn::Path, config: &NetConfig) -> Box<dyn ModuleT> {
    let n = config.blocks_per_stage().expect("a checked network config");
    let (classes, width) = (config.classes, config.width_or_default() as i64);
    match config.arch {
        Arch::ResNet => {
            Box::new(resnet::ResNet::new(vs, resnet::ResNetConfig { depth: config.depth, num_classes: classes }))
        }
        Arch::PreActResNet18 => Box::new(preact::PreActResNet::resnet18(vs, classes, config.image_size)),
        Arch::Wrn => Box::new(preact::PreActResNet::wide(vs, n, width, classes)),
        Arch::DenseNet => Box::new(densenet::DenseNet::new(vs, n, classes)),
        Arch::LeNet5 => Box::new(lenet::LeNet5::new(vs, classes, config.image_size)),
        Arch::Smith3 => Box::new(smith3::Smith3::new(vs, classes, config.image_size)),
        Arch::SmithWide => Box::new(smith_wide::SmithWide::new(vs, n, width, classes)),
    }
}

/// Copy saved values into every variable of `vs` (each in its own layout): an error names a
/// variable that is missing or of another shape.
pub fn load_variables(vs: &nn::VarStore, saved: &HashMap<String, Tensor>) -> Result<()> {
    let _guard = tch::no_grad_guard();
    for (name, mut var) in vs.variables() {
        let value = saved.get(&name).with_context(|| format!("checkpoint lacks {name}"))?;
        if value.size() != var.size() {
            bail!("checkpoint {name}: shape {:?}, model {:?}", value.size(), var.size());
        }
        var.copy_(value);
    }
    Ok(())
}

#[cfg(test)]
#[path = "fixtures_tests.rs"]
mod fixtures_tests;
