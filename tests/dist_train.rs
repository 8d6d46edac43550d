//! Training and range tests on several processes, for real: Gloo on 127.0.0.1, the CPU, ResNet-8
//! and 512 generated images. Launched by `--nproc-per-node`, by torchrun (the set-up's venv), and
//! rank by rank with torchrun's variables. The ranks' replicas are compared through the digest
//! each rank writes when `CLR_DIST_DIGEST` names a folder (MD5 of every parameter, batch-norm
//! statistic and momentum buffer, and the steps it ran); files are checked row by row.

mod common;
#[path = "dist/ranks.rs"]
mod ranks;

use common::runs::{epochs, steps};
use common::{cifar, read_json, Cmd};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The longest any one command here may take on a loaded 2-core machine.
const LIMIT: Duration = Duration::from_secs(240);

/// Training at a fixed LR for `epochs` epochs, at a global batch of 25: 21 steps per epoch whose
/// shares over 2 ranks are uneven (12 and 13), the last one of 12 images.
fn fixed(d: &Path, out: &Path, epochs: &str) -> Cmd {
    Cmd::tiny("train").data(d).out(out).args([
        "--batch-size",
        "25",
        "--seed",
        "5",
        "--policy",
        "fixed",
        "--base-lr",
        "0.05",
        "--epochs",
        epochs,
    ])
}

/// `cmd` as a process, with `env` and none of the launchers' variables inherited.
fn command(cmd: &Cmd, env: &[(&str, String)]) -> Command {
    let mut c = common::clr();
    c.args(cmd.strs());
    ranks::without_launch_env(&mut c);
    c.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    c
}

fn spawn(c: &mut Command) -> Child {
    c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start clr")
}

/// Wait for `child` (at most `LIMIT`: past it, kill it and fail) and take what it printed.
fn finish(child: Child) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(LIMIT) {
        Ok(out) => out.expect("wait for clr"),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("clr (pid {pid}) still running after {LIMIT:?}");
        }
    }
}

fn run(cmd: &Cmd, env: &[(&str, String)]) -> Output {
    finish(spawn(&mut command(cmd, env)))
}

fn run_ok(cmd: &Cmd, env: &[(&str, String)]) -> Output {
    let out = run(cmd, env);
    assert!(out.status.success(), "clr {:?} failed:\n{}", cmd.strs(), common::stderr(&out));
    out
}

/// The digests the ranks wrote for `what` (`train`, `range-test`), by rank, without the line that
/// names the rank: equal replicas give equal texts.
fn digests(dir: &Path, what: &str, ranks: usize) -> Vec<String> {
    (0..ranks)
        .map(|r| {
            let path = dir.join(format!("{what}-rank-{r}.txt"));
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(text.starts_with(&format!("rank {r} of {ranks}\n")), "{text}");
            text.lines().skip(1).collect::<Vec<_>>().join("\n")
        })
        .collect()
}

fn digest_env(dir: &Path) -> Vec<(&'static str, String)> {
    vec![("CLR_DIST_DIGEST", dir.display().to_string())]
}

/// Every step 0..n logged exactly once, in order.
fn assert_each_step_once(dir: &Path, n: u64) {
    let logged: Vec<u64> = steps(dir).iter().map(|r| r.step).collect();
    assert_eq!(logged, (0..n).collect::<Vec<_>>(), "{}", dir.display());
}

