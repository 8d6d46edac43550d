//! Usage and configuration errors as a user meets them: exit code 2 and exactly one line on
//! stderr that names the flag, field or file; and `--help` documenting every flag with its
//! default. Nothing here needs data: `clr schedule`, or `clr train --dataset synthetic`, which
//! must fail before making any.

mod common;

use common::{one_line_error, run};
use std::path::Path;

/// `clr ARGS` must fail with exit 2 and one line holding every one of `needles`; nothing on
/// stdout (no half-written CSV).
fn usage_error(args: &[&str], needles: &[&str]) -> String {
    let out = run(args);
    let line = one_line_error(&out, 2);
    for needle in needles {
        assert!(line.contains(needle), "clr {args:?}: {needle:?} not in the error:\n{line}");
    }
    assert!(!line.contains("panicked"), "{line}");
    assert!(out.stdout.is_empty(), "clr {args:?} printed:\n{}", common::stdout(&out));
    line
}

/// `clr train --dataset synthetic ... ARGS` (tiny, on the CPU) must fail as [`usage_error`]
/// says, without creating its --out folder.
fn train_usage_error(dir: &Path, extra: &[&str], needles: &[&str]) {
    let out = dir.join("run");
    let synthetic = ["--dataset", "synthetic", "--synthetic-train", "64", "--synthetic-test", "16"];
    let cmd = common::Cmd::tiny("train").args(synthetic).out(&out).args(extra);
    usage_error(&cmd.strs(), needles);
    assert!(!out.exists(), "a usage error left {}", out.display());
}

#[test]
fn depth_must_be_6n_plus_2() {
    usage_error(&["schedule", "--depth", "9"], &["--depth", "9", "6n+2"]);
    let tmp = tempfile::tempdir().unwrap();
    train_usage_error(tmp.path(), &["--depth", "9"], &["--depth", "9"]);
}

#[test]
fn unknown_policy_on_the_command_line() {
    usage_error(&["schedule", "--policy", "cosine-restarts"], &["--policy", "cosine-restarts"]);
}

#[test]
fn unknown_policy_in_a_config_file() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bad-policy.json");
    std::fs::write(&file, r#"{"policy": "cosine-restarts"}"#).unwrap();
    usage_error(&["schedule", "--config", file.to_str().unwrap()], &["policy", "cosine-restarts", "bad-policy.json"]);
}

#[test]
fn base_lr_must_be_below_max_lr() {
    usage_error(&["schedule", "--base-lr", "0.5", "--max-lr", "0.5"], &["--base-lr", "--max-lr"]);
    usage_error(
        &["schedule", "--policy", "triangular", "--base-lr", "0.8", "--max-lr", "0.5"],
        &["--base-lr", "--max-lr"],
    );
    let tmp = tempfile::tempdir().unwrap();
    train_usage_error(tmp.path(), &["--base-lr", "0.9", "--max-lr", "0.5"], &["--base-lr", "--max-lr"]);
}

#[test]
fn learning_rates_must_be_positive() {
    usage_error(&["schedule", "--base-lr", "0"], &["--base-lr"]);
    usage_error(&["schedule", "--max-lr=-0.5"], &["--max-lr"]);
    usage_error(&["schedule", "--final-lr", "0"], &["--final-lr"]);
    usage_error(&["schedule", "--policy", "fixed", "--base-lr=-0.1"], &["--base-lr"]);
    usage_error(&["range-test", "--dataset", "synthetic", "--start-lr", "0"], &["--start-lr"]);
}

#[test]
fn phases_must_fit_the_epochs() {
    usage_error(&["schedule", "--phases", "41,41,13", "--epochs", "90"], &["--phases", "--epochs", "95", "90"]);
    let tmp = tempfile::tempdir().unwrap();
    train_usage_error(tmp.path(), &["--phases", "2,2,1", "--epochs", "4"], &["--phases", "--epochs"]);
}

#[test]
fn step_size_must_be_positive() {
    usage_error(&["schedule", "--policy", "triangular", "--step-size", "0"], &["--step-size"]);
}

#[test]
fn gamma_must_lie_in_0_1() {
    usage_error(&["schedule", "--policy", "exp-range", "--gamma", "1.5"], &["--gamma", "1.5"]);
    usage_error(&["schedule", "--policy", "exp-range", "--gamma", "0"], &["--gamma"]);
    // 1 is allowed: exp-range then is triangular.
    common::ok(&["schedule", "--policy", "exp-range", "--gamma", "1", "--epochs", "1", "--steps-per-epoch", "4"]);
}

#[test]
fn unknown_field_in_a_config_file_names_field_and_file() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("typo.json");
    std::fs::write(&file, r#"{"policy": "one-cycle", "max_lrr": 0.8}"#).unwrap();
    usage_error(&["schedule", "--config", file.to_str().unwrap()], &["max_lrr", "typo.json"]);
    train_usage_error(tmp.path(), &["--config", file.to_str().unwrap()], &["max_lrr", "typo.json"]);
}

#[test]
fn missing_config_file() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("nowhere.json");
    usage_error(&["schedule", "--config", file.to_str().unwrap()], &["--config", "nowhere.json"]);
}

