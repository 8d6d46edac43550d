//! A model with its optimiser: one SGD step on a batch, and evaluation on the test split.
//! Shared by `train`, `range-test` and `bench` (through the engine), so the three time and train
//! the same thing.
//!
//! In a distributed run each rank holds a replica and steps on its share of the global batch;
//! the step's one gradient all-reduce (weighted by the shares) keeps the replicas identical, and
//! evaluation runs on a share of the test set and is summed over the ranks (see `dist`).

use crate::config::Precision;
use crate::config::{ModelSettings, RunSettings};
use crate::data::batches::Batch;
use crate::data::{Data, Split};
use crate::dist::{replica, Dist};
use crate::model::layout::to_channels_last;
use crate::model::{self, arch::IMAGE_SIZE};
use crate::optim::sgd::Sgd;
use crate::runtime::autocast::{self, Bf16Guard};
use crate::runtime::device;
use anyhow::Result;
use std::collections::HashMap;
use std::rc::Rc;
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Reduction, Tensor};

/// Test-set batch size (no gradients: large batches are cheap).
pub const EVAL_BATCH: usize = 1000;

pub struct Learner {
    vs: nn::VarStore,
    net: Box<dyn ModuleT>,
    /// The run's seed when the network draws random numbers in training (dropout): each step
    /// reseeds the generator from it and the step, so that a resumed run draws what it would have.
    draw_seed: Option<u64>,
    sgd: Sgd,
    precision: Precision,
    /// Convolutions in NHWC layout (faster on the CPU's oneDNN kernels and with bf16 on CUDA).
    channels_last: bool,
    /// The ranks this replica trains with (alone: no collective runs).
    dist: Rc<Dist>,
    /// Whether the batch-norm statistics are the ranks' average since the last step.
    stats_synced: bool,
}

impl Learner {
    /// A freshly initialised network with `classes` outputs for CIFAR's 32x32 images (the
    /// initialisation is a function of `run.seed`).
    pub fn new(model: &ModelSettings, run: &RunSettings, classes: usize, device: Device) -> Learner {
        Learner::sized(model, run, (classes, IMAGE_SIZE), device)
    }

    /// `new` for `(classes, image_size)`: the networks with a dense head after their
    /// convolutions (LeNet-5, Smith's 3-layer net) are shaped by the image size.
    pub fn sized(model: &ModelSettings, run: &RunSettings, shape: (usize, i64), device: Device) -> Learner {
        tch::manual_seed(run.seed as i64);
        let vs = nn::VarStore::new(device);
        let net = model::build(&vs.root(), &model.net(shape.0, shape.1));
        let draw_seed = model.arch.draws_in_training().then_some(run.seed);
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
        let dist = Rc::new(Dist::single());
        Learner { vs, net, draw_seed, sgd, precision: run.precision, channels_last, dist, stats_synced: true }
    }

    /// This learner as one replica of a distributed run (its values are its own until
    /// [`Learner::copy_from_root`]).
    pub fn in_group(self, dist: Rc<Dist>) -> Learner {
        Learner { dist, ..self }
    }

    /// The ranks this replica trains with.
    pub fn dist(&self) -> &Dist {
        &self.dist
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
        model::load_variables(&self.vs, model)?;
        match momentum {
            Some(buffers) => self.sgd.load_buffers(buffers),
            None => Ok(()),
        }
    }

    /// The batch-norm running statistics (the variables that are not trained), by name.
    fn statistics(&self) -> Vec<Tensor> {
        let mut stats: Vec<(String, Tensor)> =
            self.vs.variables().into_iter().filter(|(_, t)| !t.requires_grad()).collect();
        stats.sort_by(|a, b| a.0.cmp(&b.0));
        stats.into_iter().map(|(_, t)| t).collect()
    }

    /// Every rank takes rank 0's replica: parameters, statistics and momentum buffers (at the
    /// start, and after rank 0 has read a checkpoint).
    pub fn copy_from_root(&mut self) -> Result<()> {
        if !self.dist.is_distributed() {
            return Ok(());
        }
        let has_buffer = replica::root_has(&self.dist, !self.sgd.buffers().is_empty())?;
        let mut tensors = vec![self.sgd.params()];
        tensors.extend(self.sgd.flat_buffer(has_buffer));
        tensors.extend(self.statistics());
        replica::broadcast(&self.dist, &tensors)?;
        self.stats_synced = true;
        Ok(())
    }

