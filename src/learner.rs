//! A model with its optimiser: one SGD step on a batch, and evaluation on the test split.
//! Shared by `train`, `range-test` and `bench`, so the three time and train the same thing.

use crate::config::{Config, Precision};
use crate::dataset::{Data, Split};
use crate::resnet::{ResNet, ResNetConfig};
use crate::sgd::Sgd;
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Reduction, Tensor};

pub struct Learner {
    pub vs: nn::VarStore,
    pub net: ResNet,
    pub sgd: Sgd,
    pub precision: Precision,
    /// Convolutions in NHWC layout (faster on the CPU's oneDNN kernels and with bf16 on CUDA).
    pub channels_last: bool,
}

impl Learner {
    /// A freshly initialised network for `config` (the initialisation is a function of the seed).
    pub fn new(config: &Config, device: Device) -> Learner {
        tch::manual_seed(config.seed as i64);
        let vs = nn::VarStore::new(device);
        let net = ResNet::new(&vs.root(), ResNetConfig { depth: config.depth, num_classes: 10 });
        let channels_last = config.channels_last_on(device);
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
        let sgd = Sgd::new(&vs, config.weight_decay, config.nesterov);
        Learner { vs, net, sgd, precision: config.precision, channels_last }
    }

    /// A batch in the layout the network runs in.
    fn layout(&self, x: &Tensor) -> Tensor {
        if self.channels_last {
            to_channels_last(x)
        } else {
            x.shallow_clone()
        }
    }

    /// An autocast region for the model's device when the run is bf16 (None in fp32): the
    /// forward pass runs while it lives; dropping it (also on a panic) turns autocast off.
    fn autocast(&self) -> Option<crate::autocast::Bf16Guard> {
        (self.precision == Precision::Bf16).then(|| crate::autocast::bf16(self.vs.device()))
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
        let mut config = Config { depth: 8, ..Config::default() };
        let x = Tensor::randn([4, 3, 32, 32], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 2, 3]);
        let mut losses = Vec::new();
        for channels_last in [false, true] {
            config.channels_last = Some(channels_last);
            let mut learner = Learner::new(&config, Device::Cpu);
            assert_eq!(learner.channels_last, channels_last);
            let conv = &learner.vs.variables()["layer1.0.conv1.weight"];
            assert_eq!(conv.stride()[1] == 1, channels_last);
            let _ = learner.step(&x, &y, 0.1, 0.9);
            losses.push(learner.step(&x, &y, 0.1, 0.9).0.double_value(&[]));
        }
        assert!((losses[0] - losses[1]).abs() < 1e-4, "{losses:?}");
    }

    #[test]
    fn a_bf16_step_keeps_fp32_parameters_gradients_and_statistics() {
        let _rng = crate::rng_lock();
        let x = Tensor::randn([4, 3, 32, 32], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 2, 3]);
        let mut losses = Vec::new();
        for precision in [Precision::Fp32, Precision::Bf16] {
            let config = Config { depth: 8, precision, ..Config::default() };
            let mut learner = Learner::new(&config, Device::Cpu);
            let (loss, _) = learner.step(&x, &y, 0.1, 0.9);
            assert_eq!(loss.kind(), Kind::Float);
            assert!(!crate::autocast::is_bf16(Device::Cpu), "the step leaves autocast off");
            for (name, v) in learner.vs.variables() {
                assert_eq!(v.kind(), Kind::Float, "{name}");
                if v.requires_grad() {
                    assert_eq!(v.grad().kind(), Kind::Float, "{name}.grad");
                }
            }
            losses.push(loss.double_value(&[]));
        }
        // The same initialisation: bf16 differs from fp32 by rounding only.
        assert!((losses[0] - losses[1]).abs() < 0.05 * losses[0], "{losses:?}");
    }
}
