//! `smith-wide`: the wide residual network of Smith's one-cycle runs, "widenet32 with k=4"
//! (lnsmith54/hyperParam1 `Cifar/architectures/wide32cifar.prototxt`; Smith 2018, arXiv
//! 1803.09820, whose wide ResNet multiplies the channels by 4 from stage to stage where ResNet
//! doubles them). It is Caffe's ResNet of those runs, not Zagoruyko and Komodakis' WRN (`wrn`):
//! a 3×3 stem of 16 channels with BN-ReLU; three stages of (depth−2)/6 post-activation blocks
//! (conv-BN-ReLU-conv-BN plus the shortcut, and no ReLU after the addition) at 16, 16k and 16k²
//! channels; stride 2 and a 2×2 stride-2 projection (conv + BN) at the start of stages 2 and 3;
//! global average pooling and a linear layer. Every convolution has a bias (Caffe's default).
//! Depth 32, width 4: 16/64/256 channels, 5 blocks per stage, 31 3×3 convolutions, 2
//! projections and the classifier; 5,903,626 parameters.
//! He (msra) initialisation of convolutions and classifier, zero biases. PyTorch's names, as
//! torchvision's ResNet: conv1, bn1, layer1.0.conv1, layer1.0.bn1, …, layer2.0.downsample.0
//! (the projection) and .1 (its BN), fc.

use super::layers::{batch_norm, conv_with, linear, HE_NORMAL};
use super::layout;
use tch::nn::{self, Init, ModuleT};
use tch::Tensor;

const ZERO: Option<Init> = Some(Init::Const(0.0));

#[derive(Debug)]
struct Block {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
    downsample: Option<(nn::Conv2D, nn::BatchNorm)>,
}

impl Block {
    fn new(vs: nn::Path, c_in: i64, c_out: i64, stride: i64) -> Block {
        let down = &vs / "downsample";
        Block {
            conv1: conv_with(&vs / "conv1", c_in, c_out, 3, stride, 1, ZERO),
            bn1: batch_norm(&vs / "bn1", c_out),
            conv2: conv_with(&vs / "conv2", c_out, c_out, 3, 1, 1, ZERO),
            bn2: batch_norm(&vs / "bn2", c_out),
            downsample: (stride != 1 || c_in != c_out)
                .then(|| (conv_with(&down / 0, c_in, c_out, 2, stride, 0, ZERO), batch_norm(&down / 1, c_out))),
        }
    }
}

impl ModuleT for Block {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let h = x.apply(&self.conv1).apply_t(&self.bn1, train).relu();
        let y = h.apply(&self.conv2).apply_t(&self.bn2, train);
        match &self.downsample {
            Some((conv, bn)) => y + x.apply(conv).apply_t(bn, train),
            None => y + x,
        }
    }
}

#[derive(Debug)]
pub struct SmithWide {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    blocks: Vec<Block>,
    fc: nn::Linear,
}

impl SmithWide {
    /// `blocks` = (depth − 2) / 6 per stage; stage i has 16·width^i channels.
    pub fn new(vs: &nn::Path, blocks: usize, width: i64, classes: i64) -> SmithWide {
        let mut all = Vec::new();
        let mut c_in = 16;
        for stage in 0..3u32 {
            let c_out = 16 * width.pow(stage);
            let layer = vs / format!("layer{}", stage + 1);
            for b in 0..blocks {
                all.push(Block::new(&layer / b, c_in, c_out, if stage > 0 && b == 0 { 2 } else { 1 }));
                c_in = c_out;
            }
        }
        SmithWide {
            conv1: conv_with(vs / "conv1", 3, 16, 3, 1, 1, ZERO),
            bn1: batch_norm(vs / "bn1", 16),
            blocks: all,
            fc: linear(vs / "fc", c_in, classes, HE_NORMAL, ZERO),
        }
    }
}

impl ModuleT for SmithWide {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = x.apply(&self.conv1).apply_t(&self.bn1, train).relu();
        for block in &self.blocks {
            h = block.forward_t(&h, train);
        }
        layout::global_avg_pool(&h).apply(&self.fc)
    }
}