    /// Average the batch-norm running statistics over the ranks (each rank updates its own from
    /// its share of the batch, as PyTorch's DDP does): before an evaluation or a checkpoint, so
    /// that neither depends on the rank. The running averages are linear in the batch
    /// statistics, so averaging now and then equals averaging at every step.
    pub fn sync_statistics(&mut self) -> Result<()> {
        if self.stats_synced || !self.dist.is_distributed() {
            return Ok(());
        }
        replica::average(&self.dist, &self.statistics())?;
        self.stats_synced = true;
        Ok(())
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
    fn autocast(&self) -> Result<Option<Bf16Guard>> {
        (self.precision == Precision::Bf16).then(|| autocast::bf16(self.vs.device())).transpose()
    }

    /// One SGD step on this rank's share of a global batch. Returns this rank's part of the
    /// global batch's mean loss and its number of correct predictions, as device scalars (read
    /// them in bulk, summed over the ranks: see [`super::Reader`]). Alone, that is
    /// the batch's mean loss itself.
    pub fn step(&mut self, batch: &Batch, lr: f64, momentum: f64) -> Result<(Tensor, Tensor)> {
        self.sgd.zero_grad();
        self.stats_synced = false;
        let (mut loss, correct) = if batch.is_empty() {
            // A share of nothing (a last batch shorter than the ranks): no gradient to add.
            let zero = || Tensor::zeros([], (Kind::Float, self.sgd.params().device()));
            (zero(), zero())
        } else {
            let x = self.layout(&batch.images);
            if let Some(seed) = self.draw_seed {
                tch::manual_seed(step_seed(seed, batch.step, self.dist.rank()));
            }
            let (loss, correct) = {
                let _autocast = self.autocast()?;
                let logits = self.net.forward_t(&x, true);
                let loss = logits.to_kind(Kind::Float).cross_entropy_for_logits(&batch.labels);
                let correct = logits.argmax(-1, false).eq_tensor(&batch.labels).sum(Kind::Float);
                (loss, correct)
            };
            loss.backward();
            (loss.detach(), correct)
        };
        if self.dist.is_distributed() {
            let share = batch.len() as f64 / batch.global_len.max(1) as f64;
            self.dist.reduce_gradients(&mut self.sgd.grads(), share)?;
            loss *= share;
        }
        self.sgd.step(lr, momentum);
        Ok((loss, correct))
    }

    /// Class probabilities (softmax of the outputs, N×classes on the CPU) of the model in
    /// evaluation mode for normalised images (N×3×S×S), in batches of [`EVAL_BATCH`].
    pub fn probabilities(&mut self, images: &Tensor) -> Tensor {
        let _guard = tch::no_grad_guard();
        let device = self.vs.device();
        let parts: Vec<Tensor> = images
            .split(EVAL_BATCH as i64, 0)
            .iter()
            .map(|x| {
                let x = self.layout(&x.to_device(device));
                let _autocast = self.autocast();
                self.net.forward_t(&x, false).to_kind(Kind::Float).softmax(-1, Kind::Float).to_device(Device::Cpu)
            })
            .collect();
        Tensor::cat(&parts, 0)
    }

    /// Mean loss and accuracy of the model in evaluation mode on the first `batches` batches of
    /// a split (all of it when `batches` is None): each rank evaluates its share, and the sums
    /// are added over the ranks.
    pub fn evaluate(
        &mut self,
        data: &Data,
        split: &Split,
        batch_size: usize,
        batches: Option<usize>,
    ) -> Result<(f64, f64)> {
        let mut part = self.evaluate_part(data, split, batch_size, batches)?;
        self.dist.all_reduce_sum(&mut part)?;
        let values: Vec<f64> = Vec::try_from(part.to_device(Device::Cpu))?;
        Ok((values[0], values[1]))
    }

    /// This rank's part of `evaluate`'s loss and accuracy (its sums over the whole count), a
    /// 2-element device tensor that is not read: summed over the ranks, the mean over the split.
    pub fn evaluate_part(
        &mut self,
        data: &Data,
        split: &Split,
        batch_size: usize,
        batches: Option<usize>,
    ) -> Result<Tensor> {
        self.sync_statistics()?;
        self.split_sums(data, split, batch_size, batches, false)
    }

    /// `evaluate_part` on the first `batches` batches with *batch* statistics: batch norm
    /// normalises each batch by its own mean and variance, as in training. What the range test's
    /// held-out loss reads: in evaluation mode the running statistics trail the weights that a
    /// rising LR changes ever faster, and the held-out loss climbs from that mismatch long before
    /// the LR harms training (BENCHMARKS.md). The running statistics are left as they were.
    pub fn heldout_part(&mut self, data: &Data, split: &Split, batch_size: usize, batches: usize) -> Result<Tensor> {
        let stats = self.statistics();
        let saved: Vec<Tensor> = stats.iter().map(Tensor::copy).collect();
        let part = self.split_sums(data, split, batch_size, Some(batches), true);
        let _guard = tch::no_grad_guard();
        for (mut stat, value) in stats.into_iter().zip(&saved) {
            stat.copy_(value);
        }
        part
    }

    /// The loss and correct-count sums, over this rank's share of the first `batches` batches
    /// of `split`, divided by the whole count; `train`: batch statistics instead of running ones.
    fn split_sums(
        &mut self,
        data: &Data,
        split: &Split,
        batch_size: usize,
        batches: Option<usize>,
        train: bool,
    ) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        let device = split.images.device();
        let mut loss_sum = Tensor::zeros([], (Kind::Double, device));
        let mut correct = Tensor::zeros([], (Kind::Double, device));
        let limit = batches.map_or(split.len, |b| b.saturating_mul(batch_size).min(split.len));
        let (offset, count) = crate::data::share(limit, self.dist.rank(), self.dist.world_size());
        let mut seen = 0usize;
        while seen < count {
            let n = batch_size.min(count - seen) as i64;
            let at = (offset + seen) as i64;
            let x = self.layout(&data.normalize(&split.images.narrow(0, at, n)));
            let y = split.labels.narrow(0, at, n);
            let logits = {
                let _autocast = self.autocast()?;
                self.net.forward_t(&x, train)
            }
            .to_kind(Kind::Float);
            loss_sum += logits.cross_entropy_loss::<Tensor>(&y, None, Reduction::Sum, -100, 0.0).to_kind(Kind::Double);
            correct += logits.argmax(-1, false).eq_tensor(&y).sum(Kind::Double);
            seen += n as usize;
        }
        Ok(Tensor::stack(&[loss_sum, correct], 0) / limit.max(1) as f64)
    }
}

