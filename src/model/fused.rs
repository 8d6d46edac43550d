//! Batch norm, the residual add and ReLU as one operation on the CPU (`csrc/bn_relu.cpp`):
//! `relu(bn(x) [+ residual])` in training mode, for channels-last float or bfloat16 tensors,
//! with its own backward. libtorch runs the same as three or four kernels each way, every one a
//! full pass over the activations; on these small CIFAR networks those passes are about a fifth
//! of a CPU training step. Anywhere else (evaluation, CUDA, NCHW) the plain libtorch operations
//! run.

use super::layout::is_channels_last;
use anyhow::{anyhow, Result};
use std::os::raw::{c_char, c_int};
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};
use torch_sys::C_tensor;

extern "C" {
    #[allow(clippy::too_many_arguments)]
    fn clr_bn_relu(
        x: *const C_tensor,
        weight: *const C_tensor,
        bias: *const C_tensor,
        residual: *const C_tensor,
        running_mean: *const C_tensor,
        running_var: *const C_tensor,
        momentum: f64,
        eps: f64,
        out: *mut *mut C_tensor,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
}

#[cfg(test)]
extern "C" {
    /// Tests only: run the kernels of a lesser instruction set (0 AVX-512, 1 AVX2, 2 baseline) on
    /// this thread.
    fn clr_bn_relu_force_isa(isa: std::os::raw::c_int) -> std::os::raw::c_int;
}

/// Batch-norm settings of the network (PyTorch's defaults, as `resnet` builds its layers).
pub const MOMENTUM: f64 = 0.1;
pub const EPS: f64 = 1e-5;

/// Whether the fused kernels take `x` (and `residual`): CPU, 4-D, channels-last, float or
/// bfloat16, the residual alike.
fn fusable(x: &Tensor, residual: Option<&Tensor>) -> bool {
    let ok = |t: &Tensor| {
        t.device() == Device::Cpu && matches!(t.kind(), Kind::Float | Kind::BFloat16) && is_channels_last(t)
    };
    ok(x) && residual.is_none_or(|r| ok(r) && r.kind() == x.kind() && r.size() == x.size())
}

/// `relu(bn(x) [+ residual])`, fused where the kernels take the tensors in training mode.
pub fn bn_relu(x: &Tensor, bn: &nn::BatchNorm, residual: Option<&Tensor>, train: bool) -> Tensor {
    if train && fusable(x, residual) {
        // The checks above are the kernels' own, so this does not fail; if it ever did, the
        // plain operations below compute the same thing.
        if let Ok(y) = fused(x, bn, residual) {
            return y;
        }
    }
    let y = bn.forward_t(x, train);
    match residual {
        Some(r) => (y + r).relu(),
        None => y.relu(),
    }
}

/// The fused operation itself (training mode), or the kernels' reason to refuse the tensors.
pub fn fused(x: &Tensor, bn: &nn::BatchNorm, residual: Option<&Tensor>) -> Result<Tensor> {
    let (Some(weight), Some(bias)) = (&bn.ws, &bn.bs) else {
        return Err(anyhow!("bn_relu: an affine batch norm"));
    };
    let mut out: *mut C_tensor = std::ptr::null_mut();
    // SAFETY: every tensor outlives the call; the shim checks kinds, layouts and shapes before
    // touching them, updates the running statistics in place as libtorch's batch norm does,
    // catches every exception (csrc/guarded.h), and on success hands over a new at::Tensor that
    // tch then owns.
    crate::ffi::call(|err, len| unsafe {
        clr_bn_relu(
            x.as_ptr(),
            weight.as_ptr(),
            bias.as_ptr(),
            residual.map_or(std::ptr::null(), |r| r.as_ptr()),
            bn.running_mean.as_ptr(),
            bn.running_var.as_ptr(),
            MOMENTUM,
            EPS,
            &mut out,
            err,
            len,
        )
    })
    .map_err(|(_, message)| anyhow!(message))?;
    // SAFETY: a fresh at::Tensor allocated by the shim for us.
    Ok(unsafe { Tensor::from_ptr(out) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::layout::to_channels_last;

    /// A batch norm layer with non-trivial weight, bias and running statistics.
    fn layer(vs: &nn::VarStore, c: i64) -> nn::BatchNorm {
        let bn = nn::batch_norm2d(vs.root(), c, Default::default());
        tch::no_grad(|| {
            bn.ws.as_ref().unwrap().shallow_clone().copy_(&(Tensor::rand([c], (Kind::Float, Device::Cpu)) + 0.5));
            bn.bs.as_ref().unwrap().shallow_clone().copy_(&(Tensor::randn([c], (Kind::Float, Device::Cpu)) * 0.1));
            bn.running_mean.shallow_clone().copy_(&Tensor::randn([c], (Kind::Float, Device::Cpu)));
            bn.running_var.shallow_clone().copy_(&(Tensor::rand([c], (Kind::Float, Device::Cpu)) + 0.5));
        });
        bn
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a.to_kind(Kind::Double) - b.to_kind(Kind::Double)).abs().max().double_value(&[])
    }

    /// ‖a − b‖ / ‖a‖: in bf16 a value next to 0 may round to either side of ReLU's threshold in
    /// one and not the other, so elementwise differences say little; the norm says whether the
    /// two agree overall.
    fn rel_diff(a: &Tensor, b: &Tensor) -> f64 {
        let (a, b) = (a.to_kind(Kind::Double), b.to_kind(Kind::Double));
        (&a - &b).norm().double_value(&[]) / a.norm().double_value(&[]).max(1e-30)
    }

    /// The fused operation and libtorch's batch_norm (+ add) + relu, both in `kind`, against
    /// libtorch in float64 on the same (`kind`-rounded) inputs: the output, the running statistics
    /// and every gradient of the fused one are as close to that reference as libtorch's own, or
    /// within `tol` (relative, in norm).
    fn against_libtorch(kind: Kind, with_residual: bool, tol: f64) {
        let _rng = crate::rng_lock();
        tch::manual_seed(7);
        let (n, c, h, w) = (6, 32, 5, 7);
        // An offset mean, so that the statistics' shift is exercised.
        let base = (Tensor::randn([n, c, h, w], (Kind::Float, Device::Cpu)) * 2.0 + 3.0).to_kind(kind);
        let res_base = Tensor::randn([n, c, h, w], (Kind::Float, Device::Cpu)).to_kind(kind);
        let upstream = Tensor::randn([n, c, h, w], (Kind::Float, Device::Cpu)).to_kind(kind);
        let vs = nn::VarStore::new(Device::Cpu);
        let source = layer(&vs, c);
        let (rm0, rv0) = (source.running_mean.copy(), source.running_var.copy());
        let mut results = Vec::new();
        for (use_fused, run_kind) in [(false, Kind::Double), (false, kind), (true, kind)] {
            let mut vs = nn::VarStore::new(Device::Cpu);
            let bn = nn::batch_norm2d(vs.root(), c, Default::default());
            vs.copy(&vs_of(&source, &rm0, &rv0)).unwrap();
            if run_kind == Kind::Double {
                vs.double();
            }
            let x = to_channels_last(&base.to_kind(run_kind)).set_requires_grad(true);
            let r = to_channels_last(&res_base.to_kind(run_kind)).set_requires_grad(true);
            let res = with_residual.then_some(&r);
            let y = if use_fused {
                fused(&x, &bn, res).unwrap()
            } else {
                let y = bn.forward_t(&x, true);
                match res {
                    Some(r) => (y + r).relu(),
                    None => y.relu(),
                }
            };
            assert_eq!(y.kind(), run_kind);
            assert!(is_channels_last(&y));
            let (wg, bg) = (bn.ws.as_ref().unwrap(), bn.bs.as_ref().unwrap());
            let mut inputs = vec![&x, wg, bg];
            if with_residual {
                inputs.push(&r);
            }
            let loss = (y.to_kind(Kind::Double) * upstream.to_kind(Kind::Double)).sum(Kind::Double);
            let grads = Tensor::run_backward(&[loss], &inputs, false, false);
            let mut all = vec![y.detach(), bn.running_mean.copy(), bn.running_var.copy()];
            all.extend(grads);
            results.push(all);
        }
        let (reference, plain, fused) = (&results[0], &results[1], &results[2]);
        for i in 0..reference.len() {
            let (ours, theirs) = (rel_diff(&reference[i], &fused[i]), rel_diff(&reference[i], &plain[i]));
            assert!(ours <= tol.max(2.0 * theirs), "tensor {i}: {ours} from float64, libtorch {theirs}");
        }
    }

    /// A VarStore holding `bn`'s weight and bias and the given running statistics, to copy from.
    fn vs_of(bn: &nn::BatchNorm, rm: &Tensor, rv: &Tensor) -> nn::VarStore {
        let vs = nn::VarStore::new(Device::Cpu);
        let c = rm.size()[0];
        let copy = nn::batch_norm2d(vs.root(), c, Default::default());
        tch::no_grad(|| {
            copy.ws.as_ref().unwrap().shallow_clone().copy_(bn.ws.as_ref().unwrap());
            copy.bs.as_ref().unwrap().shallow_clone().copy_(bn.bs.as_ref().unwrap());
            copy.running_mean.shallow_clone().copy_(rm);
            copy.running_var.shallow_clone().copy_(rv);
        });
        vs
    }

    /// Every instruction-set variant of the kernels this CPU can run (AVX-512, AVX2, baseline),
    /// in fp32 and bf16, with and without the residual.
    #[test]
    fn matches_libtorch_with_every_instruction_set() {
        let mut covered = 0;
        for isa in [0, 1, 2] {
            // SAFETY: only selects which compiled loops run; every variant computes the same.
            if unsafe { clr_bn_relu_force_isa(isa) } == 0 {
                continue;
            }
            covered += 1;
            for kind in [Kind::Float, Kind::BFloat16] {
                against_libtorch(kind, false, 1e-5);
                against_libtorch(kind, true, 1e-5);
            }
        }
        unsafe { clr_bn_relu_force_isa(-1) };
        assert!(covered >= 1, "the baseline variant always runs");
    }

    #[test]
    fn refuses_what_its_kernels_do_not_take_and_falls_back() {
        let _rng = crate::rng_lock();
        let vs = nn::VarStore::new(Device::Cpu);
        let bn = layer(&vs, 4);
        let nchw = Tensor::randn([2, 4, 3, 3], (Kind::Float, Device::Cpu));
        assert!(fused(&nchw, &bn, None).unwrap_err().to_string().contains("channels-last"));
        let x = to_channels_last(&nchw);
        let wrong = to_channels_last(&Tensor::randn([2, 4, 3, 3], (Kind::Float, Device::Cpu))).to_kind(Kind::BFloat16);
        assert!(fused(&x, &bn, Some(&wrong)).unwrap_err().to_string().contains("residual"));
        // The public entry point still computes the right thing on NCHW input, and in eval mode.
        for train in [false, true] {
            let want = bn.forward_t(&nchw, train).relu();
            assert!(max_diff(&bn_relu(&nchw, &bn, None, train), &want) < 1e-5);
        }
    }

    #[test]
    fn a_nan_input_stays_visible() {
        // A NaN must reach the loss (clr stops a run on a non-finite loss), not be clamped to 0.
        // The layer draws from libtorch's one generator: hold it, as every test that draws does.
        let _rng = crate::rng_lock();
        let vs = nn::VarStore::new(Device::Cpu);
        let bn = layer(&vs, 4);
        let x = to_channels_last(&Tensor::ones([2, 4, 3, 3], (Kind::Float, Device::Cpu)));
        let _ = x.shallow_clone().get(0).get(0).get(0).get(0).fill_(f64::NAN);
        let y = fused(&x, &bn, None).unwrap();
        assert!(y.isnan().any().int64_value(&[]) == 1);
    }
}
