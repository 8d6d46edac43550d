//! Checkpoints: the model's variables (batch-norm running statistics included), the SGD momentum
//! buffers and the state of the run, in one file. It is serialised in memory, then written to a
//! temporary name and renamed, the one it replaces kept as the previous one (`checkpoint.prev.pt`,
//! see `run_dir`): a run killed while saving, a full disk or a damaged latest file still leaves a
//! checkpoint to resume from.

use crate::config::{DatasetKind, Labels};
use crate::engine::Learner;
use crate::error::first_line;
use crate::files;
use crate::model::arch::Arch;
use crate::run_dir::RunDir;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use tch::{Device, Kind, Tensor};

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

/// Where the run stands: what, besides the tensors, a resumed run needs to continue exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub format: u32,
    pub depth: usize,
    /// The next global step to run (0-based).
    pub step: u64,
    pub steps_per_epoch: u64,
    /// Normalisation statistics of the training set (eval normalises as the model was trained).
    pub mean: [f64; 3],
    pub std: [f64; 3],
    pub sums: EpochSums,
    /// Training seconds before this checkpoint (for summary.json after a resume).
    pub seconds: f64,
    /// Outputs of the model, the classes of its data (checkpoints older than this field were
    /// CIFAR-10's or synthetic data's: 10).
    #[serde(default = "ten")]
    pub num_classes: usize,
    /// The data set and labels the model learned, so that `clr eval` can say what to pass
    /// (unknown in older checkpoints).
    #[serde(default)]
    pub dataset: Option<DatasetKind>,
    #[serde(default)]
    pub labels: Option<Labels>,
    /// The side of the (square) images the model learned from (older checkpoints: CIFAR's 32).
    #[serde(default = "thirty_two")]
    pub image_size: i64,
    /// The names of the classes in label order, when the data had them (`clr predict` prints them).
    #[serde(default)]
    pub class_names: Option<Vec<String>>,
    /// The network (`eval` and `export` rebuild it from these): checkpoints older than these
    /// fields hold a resnet.
    #[serde(default)]
    pub arch: Arch,
    #[serde(default)]
    pub width: Option<usize>,
    /// The synthetic set the model learned (None for data from files, and in older checkpoints):
    /// its test images depend on the seed and both sizes, which `clr eval` needs to rebuild it.
    #[serde(default)]
    pub synthetic: Option<SyntheticSet>,
    /// The resolved config the run was started (or last resumed) with, as config.json holds it:
    /// `--resume` compares config.json with it (None in older checkpoints).
    #[serde(default)]
    pub config: Option<serde_json::Value>,
}

/// What makes a synthetic data set: `synthetic(train, test, seed)` gives the same images again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyntheticSet {
    pub seed: u64,
    pub train: usize,
    pub test: usize,
}

impl SyntheticSet {
    /// The synthetic set of a run's settings; None when its data comes from files.
    pub fn of(data: &crate::config::DataSettings, seed: u64) -> Option<SyntheticSet> {
        (data.dataset == DatasetKind::Synthetic).then_some(SyntheticSet {
            seed,
            train: data.synthetic_train,
            test: data.synthetic_test,
        })
    }
}

fn ten() -> usize {
    10
}

fn thirty_two() -> i64 {
    32
}

pub struct Checkpoint {
    pub state: RunState,
    pub model: HashMap<String, Tensor>,
    pub momentum: HashMap<String, Tensor>,
}

/// Write the checkpoint of `dir` with `learner` at `state`, atomically, keeping the one it
/// replaces as the previous checkpoint.
pub fn save(dir: &RunDir, learner: &Learner, state: &RunState) -> Result<()> {
    let path = dir.checkpoint_pt();
    let mut named: Vec<(String, Tensor)> = Vec::new();
    let json = serde_json::to_vec(state)?;
    named.push((META.into(), Tensor::from_slice(&json)));
    for (name, t) in learner.variables() {
        named.push((format!("{MODEL}{name}"), t.detach().to_device(Device::Cpu)));
    }
    for (name, t) in learner.momentum_buffers() {
        named.push((format!("{MOMENTUM}{name}"), t.detach().to_device(Device::Cpu)));
    }
    // In memory first: libtorch's file writer aborts the process when the disk fills.
    let mut bytes = Vec::new();
    Tensor::save_multi_to_stream(&named, &mut bytes).map_err(|e| {
        anyhow::anyhow!("cannot serialise checkpoint {}: {}", path.display(), first_line(&e.to_string()))
    })?;
    files::write_bytes_keeping(&path, &dir.previous_checkpoint_pt(), &bytes)
}

