//! c10d with real processes on 127.0.0.1: each test re-runs this binary as its ranks (see
//! `dist/ranks.rs`), which read torchrun's environment through `clr::dist::env`, join a Gloo
//! group and check the collectives; the parent checks how they ended, within a time limit.

#[path = "dist/ranks.rs"]
mod ranks;

use clr::dist::Launcher;
use clr::dist::{env, Backend, GroupOptions, ProcessGroup, StoreServer};
use ranks::{free_port, is_rank, report, result, torchrun_command, venv_python, Procs};
use std::time::{Duration, Instant};
use tch::{Device, Kind, Tensor};

/// ResNet-56's parameter count: one all-reduce of its gradients per step.
const PARAMS: i64 = 853_018;
/// Long enough for a loaded 2-core machine, short enough to keep a failing test quick.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The most a whole multi-process test may take.
const LIMIT: Duration = Duration::from_secs(120);
/// What a loaded machine may add to a wait without it being a fault: the ceilings below catch a
/// wait that never ends, or one that ignores its timeout, not a slow scheduler.
const SLACK: Duration = Duration::from_secs(30);

/// This rank's group, from the environment its parent set, with `timeout`.
fn join(timeout: Duration) -> ProcessGroup {
    let env = env::parse(|k| std::env::var(k).ok()).unwrap().expect("a rank has a distributed environment");
    ProcessGroup::new(&env.group_options(Backend::Gloo, timeout)).unwrap()
}

/// What rank `rank` holds before a collective: distinct whole numbers per rank, so that sums
/// are exact in f32 (all below 2^24).
fn values(rank: usize) -> Tensor {
    let i = Tensor::arange(PARAMS, (Kind::Float, Device::Cpu));
    (&i * (rank as f64 + 1.0)).fmod(1000.0) + rank as f64 * 7.0
}