#[test]
fn two_processes_keep_identical_replicas_and_write_every_file_once() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let (out, dig) = (tmp.path().join("run"), tmp.path().join("digests"));
    let output = run_ok(&fixed(&d, &out, "2").args(["--nproc-per-node", "2"]), &digest_env(&dig));

    // One report on stdout, rank 0's; the launcher names its workers on stderr.
    let stdout = common::stdout(&output);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.starts_with("Completed: 2 epochs, 42 steps") && stdout.contains("outputs in"), "{stdout}");
    assert!(common::stderr(&output).contains("clr: 2 workers on this host"), "{}", common::stderr(&output));

    let d0 = digests(&dig, "train", 2);
    assert_eq!(d0[0], d0[1], "the replicas differ at the end");
    assert!(d0[0].starts_with("steps 42\n"), "{}", d0[0]);

    // One writer: every row once.
    assert_each_step_once(&out, 42);
    assert_eq!(epochs(&out).iter().map(|r| r.epoch).collect::<Vec<_>>(), [0, 1]);
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["status"], "completed");
    assert_eq!(summary["distributed"]["processes"], 2);
    assert_eq!(summary["distributed"]["backend"], "gloo");
    assert_eq!(summary["distributed"]["all_reduces"], 42, "one gradient all-reduce per step");
    assert!(summary["distributed"]["all_reduce_ms_median"].as_f64().unwrap() > 0.0);
    let config = std::fs::read_to_string(out.join("config.json")).unwrap();
    assert!(!config.contains("nproc") && !config.contains("dist"), "launch options are not run settings: {config}");
    assert_eq!(clr::train::checkpoint::load(&out.join("checkpoint.pt")).unwrap().state.step, 42);

    // torchrun (its own agent store, the workers' variables set by PyTorch) runs the same run:
    // the same shares, so the same losses and the same replicas, bit for bit.
    let (out_t, dig_t) = (tmp.path().join("torchrun"), tmp.path().join("digests-torchrun"));
    let mut torchrun = Command::new(ranks::venv_python());
    torchrun.args(["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "--no-python"]);
    torchrun.arg(env!("CARGO_BIN_EXE_clr")).args(fixed(&d, &out_t, "2").strs());
    ranks::without_launch_env(&mut torchrun);
    let output = finish(spawn(torchrun.env("CLR_DIST_DIGEST", &dig_t)));
    assert!(output.status.success(), "torchrun failed:\n{}", common::stderr(&output));
    assert_eq!(digests(&dig_t, "train", 2), d0, "torchrun's replicas differ from --nproc-per-node's");
    assert_eq!(steps(&out_t), steps(&out));
}

/// The same global batch on one process and on two: the same images at every step, the same
/// initial weights and the same summed gradient, but batch-norm normalises each rank's share (12
/// or 13 images) by its own statistics instead of the whole batch's (see the unit test
/// `two_ranks_step_as_one_process_accumulating_their_shares` for the step's exactness). At step 0,
/// with identical weights, that alone moves the loss by about 0.03%; the difference then grows
/// through the weights, to about 0.2% by the end of the first epoch (measured), and the two runs
/// drift apart as any two runs of SGD do. Tolerances: 1% at step 0, 2% through the first epoch,
/// and the same learning at the end (train loss within 25%, both far above chance).
#[test]
fn one_process_agrees_with_two_on_the_same_global_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    run_ok(&fixed(&d, &one, "3"), &[]);
    run_ok(&fixed(&d, &two, "3").args(["--nproc-per-node", "2"]), &[]);
    let (a, b) = (steps(&one), steps(&two));
    assert_eq!(a.len(), 63);
    assert_eq!(
        a.iter().map(|r| (r.step, r.lr)).collect::<Vec<_>>(),
        b.iter().map(|r| (r.step, r.lr)).collect::<Vec<_>>()
    );
    let rel = |x: f64, y: f64| (x - y).abs() / x.abs();
    assert!(rel(a[0].loss, b[0].loss) < 0.01, "step 0: {} vs {}", a[0].loss, b[0].loss);
    for (x, y) in a.iter().zip(&b).take(21) {
        assert!(rel(x.loss, y.loss) < 0.02, "step {}: {} vs {}", x.step, x.loss, y.loss);
    }
    let (ea, eb) = (epochs(&one), epochs(&two));
    let (la, lb) = (ea[2].train_loss, eb[2].train_loss);
    assert!(rel(la, lb) < 0.25, "last epoch's train loss: {la} alone, {lb} on two processes");
    assert!(ea[2].train_acc > 0.4 && eb[2].train_acc > 0.4, "both learn: {} and {}", ea[2].train_acc, eb[2].train_acc);
    assert!(ea[0].train_loss > la && eb[0].train_loss > lb);
}

