//! SGD with momentum, in PyTorch's semantics (torch.optim.SGD, dampening 0):
//!   d = grad + weight_decay * p
//!   buf = d                      on the first step
//!   buf = momentum * buf + d     afterwards
//!   d = d + momentum * buf       with Nesterov, else d = buf
//!   p = p - lr * d
//! Written on tensors (not tch's built-in optimiser) so that the momentum buffers can be saved in
//! a checkpoint and a resumed run continues exactly. LR and momentum are given at every step.
//!
//! All parameters live in one flat buffer, and so do their gradients: each parameter (and its
//! `.grad`) is a view into it, in the parameter's own memory layout. Zeroing the gradients and
//! the whole update are then a handful of kernels instead of several per parameter, which is
//! what PyTorch's multi-tensor (`foreach`) SGD achieves and what a GPU step needs.

use anyhow::{bail, Result};
use std::collections::HashMap;
use tch::{nn, Kind, Tensor};

/// Where a parameter sits in the flat buffers.
struct Segment {
    name: String,
    offset: i64,
    numel: i64,
    param: Tensor,
}

pub struct Sgd {
    /// Trainable parameters, sorted by name so that buffers line up across runs.
    segments: Vec<Segment>,
    params: Tensor,
    grads: Tensor,
    buffer: Option<Tensor>,
    pub weight_decay: f64,
    pub nesterov: bool,
}

/// The elements of a dense tensor in memory order, as a 1-D view: NCHW-contiguous tensors
/// as they are, channels-last 4-D tensors through their NHWC permutation.
fn memory_order(t: &Tensor) -> Tensor {
    if t.dim() == 4 && !t.is_contiguous() {
        t.permute([0, 2, 3, 1]).view(-1)
    } else {
        t.view(-1)
    }
}

/// A view of `flat` (in memory order) with the shape and layout of `like`.
fn shaped_like(flat: &Tensor, like: &Tensor) -> Tensor {
    let size = like.size();
    if like.dim() == 4 && !like.is_contiguous() {
        flat.view([size[0], size[2], size[3], size[1]]).permute([0, 3, 1, 2])
    } else {
        flat.view(size.as_slice())
    }
}

impl Sgd {
    /// Move the trainable variables of `vs` into one flat buffer (values unchanged) and give
    /// each a gradient that is a view into a second one.
    pub fn new(vs: &nn::VarStore, weight_decay: f64, nesterov: bool) -> Sgd {
        let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let total: i64 = named.iter().map(|(_, t)| t.numel() as i64).sum();
        let device = named.first().map_or(vs.device(), |(_, t)| t.device());
        let params = Tensor::zeros([total], (Kind::Float, device));
        let grads = Tensor::zeros([total], (Kind::Float, device));
        // Gradients must exist before they can be pointed at the flat buffer: a backward pass
        // of zero creates them, with each parameter's layout.
        if !named.is_empty() {
            tch::with_grad(|| named.iter().map(|(_, p)| p.sum(Kind::Float) * 0.0).sum::<Tensor>().backward());
        }
        let _guard = tch::no_grad_guard();
        let mut segments = Vec::with_capacity(named.len());
        let mut offset = 0;
        for (name, mut param) in named {
            let numel = param.numel() as i64;
            let mut slot = params.narrow(0, offset, numel);
            slot.copy_(&memory_order(&param));
            param.set_data(&shaped_like(&slot, &param));
            let mut grad = param.grad();
            let _ = grad.set_source_tensor_(&shaped_like(&grads.narrow(0, offset, numel), &param));
            segments.push(Segment { name, offset, numel, param });
            offset += numel;
        }
        Sgd { segments, params, grads, buffer: None, weight_decay, nesterov }
    }

    /// The flat gradient buffer (every parameter's `.grad` is a view into it): what the ranks
    /// of a distributed run all-reduce, in one call.
    pub fn grads(&self) -> Tensor {
        self.grads.shallow_clone()
    }

    /// The flat parameter buffer (every parameter is a view into it).
    pub fn params(&self) -> Tensor {
        self.params.shallow_clone()
    }

    /// The flat momentum buffer when `present` (made, zero, when there is none yet), else none:
    /// a rank that receives rank 0's buffers first makes its own look like rank 0's.
    pub fn flat_buffer(&mut self, present: bool) -> Option<Tensor> {
        if !present {
            self.buffer = None;
            return None;
        }
        Some(self.buffer.get_or_insert_with(|| Tensor::zeros_like(&self.params)).shallow_clone())
    }

