//! The two layout-sensitive pieces of the CIFAR ResNet that are not convolutions: the option-A
//! shortcut (stride-2 subsampling, channels zero-padded) and the global average pool.
//!
//! Written the plain way (`x[:, :, ::2, ::2]` then a channel pad; `adaptive_avg_pool2d`), their
//! backward passes allocate NCHW gradients even when the network runs channels-last: autograd
//! then adds that NCHW gradient to the NHWC one of the next block's convolution, and the ReLU,
//! batch norm and convolution backward kernels that follow run on mixed layouts, which libtorch's
//! CPU kernels handle on slow strided paths (a ReLU backward measured 27× slower on a 128×16×32×32
//! bf16 tensor). The PyTorch peer does exactly that at every stage boundary and at the pool.
//! On a channels-last input these functions work in NHWC index order instead, so every gradient
//! they produce is channels-last too; the values are identical.

use tch::Tensor;

/// Whether a 4-D tensor is laid out NHWC (channels-last): its NHWC permutation is contiguous.
pub fn is_channels_last(t: &Tensor) -> bool {
    t.dim() == 4 && !t.is_contiguous() && t.permute([0, 2, 3, 1]).is_contiguous()
}

/// The same N×C×H×W tensor with NHWC strides (tch has no memory-format API: permute, copy,
/// permute back).
pub fn to_channels_last(t: &Tensor) -> Tensor {
    t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

/// The option-A shortcut: every second row and column, and `pad` zero channels on each side.
pub fn subsample_pad_channels(x: &Tensor, pad: i64) -> Tensor {
    if is_channels_last(x) {
        // Slicing and padding the NHWC view: slice_backward's zeros are then NHWC memory.
        x.permute([0, 2, 3, 1])
            .slice(1, 0, None, 2)
            .slice(2, 0, None, 2)
            .constant_pad_nd([pad, pad])
            .permute([0, 3, 1, 2])
    } else {
        x.slice(2, 0, None, 2).slice(3, 0, None, 2).constant_pad_nd([0, 0, 0, 0, pad, pad])
    }
}

/// Global average pooling, N×C×H×W to N×C.
pub fn global_avg_pool(x: &Tensor) -> Tensor {
    if is_channels_last(x) {
        // The mean over the pixels of the N×(H·W)×C view: its backward expands into NHWC memory.
        x.permute([0, 2, 3, 1]).flatten(1, 2).mean_dim(1, false, None)
    } else {
        x.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// `f` on an NCHW and on a channels-last copy of the same values: the outputs and the
    /// gradients agree, and on the channels-last input the gradient is channels-last.
    fn check(f: impl Fn(&Tensor) -> Tensor) {
        // Drawing from libtorch's one generator: not while another test seeds it.
        let _rng = crate::rng_lock();
        let base = Tensor::randn([2, 4, 6, 6], (Kind::Float, Device::Cpu));
        let mut outs = Vec::new();
        for channels_last in [false, true] {
            let x = if channels_last { to_channels_last(&base) } else { base.copy() }.set_requires_grad(true);
            assert_eq!(is_channels_last(&x), channels_last);
            let y = f(&x);
            let weight = Tensor::arange(y.numel() as i64, (Kind::Float, Device::Cpu)).view(y.size().as_slice());
            (&y * &weight).sum(Kind::Float).backward();
            assert_eq!(is_channels_last(&x.grad()), channels_last, "gradient layout");
            if y.dim() == 4 {
                assert_eq!(is_channels_last(&y), channels_last, "output layout");
            }
            outs.push((y.detach(), x.grad()));
        }
        // Equal up to the order of a sum (the pool adds the pixels in another order).
        assert!(outs[0].0.allclose(&outs[1].0, 1e-6, 1e-6, false), "same values");
        assert!(outs[0].1.allclose(&outs[1].1, 1e-6, 1e-6, false), "same gradients");
    }

    #[test]
    fn the_shortcut_keeps_the_layout_of_its_input_in_both_passes() {
        check(|x| subsample_pad_channels(x, 2));
        let x = Tensor::arange(16, (Kind::Float, Device::Cpu)).view([1, 1, 4, 4]);
        let y = subsample_pad_channels(&x, 1);
        assert_eq!(y.size(), [1, 3, 2, 2]);
        assert_eq!(Vec::<f32>::try_from(y.get(0).get(1).flatten(0, -1)).unwrap(), [0.0, 2.0, 8.0, 10.0]);
        assert_eq!(y.get(0).get(0).abs().sum(Kind::Float).double_value(&[]), 0.0);
    }

    #[test]
    fn the_pool_keeps_the_layout_of_its_input_in_backward() {
        check(global_avg_pool);
    }
}
