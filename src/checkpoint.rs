//! Checkpoints: the model's variables (batch-norm running statistics included), the SGD momentum
//! buffers and the state of the run, in one file written to a temporary name and renamed, so a
//! run killed while saving keeps its previous checkpoint.

use crate::atomic;
use crate::sgd::Sgd;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

pub const FILE_NAME: &str = "checkpoint.pt";
const META: &str = "clr.meta";
const MODEL: &str = "model.";
const MOMENTUM: &str = "momentum.";

/// Running sums of the epoch in progress, so a run resumed mid-epoch logs the same epoch row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochSums {
    pub loss_sum: f64,
    pub correct: f64,
    pub seen: f64,
    /// Training seconds of the epoch so far.
    #[serde(default)]
    pub seconds: f64,
}

/// Where the run stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub format: u32,
    pub depth: usize,
    /// The next global step to run (0-based).
    pub step: u64,
    pub steps_per_epoch: u64,
    pub mean: [f64; 3],
    pub std: [f64; 3],
    pub sums: EpochSums,
    pub best_test_acc: f64,
    /// Training seconds before this checkpoint (for summary.json after a resume).
    pub seconds: f64,
}

pub struct Checkpoint {
    pub meta: Meta,
    pub model: HashMap<String, Tensor>,
    pub momentum: HashMap<String, Tensor>,
}

/// Write a checkpoint atomically.
pub fn save(path: &Path, vs: &nn::VarStore, sgd: &Sgd, meta: &Meta) -> Result<()> {
    let mut named: Vec<(String, Tensor)> = Vec::new();
    let json = serde_json::to_vec(meta)?;
    named.push((META.into(), Tensor::from_slice(&json)));
    for (name, t) in vs.variables() {
        named.push((format!("{MODEL}{name}"), t.detach().to_device(Device::Cpu)));
    }
    for (name, t) in sgd.buffers() {
        named.push((format!("{MOMENTUM}{name}"), t.detach().to_device(Device::Cpu)));
    }
    atomic::write_with(path, |tmp| {
        Tensor::save_multi(&named, tmp).with_context(|| format!("cannot write checkpoint {}", tmp.display()))
    })
}

/// Read a checkpoint (onto the CPU).
pub fn load(path: &Path) -> Result<Checkpoint> {
    if !path.is_file() {
        crate::usage!("checkpoint {} not found", path.display());
    }
    let named = Tensor::load_multi_with_device(path, Device::Cpu)
        .with_context(|| format!("{} is not a readable clr checkpoint", path.display()))?;
    let mut meta = None;
    let mut model = HashMap::new();
    let mut momentum = HashMap::new();
    for (name, t) in named {
        if name == META {
            let bytes: Vec<u8> = Vec::try_from(t.to_kind(Kind::Uint8).flatten(0, -1))?;
            meta = Some(serde_json::from_slice::<Meta>(&bytes).context("checkpoint metadata")?);
        } else if let Some(n) = name.strip_prefix(MODEL) {
            model.insert(n.to_string(), t);
        } else if let Some(n) = name.strip_prefix(MOMENTUM) {
            momentum.insert(n.to_string(), t);
        }
    }
    let meta = meta.with_context(|| format!("{} has no clr metadata: not a clr checkpoint", path.display()))?;
    Ok(Checkpoint { meta, model, momentum })
}

impl Checkpoint {
    /// Copy the saved variables into a model built with the same depth.
    pub fn restore_model(&self, vs: &mut nn::VarStore) -> Result<()> {
        let _guard = tch::no_grad_guard();
        for (name, mut var) in vs.variables() {
            let saved = self.model.get(&name).with_context(|| format!("checkpoint lacks {name}"))?;
            if saved.size() != var.size() {
                bail!("checkpoint {name}: shape {:?}, model {:?}", saved.size(), var.size());
            }
            var.copy_(saved);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resnet::{ResNet, ResNetConfig};

    #[test]
    fn round_trip_restores_weights_buffers_and_meta() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let _rng = crate::rng_lock();
        tch::manual_seed(1);
        let vs = nn::VarStore::new(Device::Cpu);
        let _net = ResNet::new(&vs.root(), ResNetConfig { depth: 8, num_classes: 10 });
        let mut sgd = Sgd::new(&vs, 1e-4, false);
        for v in vs.trainable_variables() {
            v.sum(Kind::Float).backward();
        }
        sgd.step(0.1, 0.9);
        let meta = Meta {
            format: 1,
            depth: 8,
            step: 7,
            steps_per_epoch: 3,
            mean: [1.0, 2.0, 3.0],
            std: [4.0, 5.0, 6.0],
            sums: EpochSums { loss_sum: 1.5, correct: 3.0, seen: 10.0, seconds: 2.5 },
            best_test_acc: 0.25,
            seconds: 12.5,
        };
        save(&path, &vs, &sgd, &meta).unwrap();
        let ck = load(&path).unwrap();
        assert_eq!(ck.meta, meta);
        tch::manual_seed(2);
        let mut other = nn::VarStore::new(Device::Cpu);
        let _net2 = ResNet::new(&other.root(), ResNetConfig { depth: 8, num_classes: 10 });
        ck.restore_model(&mut other).unwrap();
        let a = vs.variables();
        for (name, t) in other.variables() {
            assert!(t.equal(&a[&name]), "{name}");
        }
        let mut sgd2 = Sgd::new(&other, 1e-4, false);
        sgd2.load_buffers(&ck.momentum).unwrap();
        assert_eq!(sgd2.buffers().len(), sgd.buffers().len());
        // No temporary file is left beside it, and each tensor is saved once (parameters are
        // views into the optimiser's flat buffer): the file is about the size of the tensors.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let bytes = std::fs::metadata(&path).unwrap().len();
        let floats: i64 = vs.variables().values().map(|t| t.numel() as i64).sum::<i64>() * 2;
        assert!(bytes < (floats as u64 * 4) * 3 / 2 + 100_000, "{bytes} bytes for {floats} floats");
    }

    #[test]
    fn a_bad_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.pt");
        std::fs::write(&path, b"not a checkpoint").unwrap();
        let err = format!("{:#}", load(&path).err().unwrap());
        assert!(err.contains("bad.pt") && err.contains("not a readable clr checkpoint"), "{err}");
        let err = format!("{:#}", load(&dir.path().join("none.pt")).err().unwrap());
        assert!(err.contains("not found"), "{err}");
    }
}