/// Read a checkpoint (onto the CPU). Errors are one line naming the file.
pub fn load(path: &Path) -> Result<Checkpoint> {
    if !path.is_file() {
        crate::usage!("checkpoint {} not found", path.display());
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let named = Tensor::load_multi_from_stream_with_device(std::io::Cursor::new(bytes), Device::Cpu).map_err(|e| {
        anyhow::anyhow!("{} is not a readable clr checkpoint: {}", path.display(), first_sentence(&e.to_string()))
    })?;
    let mut meta = None;
    let mut model = HashMap::new();
    let mut momentum = HashMap::new();
    for (name, t) in named {
        if name == META {
            let bytes: Vec<u8> = Vec::try_from(t.to_kind(Kind::Uint8).flatten(0, -1))?;
            let parsed = serde_json::from_slice::<RunState>(&bytes);
            meta = Some(parsed.with_context(|| format!("{}: damaged clr metadata", path.display()))?);
        } else if let Some(n) = name.strip_prefix(MODEL) {
            model.insert(n.to_string(), t);
        } else if let Some(n) = name.strip_prefix(MOMENTUM) {
            momentum.insert(n.to_string(), t);
        }
    }
    let state = meta.with_context(|| format!("{} has no clr metadata: not a clr checkpoint", path.display()))?;
    Ok(Checkpoint { state, model, momentum })
}

/// The checkpoint to resume the run in `dir` from: the latest, or the previous one when the
/// latest is missing or unreadable (with a note saying so). None when the run has none yet
/// (it stopped before its first checkpoint).
pub fn load_for_resume(dir: &RunDir) -> Result<Option<(Checkpoint, Option<String>)>> {
    let (latest, previous) = (dir.checkpoint_pt(), dir.previous_checkpoint_pt());
    if !latest.exists() && !previous.exists() {
        return Ok(None);
    }
    let latest_err = match load(&latest) {
        Ok(ck) => return Ok(Some((ck, None))),
        Err(e) => e,
    };
    if !previous.exists() {
        return Err(latest_err);
    }
    let ck = load(&previous).map_err(|e| anyhow::anyhow!("{latest_err:#}; and {e:#}"))?;
    let note = format!(
        "{latest_err:#}: resuming from the checkpoint before it, {} (step {})",
        previous.display(),
        ck.state.step
    );
    Ok(Some((ck, Some(note))))
}

/// A damaged file's libtorch message has a paragraph of advice after its first sentence (and a
/// C++ backtrace after its first line): the first sentence says what is wrong.
fn first_sentence(message: &str) -> &str {
    let line = first_line(message);
    let line = line.strip_prefix("Internal torch error: ").unwrap_or(line);
    line.split_once(". ").map_or(line, |(first, _)| first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ModelSettings, RunSettings};

    #[test]
    fn round_trip_restores_weights_buffers_and_state() {
        let dir = tempfile::tempdir().unwrap();
        let run_dir = RunDir::new(dir.path());
        let path = run_dir.checkpoint_pt();
        let _rng = crate::rng_lock();
        let model = ModelSettings { depth: 8, ..ModelSettings::default() };
        let run = RunSettings { seed: 1, ..RunSettings::default() };
        let mut learner = Learner::new(&model, &run, 10, Device::Cpu);
        let x = Tensor::randn([4, 3, 32, 32], (Kind::Float, Device::Cpu));
        let batch = crate::data::batches::Batch::whole(&x, &Tensor::from_slice(&[0i64, 1, 2, 3]));
        let _ = learner.step(&batch, 0.1, 0.9).unwrap();
        let state = RunState {
            format: 1,
            depth: 8,
            step: 7,
            steps_per_epoch: 3,
            mean: [1.0, 2.0, 3.0],
            std: [4.0, 5.0, 6.0],
            sums: EpochSums { loss_sum: 1.5, correct: 3.0, seen: 10.0, seconds: 2.5 },
            seconds: 12.5,
            num_classes: 10,
            dataset: Some(DatasetKind::Cifar10),
            labels: Some(Labels::Fine),
            synthetic: Some(SyntheticSet { seed: 7, train: 100, test: 10 }),
            config: Some(serde_json::json!({"depth": 8})),
            image_size: 32,
            class_names: Some(vec!["plane".into(), "car".into()]),
            arch: Arch::ResNet,
            width: None,
        };
        save(&run_dir, &learner, &state).unwrap();
        let ck = load(&path).unwrap();
        assert_eq!(ck.state, state);
        let mut other = Learner::new(&model, &RunSettings { seed: 2, ..run }, 10, Device::Cpu);
        other.restore(&ck.model, Some(&ck.momentum)).unwrap();
        let a = learner.variables();
        for (name, t) in other.variables() {
            assert!(t.equal(&a[&name]), "{name}");
        }
        let (mine, theirs) = (learner.momentum_buffers(), other.momentum_buffers());
        assert_eq!(mine.len(), theirs.len());
        assert!(mine.iter().zip(&theirs).all(|((n, a), (m, b))| n == m && a.equal(b)));
        // No temporary file is left beside it, and each tensor is saved once (parameters are
        // views into the optimiser's flat buffer): the file is about the size of the tensors.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let bytes = std::fs::metadata(&path).unwrap().len();
        let floats: i64 = learner.variables().values().map(|t| t.numel() as i64).sum::<i64>() * 2;
        assert!(bytes < (floats as u64 * 4) * 3 / 2 + 100_000, "{bytes} bytes for {floats} floats");
    }

    #[test]
    fn the_number_of_classes_travels_and_old_checkpoints_had_ten() {
        let dir = tempfile::tempdir().unwrap();
        let run_dir = RunDir::new(dir.path());
        let path = run_dir.checkpoint_pt();
        let _rng = crate::rng_lock();
        let model = ModelSettings { depth: 8, ..ModelSettings::default() };
        let run = RunSettings::default();
        let learner = Learner::new(&model, &run, 100, Device::Cpu);
        let old = r#"{"format":1,"depth":8,"step":0,"steps_per_epoch":3,"mean":[0,0,0],"std":[1,1,1],
            "sums":{"loss_sum":0,"correct":0,"seen":0},"seconds":0}"#;
        let old: RunState = serde_json::from_str(old).unwrap();
        assert_eq!((old.num_classes, old.dataset, old.labels, old.synthetic), (10, None, None, None));
        assert_eq!((old.image_size, old.class_names.clone()), (32, None), "older checkpoints: CIFAR's images");
        assert_eq!((old.arch, old.width), (Arch::ResNet, None));
        let state =
            RunState { num_classes: 100, dataset: Some(DatasetKind::Cifar100), labels: Some(Labels::Coarse), ..old };
        save(&run_dir, &learner, &state).unwrap();
        let ck = load(&path).unwrap();
        assert_eq!(ck.state, state);
        assert_eq!(ck.model["fc.weight"].size(), [100, 64]);
        // A model of another size refuses the weights, naming the layer.
        let mut ten = Learner::new(&model, &run, 10, Device::Cpu);
        let err = ten.restore(&ck.model, None).unwrap_err().to_string();
        assert!(err.contains("fc.") && err.contains("100"), "{err}");
        Learner::new(&model, &run, 100, Device::Cpu).restore(&ck.model, None).unwrap();
    }

    #[test]
    fn a_bad_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.pt");
        std::fs::write(&path, b"not a checkpoint").unwrap();
        let err = format!("{:#}", load(&path).err().unwrap());
        assert!(err.contains("bad.pt") && err.contains("not a readable clr checkpoint"), "{err}");
        assert!(err.ends_with("failed reading zip archive: not a ZIP archive"), "one sentence of libtorch's: {err}");
        let err = format!("{:#}", load(&dir.path().join("none.pt")).err().unwrap());
        assert!(err.contains("not found"), "{err}");
    }
}
