//! Which network a run trains (`--arch`), and the sizes that define it: its depth and width
//! (each architecture's own rule, checked here) and the data's classes and image size.
//! `config` validates a run's settings with [`NetConfig::check`]; `model::build` makes the network.

use crate::error::UsageError;

/// The side of the images of every data set clr reads (3 channels, 32×32).
pub const IMAGE_SIZE: i64 = 32;

/// The networks of Smith's papers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Arch {
    /// He et al.'s CIFAR ResNet, depth 6n+2 (`resnet`).
    #[default]
    ResNet,
    /// Pre-activation ResNet-18 (He et al. 2016b).
    PreActResNet18,
    /// Wide ResNet WRN-depth-width (Zagoruyko and Komodakis), depth 6n+4.
    Wrn,
    /// DenseNet (Huang et al.), growth rate 12, depth 3n+4.
    DenseNet,
    /// LeNet-5 (LeCun et al. 1998).
    LeNet5,
    /// Caffe's cifar10_full, the 3-layer CIFAR-10 net of Smith's CLR paper.
    Smith3,
    /// The wide Caffe ResNet of Smith's runs (wide32cifar.prototxt), depth 6n+2, channels ×width per stage.
    SmithWide,
}
crate::named_enum!(Arch, "arch",
    ResNet => "resnet", PreActResNet18 => "preact-resnet18", Wrn => "wrn", DenseNet => "densenet",
    LeNet5 => "lenet5", Smith3 => "smith3", SmithWide => "smith-wide");

/// How an architecture's depth may be chosen.
enum DepthRule {
    /// depth = step·n + offset, n ≥ 1.
    Series { step: usize, offset: usize, default: usize, examples: &'static str },
    /// One depth only (the network's name says it).
    Fixed(usize),
}

impl Arch {
    fn depth_rule(self) -> DepthRule {
        use DepthRule::*;
        match self {
            Arch::ResNet => Series { step: 6, offset: 2, default: 56, examples: "8, 14, 20, 32, 44, 56, 110, ..." },
            Arch::Wrn => Series { step: 6, offset: 4, default: 28, examples: "10, 16, 22, 28, 40, ..." },
            Arch::DenseNet => Series { step: 3, offset: 4, default: 40, examples: "7, 10, 13, ..., 40, 100" },
            Arch::SmithWide => Series { step: 6, offset: 2, default: 32, examples: "8, 14, 20, 26, 32, ..." },
            Arch::PreActResNet18 => Fixed(18),
            Arch::LeNet5 => Fixed(5),
            Arch::Smith3 => Fixed(3),
        }
    }

    /// The depth a run of this network has when `--depth` is not given.
    pub fn default_depth(self) -> usize {
        match self.depth_rule() {
            DepthRule::Series { default, .. } => default,
            DepthRule::Fixed(d) => d,
        }
    }

    /// The width a run has when `--width` is not given; None for networks without one.
    pub fn default_width(self) -> Option<usize> {
        match self {
            Arch::Wrn => Some(10),
            Arch::SmithWide => Some(4),
            _ => None,
        }
    }

    /// Whether training draws random numbers inside the network (dropout): such a step reseeds
    /// the generator from the run's seed and the step, so that a resumed run draws the same.
    pub fn draws_in_training(self) -> bool {
        self == Arch::DenseNet
    }

    /// The smallest image side the network takes.
    fn min_image_size(self) -> i64 {
        match self {
            Arch::LeNet5 => 32,
            Arch::PreActResNet18 | Arch::ResNet | Arch::Wrn | Arch::SmithWide | Arch::DenseNet => 8,
            // Each of its three 3×3 poolings needs an input of 3 pixels at least.
            Arch::Smith3 => 12,
        }
    }
}

/// Everything that defines a network's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetConfig {
    pub arch: Arch,
    pub depth: usize,
    /// Channel multiplier (wrn, smith-wide); None for the others.
    pub width: Option<usize>,
    pub classes: i64,
    /// Side of the square input images (3 channels).
    pub image_size: i64,
}

impl Default for NetConfig {
    /// ResNet-56 for CIFAR-10.
    fn default() -> Self {
        NetConfig { arch: Arch::ResNet, depth: 56, width: None, classes: 10, image_size: IMAGE_SIZE }
    }
}

