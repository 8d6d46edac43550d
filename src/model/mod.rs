//! The network: the CIFAR ResNet of He et al. (`resnet`), with CPU-speed pieces: batch norm,
//! residual add and ReLU fused into one op (`fused`, C++ in csrc/bn_relu.cpp), and shortcut and
//! pooling written so that gradients stay channels-last (`layout`). To add a model: a module here with a
//! config struct and a `ModuleT`, and its construction in `Learner::new`.

pub mod fused;
pub mod layout;
pub mod resnet;
