//! The layers the networks are made of, with PyTorch's defaults where the papers do not say
//! otherwise (batch norm: weight 1, bias 0, momentum 0.1, eps 1e-5) and each paper's
//! initialisation where it does.

use super::fused;
use tch::nn::{self, init::FanInOut, init::NonLinearity, init::NormalOrUniform, Init};

/// He et al.'s initialisation (Kaiming normal, gain √2, fan-in): the "msra" filler of Caffe.
pub const HE_NORMAL: Init = nn::init::DEFAULT_KAIMING_NORMAL;

/// Caffe's "xavier" filler: U(±√(3 / fan-in)).
pub const CAFFE_XAVIER: Init =
    Init::Kaiming { dist: NormalOrUniform::Uniform, fan: FanInOut::FanIn, non_linearity: NonLinearity::Linear };

/// A k×k convolution, padded to keep the size at stride 1 (k/2), without bias, He-initialised:
/// the convolution of every network here that is followed by batch norm.
pub fn conv(vs: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64) -> nn::Conv2D {
    conv_with(vs, c_in, c_out, k, stride, k / 2, None)
}

/// A k×k convolution with the given padding, and a bias initialised by `bias` when there is one.
pub fn conv_with(
    vs: nn::Path,
    c_in: i64,
    c_out: i64,
    k: i64,
    stride: i64,
    padding: i64,
    bias: Option<Init>,
) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        stride,
        padding,
        bias: bias.is_some(),
        ws_init: HE_NORMAL,
        bs_init: bias.unwrap_or(Init::Const(0.0)),
        ..Default::default()
    };
    nn::conv2d(vs, c_in, c_out, k, cfg)
}

/// A 2-D batch norm with PyTorch's defaults (tch's weight default is U(0,1)). The fused CPU
/// kernels (`fused`) apply the same momentum and eps.
pub fn batch_norm(vs: nn::Path, c: i64) -> nn::BatchNorm {
    let cfg = nn::BatchNormConfig {
        ws_init: Init::Const(1.0),
        momentum: fused::MOMENTUM,
        eps: fused::EPS,
        ..Default::default()
    };
    nn::batch_norm2d(vs, c, cfg)
}

/// A linear layer with the given weight and bias initialisations (None: PyTorch's default bias,
/// U(±1/√fan-in)).
pub fn linear(vs: nn::Path, c_in: i64, c_out: i64, ws_init: Init, bs_init: Option<Init>) -> nn::Linear {
    nn::linear(vs, c_in, c_out, nn::LinearConfig { ws_init, bs_init, bias: true })
}