    pub fn zero_grad(&mut self) {
        let _ = self.grads.zero_();
    }

    /// One update with the given learning rate and momentum.
    pub fn step(&mut self, lr: f64, momentum: f64) {
        let _guard = tch::no_grad_guard();
        let mut d =
            if self.weight_decay != 0.0 { &self.grads + &self.params * self.weight_decay } else { self.grads.copy() };
        if momentum != 0.0 {
            let b = match &mut self.buffer {
                Some(b) => {
                    let _ = b.g_mul_scalar_(momentum).g_add_(&d);
                    b
                }
                None => self.buffer.insert(d.copy()),
            };
            d = if self.nesterov { d + &*b * momentum } else { b.shallow_clone() };
        }
        let _ = self.params.g_add_(&(d * (-lr)));
    }

    /// The momentum buffers by parameter name, shaped as the parameters (none before the first
    /// step with momentum).
    pub fn buffers(&self) -> Vec<(String, Tensor)> {
        let Some(buffer) = &self.buffer else { return Vec::new() };
        self.segments
            .iter()
            .map(|s| (s.name.clone(), shaped_like(&buffer.narrow(0, s.offset, s.numel), &s.param)))
            .collect()
    }

    /// Restore momentum buffers saved by [`Sgd::buffers`].
    pub fn load_buffers(&mut self, saved: &HashMap<String, Tensor>) -> Result<()> {
        if saved.is_empty() {
            self.buffer = None;
            return Ok(());
        }
        let _guard = tch::no_grad_guard();
        let buffer = Tensor::zeros_like(&self.params);
        for s in &self.segments {
            let Some(t) = saved.get(&s.name) else { bail!("momentum buffer {} missing from the checkpoint", s.name) };
            if t.size() != s.param.size() {
                bail!("momentum buffer {}: shape {:?}, expected {:?}", s.name, t.size(), s.param.size());
            }
            let mut slot = shaped_like(&buffer.narrow(0, s.offset, s.numel), &s.param);
            slot.copy_(t);
        }
        self.buffer = Some(buffer);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// Three steps on f(w) = sum(w^2)/2 (grad = w) against the formulas by hand.
    fn run(nesterov: bool) -> Vec<f64> {
        let vs = nn::VarStore::new(Device::Cpu);
        let w = vs.root().var("w", &[1], nn::Init::Const(1.0));
        let mut opt = Sgd::new(&vs, 0.1, nesterov);
        let mut out = Vec::new();
        for (lr, m) in [(0.5, 0.9), (0.25, 0.8), (0.1, 0.9)] {
            opt.zero_grad();
            let loss = (&w * &w).sum(Kind::Float) * 0.5;
            loss.backward();
            opt.step(lr, m);
            out.push(w.double_value(&[0]));
        }
        out
    }

    fn by_hand(nesterov: bool) -> Vec<f64> {
        let (mut w, mut buf, mut out) = (1.0f64, None::<f64>, Vec::new());
        for (lr, m) in [(0.5, 0.9), (0.25, 0.8), (0.1, 0.9)] {
            let d = w + 0.1 * w;
            let b = match buf {
                None => d,
                Some(b) => m * b + d,
            };
            buf = Some(b);
            let step = if nesterov { d + m * b } else { b };
            w -= lr * step;
            out.push(w);
        }
        out
    }

    #[test]
    fn matches_pytorch_sgd_formulas() {
        for nesterov in [false, true] {
            let got = run(nesterov);
            for (g, want) in got.iter().zip(by_hand(nesterov)) {
                assert!((g - want).abs() < 1e-6, "nesterov={nesterov}: {got:?} vs {want}");
            }
        }
    }

    #[test]
    fn buffers_round_trip() {
        let vs = nn::VarStore::new(Device::Cpu);
        let w = vs.root().var("w", &[2], nn::Init::Const(1.0));
        let mut opt = Sgd::new(&vs, 0.0, false);
        assert!(opt.buffers().is_empty());
        (&w * &w).sum(Kind::Float).backward();
        opt.step(0.1, 0.9);
        let saved: HashMap<_, _> = opt.buffers().into_iter().collect();
        let mut other = Sgd::new(&vs, 0.0, false);
        other.load_buffers(&saved).unwrap();
        assert!(other.buffers()[0].1.equal(&saved["w"]));
    }
}
