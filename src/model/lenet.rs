//! LeNet-5 of LeCun, Bottou, Bengio and Haffner 1998, "Gradient-based learning applied to
//! document recognition" (Proc. IEEE 86(11)), section II-B: C1 (6 maps, 5×5), S2 (2×2
//! subsampling), C3 (16 maps, 5×5), S4, C5 (120 maps, 5×5: a convolution, 1×1 on the paper's
//! 32×32 input), F6 (84 units), the output layer; every unit squashed by the paper's
//! f(a) = 1.7159·tanh(2a/3); weights and biases drawn from U(±2.4 / fan-in) (its appendix C).
//! Three simplifications that PyTorch's LeNet-5s share: C3 sees all six S2 maps (the paper's
//! connection table leaves some out), S2/S4 are plain 2×2 average pooling (the paper's has a
//! trainable coefficient and bias per map), and the output layer is linear (the paper's is RBF
//! units). 62,006 parameters with clr's 3-channel input (the paper: 60,000 on one channel).
//! Images must be 32 px or larger (the paper pads MNIST's 28 px to 32); larger ones make C5
//! bigger than 1×1, and F6 reads all of it. PyTorch's names: conv1, conv2, conv3, fc1, fc2.

use tch::nn::{self, Init, ModuleT};
use tch::Tensor;

/// The paper's squashing function.
fn squash(x: &Tensor) -> Tensor {
    (x * (2.0 / 3.0)).tanh() * 1.7159
}

/// U(±2.4 / fan-in), for weights and biases alike.
fn lecun(fan_in: i64) -> Init {
    let bound = 2.4 / fan_in as f64;
    Init::Uniform { lo: -bound, up: bound }
}

fn conv5(vs: nn::Path, c_in: i64, c_out: i64) -> nn::Conv2D {
    let init = lecun(c_in * 25);
    nn::conv2d(vs, c_in, c_out, 5, nn::ConvConfig { ws_init: init, bs_init: init, ..Default::default() })
}

fn dense(vs: nn::Path, c_in: i64, c_out: i64) -> nn::Linear {
    let init = lecun(c_in);
    nn::linear(vs, c_in, c_out, nn::LinearConfig { ws_init: init, bs_init: Some(init), bias: true })
}

#[derive(Debug)]
pub struct LeNet5 {
    conv1: nn::Conv2D,
    conv2: nn::Conv2D,
    conv3: nn::Conv2D,
    fc1: nn::Linear,
    fc2: nn::Linear,
}

impl LeNet5 {
    pub fn new(vs: &nn::Path, classes: i64, image_size: i64) -> LeNet5 {
        // C1 and S2, C3 and S4, C5: each 5×5 convolution takes 4 pixels, each pooling halves.
        let side = ((image_size - 4) / 2 - 4) / 2 - 4;
        LeNet5 {
            conv1: conv5(vs / "conv1", 3, 6),
            conv2: conv5(vs / "conv2", 6, 16),
            conv3: conv5(vs / "conv3", 16, 120),
            fc1: dense(vs / "fc1", 120 * side * side, 84),
            fc2: dense(vs / "fc2", 84, classes),
        }
    }
}

impl ModuleT for LeNet5 {
    fn forward_t(&self, x: &Tensor, _train: bool) -> Tensor {
        let pool = |t: Tensor| t.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None::<i64>);
        let h = pool(squash(&x.apply(&self.conv1)));
        let h = pool(squash(&h.apply(&self.conv2)));
        let h = squash(&h.apply(&self.conv3)).flatten(1, -1);
        squash(&h.apply(&self.fc1)).apply(&self.fc2)
    }
}
