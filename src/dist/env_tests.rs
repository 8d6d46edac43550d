use super::*;
use std::collections::HashMap;

/// Parse the environment made of `pairs`.
fn parse_pairs(pairs: &[(&str, &str)]) -> Result<Option<DistEnv>, UsageError> {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    parse(|name| map.get(name).cloned())
}

/// The error text for `pairs`, which must not parse.
fn error(pairs: &[(&str, &str)]) -> String {
    match parse_pairs(pairs) {
        Err(e) => e.0,
        Ok(env) => panic!("{pairs:?} parsed as {env:?}"),
    }
}

/// What torchrun --nproc-per-node 2 sets for the second worker.
const TORCHRUN: &[(&str, &str)] = &[
    ("RANK", "1"),
    ("WORLD_SIZE", "2"),
    ("LOCAL_RANK", "1"),
    ("LOCAL_WORLD_SIZE", "2"),
    ("MASTER_ADDR", "127.0.0.1"),
    ("MASTER_PORT", "29500"),
    ("TORCHELASTIC_USE_AGENT_STORE", "True"),
];

/// What srun -n 4 sets for the third task, with the job script's master variables.
const SLURM: &[(&str, &str)] = &[
    ("SLURM_PROCID", "2"),
    ("SLURM_NTASKS", "4"),
    ("SLURM_LOCALID", "0"),
    ("MASTER_ADDR", "node01"),
    ("MASTER_PORT", "29400"),
];

/// `base` with `name` set to `value` (added, or replaced), or removed when `value` is None.
fn with(
    base: &[(&'static str, &'static str)],
    name: &'static str,
    value: Option<&'static str>,
) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<_> = base.iter().copied().filter(|(k, _)| *k != name).collect();
    if let Some(v) = value {
        out.push((name, v));
    }
    out
}

#[test]
fn no_launcher_variables_mean_a_single_process() {
    assert_eq!(parse_pairs(&[]), Ok(None));
    assert_eq!(parse_pairs(&[("MASTER_ADDR", "h"), ("MASTER_PORT", "1"), ("LOCAL_RANK", "0")]), Ok(None));
    assert_eq!(parse_pairs(&[("RANK", ""), ("WORLD_SIZE", " ")]), Ok(None), "empty values count as unset");
}

#[test]
fn torchrun_contract() {
    let env = parse_pairs(TORCHRUN).unwrap().unwrap();
    assert_eq!(
        env,
        DistEnv {
            launcher: Launcher::Torchrun,
            rank: 1,
            world_size: 2,
            local_rank: 1,
            local_world_size: Some(2),
            master_addr: "127.0.0.1".into(),
            master_port: 29500,
            use_agent_store: true,
        }
    );
}

#[test]
fn agent_store_spellings() {
    for (value, expected) in [("True", true), ("true", true), ("1", true), ("False", false), ("0", false)] {
        let env = parse_pairs(&with(TORCHRUN, "TORCHELASTIC_USE_AGENT_STORE", Some(value))).unwrap().unwrap();
        assert_eq!(env.use_agent_store, expected, "{value}");
    }
    let env = parse_pairs(&with(TORCHRUN, "TORCHELASTIC_USE_AGENT_STORE", None)).unwrap().unwrap();
    assert!(!env.use_agent_store, "unset: rank 0 hosts the store");
    assert_eq!(
        error(&with(TORCHRUN, "TORCHELASTIC_USE_AGENT_STORE", Some("yes please"))),
        "torchrun environment: TORCHELASTIC_USE_AGENT_STORE must be True or False, got 'yes please'"
    );
}

#[test]
fn one_process_per_host_without_local_variables() {
    let base = with(&with(TORCHRUN, "LOCAL_RANK", None), "LOCAL_WORLD_SIZE", None);
    let env = parse_pairs(&base).unwrap().unwrap();
    assert_eq!((env.local_rank, env.local_world_size), (0, None));
    let env = parse_pairs(&with(&base, "LOCAL_RANK", Some("1"))).unwrap().unwrap();
    assert_eq!((env.local_rank, env.local_world_size), (1, None), "LOCAL_RANK alone");
}

