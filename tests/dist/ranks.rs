//! Real ranks for the c10d tests: a test re-runs its own test binary (`--exact NAME`) once per
//! rank, with the launchers' environment set as torchrun would set it, and `ROLE` marking the
//! child so that the same test function runs the rank's side instead of the parent's.
#![allow(dead_code)]

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// Set in the processes a test starts; the test function then plays one rank.
pub const ROLE: &str = "CLR_TEST_DIST_ROLE";

/// The variables of the launchers' contracts, and those the tests set: a child gets only those
/// its test sets.
const CONTRACT: &[&str] = &[
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "TORCHELASTIC_USE_AGENT_STORE",
    "SLURM_PROCID",
    "SLURM_NTASKS",
    "SLURM_LOCALID",
    "GLOO_SOCKET_IFNAME",
    "OMP_NUM_THREADS",
    "CLR_DIST_DIGEST",
];

/// Remove from `cmd`'s environment every launcher variable this process inherited.
pub fn without_launch_env(cmd: &mut Command) -> &mut Command {
    for var in CONTRACT {
        cmd.env_remove(var);
    }
    cmd
}

/// Whether this process is a rank started by a test.
pub fn is_rank() -> bool {
    std::env::var_os(ROLE).is_some()
}

/// The command that runs test `name` of this binary alone, as a rank.
pub fn rank_command(name: &str) -> Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = Command::new(exe);
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"]);
    without_launch_env(&mut cmd).env(ROLE, "1");
    cmd
}

/// torchrun (`python -m torch.distributed.run --standalone`) starting `nproc` ranks of test
/// `name`: the real launcher, with its own agent store on a port it picks.
pub fn torchrun_command(python: &std::path::Path, nproc: usize, name: &str) -> Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = Command::new(python);
    cmd.args(["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", &nproc.to_string(), "--no-python"])
        .arg(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"]);
    without_launch_env(&mut cmd).env(ROLE, "1");
    cmd
}

/// The python of the venv that scripts/setup.sh made (torch 2.11 with torchrun): `CLR_VENV`'s,
/// else the repository's `.venv` link, else the shared one in ~/.cache.
pub fn venv_python() -> PathBuf {
    let mut venvs: Vec<PathBuf> = std::env::var_os("CLR_VENV").map(PathBuf::from).into_iter().collect();
    venvs.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv"));
    if let Some(home) = std::env::var_os("HOME") {
        venvs.push(PathBuf::from(home).join(".cache/clr/torch-2.11.0"));
    }
    let found = venvs.iter().map(|v| v.join("bin/python")).find(|p| p.is_file());
    found.unwrap_or_else(|| panic!("no venv python with torch in {venvs:?}: run scripts/setup.sh"))
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().unwrap().port()
}

/// Processes started by a test, their output going to files that outlive them.
pub struct Procs {
    children: Vec<(String, Child, PathBuf)>,
    _dir: tempfile::TempDir,
}

/// One finished process: its exit status and everything it printed.
pub struct Finished {
    pub name: String,
    pub status: ExitStatus,
    pub log: String,
}

impl Procs {
    pub fn new() -> Procs {
        Procs { children: Vec::new(), _dir: tempfile::tempdir().unwrap() }
    }

    /// Start `cmd`, known in messages as `name`.
    pub fn start(&mut self, name: &str, mut cmd: Command) {
        let path = self._dir.path().join(format!("{}.log", self.children.len()));
        let log = File::create(&path).unwrap();
        cmd.stdout(log.try_clone().unwrap()).stderr(log);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
        self.children.push((name.to_string(), child, path));
    }

    /// Start ranks 0..world_size of test `test`, rank r with the torchrun variables for it plus
    /// `env`.
    pub fn ranks(test: &str, world_size: usize, port: u16, env: &[(&str, &str)]) -> Procs {
        let mut procs = Procs::new();
        for rank in 0..world_size {
            let mut cmd = rank_command(test);
            cmd.env("RANK", rank.to_string())
                .env("WORLD_SIZE", world_size.to_string())
                .env("LOCAL_RANK", rank.to_string())
                .env("LOCAL_WORLD_SIZE", world_size.to_string())
                .env("MASTER_ADDR", "127.0.0.1")
                .env("MASTER_PORT", port.to_string())
                .envs(env.iter().copied());
            procs.start(&format!("rank {rank}"), cmd);
        }
        procs
    }

    /// Wait for every process, at most `limit` in all: past it, kill them and fail with their
    /// output (a hang is a failure, never a stuck test).
    pub fn wait(mut self, limit: Duration) -> Vec<Finished> {
        let deadline = Instant::now() + limit;
        let mut statuses: Vec<Option<ExitStatus>> = vec![None; self.children.len()];
        while statuses.iter().any(Option::is_none) {
            for (status, (_, child, _)) in statuses.iter_mut().zip(&mut self.children) {
                if status.is_none() {
                    *status = child.try_wait().unwrap();
                }
            }
            if Instant::now() > deadline {
                for (_, child, _) in &mut self.children {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                panic!("processes still running after {limit:?}:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.children
            .iter()
            .zip(statuses)
            .map(|((name, _, path), status)| Finished {
                name: name.clone(),
                status: status.unwrap(),
                log: std::fs::read_to_string(path).unwrap_or_default(),
            })
            .collect()
    }

    /// `wait`, then insist that every process succeeded.
    pub fn wait_ok(self, limit: Duration) -> Vec<Finished> {
        let done = self.wait(limit);
        if done.iter().any(|f| !f.status.success()) {
            panic!("a process failed:\n{}", describe(&done));
        }
        done
    }

    fn logs(&self) -> String {
        let logs =
            self.children.iter().map(|(name, _, path)| (name, std::fs::read_to_string(path).unwrap_or_default()));
        logs.map(|(name, log)| format!("--- {name}:\n{log}")).collect()
    }
}

impl Default for Procs {
    fn default() -> Self {
        Procs::new()
    }
}

/// Every process's status and output, for failure messages.
pub fn describe(done: &[Finished]) -> String {
    done.iter().map(|f| format!("--- {} ({}):\n{}", f.name, f.status, f.log)).collect()
}

/// What a rank reported under `key` (`RESULT key value...`; libtest may have begun the line
/// with `test NAME ... `): the rest of the line.
pub fn result(log: &str, key: &str) -> Option<String> {
    let tag = format!("RESULT {key} ");
    log.lines().find_map(|l| l.find(&tag).map(|at| l[at + tag.len()..].to_string()))
}

/// Report `value` under `key` to the parent test (see `result`).
pub fn report(key: &str, value: impl std::fmt::Display) {
    println!("RESULT {key} {value}");
}
