//! SGD with momentum, in PyTorch's semantics (torch.optim.SGD, dampening 0):
//!   d = grad + weight_decay * p
//!   buf = d                      on the first step
//!   buf = momentum * buf + d     afterwards
//!   d = d + momentum * buf       with Nesterov, else d = buf
//!   p = p - lr * d
//! Written on tensors (not tch's built-in optimiser) so that the momentum buffers can be saved in
//! a checkpoint and a resumed run continues exactly. LR and momentum are given at every step.

use anyhow::{bail, Result};
use std::collections::HashMap;
use tch::{nn, Tensor};

pub struct Sgd {
    /// Trainable parameters with their names (sorted, so buffers line up across runs).
    params: Vec<(String, Tensor)>,
    buffers: Vec<Option<Tensor>>,
    pub weight_decay: f64,
    pub nesterov: bool,
}

impl Sgd {
    pub fn new(vs: &nn::VarStore, weight_decay: f64, nesterov: bool) -> Sgd {
        let mut params: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let buffers = params.iter().map(|_| None).collect();
        Sgd { params, buffers, weight_decay, nesterov }
    }

    pub fn zero_grad(&mut self) {
        for (_, p) in self.params.iter_mut() {
            p.zero_grad();
        }
    }

    /// One update with the given learning rate and momentum.
    pub fn step(&mut self, lr: f64, momentum: f64) {
        let _guard = tch::no_grad_guard();
        for ((_, p), buf) in self.params.iter_mut().zip(self.buffers.iter_mut()) {
            let grad = p.grad();
            if !grad.defined() {
                continue;
            }
            let mut d = if self.weight_decay != 0.0 { &grad + &*p * self.weight_decay } else { grad };
            if momentum != 0.0 {
                let b = match buf {
                    Some(b) => {
                        let _ = b.g_mul_scalar_(momentum).g_add_(&d);
                        b
                    }
                    None => buf.insert(d.detach().copy()),
                };
                d = if self.nesterov { d + &*b * momentum } else { b.shallow_clone() };
            }
            let _ = p.g_add_(&(d * (-lr)));
        }
    }

    /// The momentum buffers, by parameter name (those that exist yet).
    pub fn buffers(&self) -> Vec<(String, Tensor)> {
        self.params
            .iter()
            .zip(&self.buffers)
            .filter_map(|((name, _), b)| b.as_ref().map(|b| (name.clone(), b.shallow_clone())))
            .collect()
    }

    /// Restore momentum buffers saved by [`Sgd::buffers`].
    pub fn load_buffers(&mut self, saved: &HashMap<String, Tensor>) -> Result<()> {
        for ((name, p), buf) in self.params.iter().zip(self.buffers.iter_mut()) {
            *buf = match saved.get(name) {
                Some(t) if t.size() == p.size() => Some(t.to_device(p.device()).to_kind(p.kind())),
                Some(t) => bail!("momentum buffer {name}: shape {:?}, expected {:?}", t.size(), p.size()),
                None => None,
            };
        }
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
