//! The CIFAR ResNet of He et al. 2016 (section 4.2): depth 6n+2, a 3×3 stem of 16 channels,
//! three stages of n basic blocks at 16/32/64 channels (stride 2 at the start of stages 2 and
//! 3), identity shortcuts with stride-2 subsampling and zero-padded channels (option A), batch
//! norm, global average pooling and a 10-way linear layer. He (Kaiming normal, fan-in)
//! initialisation of convolutions and the linear layer, as the PyTorch peer.
//! Parameter names follow PyTorch: conv1, bn1, layer1.0.conv1, …, fc.
//! Batch norm and ReLU (with the residual add) run fused on channels-last CPU tensors in
//! training (`fused`); the shortcut and the pool keep the gradients' layout (`layout`).

use super::layers::{self, batch_norm};
use super::{fused, layout};
use tch::nn::{self, ModuleT};
use tch::Tensor;

/// Configuration of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResNetConfig {
    pub depth: usize,
    pub num_classes: i64,
}

impl Default for ResNetConfig {
    fn default() -> Self {
        ResNetConfig { depth: 56, num_classes: 10 }
    }
}

impl ResNetConfig {
    /// Blocks per stage: depth = 6n + 2.
    pub fn blocks_per_stage(&self) -> Option<usize> {
        (self.depth >= 8 && (self.depth - 2).is_multiple_of(6)).then(|| (self.depth - 2) / 6)
    }
}

fn conv3x3(vs: nn::Path, c_in: i64, c_out: i64, stride: i64) -> nn::Conv2D {
    layers::conv(vs, c_in, c_out, 3, stride)
}

/// A basic block: conv-BN-ReLU-conv-BN plus the shortcut, then ReLU.
#[derive(Debug)]
struct BasicBlock {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
    /// Channels of zero padding on each side of the shortcut (option A), when it subsamples.
    shortcut_pad: Option<i64>,
}

impl BasicBlock {
    fn new(vs: nn::Path, c_in: i64, c_out: i64, stride: i64) -> BasicBlock {
        BasicBlock {
            conv1: conv3x3(&vs / "conv1", c_in, c_out, stride),
            bn1: batch_norm(&vs / "bn1", c_out),
            conv2: conv3x3(&vs / "conv2", c_out, c_out, 1),
            bn2: batch_norm(&vs / "bn2", c_out),
            shortcut_pad: (stride != 1 || c_in != c_out).then_some((c_out - c_in) / 2),
        }
    }
}

impl ModuleT for BasicBlock {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let h = fused::bn_relu(&x.apply(&self.conv1), &self.bn1, None, train);
        let y = h.apply(&self.conv2);
        let shortcut = match self.shortcut_pad {
            None => x.shallow_clone(),
            Some(p) => layout::subsample_pad_channels(x, p),
        };
        // relu(bn2(y) + shortcut)
        fused::bn_relu(&y, &self.bn2, Some(&shortcut), train)
    }
}

/// The network.
#[derive(Debug)]
pub struct ResNet {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    blocks: Vec<BasicBlock>,
    fc: nn::Linear,
}

impl ResNet {
    /// Build the network's variables under `vs`. The depth must be 6n+2 (checked by the config).
    pub fn new(vs: &nn::Path, config: ResNetConfig) -> ResNet {
        let n = config.blocks_per_stage().expect("depth must be 6n+2");
        let mut blocks = Vec::new();
        let mut c_in = 16;
        for (stage, c_out) in [16i64, 32, 64].into_iter().enumerate() {
            let layer = vs / format!("layer{}", stage + 1);
            for i in 0..n {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                blocks.push(BasicBlock::new(&layer / i, c_in, c_out, stride));
                c_in = c_out;
            }
        }
        let fc_cfg = nn::LinearConfig { ws_init: nn::init::DEFAULT_KAIMING_NORMAL, ..Default::default() };
        ResNet {
            conv1: conv3x3(vs / "conv1", 3, 16, 1),
            bn1: batch_norm(vs / "bn1", 16),
            blocks,
            fc: nn::linear(vs / "fc", 64, config.num_classes, fc_cfg),
        }
    }
}

impl ModuleT for ResNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = fused::bn_relu(&x.apply(&self.conv1), &self.bn1, None, train);
        for block in &self.blocks {
            h = block.forward_t(&h, train);
        }
        layout::global_avg_pool(&h).apply(&self.fc)
    }
}

/// Number of trainable scalars.
pub fn trainable_parameters(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables().iter().map(|t| t.numel() as i64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn count(depth: usize) -> i64 {
        let vs = nn::VarStore::new(Device::Cpu);
        let _net = ResNet::new(&vs.root(), ResNetConfig { depth, num_classes: 10 });
        trainable_parameters(&vs)
    }

    #[test]
    fn resnet56_has_853018_parameters() {
        let _rng = crate::rng_lock();
        assert_eq!(count(56), 853_018);
        // He et al. report 0.27M for ResNet-20 and 1.7M for ResNet-110.
        assert_eq!(count(20), 269_722);
        assert_eq!(count(110), 1_727_962);
    }

    #[test]
    fn depth_must_be_6n_plus_2() {
        let _rng = crate::rng_lock();
        let ok: Vec<usize> =
            (0..120).filter(|&d| ResNetConfig { depth: d, num_classes: 10 }.blocks_per_stage().is_some()).collect();
        assert_eq!(&ok[..4], &[8, 14, 20, 26]);
        assert!(ok.contains(&56) && ok.contains(&110) && !ok.contains(&57) && !ok.contains(&2));
    }

    #[test]
    fn names_follow_pytorch_and_shapes_are_right() {
        let _rng = crate::rng_lock();
        let vs = nn::VarStore::new(Device::Cpu);
        let net = ResNet::new(&vs.root(), ResNetConfig { depth: 8, num_classes: 10 });
        let vars = vs.variables();
        for name in [
            "conv1.weight",
            "bn1.weight",
            "bn1.running_mean",
            "layer1.0.conv1.weight",
            "layer3.0.bn2.bias",
            "fc.weight",
            "fc.bias",
        ] {
            assert!(vars.contains_key(name), "{name} missing: {:?}", vars.keys());
        }
        assert_eq!(vars["layer2.0.conv1.weight"].size(), [32, 16, 3, 3]);
        let x = Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu));
        assert_eq!(net.forward_t(&x, true).size(), [2, 10]);
        assert_eq!(vars["bn1.weight"].sum(Kind::Double).double_value(&[]), 16.0);
        // Kaiming normal, fan-in: std sqrt(2 / (64*9)) for a 64→64 conv.
        let w = &vars["layer3.0.conv2.weight"];
        let std = w.std(true).double_value(&[]);
        let want = (2.0f64 / (64.0 * 9.0)).sqrt();
        assert!((std / want - 1.0).abs() < 0.05, "std {std} vs {want}");
    }
}