#[test]
fn a_distributed_range_test_stops_every_rank_at_the_same_step() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let (out, dig) = (tmp.path().join("rt"), tmp.path().join("digests"));
    let test = Cmd::tiny("range-test").data(&d).out(&out).args([
        "--batch-size",
        "25",
        "--start-lr",
        "1e-3",
        "--end-lr",
        "1e3",
        "--iters",
        "80",
    ]);
    let output = run_ok(&test.clone().args(["--nproc-per-node", "2"]), &digest_env(&dig));
    let report = read_json(&out.join("range_test.json"));
    assert_eq!(report["stopped_early"], true, "{report}");
    let recorded = report["steps"].as_u64().unwrap();
    assert!(recorded < 80, "stopped at {recorded}");
    let ranks = digests(&dig, "range-test", 2);
    assert_eq!(ranks[0], ranks[1], "the ranks stopped at different steps, or hold different weights");
    assert!(ranks[0].starts_with(&format!("steps {recorded}\n")), "{}", ranks[0]);
    let rows = std::fs::read_to_string(out.join("lr_find.csv")).unwrap();
    assert_eq!(rows.lines().count() as u64, recorded + 1, "one row per recorded step, once");
    assert_eq!(common::stdout(&output).matches("outputs in").count(), 1);

    // The same test alone stops within a few steps of it (batch-norm statistics differ).
    let alone = tmp.path().join("alone");
    run_ok(&test.out(&alone), &[]);
    let alone = read_json(&alone.join("range_test.json"))["steps"].as_u64().unwrap();
    assert!(alone.abs_diff(recorded) <= 3, "alone {alone}, two processes {recorded}");

    // A sweep runs its values one after another on both ranks.
    let sweep = tmp.path().join("sweep");
    let cmd = Cmd::tiny("range-test").data(&d).out(&sweep).args(["--batch-size", "25", "--iters", "30"]);
    run_ok(&cmd.args(["--sweep", "momentum=0.8,0.9", "--nproc-per-node", "2"]), &[]);
    let report = read_json(&sweep.join("sweep.json"));
    assert_eq!(report["complete"], true);
    assert_eq!(report["results"].as_array().unwrap().len(), 2, "{report}");

    // So do the seeds of --repeats, rank 0 writing each seed's folder and the combined report.
    let repeats = tmp.path().join("repeats");
    let cmd = Cmd::tiny("range-test").data(&d).out(&repeats).args(["--batch-size", "25", "--iters", "30"]);
    let output = run_ok(&cmd.args(["--repeats", "2", "--seed", "3", "--nproc-per-node", "2"]), &[]);
    let report = read_json(&repeats.join("range_test.json"));
    assert_ne!(report["stop_reason"], "interrupted", "{report}");
    assert_eq!(report["repeats"]["tests"].as_array().unwrap().len(), 2, "{report}");
    assert_eq!(report["repeats"]["seeds"], serde_json::json!([3, 4]));
    assert!(repeats.join("seed=4/lr_find.csv").is_file());
    assert_eq!(common::stdout(&output).matches("outputs in").count(), 1);
}

/// Start `cmd` on 2 processes by `--nproc-per-node`, stop it with SIGTERM once `rows` steps are
/// logged; it must stop as a whole, resumable, with 143.
fn stopped_run(cmd: &Cmd, out: &Path, rows: usize) {
    let mut child = spawn(&mut command(&cmd.clone().args(["--nproc-per-node", "2"]), &[]));
    common::runs::wait_for_rows(&mut child, out, rows);
    common::runs::signal(&child, "-TERM");
    let output = finish(child);
    assert_eq!(output.status.code(), Some(143), "{}", common::stderr(&output));
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["status"], "interrupted");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_distributed_run_resumes_on_two_processes_and_on_one() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let (whole, parts, alone) = (tmp.path().join("whole"), tmp.path().join("parts"), tmp.path().join("alone"));
    let total = 8 * 21;
    run_ok(&fixed(&d, &whole, "8").args(["--nproc-per-node", "2"]), &[]);
    stopped_run(&fixed(&d, &parts, "8"), &parts, 30);
    let stopped_at = read_json(&parts.join("summary.json"))["steps"].as_u64().unwrap();
    assert!(stopped_at < total, "stopped at {stopped_at}: too late to test a resume");
    copy_dir(&parts, &alone);
    let resume = |dir: &Path| Cmd::new("train").args(["--resume", &dir.display().to_string(), "--no-progress"]);

    // On two processes again: the very same run as the one never stopped. Batch-norm running
    // statistics were averaged at the stop as well as at the epochs' ends; averaging is linear,
    // so they (and the test metrics) agree to rounding, and nothing else depends on them.
    run_ok(&resume(&parts).args(["--nproc-per-node", "2"]), &[]);
    assert_eq!(steps(&parts), steps(&whole), "the loss trace differs");
    let (w, p) = (common::runs::weights(&whole), common::runs::weights(&parts));
    assert_eq!(w.len(), p.len());
    for ((name, a), (_, b)) in w.iter().zip(&p) {
        let diff = (a - b).abs().max().double_value(&[]);
        let tol = if name.contains("running_") { 1e-5 } else { 0.0 };
        assert!(diff <= tol, "{name} differs by {diff}");
    }
    for (a, b) in epochs(&whole).iter().zip(&epochs(&parts)) {
        assert_eq!((a.epoch, a.train_loss, a.train_acc), (b.epoch, b.train_loss, b.train_acc));
        assert!((a.test_loss - b.test_loss).abs() < 1e-4 && (a.test_acc - b.test_acc).abs() < 1e-9);
    }

    // On one process: the same global batches from the same step, every row once.
    let output = run_ok(&resume(&alone), &[]);
    assert!(common::stdout(&output).starts_with("Completed: 8 epochs"), "{}", common::stdout(&output));
    assert_each_step_once(&alone, total);
    assert_eq!(steps(&alone)[..stopped_at as usize], steps(&whole)[..stopped_at as usize]);
    assert_eq!(read_json(&alone.join("summary.json"))["status"], "completed");
    assert!(read_json(&alone.join("summary.json")).get("distributed").is_none());
}

