//! The launchers' environment contracts, parsed without touching the process environment (the
//! caller passes a lookup), so that every case is a plain unit test.
//!
//! torchrun (and `clr --nproc-per-node`, which follows it) sets `RANK`, `WORLD_SIZE`,
//! `LOCAL_RANK`, `LOCAL_WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT` and
//! `TORCHELASTIC_USE_AGENT_STORE`; SLURM's `srun` sets `SLURM_PROCID`, `SLURM_NTASKS` and
//! `SLURM_LOCALID`, and the job script exports `MASTER_ADDR`/`MASTER_PORT`. torchrun's
//! variables win when both are present (torchrun started inside a SLURM job).

use crate::error::UsageError;

/// Who started this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launcher {
    Torchrun,
    Slurm,
}

/// This process's place in a distributed run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistEnv {
    pub launcher: Launcher,
    pub rank: usize,
    pub world_size: usize,
    /// Rank on this host: the CUDA device this process uses.
    pub local_rank: usize,
    /// Processes on this host, when the launcher says (SLURM does not, plainly).
    pub local_world_size: Option<usize>,
    pub master_addr: String,
    pub master_port: u16,
    /// torchrun's agent already hosts the TCPStore at the master address: every rank, rank 0
    /// included, connects to it as a client.
    pub use_agent_store: bool,
}

/// The distributed environment, `Ok(None)` when this process was not launched as one rank of
/// several, or a usage error naming the variable that is missing or wrong.
///
/// `RANK`/`WORLD_SIZE` without `LOCAL_RANK`/`LOCAL_WORLD_SIZE` (launchers that run one process
/// per host, such as Kubeflow's PyTorchJob) mean local rank 0 of 1. A SLURM job of one task is
/// not distributed. Empty values count as unset.
pub fn parse(var: impl Fn(&str) -> Option<String>) -> Result<Option<DistEnv>, UsageError> {
    let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    if get("RANK").is_some() || get("WORLD_SIZE").is_some() {
        torchrun(&get).map(Some)
    } else if get("SLURM_NTASKS").is_some() {
        slurm(&get)
    } else {
        Ok(None)
    }
}

fn torchrun(get: &dyn Fn(&str) -> Option<String>) -> Result<DistEnv, UsageError> {
    let ctx = "torchrun environment";
    let world_size = required_count(get, ctx, "WORLD_SIZE", "RANK")?;
    let rank = required_index(get, ctx, "RANK", "WORLD_SIZE", world_size)?;
    let local_world_size = match get("LOCAL_WORLD_SIZE") {
        Some(_) => Some(count(get, ctx, "LOCAL_WORLD_SIZE")?),
        None => None,
    };
    if let Some(local) = local_world_size {
        if local > world_size {
            return Err(err(ctx, format!("LOCAL_WORLD_SIZE={local} is larger than WORLD_SIZE={world_size}")));
        }
    }
    let local_rank = match (get("LOCAL_RANK"), local_world_size) {
        (Some(_), Some(local)) => required_index(get, ctx, "LOCAL_RANK", "LOCAL_WORLD_SIZE", local)?,
        (Some(_), None) => required_index(get, ctx, "LOCAL_RANK", "WORLD_SIZE", world_size)?,
        (None, Some(_)) => return Err(err(ctx, "LOCAL_WORLD_SIZE is set but LOCAL_RANK is not".into())),
        (None, None) => 0,
    };
    let (master_addr, master_port) = master(get, ctx)?;
    Ok(DistEnv {
        launcher: Launcher::Torchrun,
        rank,
        world_size,
        local_rank,
        local_world_size,
        master_addr,
        master_port,
        use_agent_store: agent_store(get, ctx)?,
    })
}

fn slurm(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<DistEnv>, UsageError> {
    let ctx = "SLURM environment";
    let world_size = count(get, ctx, "SLURM_NTASKS")?;
    if world_size == 1 {
        return Ok(None);
    }
    let rank = required_index(get, ctx, "SLURM_PROCID", "SLURM_NTASKS", world_size)?;
    let local_rank = required_index(get, ctx, "SLURM_LOCALID", "SLURM_NTASKS", world_size)?;
    let (master_addr, master_port) = master(get, ctx).map_err(|e| {
        UsageError::new(format!(
            "{e}; export MASTER_ADDR and MASTER_PORT in the job script, e.g. \
             MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1) MASTER_PORT=29500"
        ))
    })?;
    Ok(Some(DistEnv {
        launcher: Launcher::Slurm,
        rank,
        world_size,
        local_rank,
        local_world_size: None,
        master_addr,
        master_port,
        use_agent_store: agent_store(get, ctx)?,
    }))
}

fn err(ctx: &str, msg: String) -> UsageError {
    UsageError::new(format!("{ctx}: {msg}"))
}

/// A count of processes: a whole number, at least 1.
fn count(get: &dyn Fn(&str) -> Option<String>, ctx: &str, name: &str) -> Result<usize, UsageError> {
    let text = get(name).ok_or_else(|| err(ctx, format!("{name} is not set")))?;
    match text.trim().parse::<usize>() {
        Ok(0) => Err(err(ctx, format!("{name} must be at least 1, got 0"))),
        Ok(n) => Ok(n),
        Err(_) => Err(err(ctx, format!("{name} must be a whole number, got '{text}'"))),
    }
}

/// `count`, naming the variable set without it when it is missing.
fn required_count(
    get: &dyn Fn(&str) -> Option<String>,
    ctx: &str,
    name: &str,
    partner: &str,
) -> Result<usize, UsageError> {
    if get(name).is_none() {
        return Err(err(ctx, format!("{partner} is set but {name} is not")));
    }
    count(get, ctx, name)
}

/// An index below `bound` (the value of `bound_name`).
fn required_index(
    get: &dyn Fn(&str) -> Option<String>,
    ctx: &str,
    name: &str,
    bound_name: &str,
    bound: usize,
) -> Result<usize, UsageError> {
    let text = get(name).ok_or_else(|| err(ctx, format!("{bound_name} is set but {name} is not")))?;
    let index: usize =
        text.trim().parse().map_err(|_| err(ctx, format!("{name} must be a whole number, got '{text}'")))?;
    if index >= bound {
        return Err(err(ctx, format!("{name}={index} is out of range for {bound_name}={bound} (0 to {})", bound - 1)));
    }
    Ok(index)
}

fn master(get: &dyn Fn(&str) -> Option<String>, ctx: &str) -> Result<(String, u16), UsageError> {
    let addr = get("MASTER_ADDR").ok_or_else(|| err(ctx, "MASTER_ADDR is not set (the host of rank 0)".into()))?;
    let text = get("MASTER_PORT")
        .ok_or_else(|| err(ctx, "MASTER_PORT is not set (a free TCP port on rank 0's host)".into()))?;
    match text.trim().parse::<u16>() {
        Ok(port) if port > 0 => Ok((addr.trim().to_string(), port)),
        _ => Err(err(ctx, format!("MASTER_PORT must be a port number from 1 to 65535, got '{text}'"))),
    }
}

/// PyTorch itself compares with the string "True"; clr also takes the usual spellings and
/// rejects the rest rather than silently reading them as false.
fn agent_store(get: &dyn Fn(&str) -> Option<String>, ctx: &str) -> Result<bool, UsageError> {
    match get("TORCHELASTIC_USE_AGENT_STORE") {
        None => Ok(false),
        Some(v) => match v.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(err(ctx, format!("TORCHELASTIC_USE_AGENT_STORE must be True or False, got '{v}'"))),
        },
    }
}

#[cfg(test)]
#[path = "env_tests.rs"]
mod tests;
