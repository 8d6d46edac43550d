//! The distributed step, checked in one process: two ranks on two threads, joined by a real Gloo
//! group on loopback, each stepping on its (uneven) share of a batch.

use super::*;
use crate::config::DeviceSpec;
use crate::dist::{GroupOptions, ProcessGroup};
use std::sync::{Arc, Barrier, Mutex};

/// Rank `rank` of 2 on `port`, on the CPU.
fn rank_dist(rank: usize, port: u16) -> Rc<Dist> {
    let opts = GroupOptions::gloo_loopback(rank, 2, port);
    Rc::new(Dist::in_group(ProcessGroup::new(&opts).unwrap(), DeviceSpec::Cpu, Device::Cpu))
}

/// Each rank's parameters after two steps on shares of sizes 2 and 5 of a batch of 7.
fn two_ranks(x: &Tensor, y: &Tensor, run: &RunSettings) -> Vec<Vec<f32>> {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // libtorch's generator is one per process: the two learners are made one after the other.
    let seeding = Arc::new(Mutex::new(()));
    let joined = Arc::new(Barrier::new(2));
    let handles: Vec<_> = [(0usize, 0i64, 2i64), (1, 2, 5)]
        .into_iter()
        .map(|(rank, start, len)| {
            let (x, y, run) = (x.narrow(0, start, len), y.narrow(0, start, len), run.clone());
            let (seeding, joined) = (Arc::clone(&seeding), Arc::clone(&joined));
            std::thread::spawn(move || {
                let model = ModelSettings { depth: 8, ..ModelSettings::default() };
                let learner = {
                    let _seed = seeding.lock().unwrap();
                    Learner::new(&model, &run, 10, Device::Cpu)
                };
                let mut learner = learner.in_group(rank_dist(rank, port));
                joined.wait();
                learner.copy_from_root().unwrap();
                let batch = Batch { global_len: 7, ..Batch::whole(&x, &y) };
                for (lr, m) in [(0.1, 0.9), (0.05, 0.9)] {
                    let _ = learner.step(&batch, lr, m).unwrap();
                }
                Vec::<f32>::try_from(learner.sgd.params()).unwrap()
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// The ranks' step is gradient accumulation over the shares in one process, each share's mean
/// loss weighted by its part of the batch (2/7 and 5/7): what PyTorch's DDP computes, batch-norm
/// statistics per share included. The replicas end identical, bit for bit.
#[test]
fn two_ranks_step_as_one_process_accumulating_their_shares() {
    let _rng = crate::rng_lock();
    let run = RunSettings { channels_last: Some(false), ..RunSettings::default() };
    tch::manual_seed(3);
    let x = Tensor::randn([7, 3, 32, 32], (Kind::Float, Device::Cpu));
    let y = Tensor::from_slice(&[0i64, 1, 2, 3, 4, 5, 6]);
    let ranks = two_ranks(&x, &y, &run);
    assert_eq!(ranks[0], ranks[1], "the replicas differ");

    let model = ModelSettings { depth: 8, ..ModelSettings::default() };
    let mut one = Learner::new(&model, &run, 10, Device::Cpu);
    for (lr, m) in [(0.1, 0.9), (0.05, 0.9)] {
        one.sgd.zero_grad();
        for (start, len) in [(0i64, 2i64), (2, 5)] {
            let logits = one.net.forward_t(&x.narrow(0, start, len), true);
            (logits.cross_entropy_for_logits(&y.narrow(0, start, len)) * (len as f64 / 7.0)).backward();
        }
        one.sgd.step(lr, m);
    }
    let want = Vec::<f32>::try_from(one.sgd.params()).unwrap();
    let worst = want.iter().zip(&ranks[0]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    // Only the order of the float additions differs (the all-reduce adds the weighted shares).
    assert!(worst < 1e-5, "largest difference {worst}");
    let moved = want
        .iter()
        .zip(Vec::<f32>::try_from(Learner::new(&model, &run, 10, Device::Cpu).sgd.params()).unwrap())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(moved > 1e-3, "the steps moved the parameters ({moved})");
}
