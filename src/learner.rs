//! A model with its optimiser: one SGD step on a batch, and evaluation on the test split.
//! Shared by `train`, `range-test` and `bench`, so the three time and train the same thing.

use crate::config::Precision;
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
    pub depth: usize,
}

impl Learner {
    /// A freshly initialised network (the initialisation is a function of `seed`).
    pub fn new(
        depth: usize,
        device: Device,
        seed: u64,
        weight_decay: f64,
        nesterov: bool,
        precision: Precision,
    ) -> Learner {
        tch::manual_seed(seed as i64);
        let vs = nn::VarStore::new(device);
        let net = ResNet::new(&vs.root(), ResNetConfig { depth, num_classes: 10 });
        let sgd = Sgd::new(&vs, weight_decay, nesterov);
        Learner { vs, net, sgd, precision, depth }
    }

    fn autocast<T>(&self, f: impl FnOnce() -> T) -> T {
        // bf16 autocast keeps batch norm, the loss and the optimiser in fp32.
        tch::autocast(self.precision == Precision::Bf16, f)
    }

    /// One SGD step. Returns the batch's mean loss and its number of correct predictions, as
    /// device scalars (read them in bulk: reading forces a device synchronisation).
    pub fn step(&mut self, x: &Tensor, y: &Tensor, lr: f64, momentum: f64) -> (Tensor, Tensor) {
        let (loss, correct) = self.autocast(|| {
            let logits = self.net.forward_t(x, true);
            let loss = logits.to_kind(Kind::Float).cross_entropy_for_logits(y);
            let correct = logits.argmax(-1, false).eq_tensor(y).sum(Kind::Float);
            (loss, correct)
        });
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
            let x = data.normalize(&split.images.narrow(0, seen as i64, n));
            let y = split.labels.narrow(0, seen as i64, n);
            let logits = self.autocast(|| self.net.forward_t(&x, false)).to_kind(Kind::Float);
            loss_sum += logits.cross_entropy_loss::<Tensor>(&y, None, Reduction::Sum, -100, 0.0).to_kind(Kind::Double);
            correct += logits.argmax(-1, false).eq_tensor(&y).sum(Kind::Double);
            seen += n as usize;
        }
        let sums = Tensor::stack(&[loss_sum, correct], 0).to_device(Device::Cpu);
        let n = seen.max(1) as f64;
        (sums.double_value(&[0]) / n, sums.double_value(&[1]) / n)
    }
}