#[test]
fn torchrun_errors_name_the_variable() {
    let cases: &[(&str, Option<&str>, &str)] = &[
        ("WORLD_SIZE", None, "RANK is set but WORLD_SIZE is not"),
        ("RANK", None, "WORLD_SIZE is set but RANK is not"),
        ("WORLD_SIZE", Some("0"), "WORLD_SIZE must be at least 1, got 0"),
        ("WORLD_SIZE", Some("two"), "WORLD_SIZE must be a whole number, got 'two'"),
        ("WORLD_SIZE", Some("-2"), "WORLD_SIZE must be a whole number, got '-2'"),
        ("RANK", Some("2"), "RANK=2 is out of range for WORLD_SIZE=2 (0 to 1)"),
        ("RANK", Some("1.0"), "RANK must be a whole number, got '1.0'"),
        ("LOCAL_RANK", Some("2"), "LOCAL_RANK=2 is out of range for LOCAL_WORLD_SIZE=2 (0 to 1)"),
        ("LOCAL_RANK", Some("x"), "LOCAL_RANK must be a whole number, got 'x'"),
        ("LOCAL_RANK", None, "LOCAL_WORLD_SIZE is set but LOCAL_RANK is not"),
        ("LOCAL_WORLD_SIZE", Some("3"), "LOCAL_WORLD_SIZE=3 is larger than WORLD_SIZE=2"),
        ("LOCAL_WORLD_SIZE", Some("0"), "LOCAL_WORLD_SIZE must be at least 1, got 0"),
        ("MASTER_ADDR", None, "MASTER_ADDR is not set (the host of rank 0)"),
        ("MASTER_PORT", None, "MASTER_PORT is not set (a free TCP port on rank 0's host)"),
        ("MASTER_PORT", Some("0"), "MASTER_PORT must be a port number from 1 to 65535, got '0'"),
        ("MASTER_PORT", Some("65536"), "MASTER_PORT must be a port number from 1 to 65535, got '65536'"),
        ("MASTER_PORT", Some("http"), "MASTER_PORT must be a port number from 1 to 65535, got 'http'"),
    ];
    for (name, value, message) in cases {
        assert_eq!(
            error(&with(TORCHRUN, name, *value)),
            format!("torchrun environment: {message}"),
            "{name}={value:?}"
        );
    }
    let env = parse_pairs(&with(&with(TORCHRUN, "LOCAL_WORLD_SIZE", None), "LOCAL_RANK", Some("1"))).unwrap().unwrap();
    assert_eq!(env.local_rank, 1, "without LOCAL_WORLD_SIZE, LOCAL_RANK is bounded by WORLD_SIZE");
}

#[test]
fn slurm_contract() {
    let env = parse_pairs(SLURM).unwrap().unwrap();
    assert_eq!(
        env,
        DistEnv {
            launcher: Launcher::Slurm,
            rank: 2,
            world_size: 4,
            local_rank: 0,
            local_world_size: None,
            master_addr: "node01".into(),
            master_port: 29400,
            use_agent_store: false,
        }
    );
}

#[test]
fn a_slurm_job_of_one_task_is_not_distributed() {
    let one = with(&with(&with(SLURM, "SLURM_NTASKS", Some("1")), "SLURM_PROCID", Some("0")), "MASTER_PORT", None);
    assert_eq!(parse_pairs(&one), Ok(None));
}

#[test]
fn torchrun_variables_win_over_slurm() {
    let mut both = SLURM.to_vec();
    both.extend(TORCHRUN.iter().copied().filter(|(k, _)| !k.starts_with("MASTER_")));
    let env = parse_pairs(&both).unwrap().unwrap();
    assert_eq!((env.launcher, env.rank, env.world_size, env.local_rank), (Launcher::Torchrun, 1, 2, 1));
}

#[test]
fn slurm_errors_name_the_variable() {
    let hint = "; export MASTER_ADDR and MASTER_PORT in the job script, e.g. \
                MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1) MASTER_PORT=29500";
    let cases: &[(&str, Option<&str>, String)] = &[
        ("SLURM_NTASKS", Some("0"), "SLURM_NTASKS must be at least 1, got 0".into()),
        ("SLURM_NTASKS", Some("4(x2)"), "SLURM_NTASKS must be a whole number, got '4(x2)'".into()),
        ("SLURM_PROCID", None, "SLURM_NTASKS is set but SLURM_PROCID is not".into()),
        ("SLURM_PROCID", Some("4"), "SLURM_PROCID=4 is out of range for SLURM_NTASKS=4 (0 to 3)".into()),
        ("SLURM_LOCALID", None, "SLURM_NTASKS is set but SLURM_LOCALID is not".into()),
        ("MASTER_ADDR", None, format!("MASTER_ADDR is not set (the host of rank 0){hint}")),
        ("MASTER_PORT", None, format!("MASTER_PORT is not set (a free TCP port on rank 0's host){hint}")),
        ("MASTER_PORT", Some("-1"), format!("MASTER_PORT must be a port number from 1 to 65535, got '-1'{hint}")),
    ];
    for (name, value, message) in cases {
        assert_eq!(error(&with(SLURM, name, *value)), format!("SLURM environment: {message}"), "{name}={value:?}");
    }
}
