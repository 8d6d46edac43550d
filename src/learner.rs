//! A model with its optimiser: one SGD step on a batch, and evaluation on the test split.
//! Shared by `train`, `range-test` and `bench`, so the three time and train the same thing.

use crate::config::Precision;
use crate::config::{ModelSettings, RunSettings};
use crate::data::{Data, Split};
use crate::model::resnet::{ResNet, ResNetConfig};
use crate::optim::sgd::Sgd;
use crate::runtime::autocast::Bf16Autocast;
use crate::runtime::device;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Reduction, Tensor};

/// Test-set batch size (no gradients: large batches are cheap).
pub const EVAL_BATCH: usize = 1000;

pub struct Learner {
    vs: nn::VarStore,
    net: ResNet,
    sgd: Sgd,
    precision: Precision,
    /// Convolutions in NHWC layout (faster on the CPU's oneDNN kernels and with bf16 on CUDA).
    channels_last: bool,
}

impl Learner {
    /// A freshly initialised network with `classes` outputs (the initialisation is a function
    /// of `run.seed`).
    pub fn new(model: &ModelSettings, run: &RunSettings, classes: usize, device: Device) -> Learner {
        tch::manual_seed(run.seed as i64);
        let vs = nn::VarStore::new(device);
        let net = ResNet::new(&vs.root(), ResNetConfig { depth: model.depth, num_classes: classes as i64 });
        let channels_last = device::channels_last_on(run, device);
        if channels_last {
            // Same values, NHWC strides: convolutions then run on their channels-last kernels.
            let _guard = tch::no_grad_guard();
            for (_, mut var) in vs.variables() {
                if var.dim() == 4 {
                    let nhwc = to_channels_last(&var);
                    var.set_data(&nhwc);
                }
            }
        }
        let sgd = Sgd::new(&vs, model.weight_decay, model.nesterov);
        Learner { vs, net, sgd, precision: run.precision, channels_last }
    }

    /// The model's variables by name (parameters and batch-norm statistics), for checkpoints.
    pub fn variables(&self) -> HashMap<String, Tensor> {
        self.vs.variables()
    }

    /// The SGD momentum buffers by parameter name (none before the first step).
    pub fn momentum_buffers(&self) -> Vec<(String, Tensor)> {
        self.sgd.buffers()
    }

    /// Copy saved variables (and momentum buffers, when given) into this learner.
    pub fn restore(
        &mut self,
        model: &HashMap<String, Tensor>,
        momentum: Option<&HashMap<String, Tensor>>,
    ) -> Result<()> {
        let _guard = tch::no_grad_guard();
        for (name, mut var) in self.vs.variables() {
            let saved = model.get(&name).with_context(|| format!("checkpoint lacks {name}"))?;
            if saved.size() != var.size() {
                bail!("checkpoint {name}: shape {:?}, model {:?}", saved.size(), var.size());
            }
            var.copy_(saved);
        }
        match momentum {
            Some(buffers) => self.sgd.load_buffers(buffers),
            None => Ok(()),
        }
    }

    /// A batch in the layout the network runs in.
    fn layout(&self, x: &Tensor) -> Tensor {
        if self.channels_last {
            to_channels_last(x)
        } else {
            x.shallow_clone()
        }
    }

    /// bf16 autocast while the guard lives, when the run asks for it.
    fn autocast(&self) -> Option<Bf16Autocast> {
        (self.precision == Precision::Bf16).then(Bf16Autocast::enter)
    }

    /// One SGD step. Returns the batch's mean loss and its number of correct predictions, as
    /// device scalars (read them in bulk: reading forces a device synchronisation).
    pub fn step(&mut self, x: &Tensor, y: &Tensor, lr: f64, momentum: f64) -> (Tensor, Tensor) {
        let x = self.layout(x);
        let (loss, correct) = {
            let _autocast = self.autocast();
            let logits = self.net.forward_t(&x, true);
            let loss = logits.to_kind(Kind::Float).cross_entropy_for_logits(y);
            let correct = logits.argmax(-1, false).eq_tensor(y).sum(Kind::Float);
            (loss, correct)
        };
        self.sgd.zero_grad();
        loss.backward();
        self.sgd.step(lr, momentum);
        (loss.detach(), correct)
    }

    /// Mean loss of the model in evaluation mode on the first `batches` batches of a split
    /// (all of it when `batches` is None), with its accuracy.
    pub fn evaluate(&self, data: &Data, split: &Split, batch_size: usize, batches: Option<usize>) -> (f64, f64) {
        let _guard = tch::no_grad_guard();
        let device = split.images.device();
        let mut loss_sum = Tensor::zeros([], (Kind::Double, device));
        let mut correct = Tensor::zeros([], (Kind::Double, device));
        let mut seen = 0usize;
        let limit = batches.map_or(split.len, |b| (b * batch_size).min(split.len));
        while seen < limit {
            let n = batch_size.min(limit - seen) as i64;
            let x = self.layout(&data.normalize(&split.images.narrow(0, seen as i64, n)));
            let y = split.labels.narrow(0, seen as i64, n);
            let logits = {
                let _autocast = self.autocast();
                self.net.forward_t(&x, false)
            }
            .to_kind(Kind::Float);
            loss_sum += logits.cross_entropy_loss::<Tensor>(&y, None, Reduction::Sum, -100, 0.0).to_kind(Kind::Double);
            correct += logits.argmax(-1, false).eq_tensor(&y).sum(Kind::Double);
            seen += n as usize;
        }
        let sums = Tensor::stack(&[loss_sum, correct], 0).to_device(Device::Cpu);
        let n = seen.max(1) as f64;
        (sums.double_value(&[0]) / n, sums.double_value(&[1]) / n)
    }
}

