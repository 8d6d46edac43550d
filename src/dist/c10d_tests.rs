use super::*;
use crate::dist::{DistEnv, StoreServer};
use tch::{Device, Kind};

const TIMEOUT: Duration = Duration::from_secs(20);

/// Options for rank `rank` of `world_size` on loopback.
fn loopback(port: u16, rank: usize, world_size: usize, client_only_store: bool) -> GroupOptions {
    GroupOptions { client_only_store, timeout: TIMEOUT, ..GroupOptions::gloo_loopback(rank, world_size, port) }
}

#[test]
fn this_build_has_both_backends() {
    // scripts/setup.sh installs both sets of headers; a build without them must not pass CI.
    assert!(Backend::Gloo.is_built(), "built without Gloo: {}", Backend::Gloo.not_built());
    assert!(Backend::Nccl.is_built(), "built without NCCL: {}", Backend::Nccl.not_built());
}

#[test]
fn a_group_of_one_with_a_separate_store() {
    let server = StoreServer::bind("127.0.0.1", 0, TIMEOUT).unwrap();
    assert_ne!(server.port(), 0, "port 0 picks a free port");
    let group = ProcessGroup::new(&loopback(server.port(), 0, 1, true)).unwrap();
    assert_eq!((group.rank(), group.world_size(), group.backend()), (0, 1, Backend::Gloo));
    let mut t = Tensor::arange(10, (Kind::Float, Device::Cpu));
    group.all_reduce_sum(&mut t).unwrap();
    assert_eq!(Vec::<f32>::try_from(&t).unwrap(), (0..10).map(|i| i as f32).collect::<Vec<_>>());
    group.broadcast(&mut t, 0).unwrap();
    group.barrier().unwrap();
    let e = group.broadcast(&mut t, 1).unwrap_err().to_string();
    assert_eq!(e, "broadcast on rank 0 of 1: root 1 is out of range");
}

#[test]
fn a_busy_port_is_a_clear_error() {
    // The shim turns c10d's exception into one line of text.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let e = StoreServer::bind("127.0.0.1", port, TIMEOUT).err().unwrap().to_string();
    assert!(e.starts_with(&format!("TCPStore server on 127.0.0.1:{port}: ")), "{e}");
    assert!(e.contains("address already in use"), "{e}");
    assert!(!e.contains('\n') && !e.contains("frame #"), "one line, no backtrace: {e}");
}

#[test]
fn bad_ranks_are_refused_before_any_connection() {
    let e = ProcessGroup::new(&loopback(1, 2, 2, false)).err().unwrap().to_string();
    assert_eq!(e, "c10d: rank 2 is out of range for a group of 2");
    let e = ProcessGroup::new(&loopback(1, 0, 0, false)).err().unwrap().to_string();
    assert_eq!(e, "c10d: rank 0 is out of range for a group of 0");
}

#[test]
fn nccl_without_cuda_is_a_usage_error() {
    if tch::Cuda::is_available() {
        return; // the GPU machine: nothing to refuse
    }
    let opts = GroupOptions { backend: Backend::Nccl, cuda_device: Some(0), ..loopback(1, 0, 1, false) };
    let e = ProcessGroup::new(&opts).err().unwrap();
    assert!(e.is::<UsageError>());
    assert_eq!(e.to_string(), "the nccl backend needs CUDA, and no CUDA device is available (gloo runs on the CPU)");
}

#[test]
fn a_missing_backend_says_what_to_install() {
    let gloo = Backend::Gloo.not_built().to_string();
    assert!(gloo.contains("apt-get install libgloo-dev") && gloo.contains("rebuild"), "{gloo}");
    let nccl = Backend::Nccl.not_built().to_string();
    assert!(nccl.contains("nvidia-cuda-crt==13.0.*") && nccl.contains("nvidia-cuda-cccl==13.0.*"), "{nccl}");
}

#[test]
fn env_gives_group_options() {
    let env = DistEnv {
        launcher: crate::dist::Launcher::Torchrun,
        rank: 3,
        world_size: 4,
        local_rank: 1,
        local_world_size: Some(2),
        master_addr: "10.0.0.1".into(),
        master_port: 29500,
        use_agent_store: true,
    };
    let gloo = env.group_options(Backend::Gloo, TIMEOUT);
    assert_eq!((gloo.rank, gloo.world_size, gloo.client_only_store, gloo.cuda_device), (3, 4, true, None));
    assert_eq!((gloo.master_addr.as_str(), gloo.master_port, gloo.timeout), ("10.0.0.1", 29500, TIMEOUT));
    assert_eq!(env.group_options(Backend::Nccl, TIMEOUT).cuda_device, Some(1), "NCCL: the local rank's GPU");
}

#[test]
fn gloo_source_locations_are_dropped_from_messages() {
    let gloo = "[/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:547] Connection closed by peer [127.0.0.1]:2433";
    assert_eq!(strip_source_location(gloo), "Connection closed by peer [127.0.0.1]:2433");
    for kept in ["[127.0.0.1]:2433 refused", "plain", "[unclosed"] {
        assert_eq!(strip_source_location(kept), kept);
    }
}