#[test]
fn config_file_that_is_not_json() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("broken.json");
    std::fs::write(&file, "{\"policy\": \"one-cycle\",\n").unwrap();
    usage_error(&["schedule", "--config", file.to_str().unwrap()], &["--config", "broken.json"]);
    let file = tmp.path().join("list.json");
    std::fs::write(&file, "[1, 2]").unwrap();
    usage_error(&["schedule", "--config", file.to_str().unwrap()], &["--config", "list.json"]);
}

#[test]
fn device_gpu_is_not_a_device() {
    usage_error(&["schedule", "--device", "gpu"], &["--device", "gpu"]);
    let tmp = tempfile::tempdir().unwrap();
    train_usage_error(tmp.path(), &["--device", "gpu"], &["--device", "gpu"]);
}

#[test]
fn resume_refuses_flags_that_change_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("old-run");
    std::fs::create_dir(&run_dir).unwrap();
    std::fs::write(run_dir.join("config.json"), "{}").unwrap();
    let r = run_dir.to_str().unwrap();
    usage_error(&["train", "--resume", r, "--policy", "triangular"], &["--resume", "--policy"]);
    usage_error(&["train", "--resume", r, "--batch-size", "64"], &["--resume", "--batch-size"]);
    let other = tmp.path().join("other");
    usage_error(&["train", "--resume", r, "--out", other.to_str().unwrap()], &["--resume", "--out"]);
    assert!(!other.exists());
}

#[test]
fn max_lr_auto_needs_a_range_test() {
    usage_error(&["schedule", "--max-lr", "auto"], &["--max-lr", "auto"]);
}

#[test]
fn max_lr_file_that_does_not_exist() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("range_test.json");
    usage_error(&["schedule", "--max-lr", file.to_str().unwrap()], &["--max-lr", "range_test.json"]);
}

/// The flags of one `--help`, each with the text documenting it (up to the next flag).
fn flag_blocks(help: &str) -> Vec<(String, String)> {
    let mut blocks: Vec<(String, String)> = Vec::new();
    for line in help.lines() {
        let t = line.trim_start();
        if t.starts_with("--") || t.starts_with("-h, --help") {
            let name = t.split_whitespace().next().unwrap().trim_end_matches(',');
            let name = if name == "-h" { "--help" } else { name };
            blocks.push((name.to_string(), t.to_string()));
        } else if let Some(last) = blocks.last_mut() {
            last.1.push('\n');
            last.1.push_str(t);
        }
    }
    blocks
}

fn help_of(cmd: &str) -> Vec<(String, String)> {
    let out = common::ok(&[cmd, "--help"]);
    flag_blocks(&common::stdout(&out))
}

/// Each `(flag, default)`: the flag is documented, and `default` (if any) is in its text.
fn assert_documented(cmd: &str, blocks: &[(String, String)], wanted: &[(&str, Option<&str>)]) {
    for (flag, default) in wanted {
        let Some((_, text)) = blocks.iter().find(|(name, _)| name == flag) else {
            panic!("clr {cmd} --help does not document {flag}");
        };
        if let Some(d) = default {
            assert!(text.contains(d), "clr {cmd} --help: {flag} does not give {d}:\n{text}");
        }
    }
}

/// Flags that take a value but have no default to show (a file to read, a folder to resume).
const NO_DEFAULT: &[&str] =
    &["--config", "--resume", "--checkpoint", "--plot", "--no-download", "--no-progress", "--help"];

/// Every flag that takes a value and is not in NO_DEFAULT shows `[default: …]`.
fn assert_every_default(cmd: &str, blocks: &[(String, String)], also_exempt: &[&str]) {
    for (flag, text) in blocks {
        if NO_DEFAULT.contains(&flag.as_str()) || also_exempt.contains(&flag.as_str()) {
            continue;
        }
        assert!(text.contains("[default:"), "clr {cmd} --help: {flag} shows no default:\n{text}");
    }
}

/// The flags SPEC lists for every command that trains, with the defaults it gives.
const SHARED: &[(&str, Option<&str>)] = &[
    ("--config", None),
    ("--data-dir", Some("[default: data]")),
    ("--dataset", Some("[default: cifar10]")),
    ("--depth", Some("[default: 56]")),
    ("--batch-size", Some("[default: 512]")),
    ("--momentum", Some("[default: 0.9]")),
    ("--weight-decay", Some("[default: 1e-4]")),
    ("--nesterov", None),
    ("--epochs", None),
    ("--device", Some("[default: auto]")),
    ("--precision", Some("[default: fp32]")),
    ("--seed", None),
    ("--url", None),
    ("--md5", None),
];

/// Schedule flags (SPEC: the cycle-momentum is off by default; the reference run's values).
const SCHEDULE: &[(&str, Option<&str>)] = &[
    ("--policy", Some("[default: one-cycle]")),
    ("--base-lr", Some("[default: 0.08]")),
    ("--max-lr", Some("[default: 0.8]")),
    ("--final-lr", None),
    ("--phases", Some("[default: 41,41,13]")),
    ("--step-size", None),
    ("--gamma", None),
    ("--anneal", Some("[default: linear]")),
    ("--cycle-momentum", Some("off")),
];

