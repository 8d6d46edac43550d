use clr::augment::{self, EpochPlan};
use clr::config::Precision;
use clr::dataset::{synthetic, Data};
use clr::learner::Learner;
use std::time::Instant;
use tch::Device;
fn main() {
    let (tr, te) = synthetic(2560, 100, 0);
    let data = Data::from_raw(&tr, &te, Device::Cpu, "s".into());
    let plan = EpochPlan::new(2560, 0, 0, true, Device::Cpu);
    let t = Instant::now();
    for s in 0..20 { let _ = augment::train_batch(&data, &plan, s, 128); }
    println!("batch draw {:.4}s/step", t.elapsed().as_secs_f64() / 20.0);
    let mut l = Learner::new(20, Device::Cpu, 0, 1e-4, false, Precision::Fp32);
    let (x, y) = augment::train_batch(&data, &plan, 0, 128);
    for _ in 0..3 { l.step(&x, &y, 0.01, 0.9); }
    let t = Instant::now();
    for _ in 0..20 { l.step(&x, &y, 0.01, 0.9); }
    println!("step {:.4}s/step", t.elapsed().as_secs_f64() / 20.0);
    let t = Instant::now();
    for _ in 0..20 {
        let logits = tch::nn::ModuleT::forward_t(&l.net, &x, true);
        let loss = logits.cross_entropy_for_logits(&y);
        l.sgd.zero_grad(); loss.backward();
    }
    println!("fwd+bwd {:.4}s/step", t.elapsed().as_secs_f64() / 20.0);
    let t = Instant::now();
    for _ in 0..20 { l.sgd.step(0.01, 0.9); }
    println!("sgd {:.4}s/step", t.elapsed().as_secs_f64() / 20.0);
}