/// The generator's seed for the draws inside the network at a step of a rank: a function of the
/// three, spread so that neighbouring steps are unrelated.
fn step_seed(seed: u64, step: u64, rank: usize) -> i64 {
    let mut z = seed
        ^ step.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (rank as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 1) as i64
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
            let batch = Batch::whole(&x, &y);
            let _ = learner.step(&batch, 0.1, 0.9).unwrap();
            losses.push(learner.step(&batch, 0.1, 0.9).unwrap().0.double_value(&[]));
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
            let _ = flat.step(&Batch::whole(&x, &y), lr, m).unwrap();
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

    /// Dropout's masks are a function of the seed and the step, not of what the generator drew
    /// before: a resumed run draws what the uninterrupted one drew at that step.
    #[test]
    fn dropout_draws_are_a_function_of_the_step() {
        let _rng = crate::rng_lock();
        let model = ModelSettings { arch: crate::model::arch::Arch::DenseNet, depth: 7, ..ModelSettings::default() };
        let run = RunSettings::default();
        let x = Tensor::randn([4, 3, 32, 32], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 2, 3]);
        let loss = |step: u64, draw_before: bool| {
            let mut learner = Learner::new(&model, &run, 10, Device::Cpu);
            if draw_before {
                let _ = Tensor::rand([1000], (Kind::Float, Device::Cpu));
            }
            let batch = Batch { step, ..Batch::whole(&x, &y) };
            learner.step(&batch, 0.1, 0.9).unwrap().0.double_value(&[])
        };
        assert_eq!(loss(3, false), loss(3, true));
        assert_ne!(loss(3, false), loss(4, false), "another step, other masks");
    }

    /// The range test's held-out loss normalises each batch by its own statistics (as training
    /// does), not by the running ones, and leaves the running ones as they were.
    #[test]
    fn the_heldout_loss_uses_batch_statistics_and_keeps_the_running_ones() {
        let _rng = crate::rng_lock();
        let (train, test) = crate::data::synthetic::synthetic(8, 16, 5);
        let data = Data::from_raw(&train, &test, 10, Device::Cpu, "synthetic".into());
        let model = ModelSettings { depth: 8, ..ModelSettings::default() };
        let mut learner = Learner::new(&model, &RunSettings::default(), 10, Device::Cpu);
        let before: Vec<Tensor> = learner.statistics().iter().map(Tensor::copy).collect();
        let heldout = learner.heldout_part(&data, &data.test, 8, 2).unwrap();
        for (now, was) in learner.statistics().iter().zip(&before) {
            assert!(now.equal(was), "the running statistics changed");
        }
        // By hand: each batch of 8 through the network in training mode, the mean loss of both.
        let mut by_hand = 0.0;
        for at in [0, 8] {
            let x = learner.layout(&data.normalize(&data.test.images.narrow(0, at, 8)));
            let logits = tch::no_grad(|| learner.net.forward_t(&x, true));
            let y = data.test.labels.narrow(0, at, 8);
            by_hand += logits.cross_entropy_for_logits(&y).double_value(&[]) / 2.0;
        }
        let loss = heldout.double_value(&[0]);
        assert!((loss - by_hand).abs() < 1e-5, "{loss} vs {by_hand}");
        let running = learner.evaluate_part(&data, &data.test, 8, Some(2)).unwrap().double_value(&[0]);
        assert!((loss - running).abs() > 1e-3, "evaluation mode gives another loss: {loss} vs {running}");
    }

    #[test]
    fn a_bf16_step_keeps_fp32_parameters_gradients_and_statistics() {
        let _rng = crate::rng_lock();
        let x = Tensor::randn([4, 3, 32, 32], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 2, 3]);
        let mut losses = Vec::new();
        for precision in [Precision::Fp32, Precision::Bf16] {
            let model = ModelSettings { depth: 8, ..ModelSettings::default() };
            let run = RunSettings { precision, ..RunSettings::default() };
            let mut learner = Learner::new(&model, &run, 10, Device::Cpu);
            let (loss, _) = learner.step(&Batch::whole(&x, &y), 0.1, 0.9).unwrap();
            assert_eq!(loss.kind(), Kind::Float);
            assert!(!autocast::is_bf16(Device::Cpu), "the step leaves autocast off");
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

#[cfg(test)]
#[path = "learner_dist_tests.rs"]
mod dist_tests;