/// Losses and correct counts of recent steps, still on the device, each with what the caller
/// needs to log it. Reading a value synchronises the device, so they are read together every
/// few steps rather than one by one.
pub struct PendingLosses<T> {
    items: Vec<(T, Tensor, Tensor)>,
}

impl<T> Default for PendingLosses<T> {
    fn default() -> Self {
        PendingLosses { items: Vec::new() }
    }
}

impl<T> PendingLosses<T> {
    pub fn push(&mut self, item: T, loss: Tensor, correct: Tensor) {
        self.items.push((item, loss, correct));
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Every pending (item, loss, correct), in order, read from the device in one transfer.
    pub fn read(&mut self) -> Vec<(T, f64, f64)> {
        if self.items.is_empty() {
            return Vec::new();
        }
        let losses: Vec<Tensor> = self.items.iter().map(|p| p.1.to_kind(Kind::Double)).collect();
        let correct: Vec<Tensor> = self.items.iter().map(|p| p.2.to_kind(Kind::Double)).collect();
        let values = Tensor::stack(&[Tensor::stack(&losses, 0), Tensor::stack(&correct, 0)], 0).to_device(Device::Cpu);
        let values: Vec<f64> = Vec::try_from(values.flatten(0, -1)).expect("a CPU tensor of doubles");
        let n = self.items.len();
        self.items.drain(..).enumerate().map(|(i, (item, _, _))| (item, values[i], values[n + i])).collect()
    }
}

/// The same N×C×H×W tensor with NHWC strides (tch has no memory-format API: permute, copy,
/// permute back).
pub fn to_channels_last(t: &Tensor) -> Tensor {
    t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_last_keeps_values_and_changes_strides() {
        let t = Tensor::arange(2 * 3 * 4 * 5, (Kind::Float, Device::Cpu)).view([2, 3, 4, 5]);
        let c = to_channels_last(&t);
        assert!(c.equal(&t));
        assert_eq!(c.stride(), [60, 1, 15, 3]);
    }

    #[test]
    fn both_layouts_train_alike() {
        let _rng = crate::rng_lock();
        // Two steps from the same initialisation: the layouts differ only in rounding.
        let model = ModelSettings { depth: 8, ..ModelSettings::default() };
        let mut run = RunSettings::default();
        let x = Tensor::randn([4, 3, 32, 32], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 2, 3]);
        let mut losses = Vec::new();
        for channels_last in [false, true] {
            run.channels_last = Some(channels_last);
            let mut learner = Learner::new(&model, &run, 10, Device::Cpu);
            assert_eq!(learner.channels_last, channels_last);
            let conv = &learner.vs.variables()["layer1.0.conv1.weight"];
            assert_eq!(conv.stride()[1] == 1, channels_last);
            let _ = learner.step(&x, &y, 0.1, 0.9);
            losses.push(learner.step(&x, &y, 0.1, 0.9).0.double_value(&[]));
        }
        assert!((losses[0] - losses[1]).abs() < 1e-4, "{losses:?}");
    }

    /// The flat update equals PyTorch's per-parameter loop on a real network, channels-last
    /// parameters included, and parameters and gradients stay views of the flat buffers.
    #[test]
    fn flat_update_matches_the_per_parameter_loop() {
        let _rng = crate::rng_lock();
        let model = ModelSettings { depth: 8, ..ModelSettings::default() };
        let run = RunSettings { channels_last: Some(true), ..RunSettings::default() };
        let x = Tensor::randn([6, 3, 32, 32], (Kind::Float, tch::Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 2, 3, 4, 5]);
        let mut flat = Learner::new(&model, &run, 10, tch::Device::Cpu);
        // The reference: the same initial values, plain tensors, the formulas of the module doc.
        let mut vs = nn::VarStore::new(tch::Device::Cpu);
        let net = crate::model::resnet::ResNet::new(
            &vs.root(),
            crate::model::resnet::ResNetConfig { depth: 8, num_classes: 10 },
        );
        vs.copy(&flat.vs).unwrap();
        // The same layout as the learner's (NHWC convolutions), so that both run the same kernels.
        for (_, mut v) in vs.variables() {
            if v.dim() == 4 {
                let nhwc = to_channels_last(&v.detach());
                tch::no_grad(|| v.set_data(&nhwc));
            }
        }
        let mut params: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let mut bufs: Vec<Option<Tensor>> = params.iter().map(|_| None).collect();
        for (lr, m) in [(0.1, 0.9), (0.05, 0.8), (0.2, 0.9)] {
            let _ = flat.step(&x, &y, lr, m);
            for (_, p) in params.iter_mut() {
                p.zero_grad();
            }
            tch::nn::ModuleT::forward_t(&net, &x, true).cross_entropy_for_logits(&y).backward();
            let _guard = tch::no_grad_guard();
            for ((_, p), buf) in params.iter_mut().zip(bufs.iter_mut()) {
                let d = p.grad() + &*p * 1e-4;
                let b = match buf {
                    Some(b) => &*b * m + &d,
                    None => d.copy(),
                };
                let _ = p.g_add_(&(&b * (-lr)));
                *buf = Some(b);
            }
        }
        let got = flat.vs.variables();
        for (name, want) in &params {
            let diff = (&got[name] - want).abs().max().double_value(&[]);
            assert!(diff < 1e-6, "{name}: {diff}");
        }
        let grad_sum: f64 =
            got.values().filter(|t| t.requires_grad()).map(|t| t.grad().sum(Kind::Double).double_value(&[])).sum();
        let flat_sum = flat.sgd.grads().sum(Kind::Double).double_value(&[]);
        assert!((grad_sum - flat_sum).abs() < 1e-6 * (1.0 + flat_sum.abs()), "{grad_sum} vs {flat_sum}");
    }
}
