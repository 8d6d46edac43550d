//! DenseNet of Huang, Liu, van der Maaten and Weinberger 2017, "Densely Connected Convolutional
//! Networks" (arXiv 1608.06993), as Smith ran it (lnsmith54/hyperParam1,
//! `Cifar/architectures/genDensenet40.prototxt`): a 3×3 stem of 16 channels; three dense blocks
//! of (depth−4)/3 layers, each BN-ReLU-3×3 conv adding 12 channels (growth rate 12, no
//! bottleneck) and dropout 0.2; between blocks a transition BN-ReLU-1×1 conv (no compression),
//! dropout 0.2, 2×2 average pooling; then BN-ReLU, global average pooling and the classifier.
//! DenseNet-40 has 1,019,722 parameters (the paper: 1.0M), its last block 448 channels.
//!
//! He initialisation of convolutions (the prototxt's msra), Caffe's xavier filler for the
//! classifier with zero bias. New features are concatenated after the old ones (torchvision's
//! order; the prototxt puts them first, which only permutes the next weights' input channels).
//! PyTorch's names, as torchvision's DenseNet: features.conv0,
//! features.denseblock1.denselayer1.norm / .conv, features.transition1.norm / .conv,
//! features.norm_final, classifier. Dropout draws from libtorch's generator; the step reseeds it
//! (see `Arch::draws_in_training`).

use super::layers::{batch_norm, conv, conv_with, linear, CAFFE_XAVIER};
use super::layout;
use tch::nn::{self, Init, ModuleT};
use tch::Tensor;

pub const GROWTH: i64 = 12;
pub const DROPOUT: f64 = 0.2;

/// BN-ReLU-conv, then dropout: a dense layer (3×3, `GROWTH` channels) or a transition (1×1).
#[derive(Debug)]
struct NormConv {
    norm: nn::BatchNorm,
    conv: nn::Conv2D,
}

impl NormConv {
    fn new(vs: nn::Path, c_in: i64, c_out: i64, k: i64) -> NormConv {
        NormConv { norm: batch_norm(&vs / "norm", c_in), conv: conv_with(&vs / "conv", c_in, c_out, k, 1, k / 2, None) }
    }
}

impl ModuleT for NormConv {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        x.apply_t(&self.norm, train).relu().apply(&self.conv).dropout(DROPOUT, train)
    }
}

#[derive(Debug)]
pub struct DenseNet {
    conv0: nn::Conv2D,
    /// The dense layers of each block.
    blocks: Vec<Vec<NormConv>>,
    transitions: Vec<NormConv>,
    norm_final: nn::BatchNorm,
    classifier: nn::Linear,
}

impl DenseNet {
    /// `layers` = (depth − 4) / 3 per block.
    pub fn new(vs: &nn::Path, layers: usize, classes: i64) -> DenseNet {
        let features = vs / "features";
        let mut c = 16;
        let (mut blocks, mut transitions) = (Vec::new(), Vec::new());
        for b in 1..=3 {
            let block = &features / format!("denseblock{b}");
            blocks.push(
                (1..=layers)
                    .map(|i| {
                        let layer = NormConv::new(&block / format!("denselayer{i}"), c, GROWTH, 3);
                        c += GROWTH;
                        layer
                    })
                    .collect(),
            );
            if b < 3 {
                transitions.push(NormConv::new(&features / format!("transition{b}"), c, c, 1));
            }
        }
        DenseNet {
            conv0: conv(&features / "conv0", 3, 16, 3, 1),
            blocks,
            transitions,
            norm_final: batch_norm(&features / "norm_final", c),
            classifier: linear(vs / "classifier", c, classes, CAFFE_XAVIER, Some(Init::Const(0.0))),
        }
    }
}

impl ModuleT for DenseNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = x.apply(&self.conv0);
        for (b, block) in self.blocks.iter().enumerate() {
            for layer in block {
                let new = layer.forward_t(&h, train);
                h = Tensor::cat(&[h, new], 1);
            }
            if let Some(transition) = self.transitions.get(b) {
                h = transition.forward_t(&h, train).avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None::<i64>);
            }
        }
        layout::global_avg_pool(&h.apply_t(&self.norm_final, train).relu()).apply(&self.classifier)
    }
}