/// Range-test flags with SPEC's defaults.
const RANGE_TEST: &[(&str, Option<&str>)] = &[
    ("--start-lr", Some("[default: 1e-4]")),
    ("--end-lr", Some("[default: 10]")),
    ("--iters", None),
    ("--mode", Some("[default: exp]")),
    ("--smooth", None),
    ("--diverge", None),
];

#[test]
fn help_of_the_training_commands_documents_every_flag_and_default() {
    for cmd in ["train", "range-test"] {
        let blocks = help_of(cmd);
        if cmd == "train" {
            assert_documented(cmd, &blocks, &[("--resume", None)]);
        }
        assert_documented(cmd, &blocks, SHARED);
        assert_documented(cmd, &blocks, SCHEDULE);
        assert_documented(cmd, &blocks, RANGE_TEST);
        assert_documented(cmd, &blocks, &[("--out", Some("[default:")), ("--no-progress", None)]);
        assert_every_default(cmd, &blocks, &[]);
    }
}

#[test]
fn help_of_schedule_documents_every_flag_and_default() {
    let blocks = help_of("schedule");
    assert_documented("schedule", &blocks, SCHEDULE);
    assert_documented("schedule", &blocks, &[("--steps-per-epoch", Some("98")), ("--out", None), ("--plot", None)]);
    assert_documented("schedule", &blocks, &[("--momentum", Some("[default: 0.9]")), ("--epochs", None)]);
    // --out's default is stdout, said in words.
    assert_every_default("schedule", &blocks, &["--out"]);
    let out_text = &blocks.iter().find(|(n, _)| n == "--out").unwrap().1;
    assert!(out_text.contains("stdout"), "{out_text}");
}

#[test]
fn help_of_the_other_commands_documents_every_flag_and_default() {
    let bench = help_of("bench");
    // bench measures on synthetic images unless told otherwise, and says so.
    let shared: Vec<_> = SHARED.iter().copied().filter(|(flag, _)| *flag != "--dataset").collect();
    assert_documented("bench", &bench, &shared);
    assert_documented("bench", &bench, &[("--dataset", Some("[default: synthetic]"))]);
    assert_documented("bench", &bench, &[("--steps", Some("[default:")), ("--out", Some("[default: bench.json]"))]);
    assert_every_default("bench", &bench, &[]);

    let eval = help_of("eval");
    assert_documented(
        "eval",
        &eval,
        &[("--checkpoint", None), ("--device", Some("[default: auto]")), ("--data-dir", Some("[default: data]"))],
    );
    assert_every_default("eval", &eval, &[]);

    let download = help_of("download");
    assert_documented(
        "download",
        &download,
        &[("--data-dir", Some("[default: data]")), ("--url", Some("[default:")), ("--md5", Some("[default:"))],
    );
    assert_every_default("download", &download, &[]);

    let out = common::ok(&["plot", "--help"]);
    assert!(common::stdout(&out).contains("RUN_DIR"));
}

#[test]
fn no_command_panics_on_a_usage_error() {
    // clap's own errors (an unknown flag) also exit 2.
    let out = run(&["train", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("--no-such-flag"));
}

#[test]
fn negative_numbers_reach_their_flag_s_own_check() {
    // With a space clap took them for unknown flags: "unexpected argument '-0'".
    usage_error(&["schedule", "--max-lr", "-0"], &["--max-lr (max_lr) must be a positive finite number: -0"]);
    usage_error(&["schedule", "--momentum", "-0.5"], &["--momentum (momentum) must be in [0, 1): -0.5"]);
    usage_error(&["schedule", "--seed", "-1"], &["'-1' for '--seed"]);
    usage_error(&["schedule", "--phases", "-1,2,3"], &["--phases (phases) must be non-negative finite epochs: -1,2,3"]);
    usage_error(&["compare", "x", "--target", "-1"], &["--target", "-1"]);
}

#[test]
fn a_config_file_gives_each_field_once_and_null_only_for_automatic_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("c.json");
    let config = ["schedule", "--config", file.to_str().unwrap()];
    std::fs::write(&file, r#"{"depth": 8, "momentum": 0.9, "depth": 14}"#).unwrap();
    usage_error(&config, &["c.json", "field `depth` is given twice"]);
    std::fs::write(&file, r#"{"max_lr": null}"#).unwrap();
    usage_error(&config, &["c.json", "field `max_lr` is null", "epochs"]);
    // Null is what config.json writes for an automatic value: `--config RUN/config.json` works.
    std::fs::write(&file, r#"{"epochs": null, "final_lr": null, "policy": "fixed", "epochs": 1}"#).unwrap();
    usage_error(&config, &["field `epochs` is given twice"]);
    std::fs::write(&file, r#"{"epochs": null, "final_lr": null, "threads": null}"#).unwrap();
    assert!(run(&[&config[..], &["--steps-per-epoch", "1", "--policy", "fixed"]].concat()).status.success());
}
