//! Every network against its PyTorch definition (scripts/gen_model_fixtures.py, fixtures in
//! tests/fixtures/models/): the same parameter and statistic names and shapes, the same number of
//! parameters, and, with the same values in every variable, the same output (evaluation mode).
//! PyTorch's batch norm also counts its batches (`num_batches_tracked`), which tch's does not keep:
//! `export` writes it.

use super::arch::{Arch, NetConfig};
use super::build;
use std::collections::BTreeMap;
use std::path::Path;
use tch::nn;
use tch::{Device, Kind, Tensor};

#[derive(serde::Deserialize)]
struct Fixture {
    arch: Arch,
    depth: usize,
    width: Option<usize>,
    classes: i64,
    image_size: i64,
    parameters: Vec<(String, Vec<i64>)>,
    buffers: Vec<(String, Vec<i64>)>,
    parameter_count: i64,
    probe_output: Option<Vec<Vec<f64>>>,
}

fn fixtures() -> Vec<(String, Fixture)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models");
    let mut all: Vec<(String, Fixture)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .map(|(name, p)| (name, serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// The fixture script's probe values: sin(0.37·i + length of the name), scaled by the fan-in
/// for weights, 1 + ½sin² for running variances, ×0.1 for the other vectors.
fn probe_fill(vs: &nn::VarStore) {
    let _guard = tch::no_grad_guard();
    for (name, mut t) in vs.variables() {
        let n = t.numel() as i64;
        let v = (Tensor::arange(n, (Kind::Double, Device::Cpu)) * 0.37 + name.len() as f64).sin();
        let v = if name.ends_with("running_var") {
            &v * &v * 0.5 + 1.0
        } else if t.dim() >= 2 {
            v / ((n / t.size()[0]) as f64).sqrt()
        } else {
            v * 0.1
        };
        t.copy_(&v.view(t.size().as_slice()).to_kind(Kind::Float));
    }
}

fn probe_input(size: i64) -> Tensor {
    (Tensor::arange(2 * 3 * size * size, (Kind::Double, Device::Cpu)) * 0.05)
        .sin()
        .view([2, 3, size, size])
        .to_kind(Kind::Float)
}

#[test]
fn every_network_matches_its_pytorch_definition() {
    let _rng = crate::rng_lock();
    let all = fixtures();
    let archs: std::collections::BTreeSet<_> = all.iter().map(|(_, f)| f.arch.name()).collect();
    assert_eq!(archs.len(), Arch::ALL.len(), "a fixture for every architecture: {archs:?}");
    for (file, fx) in &all {
        let config = NetConfig {
            arch: fx.arch,
            depth: fx.depth,
            width: fx.width,
            classes: fx.classes,
            image_size: fx.image_size,
        };
        config.check().unwrap_or_else(|e| panic!("{file}: {e}"));
        let vs = nn::VarStore::new(Device::Cpu);
        let net = build(&vs.root(), &config);
        let shapes = |trainable: bool| -> BTreeMap<String, Vec<i64>> {
            vs.variables()
                .into_iter()
                .filter(|(_, t)| t.requires_grad() == trainable)
                .map(|(n, t)| (n, t.size()))
                .collect()
        };
        let want_params: BTreeMap<_, _> = fx.parameters.iter().cloned().collect();
        let want_buffers: BTreeMap<_, _> =
            fx.buffers.iter().filter(|(n, _)| !n.ends_with("num_batches_tracked")).cloned().collect();
        assert_eq!(shapes(true), want_params, "{file}: parameters");
        assert_eq!(shapes(false), want_buffers, "{file}: buffers");
        let count: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
        assert_eq!(count, fx.parameter_count, "{file}: parameter count");
        if let Some(want) = &fx.probe_output {
            probe_fill(&vs);
            let got = tch::no_grad(|| net.forward_t(&probe_input(fx.image_size), false));
            let got: Vec<Vec<f64>> = Vec::try_from(got.to_kind(Kind::Double)).unwrap();
            for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
                assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "{file}: output {g} vs PyTorch's {w}");
            }
        }
    }
}

#[test]
fn the_papers_sizes() {
    // The figures the papers give, in the fixtures (exact counts from PyTorch).
    let count = |file: &str| fixtures().into_iter().find(|(f, _)| f == file).unwrap().1.parameter_count;
    assert_eq!(count("wrn-d28-w10-c10-s32.json"), 36_479_194); // WRN-28-10: 36.5M
    assert_eq!(count("wrn-d16-w8-c10-s32.json"), 10_961_370); // WRN-16-8: 11.0M
    assert_eq!(count("densenet-d40-c10-s32.json"), 1_019_722); // DenseNet (L=40, k=12): 1.0M
    assert_eq!(count("densenet-d100-c100-s32.json"), 7_084_852); // DenseNet (L=100, k=12): 7.0M
    assert_eq!(count("resnet-d20-c10-s32.json"), 269_722); // ResNet-20: 0.27M
    assert_eq!(count("preact-resnet18-d18-c10-s32.json"), 11_172_170);
}
