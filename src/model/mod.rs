//! The network: the CIFAR ResNet of He et al. (`resnet`). To add a model: a module here with a
//! config struct and a `ModuleT`, and its construction in `Learner::new`.

pub mod resnet;