#[test]
fn two_ranks_all_reduce_broadcast_and_barrier() {
    if is_rank() {
        let group = join(TIMEOUT);
        let rank = group.rank();

        let mut t = values(rank);
        group.all_reduce_sum(&mut t).unwrap();
        assert!(t.equal(&(values(0) + values(1))), "the sum of 853,018 floats is exact");

        for root in [0, 1] {
            let mut t = values(rank);
            group.broadcast(&mut t, root).unwrap();
            assert!(t.equal(&values(root)), "rank {rank} holds root {root}'s values");
        }

        // Rank 1 arrives late: rank 0 must wait for it.
        if rank == 1 {
            std::thread::sleep(Duration::from_millis(1000));
        }
        let start = Instant::now();
        group.barrier().unwrap();
        if rank == 0 {
            report("barrier_wait_ms", start.elapsed().as_millis());
        }

        // The figure for the report: one gradient all-reduce of ResNet-56 (values stay finite:
        // they double 25 times at most).
        let mut t = Tensor::ones([PARAMS], (Kind::Float, Device::Cpu));
        let mut times = Vec::new();
        for i in 0..25 {
            let start = Instant::now();
            group.all_reduce_sum(&mut t).unwrap();
            if i >= 5 {
                times.push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
        times.sort_by(f64::total_cmp);
        report("all_reduce_ms", format!("median {:.2} min {:.2} max {:.2}", times[10], times[0], times[19]));
        return;
    }
    let done = Procs::ranks("two_ranks_all_reduce_broadcast_and_barrier", 2, free_port(), &[]).wait_ok(LIMIT);
    let waited: u64 = result(&done[0].log, "barrier_wait_ms").unwrap().parse().unwrap();
    assert!(waited >= 700, "rank 0 left the barrier after {waited} ms, before rank 1 reached it");
    let timing = result(&done[0].log, "all_reduce_ms").unwrap();
    println!("all-reduce of {PARAMS} f32, 2 processes, gloo on 127.0.0.1: {timing} ms");
}

#[test]
fn ranks_join_a_store_hosted_by_a_third_party() {
    if is_rank() {
        let env = env::parse(|k| std::env::var(k).ok()).unwrap().unwrap();
        assert!(env.use_agent_store);
        let group = join(TIMEOUT);
        let mut t = Tensor::full([3], group.rank() as f64 + 1.0, (Kind::Float, Device::Cpu));
        group.all_reduce_sum(&mut t).unwrap();
        assert_eq!(Vec::<f32>::try_from(&t).unwrap(), [3.0; 3]);
        group.barrier().unwrap();
        return;
    }
    // The parent plays torchrun's agent: it hosts the store, and rank 0 must not try to.
    let server = StoreServer::bind("127.0.0.1", 0, TIMEOUT).unwrap();
    let agent = [("TORCHELASTIC_USE_AGENT_STORE", "True")];
    Procs::ranks("ranks_join_a_store_hosted_by_a_third_party", 2, server.port(), &agent).wait_ok(LIMIT);
}

/// Rank 0's side of the failure tests: its next all-reduce fails within `timeout`, with one
/// line that names the operation and the rank.
fn expect_failed_all_reduce(group: &ProcessGroup, timeout: Duration) {
    let start = Instant::now();
    let mut t = values(0);
    let err = group.all_reduce_sum(&mut t).expect_err("the peer is gone or stalled").to_string();
    let took = start.elapsed();
    report("error", &err);
    report("failed_after_ms", took.as_millis());
    assert!(took < timeout + SLACK, "failed after {took:?}, long past the {timeout:?} timeout");
    assert!(err.starts_with("all-reduce failed on rank 0 of 2 (gloo): "), "{err}");
    assert!(!err.contains('\n') && !err.contains("frame #"), "one line, no backtrace: {err}");
}

#[test]
fn a_rank_that_exits_early_fails_the_next_collective() {
    let timeout = Duration::from_secs(10);
    if is_rank() {
        let group = join(timeout);
        group.barrier().unwrap();
        if group.rank() == 1 {
            // Gone without a word, as a crashed rank is.
            std::process::exit(0);
        }
        std::thread::sleep(Duration::from_millis(300));
        expect_failed_all_reduce(&group, timeout);
        return;
    }
    let done = Procs::ranks("a_rank_that_exits_early_fails_the_next_collective", 2, free_port(), &[]).wait_ok(LIMIT);
    let after = result(&done[0].log, "failed_after_ms").unwrap();
    println!("after {after} ms: {}", result(&done[0].log, "error").unwrap());
}

#[test]
fn a_stalled_rank_fails_the_next_collective_at_the_timeout() {
    let timeout = Duration::from_secs(3);
    if is_rank() {
        let group = join(timeout);
        group.barrier().unwrap();
        if group.rank() == 1 {
            // Alive but never reaching the collective, as a rank stuck in a loop is.
            std::thread::sleep(timeout * 3);
            std::process::exit(0);
        }
        expect_failed_all_reduce(&group, timeout);
        return;
    }
    let done =
        Procs::ranks("a_stalled_rank_fails_the_next_collective_at_the_timeout", 2, free_port(), &[]).wait_ok(LIMIT);
    let after: u64 = result(&done[0].log, "failed_after_ms").unwrap().parse().unwrap();
    assert!(after >= 2500, "rank 0 gave up after {after} ms, before its 3 s timeout");
    let err = result(&done[0].log, "error").unwrap();
    assert!(err.to_lowercase().contains("timed out"), "{err}");
    println!("after {after} ms: {err}");
}

/// Join as rank `rank` of 2 on a loopback port; the error, and how long it took to come.
fn failed_join(rank: usize, port: u16, client_only_store: bool, timeout: Duration) -> (String, Duration) {
    let opts = GroupOptions { client_only_store, timeout, ..GroupOptions::gloo_loopback(rank, 2, port) };
    let start = Instant::now();
    let err = ProcessGroup::new(&opts).err().expect("no group can form").to_string();
    (err, start.elapsed())
}

#[test]
fn an_unreachable_master_fails_within_the_timeout() {
    let (port, timeout) = (free_port(), Duration::from_secs(3));
    for client_only in [false, true] {
        let (err, took) = failed_join(1, port, client_only, timeout);
        let head = format!("c10d: rank 1 of 2 could not join the gloo group through the store at 127.0.0.1:{port}: ");
        assert!(err.starts_with(&head), "{err}");
        assert!(!err.contains('\n') && !err.contains("frame #"), "{err}");
        // Given up by the bounded wait for the store (reach.rs), not by TCPStore's own retries,
        // which take twice the timeout and more.
        assert!(err.contains("nothing accepted a connection within 3s"), "{err}");
        assert!(took >= timeout - Duration::from_millis(500) && took < timeout + SLACK, "failed after {took:?}");
        println!("after {took:.1?}: {err}");
    }
}

#[test]
fn a_rank_that_never_comes_fails_the_join_within_the_timeout() {
    let timeout = Duration::from_secs(3);
    let (err, took) = failed_join(0, free_port(), false, timeout);
    assert!(err.starts_with("c10d: rank 0 of 2 could not join the gloo group"), "{err}");
    assert!(!err.contains('\n') && !err.contains("frame #"), "{err}");
    assert!(took >= Duration::from_millis(2500) && took < timeout + SLACK, "failed after {took:?}");
    println!("after {took:.1?}: {err}");
}

#[test]
fn torchrun_workers_join_its_agent_store() {
    if is_rank() {
        // torchrun --standalone: its agent hosts the store on a port of its choosing.
        let env = env::parse(|k| std::env::var(k).ok()).unwrap().expect("torchrun sets the contract");
        assert_eq!((env.launcher, env.world_size, env.local_world_size), (Launcher::Torchrun, 2, Some(2)));
        assert_eq!(env.local_rank, env.rank);
        assert!(env.use_agent_store, "torchrun sets TORCHELASTIC_USE_AGENT_STORE=True");
        let group = join(TIMEOUT);
        let mut t = Tensor::full([5], env.rank as f64 + 1.0, (Kind::Float, Device::Cpu));
        group.all_reduce_sum(&mut t).unwrap();
        assert_eq!(Vec::<f32>::try_from(&t).unwrap(), [3.0; 5]);
        group.barrier().unwrap();
        report(&format!("joined_{}", env.rank), format!("{}:{}", env.master_addr, env.master_port));
        return;
    }
    let mut procs = Procs::new();
    procs.start("torchrun", torchrun_command(&venv_python(), 2, "torchrun_workers_join_its_agent_store"));
    let done = procs.wait_ok(LIMIT);
    for rank in 0..2 {
        let store = result(&done[0].log, &format!("joined_{rank}"));
        assert!(store.is_some(), "rank {rank} did not report:\n{}", ranks::describe(&done));
    }
}
