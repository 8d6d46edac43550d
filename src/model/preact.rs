//! Pre-activation residual networks: `preact-resnet18` and `wrn`.
//!
//! - PreAct-ResNet-18: He, Zhang, Ren and Sun 2016, "Identity Mappings in Deep Residual
//!   Networks" (arXiv 1603.05027): blocks BN-ReLU-conv-BN-ReLU-conv plus the shortcut, a 1×1
//!   projection where the shape changes (taken after the first BN-ReLU), a BN-ReLU after the last
//!   block; stages of 2 blocks at 64/128/256/512 channels. The stem is a 3×3 convolution for
//!   images up to 64 px (the CIFAR form) and the paper's ImageNet stem above (7×7 stride 2, then
//!   3×3 max pooling, stride 2), so that larger images cost what they do in the ImageNet ResNet.
//! - WRN-d-k: Zagoruyko and Komodakis 2016, "Wide Residual Networks" (arXiv 1605.07146): the same
//!   block, a 3×3 stem of 16 channels, three stages of (d−4)/6 blocks at 16k/32k/64k channels
//!   (WRN-28-10: 36.5M parameters), no dropout.
//!
//! He initialisation (fan-in) of convolutions and the classifier's weights. PyTorch's names:
//! conv1, layer1.0.bn1, layer1.0.conv1, layer1.0.bn2, layer1.0.conv2, layer2.0.shortcut, bn, fc.
//! Plain libtorch operations, channels-last where the network runs so.

use super::layers::{batch_norm, conv, conv_with, linear, HE_NORMAL};
use super::layout;
use tch::nn::{self, ModuleT};
use tch::Tensor;

#[derive(Debug)]
struct Block {
    bn1: nn::BatchNorm,
    conv1: nn::Conv2D,
    bn2: nn::BatchNorm,
    conv2: nn::Conv2D,
    shortcut: Option<nn::Conv2D>,
}

impl Block {
    fn new(vs: nn::Path, c_in: i64, c_out: i64, stride: i64) -> Block {
        let projects = stride != 1 || c_in != c_out;
        Block {
            bn1: batch_norm(&vs / "bn1", c_in),
            conv1: conv(&vs / "conv1", c_in, c_out, 3, stride),
            bn2: batch_norm(&vs / "bn2", c_out),
            conv2: conv(&vs / "conv2", c_out, c_out, 3, 1),
            shortcut: projects.then(|| conv_with(&vs / "shortcut", c_in, c_out, 1, stride, 0, None)),
        }
    }
}

impl ModuleT for Block {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let a = x.apply_t(&self.bn1, train).relu();
        let shortcut = match &self.shortcut {
            Some(projection) => a.apply(projection),
            None => x.shallow_clone(),
        };
        let h = a.apply(&self.conv1).apply_t(&self.bn2, train).relu().apply(&self.conv2);
        h + shortcut
    }
}

/// A pre-activation ResNet: stem, stages of blocks, BN-ReLU, global average pooling, classifier.
#[derive(Debug)]
pub struct PreActResNet {
    conv1: nn::Conv2D,
    /// The ImageNet stem's max pooling (images over 64 px).
    stem_pool: bool,
    blocks: Vec<Block>,
    bn: nn::BatchNorm,
    fc: nn::Linear,
}

impl PreActResNet {
    /// `stages`: (channels, blocks, stride of the first block) of each stage.
    fn new(vs: &nn::Path, stem: i64, stages: &[(i64, usize, i64)], classes: i64, imagenet_stem: bool) -> Self {
        let conv1 = if imagenet_stem {
            conv_with(vs / "conv1", 3, stem, 7, 2, 3, None)
        } else {
            conv(vs / "conv1", 3, stem, 3, 1)
        };
        let mut blocks = Vec::new();
        let mut c_in = stem;
        for (i, &(c_out, n, stride)) in stages.iter().enumerate() {
            let layer = vs / format!("layer{}", i + 1);
            for b in 0..n {
                blocks.push(Block::new(&layer / b, c_in, c_out, if b == 0 { stride } else { 1 }));
                c_in = c_out;
            }
        }
        PreActResNet {
            conv1,
            stem_pool: imagenet_stem,
            blocks,
            bn: batch_norm(vs / "bn", c_in),
            fc: linear(vs / "fc", c_in, classes, HE_NORMAL, None),
        }
    }

    /// PreAct-ResNet-18 for images of `image_size` px.
    pub fn resnet18(vs: &nn::Path, classes: i64, image_size: i64) -> Self {
        let stages = [(64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2)];
        PreActResNet::new(vs, 64, &stages, classes, image_size > 64)
    }

    /// WRN-depth-width; `blocks` = (depth − 4) / 6.
    pub fn wide(vs: &nn::Path, blocks: usize, width: i64, classes: i64) -> Self {
        let stages = [(16 * width, blocks, 1), (32 * width, blocks, 2), (64 * width, blocks, 2)];
        PreActResNet::new(vs, 16, &stages, classes, false)
    }
}

impl ModuleT for PreActResNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = x.apply(&self.conv1);
        if self.stem_pool {
            h = h.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        }
        for block in &self.blocks {
            h = block.forward_t(&h, train);
        }
        layout::global_avg_pool(&h.apply_t(&self.bn, train).relu()).apply(&self.fc)
    }
}
