//! `smith3`: the 3-layer CIFAR-10 network of Smith's "Cyclical Learning Rates for Training
//! Neural Networks" (arXiv 1506.01186, section 4.1.1: Caffe's CIFAR-10 architecture), Caffe's
//! `cifar10_full` as in lnsmith54/hyperParam1 `Cifar/architectures/cifar3.prototxt`:
//! conv1 (32 maps, 5×5, pad 2) → 3×3/2 max pooling → ReLU → LRN; conv2 (32, 5×5) → ReLU → 3×3/2
//! average pooling → LRN; conv3 (64, 5×5) → ReLU → 3×3/2 average pooling; a linear layer on the
//! 64×4×4 map. 89,578 parameters. Caffe rounds pooling outputs up (32 → 16 → 8 → 4): ceil mode.
//! LRN is Caffe's WITHIN_CHANNEL kind (local size 3, α 5e-5, β 0.75):
//! x / (1 + α·mean of x² over the 3×3 neighbourhood)^β, zero padded.
//! Initialisation as the prototxt: Gaussian weights of std 1e-4 (conv1) and 0.01 (the others),
//! zero biases.
//!
//! Caffe fed this net mean-subtracted pixels (std about 64 on CIFAR-10), clr feeds standardised
//! ones (std 1): the network multiplies its input by [`INPUT_SCALE`] so that the prototxt's
//! initialisation and Smith's LRs (0.001–0.006) behave as they did; unscaled it does not learn
//! at those LRs. Not reproduced: the solver's per-layer multipliers (biases at twice the LR, the
//! linear layer's weight decay ×250); clr's SGD has one LR and one weight decay.
//! PyTorch's names: conv1, conv2, conv3, fc.

use tch::nn::{self, Init, ModuleT};
use tch::Tensor;

/// The pixel scale of Caffe's input relative to standardised input.
pub const INPUT_SCALE: f64 = 64.0;

fn conv5(vs: nn::Path, c_in: i64, c_out: i64, std: f64) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        padding: 2,
        ws_init: Init::Randn { mean: 0.0, stdev: std },
        bs_init: Init::Const(0.0),
        ..Default::default()
    };
    nn::conv2d(vs, c_in, c_out, 5, cfg)
}

/// Caffe's pooling output side (rounded up) for a 3×3 window at stride 2.
fn pooled(side: i64) -> i64 {
    (side - 3 + 1) / 2 + 1
}

/// Caffe's LRN across a 3×3 neighbourhood of each channel.
fn lrn(x: &Tensor) -> Tensor {
    let mean_sq = (x * x).avg_pool2d([3, 3], [1, 1], [1, 1], false, true, None::<i64>);
    x * (mean_sq * 5e-5 + 1.0).pow_tensor_scalar(-0.75)
}

#[derive(Debug)]
pub struct Smith3 {
    conv1: nn::Conv2D,
    conv2: nn::Conv2D,
    conv3: nn::Conv2D,
    fc: nn::Linear,
}

impl Smith3 {
    pub fn new(vs: &nn::Path, classes: i64, image_size: i64) -> Smith3 {
        let side = pooled(pooled(pooled(image_size)));
        let fc_cfg = nn::LinearConfig {
            ws_init: Init::Randn { mean: 0.0, stdev: 0.01 },
            bs_init: Some(Init::Const(0.0)),
            bias: true,
        };
        Smith3 {
            conv1: conv5(vs / "conv1", 3, 32, 1e-4),
            conv2: conv5(vs / "conv2", 32, 32, 0.01),
            conv3: conv5(vs / "conv3", 32, 64, 0.01),
            fc: nn::linear(vs / "fc", 64 * side * side, classes, fc_cfg),
        }
    }
}

impl ModuleT for Smith3 {
    fn forward_t(&self, x: &Tensor, _train: bool) -> Tensor {
        let max = |t: Tensor| t.max_pool2d([3, 3], [2, 2], [0, 0], [1, 1], true);
        let avg = |t: Tensor| t.avg_pool2d([3, 3], [2, 2], [0, 0], true, true, None::<i64>);
        let h = lrn(&max((x * INPUT_SCALE).apply(&self.conv1)).relu());
        let h = lrn(&avg(h.apply(&self.conv2).relu()));
        avg(h.apply(&self.conv3).relu()).flatten(1, -1).apply(&self.fc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_rounds_up_as_caffe() {
        assert_eq!([pooled(32), pooled(16), pooled(8)], [16, 8, 4]);
        assert_eq!([pooled(28), pooled(14), pooled(7)], [14, 7, 3]);
    }
}
