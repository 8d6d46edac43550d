//! From the command line and the environment to a run's [`Dist`]: the launch flags
//! (`--nproc-per-node`, `--dist-backend`, `--dist-timeout`), which role this process plays, the
//! rank's device and joining the group.
//!
//! The flags are options of the launch, not settings of the run: they are not stored in
//! config.json and may change on `--resume` (a run continues on another number of processes).

use super::c10d::{Backend, ProcessGroup};
use super::context::Dist;
use super::env::{self, DistEnv};
use crate::config::{DeviceSpec, RunSettings};
use crate::error::UsageError;
use anyhow::Result;
use std::rc::Rc;
use std::time::Duration;
use tch::Device;

/// `--dist-backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistBackend {
    /// NCCL when the rank's device is a GPU, Gloo on the CPU.
    Auto,
    Gloo,
    Nccl,
}
crate::named_enum!(DistBackend, "dist backend", Auto => "auto", Gloo => "gloo", Nccl => "nccl");

/// How a run is spread over processes: options of the launch, never stored with the run.
#[derive(Debug, Clone, clap::Args)]
pub struct DistArgs {
    /// Start N worker processes of clr on this host with torchrun's environment (RANK,
    /// WORLD_SIZE, LOCAL_RANK, ...), one device each (--device auto: cuda:LOCAL_RANK), and wait
    /// for them; --batch-size stays the global batch [default: this process alone, or one rank
    /// of a launch by torchrun or srun, read from the environment]
    #[arg(long, value_name = "N", help_heading = "Distributed", value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub nproc_per_node: Option<u64>,
    /// c10d backend: auto (nccl when the device is CUDA, gloo on the CPU), gloo or nccl
    #[arg(long, value_name = "BACKEND", default_value = "auto", help_heading = "Distributed")]
    pub dist_backend: DistBackend,
    /// Seconds a rank waits for the others (to join, and in each collective) before it fails
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0, value_parser = positive_seconds, help_heading = "Distributed")]
    pub dist_timeout: f64,
}

fn positive_seconds(s: &str) -> Result<f64, String> {
    match crate::config::finite(s)? {
        v if v > 0.0 && v <= 1e7 => Ok(v),
        v => Err(format!("{v} is not a number of seconds above 0")),
    }
}

impl DistArgs {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.dist_timeout)
    }
}

/// What this process does.
#[derive(Debug)]
pub enum Role {
    /// The run alone.
    Single,
    /// `--nproc-per-node N`: start N workers and wait for them.
    Launcher(usize),
    /// One rank of a launch (clr's own, torchrun's or SLURM's).
    Rank(DistEnv),
}

/// This process's role from the flags and the environment (`var` reads it), for a run whose
/// settings are `run` (a launcher refuses more workers than `--device auto` has GPUs for).
pub fn role(args: &DistArgs, run: &RunSettings, var: &dyn Fn(&str) -> Option<String>) -> Result<Role, UsageError> {
    let gpus = tch::Cuda::device_count().max(0) as u64;
    match (env::parse(var)?, args.nproc_per_node) {
        (None, Some(n)) if run.device == DeviceSpec::Auto && gpus > 0 && n > gpus => Err(UsageError::new(format!(
            "--nproc-per-node {n}: --device auto gives each worker its own GPU, and this host has {gpus}: start at \
             most {gpus}, or give --device (e.g. --device cpu, or cuda:0 with --dist-backend gloo)"
        ))),
        (Some(env), Some(_)) => Err(UsageError::new(format!(
            "--nproc-per-node: this process is already rank {} of {} of a launch (RANK/WORLD_SIZE or SLURM_NTASKS \
             are set): let that launcher start the processes, without --nproc-per-node",
            env.rank, env.world_size
        ))),
        (Some(env), None) => Ok(Role::Rank(env)),
        // Every worker would refuse it alike: say it once, before starting any.
        (None, Some(_))
            if args.dist_backend == DistBackend::Nccl
                && (run.device == DeviceSpec::Cpu || (run.device == DeviceSpec::Auto && gpus == 0)) =>
        {
            Err(UsageError::new(format!(
                "--dist-backend nccl needs CUDA, and the workers would run on the CPU (--device {}): use --dist-backend \
                 gloo",
                run.device
            )))
        }
        (None, Some(n)) => Ok(Role::Launcher(n as usize)),
        (None, None) => Ok(Role::Single),
    }
}

/// The device of rank `env` for the run's `--device`: `auto` is the local rank's GPU (the CPU
/// without CUDA); an explicit device is every rank's (ranks sharing one GPU, or one GPU per task
/// made visible by the job).
pub fn rank_device(spec: DeviceSpec, env: &DistEnv) -> Result<DeviceSpec, UsageError> {
    if spec != DeviceSpec::Auto || !tch::Cuda::is_available() {
        return Ok(if spec == DeviceSpec::Auto { DeviceSpec::Cpu } else { spec });
    }
    let count = tch::Cuda::device_count().max(0) as usize;
    if env.local_rank >= count {
        return Err(UsageError::new(format!(
            "--device auto: LOCAL_RANK {} needs cuda:{}, but this host has {count} CUDA device(s): start at most \
             {count} processes per host, or give --device",
            env.local_rank, env.local_rank
        )));
    }
    Ok(DeviceSpec::Cuda(env.local_rank))
}

/// Join the group of `env` for a run whose settings are `run`: the run's distributed context,
/// with this rank's device. A group that cannot form (the master unreachable,
/// a rank that never comes) is a usage error: the launch is wrong.
pub fn join(env: &DistEnv, args: &DistArgs, run: &RunSettings) -> Result<Rc<Dist>> {
    let device = rank_device(run.device, env)?;
    let backend = match (args.dist_backend, device) {
        (DistBackend::Gloo, _) => Backend::Gloo,
        (DistBackend::Nccl, DeviceSpec::Cuda(_)) => Backend::Nccl,
        (DistBackend::Nccl, _) => crate::usage!(
            "--dist-backend nccl needs CUDA, and this rank runs on the CPU (--device {device}): use --dist-backend gloo"
        ),
        (DistBackend::Auto, DeviceSpec::Cuda(_)) => Backend::Nccl,
        (DistBackend::Auto, _) => Backend::Gloo,
    };
    let mut opts = env.group_options(backend, args.timeout());
    let comm_device = match (backend, device) {
        (Backend::Nccl, DeviceSpec::Cuda(n)) => {
            opts.cuda_device = Some(n);
            Device::Cuda(n)
        }
        _ => Device::Cpu,
    };
    let group = ProcessGroup::new(&opts).map_err(|e| {
        UsageError::new(format!(
            "{e:#} (check MASTER_ADDR, MASTER_PORT and WORLD_SIZE, and that every rank was started; --dist-timeout {}s)",
            args.dist_timeout
        ))
    })?;
    Ok(Rc::new(Dist::in_group(group, device, comm_device)))
}