/// Ranks 0 and 1 of `cmd`, started with torchrun's variables on a free port.
fn start_ranks(cmd: &Cmd, env: &[(&str, String)]) -> Vec<Child> {
    let port = ranks::free_port().to_string();
    (0..2)
        .map(|rank| {
            let mut vars = vec![
                ("RANK", rank.to_string()),
                ("LOCAL_RANK", rank.to_string()),
                ("WORLD_SIZE", "2".to_string()),
                ("LOCAL_WORLD_SIZE", "2".to_string()),
                ("MASTER_ADDR", "127.0.0.1".to_string()),
                ("MASTER_PORT", port.clone()),
            ];
            vars.extend(env.iter().cloned());
            spawn(&mut command(cmd, &vars))
        })
        .collect()
}

/// Rank 0's end after rank 1 is sent `sig` mid-run: a failure (exit 1) within `timeout` and a
/// little, one error line naming the operation and the rank; the run stays resumable.
fn rank_0_after_rank_1_gets(sig: &str, timeout_s: u64) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("run");
    let cmd = fixed(&d, &out, "50").args(["--dist-timeout", &timeout_s.to_string()]);
    let mut children = start_ranks(&cmd, &[]);
    common::runs::wait_for_rows(&mut children[0], &out, 10);
    common::runs::signal(&children[1], sig);
    let start = Instant::now();
    let rank1 = children.pop().unwrap();
    let output = finish(children.pop().unwrap());
    let took = start.elapsed();
    let err = common::stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    // A generous ceiling (a loaded machine is slow): it catches a rank that waits on forever.
    assert!(took < Duration::from_secs(timeout_s + 60), "rank 0 gave up after {took:?}");
    let line = err.lines().find(|l| l.starts_with("error:")).unwrap_or_else(|| panic!("no error line:\n{err}"));
    assert!(line.contains("on rank 0 of 2 (gloo)"), "{line}");
    clr::train::checkpoint::load(&out.join("checkpoint.pt")).expect("the run stays resumable");
    common::runs::signal(&rank1, "-KILL");
    let _ = finish(rank1);
    println!("after {took:.1?}: {line}");
    line.to_string()
}

#[test]
fn a_killed_rank_makes_the_other_fail_within_the_timeout() {
    rank_0_after_rank_1_gets("-KILL", 20);
}

#[test]
fn a_stalled_rank_makes_the_other_fail_at_the_timeout() {
    let line = rank_0_after_rank_1_gets("-STOP", 4);
    assert!(line.to_lowercase().contains("timed out") || line.to_lowercase().contains("timeout"), "{line}");
}