impl NetConfig {
    /// Blocks (or layers) per stage: (depth − offset) / step, when the depth follows the rule.
    pub fn blocks_per_stage(&self) -> Option<usize> {
        match self.arch.depth_rule() {
            DepthRule::Series { step, offset, .. } => (self.depth > offset
                && (self.depth - offset).is_multiple_of(step))
            .then(|| (self.depth - offset) / step),
            DepthRule::Fixed(d) => (self.depth == d).then_some(1),
        }
    }

    /// The width, or the architecture's default.
    pub fn width_or_default(&self) -> usize {
        self.width.or(self.arch.default_width()).unwrap_or(1)
    }

    /// Whether depth, width and image size make a network of this architecture: one line
    /// naming the flag and field when not.
    pub fn check(&self) -> Result<(), UsageError> {
        let arch = self.arch;
        if self.blocks_per_stage().is_none() {
            return Err(UsageError::new(match arch.depth_rule() {
                DepthRule::Series { step, offset, examples, .. } => format!(
                    "--depth (depth) of --arch {arch} must be {step}n+{offset} with n >= 1 ({examples}), got {}",
                    self.depth
                ),
                DepthRule::Fixed(d) => {
                    format!("--depth (depth): --arch {arch} has depth {d} only (leave --depth out), got {}", self.depth)
                }
            }));
        }
        match (self.width, arch.default_width()) {
            (Some(_), None) => {
                return Err(UsageError::new(format!(
                    "--width (width) applies to --arch wrn and smith-wide, not {arch} (leave --width out)"
                )))
            }
            (Some(0), Some(_)) => return Err(UsageError::new("--width (width) must be at least 1")),
            _ => {}
        }
        if self.image_size < arch.min_image_size() {
            return Err(UsageError::new(format!(
                "--arch {arch} needs images of at least {} px, got {} px (pass --image-size)",
                arch.min_image_size(),
                self.image_size
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(arch: Arch, depth: usize, width: Option<usize>) -> NetConfig {
        NetConfig { arch, depth, width, ..NetConfig::default() }
    }

    #[test]
    fn each_architecture_has_its_depth_rule() {
        let ok = |arch, d| config(arch, d, None).blocks_per_stage();
        assert_eq!(ok(Arch::ResNet, 56), Some(9));
        assert_eq!(ok(Arch::ResNet, 57), None);
        assert_eq!(ok(Arch::ResNet, 2), None);
        assert_eq!(ok(Arch::Wrn, 28), Some(4));
        assert_eq!(ok(Arch::Wrn, 16), Some(2));
        assert_eq!(ok(Arch::Wrn, 20), None);
        assert_eq!(ok(Arch::DenseNet, 40), Some(12));
        assert_eq!(ok(Arch::DenseNet, 100), Some(32));
        assert_eq!(ok(Arch::DenseNet, 41), None);
        assert_eq!(ok(Arch::SmithWide, 32), Some(5));
        assert_eq!(ok(Arch::PreActResNet18, 18), Some(1));
        assert_eq!(ok(Arch::PreActResNet18, 34), None);
        for arch in Arch::ALL {
            assert!(config(*arch, arch.default_depth(), None).check().is_ok(), "{arch}");
        }
    }

    #[test]
    fn errors_name_the_flag_and_the_rule() {
        let err = |c: NetConfig| c.check().unwrap_err().to_string();
        assert_eq!(
            err(config(Arch::Wrn, 20, None)),
            "--depth (depth) of --arch wrn must be 6n+4 with n >= 1 (10, 16, 22, 28, 40, ...), got 20"
        );
        assert!(err(config(Arch::LeNet5, 7, None)).contains("--arch lenet5 has depth 5 only"));
        assert!(err(config(Arch::ResNet, 20, Some(4))).starts_with("--width (width) applies to --arch wrn"));
        assert!(err(config(Arch::Wrn, 16, Some(0))).contains("at least 1"));
        let small = NetConfig { image_size: 28, ..config(Arch::LeNet5, 5, None) };
        assert!(err(small).contains("at least 32 px, got 28 px"), "{}", err(small));
        assert_eq!("WRN".parse::<Arch>().unwrap(), Arch::Wrn);
        assert_eq!("smith_wide".parse::<Arch>().unwrap(), Arch::SmithWide);
        assert!("vgg".parse::<Arch>().unwrap_err().to_string().contains("valid: resnet, preact-resnet18"));
    }
}