/// `cmd` (a launch) started, once its workers run: the launcher, rank 1's pid (which the
/// launcher names on stderr) and the rest of its stderr, read to the end by a thread.
fn launch_naming_rank_1(cmd: &Cmd) -> (Child, String, std::thread::JoinHandle<String>) {
    let mut child = command(cmd, &[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let pid = loop {
        let mut line = String::new();
        assert!(std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0, "no pids in:\n{seen}");
        seen.push_str(&line);
        if let Some(rest) = line.split("rank 1 pid ").nth(1) {
            break rest.split(|c: char| !c.is_ascii_digit()).next().unwrap().to_string();
        }
    };
    (child, pid, std::thread::spawn(move || std::io::read_to_string(stderr).unwrap()))
}

#[test]
fn the_launcher_names_a_worker_that_dies_and_stops_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("run");
    let cmd = fixed(&d, &out, "50").args(["--nproc-per-node", "2", "--dist-timeout", "30"]);
    let (mut child, pid, rest) = launch_naming_rank_1(&cmd);
    common::runs::wait_for_rows(&mut child, &out, 10);
    let start = Instant::now();
    assert!(Command::new("kill").args(["-KILL", &pid]).status().unwrap().success());
    let code = finish(child).status.code();
    let err = rest.join().unwrap();
    assert_eq!(code, Some(1), "{err}");
    // Within the workers' --dist-timeout and a generous margin: the launcher stopped the other
    // worker rather than waiting for its collectives to time out again and again.
    assert!(start.elapsed() < Duration::from_secs(30 + 60), "the launcher took {:?}", start.elapsed());
    let want = format!("error: worker rank 1 of 2 (pid {pid}) was killed by signal 9 (SIGKILL)");
    assert!(err.lines().any(|l| l.starts_with(&want)), "{err}");
}

/// A stopped worker (SIGSTOP) answers nothing, not even SIGTERM: rank 0 fails at the timeout,
/// and the launcher then kills the stopped worker within seconds (it waited 2 × the timeout).
#[test]
fn a_stopped_worker_ends_the_launch_soon_after_the_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("run");
    let timeout = 6;
    let cmd = fixed(&d, &out, "50").args(["--nproc-per-node", "2", "--dist-timeout", &timeout.to_string()]);
    let (mut child, pid, rest) = launch_naming_rank_1(&cmd);
    common::runs::wait_for_rows(&mut child, &out, 10);
    let start = Instant::now();
    assert!(Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    let code = finish(child).status.code();
    let took = start.elapsed();
    let err = rest.join().unwrap();
    assert_eq!(code, Some(1), "{err}");
    assert!(took >= Duration::from_secs(timeout), "rank 0 waits the timeout: {took:?}\n{err}");
    assert!(took < Duration::from_secs(timeout + 15), "the launcher took {took:?}\n{err}");
    assert!(err.contains("error: worker rank 0 of 2") && err.contains("the other workers were stopped"), "{err}");
    let gone = !Path::new(&format!("/proc/{pid}")).exists();
    assert!(gone, "the stopped worker was killed and reaped");
    clr::train::checkpoint::load(&out.join("checkpoint.pt")).expect("the run stays resumable");
}

/// A command that fails at once with exit 2 and one line on stderr; that line.
fn usage_error(cmd: &Cmd, env: &[(&str, String)]) -> String {
    common::one_line_error(&run(cmd, env), 2)
}

#[test]
fn bad_launch_environments_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let cmd = Cmd::tiny("train")
        .out(tmp.path().join("run"))
        .args(["--dataset", "synthetic", "--synthetic-train", "64", "--synthetic-test", "16"])
        .args(["--policy", "fixed", "--epochs", "1"]);
    let env = |pairs: &[(&'static str, &str)]| pairs.iter().map(|(k, v)| (*k, v.to_string())).collect::<Vec<_>>();
    let no_port = env(&[("RANK", "0"), ("WORLD_SIZE", "2"), ("MASTER_ADDR", "127.0.0.1")]);
    assert!(usage_error(&cmd, &no_port).contains("MASTER_PORT is not set"));
    let zero = env(&[("RANK", "0"), ("WORLD_SIZE", "0"), ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29500")]);
    assert!(usage_error(&cmd, &zero).contains("WORLD_SIZE must be at least 1"));
    let past = env(&[("RANK", "2"), ("WORLD_SIZE", "2"), ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29500")]);
    assert!(usage_error(&cmd, &past).contains("RANK=2 is out of range"));

    // Nobody listens at the master's port: a usage error within --dist-timeout.
    let port = ranks::free_port().to_string();
    let lost = env(&[("RANK", "1"), ("WORLD_SIZE", "2"), ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", &port)]);
    let line = usage_error(&cmd.clone().args(["--dist-timeout", "2"]), &lost);
    assert!(line.contains("rank 1 of 2 could not join") && line.contains("MASTER_ADDR"), "{line}");
    // Given up by the wait bounded by --dist-timeout, not by TCPStore's longer retries.
    assert!(line.contains("nothing accepted a connection within 2s"), "{line}");

    let one = env(&[("RANK", "0"), ("WORLD_SIZE", "1"), ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", &port)]);
    assert!(usage_error(&cmd.clone().args(["--nproc-per-node", "2"]), &one).contains("already rank 0 of 1"));
    assert!(usage_error(&cmd.clone().args(["--dist-backend", "nccl"]), &one).contains("needs CUDA"));
    // Said once, by the launcher, before it starts any worker.
    assert!(
        usage_error(&cmd.clone().args(["--dist-backend", "nccl", "--nproc-per-node", "2"]), &[]).contains("needs CUDA")
    );
    assert!(usage_error(&cmd.clone().args(["--nproc-per-node", "0"]), &[]).contains("--nproc-per-node"));
    assert!(usage_error(&cmd.clone().args(["--dist-timeout", "0"]), &[]).contains("--dist-timeout"));
    assert!(usage_error(&cmd.clone().args(["--dist-backend", "mpi"]), &[]).contains("gloo"));
}

/// One process in a group of one (as torchrun --nproc-per-node 1 starts it) trains exactly as a
/// process alone: the same numbers, through the real collectives.
#[test]
fn a_group_of_one_trains_as_a_process_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let (alone, group) = (tmp.path().join("alone"), tmp.path().join("group"));
    run_ok(&fixed(&d, &alone, "1"), &[]);
    let port = ranks::free_port().to_string();
    let vars = [("RANK", "0"), ("WORLD_SIZE", "1"), ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", port.as_str())];
    run_ok(&fixed(&d, &group, "1"), &vars.map(|(k, v)| (k, v.to_string())));
    assert_eq!(steps(&alone), steps(&group));
    assert_eq!(epochs(&alone), epochs(&group));
    assert_eq!(read_json(&group.join("summary.json"))["distributed"]["processes"], 1);
}

/// A launcher killed outright (SIGKILL: it cannot forward anything) leaves no worker behind: each
/// notices and stops as on one SIGTERM, at the same step, and rank 0 saves the run, resumable.
#[test]
fn workers_whose_launcher_is_killed_stop_and_save() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("run");
    let mut child = spawn(&mut command(&fixed(&d, &out, "50").args(["--nproc-per-node", "2"]), &[]));
    common::runs::wait_for_rows(&mut child, &out, 30);
    common::runs::signal(&child, "-KILL");
    let _ = finish(child);
    // The workers are not this test's children: wait for rank 0 to let go of the folder.
    let deadline = Instant::now() + Duration::from_secs(60);
    while clr::run_dir::check_not_in_use(&out).is_err() || !out.join("summary.json").exists() {
        assert!(Instant::now() < deadline, "the workers are still running");
        std::thread::sleep(Duration::from_millis(100));
    }
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["status"], "interrupted", "{summary}");
    let step = clr::train::checkpoint::load(&out.join("checkpoint.pt")).unwrap().state.step;
    assert_eq!(summary["steps"].as_u64(), Some(step), "the checkpoint is of the step the run stopped at");
    assert_each_step_once(&out, step);
}

/// The pids of `parent`'s children, from /proc.
fn children_of(parent: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // "pid (comm) state ppid …": the command name may hold spaces, never a ')' here.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if ppid == Some(parent) {
            pids.push(pid);
        }
    }
    pids
}

/// A scheduler stopping a job (SLURM at a time limit, `pkill`) signals every process of it: each
/// worker then hears the SIGTERM from outside and again from its launcher. That is one stop, not
/// "a second signal, quit at once": the run saves at a step the ranks agree on, says so once,
/// exits 143, and resumes.
#[test]
fn a_sigterm_to_every_process_of_a_launch_is_one_stop() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("run");
    let mut child = spawn(&mut command(&fixed(&d, &out, "4").args(["--nproc-per-node", "2"]), &[]));
    common::runs::wait_for_rows(&mut child, &out, 30);
    let workers = children_of(child.id());
    assert_eq!(workers.len(), 2, "the launcher's workers: {workers:?}");
    let every: Vec<String> = std::iter::once(child.id()).chain(workers).map(|p| p.to_string()).collect();
    assert!(Command::new("kill").arg("-TERM").args(&every).status().unwrap().success());
    let output = finish(child);
    let err = common::stderr(&output);
    assert_eq!(output.status.code(), Some(143), "{err}");
    assert_eq!(err.matches("SIGTERM: finishing the current step").count(), 1, "said once, by rank 0:\n{err}");
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["status"], "interrupted", "{summary}");
    let step = summary["steps"].as_u64().unwrap();
    assert_eq!(clr::train::checkpoint::load(&out.join("checkpoint.pt")).unwrap().state.step, step);
    assert!(step < 4 * 21, "stopped at step {step}: too late to test a resume");
    let resume = Cmd::new("train").args(["--resume", &out.display().to_string(), "--no-progress"]);
    run_ok(&resume.args(["--nproc-per-node", "2"]), &[]);
    assert_each_step_once(&out, 4 * 21);
}

/// A SIGTERM to the launcher at any moment of the start-up (spawning the workers, their data,
/// their group) stops the run as asked: exit 143, no error, nothing half-made.
#[test]
fn a_stop_during_the_start_up_exits_143_without_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    for (i, delay_ms) in [20u64, 150, 400, 900].into_iter().enumerate() {
        let out = tmp.path().join(format!("run{i}"));
        let child = spawn(&mut command(&fixed(&d, &out, "4").args(["--nproc-per-node", "2"]), &[]));
        std::thread::sleep(Duration::from_millis(delay_ms));
        common::runs::signal(&child, "-TERM");
        let output = finish(child);
        let err = common::stderr(&output);
        // Before the launcher listens (its first milliseconds, no worker started yet), SIGTERM
        // ends it the default way: the same status as far as a shell or scheduler can tell.
        let by_signal = std::os::unix::process::ExitStatusExt::signal(&output.status) == Some(libc::SIGTERM);
        assert!(output.status.code() == Some(143) || by_signal, "after {delay_ms} ms: {:?}\n{err}", output.status);
        assert!(!err.contains("error"), "after {delay_ms} ms:\n{err}");
        if out.join("summary.json").exists() {
            assert_eq!(read_json(&out.join("summary.json"))["status"], "interrupted");
        }
    }
}

/// A SIGTERM that reaches one rank only (the user's `kill` of a worker) stops every rank at the
/// same step, and all of them, the launcher too, exit 143.
#[test]
fn a_sigterm_to_one_rank_stops_the_run_with_143() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("run");
    let mut child = spawn(&mut command(&fixed(&d, &out, "4").args(["--nproc-per-node", "2"]), &[]));
    common::runs::wait_for_rows(&mut child, &out, 30);
    let mut workers = children_of(child.id());
    workers.sort();
    assert_eq!(workers.len(), 2, "the launcher's workers: {workers:?}");
    // The workers are started in rank order.
    assert!(Command::new("kill").args(["-TERM", &workers[1].to_string()]).status().unwrap().success());
    let output = finish(child);
    let err = common::stderr(&output);
    assert_eq!(output.status.code(), Some(143), "{err}");
    assert_eq!(err.matches("SIGTERM: finishing the current step").count(), 1, "rank 0 says so:\n{err}");
    assert_eq!(read_json(&out.join("summary.json"))["status"], "interrupted");
}

/// The usual escalation of a supervisor (`timeout -k`): SIGTERM to the launcher, then SIGKILL.
/// The workers got the SIGTERM forwarded, then lose their launcher: still one stop, and saved.
#[test]
fn sigterm_then_sigkill_to_the_launcher_still_saves() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("run");
    // Steps slow enough (ResNet-20, batch 128) that the ranks' next agreed read, up to 10 steps
    // away, comes after the workers notice that their launcher is gone (they look every 0.5 s).
    let slow = Cmd::new("train").data(&d).out(&out).args([
        "--depth",
        "20",
        "--batch-size",
        "128",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--no-progress",
        "--policy",
        "fixed",
        "--base-lr",
        "0.05",
        "--epochs",
        "50",
    ]);
    let mut child = spawn(&mut command(&slow.args(["--nproc-per-node", "2"]), &[]));
    common::runs::wait_for_rows(&mut child, &out, 6);
    common::runs::signal(&child, "-TERM");
    std::thread::sleep(Duration::from_millis(20));
    common::runs::signal(&child, "-KILL");
    let _ = finish(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while clr::run_dir::check_not_in_use(&out).is_err() || !out.join("summary.json").exists() {
        assert!(Instant::now() < deadline, "the workers are still running, or saved nothing");
        std::thread::sleep(Duration::from_millis(100));
    }
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["status"], "interrupted", "{summary}");
    let step = clr::train::checkpoint::load(&out.join("checkpoint.pt")).unwrap().state.step;
    assert_eq!(summary["steps"].as_u64(), Some(step), "the checkpoint is of the step the run stopped at");
    assert!(step >= 6, "saved at step {step}, before the stop");
}

/// Under torchrun, a SIGTERM to every process (torchrun and its workers, as a scheduler sends)
/// reaches each worker directly and again from torchrun: one stop, saved at an agreed step.
#[test]
fn a_sigterm_to_every_process_under_torchrun_is_one_stop() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("run");
    let mut torchrun = Command::new(ranks::venv_python());
    torchrun.args(["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "--no-python"]);
    torchrun.arg(env!("CARGO_BIN_EXE_clr")).args(fixed(&d, &out, "50").strs());
    ranks::without_launch_env(&mut torchrun);
    let mut child = spawn(&mut torchrun);
    common::runs::wait_for_rows(&mut child, &out, 30);
    let workers = children_of(child.id());
    assert_eq!(workers.len(), 2, "torchrun's workers: {workers:?}");
    let every: Vec<String> = std::iter::once(child.id()).chain(workers).map(|p| p.to_string()).collect();
    assert!(Command::new("kill").arg("-TERM").args(&every).status().unwrap().success());
    let output = finish(child);
    let err = common::stderr(&output);
    assert!(err.contains("interrupted at step"), "rank 0 saved and said so:\n{err}");
    assert!(!err.contains("all-reduce failed"), "{err}");
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["status"], "interrupted", "{summary}");
    let step = clr::train::checkpoint::load(&out.join("checkpoint.pt")).unwrap().state.step;
    assert_eq!(summary["steps"].as_u64(), Some(step));
}

/// On several processes a sweep value that fails on one rank (rank 0 cannot write its CSV: the
/// disk is full) stops the sweep with that error, not with a collective mismatch.
#[test]
fn a_distributed_sweep_whose_rank_0_fails_reports_why() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let (mnt, report) = (tmp.path().join("disk"), tmp.path().join("report"));
    std::fs::create_dir_all(&report).unwrap();
    let sweep = Cmd::tiny("range-test").data(&d).out(mnt.join("sweep")).args([
        "--sweep",
        "weight-decay=1e-4,5e-4",
        "--iters",
        "3000",
        "--end-lr",
        "1e-2",
        "--nproc-per-node",
        "2",
    ]);
    let args = sweep.strs().iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(" ");
    let clr = env!("CARGO_BIN_EXE_clr");
    let r = report.display();
    common::with_small_disk(&mnt, "64k", &format!("{clr} {args} 2> {r}/err; echo $? > {r}/code"));
    let err = std::fs::read_to_string(report.join("err")).unwrap();
    assert_eq!(std::fs::read_to_string(report.join("code")).unwrap().trim(), "1", "{err}");
    assert!(err.contains("No space left"), "{err}");
    assert!(!err.contains("SIGABRT") && !err.contains("mismatch"), "{err}");
}

/// A divergence is reached by every rank at the same step; rank 0 reports it, once.
#[test]
fn a_diverged_distributed_run_is_reported_once() {
    let tmp = tempfile::tempdir().unwrap();
    let d = cifar::usual(&tmp.path().join("data"));
    let out = tmp.path().join("run");
    let cmd = Cmd::tiny("train").data(&d).out(&out).args(["--policy", "fixed", "--base-lr", "1e30", "--epochs", "2"]);
    let output = run(&cmd.args(["--nproc-per-node", "2"]), &[]);
    let err = common::stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("training diverged").count(), 1, "{err}");
    assert!(err.contains("lr 1.000e30"), "{err}");
    assert_eq!(read_json(&out.join("summary.json"))["status"], "diverged");
}

/// Data that has to be downloaded is fetched once, by rank 0, while the other rank waits, then
/// read by both.
#[test]
fn rank_0_downloads_the_data_once_while_the_others_wait() {
    let common::http::Fixture { archive, md5, .. } = common::http::fixture(11);
    let server = common::http::Server::start("/cifar-10-binary.tar.gz", archive);
    let tmp = tempfile::tempdir().unwrap();
    let (d, out) = (tmp.path().join("fresh"), tmp.path().join("run"));
    let cmd = Cmd::tiny("train").out(&out).args(["--data-dir", &d.display().to_string(), "--url", &server.url()]);
    let cmd = cmd.args(["--md5", &md5, "--batch-size", "8", "--policy", "fixed", "--epochs", "1"]);
    run_ok(&cmd.args(["--nproc-per-node", "2"]), &[]);
    assert_eq!(server.requests().len(), 1, "{:?}", server.requests());
    assert!(d.join(clr::data::download::BATCH_DIR).join("data_batch_2.bin").is_file());
    assert_each_step_once(&out, 5);
}
