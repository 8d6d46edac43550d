use super::*;
use crate::optim::schedule::Policy;

fn file(dir: &tempfile::TempDir, name: &str, json: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, json).unwrap();
    path
}

#[test]
fn flags_beat_the_file_which_beats_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "c.json", r#"{"depth": 20, "base_lr": 0.1, "policy": "triangular", "phases": [2, 2]}"#);
    let from_file = Layer::from_file(&path).unwrap();
    let mut flags = Layer::default();
    flags.model.depth = Some(8);
    flags.run.epochs = Some(3.0);
    let merged = flags.over(from_file);
    assert_eq!(merged.given(), ["depth", "epochs", "policy", "base_lr", "phases"]);
    let config = merged.resolve().unwrap();
    assert_eq!(config.model.depth, 8, "the flag wins");
    assert_eq!(config.schedule.base_lr, 0.1, "the file wins over the default");
    assert_eq!(config.schedule.policy, Policy::Triangular);
    assert_eq!(config.run.epochs, Some(3.0));
    assert_eq!(config.model.batch_size, ModelSettings::default().batch_size, "the default where nobody says");
    assert_eq!(config.schedule.phases, [2.0, 2.0]);
}

/// `--epochs` alone stretches the default one-cycle (41:41:13) to that length; phases given
/// anywhere are kept (and checked against the length); other policies keep theirs.
#[test]
fn a_one_cycle_given_only_its_length_stretches_the_default_phases() {
    let resolve = |epochs: Option<f64>, phases: Option<Vec<f64>>, policy: Option<Policy>| {
        let mut layer = Layer::default();
        layer.run.epochs = epochs;
        layer.schedule.phases = phases;
        layer.schedule.policy = policy;
        layer.resolve()
    };
    let p = resolve(Some(10.0), None, None).unwrap().schedule.phases;
    assert!((p[0] - 410.0 / 95.0).abs() < 1e-12 && p[0] == p[1], "{p:?}");
    assert!((p[2] - 130.0 / 95.0).abs() < 1e-12 && p.iter().sum::<f64>() <= 10.0 + 1e-12, "{p:?}");
    assert_eq!(resolve(Some(95.0), None, None).unwrap().schedule.phases, [41.0, 41.0, 13.0]);
    assert_eq!(resolve(None, None, None).unwrap().schedule.phases, [41.0, 41.0, 13.0], "no length: the seed's");
    // A shorter run: one epoch is a whole cycle, its schedule valid.
    let one = resolve(Some(1.0), None, Some(Policy::OneCycle)).unwrap();
    assert!((one.schedule.phases.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    one.schedule_config().unwrap();
    assert_eq!(resolve(Some(200.0), Some(vec![41.0, 41.0, 13.0]), None).unwrap().schedule.phases, [41.0, 41.0, 13.0]);
    let err = resolve(Some(10.0), Some(vec![41.0, 41.0, 13.0]), None).unwrap_err().to_string();
    assert_eq!(err, "--phases (phases) add up to 95 epochs, more than --epochs (epochs) 10");
    let tri = resolve(Some(10.0), None, Some(Policy::Triangular)).unwrap();
    assert_eq!(tri.schedule.phases, [41.0, 41.0, 13.0]);
    assert_eq!(stretched_phases(&[2.0, 2.0], 2.0), [1.0, 1.0]);
}

#[test]
fn config_json_is_flat_and_reads_back_as_the_same_config() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.model.depth = 20;
    config.run.threads = Some(2);
    config.schedule.max_lr = MaxLr::Value(0.5);
    config.lr_source = Some("a range test".into());
    config.save(&dir.path().join("config.json")).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(json["depth"], 20);
    assert_eq!(json["max_lr"], 0.5);
    assert_eq!(json["device"], "auto");
    let back = Layer::from_file(&dir.path().join("config.json")).unwrap().resolve().unwrap();
    assert_eq!(back, Config { lr_source: None, ..config }, "lr_source is written, never read");
}

#[test]
fn file_errors_name_the_file_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let err = |json: &str| Layer::from_file(&file(&dir, "bad.json", json)).unwrap_err().to_string();
    let e = err(r#"{"max_lrr": 0.8}"#);
    assert!(e.starts_with("--config ") && e.contains("bad.json") && e.contains("unknown field `max_lrr`"), "{e}");
    let e = err(r#"{"depth": "deep"}"#);
    assert!(e.contains("field `depth`") && e.contains("bad.json"), "{e}");
    let e = err(r#"{"policy": "cosine"}"#);
    assert!(e.contains("field `policy`") && e.contains("unknown policy 'cosine'"), "{e}");
    let e = err(r#"{"max_lr": "nan"}"#);
    assert!(e.contains("field `max_lr`") && e.contains("not a finite number"), "{e}");
    let e = err(r#"{"base_lr": 1e999}"#);
    assert!(e.contains("bad.json") && e.contains("not valid JSON"), "{e}");
    assert!(err("[1]").contains("expected a JSON object"));
}

#[test]
fn a_comment_is_a_string_that_sets_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let with = file(&dir, "with.json", r#"{"comment": "Smith 2018, Table 1: 92.0 %", "depth": 20, "lr_source": "x"}"#);
    let without = file(&dir, "without.json", r#"{"depth": 20}"#);
    assert_eq!(Layer::from_file(&with).unwrap(), Layer::from_file(&without).unwrap());
    let e = Layer::from_file(&file(&dir, "bad.json", r#"{"comment": 3}"#)).unwrap_err().to_string();
    assert!(e.contains("bad.json") && e.contains("field `comment`: expected a string, got 3"), "{e}");
    let e = Layer::from_file(&file(&dir, "typo.json", r#"{"coment": "x"}"#)).unwrap_err().to_string();
    assert!(e.contains("unknown field `coment`") && e.ends_with(", comment"), "{e}");
    // Not a setting: a run's config.json never carries it.
    let json = serde_json::to_value(Layer::from_file(&with).unwrap().resolve().unwrap()).unwrap();
    assert!(json.get("comment").is_none());
}

#[test]
fn finite_numbers_only() {
    assert_eq!(finite("0.5"), Ok(0.5));
    assert_eq!(finite(" 1e-4 "), Ok(1e-4));
    for bad in ["nan", "NaN", "inf", "-inf", "infinity", "1e999"] {
        assert!(finite(bad).unwrap_err().contains("not a finite number"), "{bad}");
    }
    assert!(finite("x").is_err());
    assert!("nan".parse::<MaxLr>().is_err());
    assert_eq!("auto".parse::<MaxLr>().unwrap(), MaxLr::Auto);
    assert_eq!("0.8".parse::<MaxLr>().unwrap(), MaxLr::Value(0.8));
    assert_eq!("runs/x/range_test.json".parse::<MaxLr>().unwrap(), MaxLr::File("runs/x/range_test.json".into()));
}

#[test]
fn validation_names_flag_and_field() {
    let check = |edit: fn(&mut Config)| {
        let mut config = Config::default();
        edit(&mut config);
        config.validate().unwrap_err().to_string()
    };
    assert!(check(|c| c.model.depth = 9).starts_with("--depth (depth) of --arch resnet must be 6n+2"));
    assert!(check(|c| c.model.depth = 6008).starts_with("--depth (depth) must be at most 6002"));
    assert_eq!(check(|c| c.model.batch_size = 0), "--batch-size (batch_size) must be at least 1");
    assert_eq!(check(|c| c.range_test.smooth = 1.5), "--smooth (smooth) must be in [0, 1): 1.5");
    assert_eq!(check(|c| c.range_test.smooth = 1.0), "--smooth (smooth) must be in [0, 1): 1");
    assert!(check(|c| c.range_test.smooth = -0.1).starts_with("--smooth (smooth)"));
    assert_eq!(check(|c| c.range_test.diverge = 1.0), "--diverge (diverge) must be a finite number greater than 1: 1");
    assert!(check(|c| c.range_test.diverge = f64::INFINITY).starts_with("--diverge (diverge)"));
    let few = "--iters (iters) must be at least 5, the points a range test needs to suggest an LR; got 3";
    assert_eq!(check(|c| c.range_test.iters = Some(3)), few);
    assert_eq!(check(|c| c.run.threads = Some(0)), "--threads (threads) must be at least 1");
    assert!(check(|c| c.schedule.phases = vec![1.0]).starts_with("--phases (phases) takes UP,DOWN,TAIL"));
    // The schedule's checks need no steps per epoch, and no stand-in for them.
    assert_eq!(
        check(|c| c.run.epochs = Some(90.0)),
        "--phases (phases) add up to 95 epochs, more than --epochs (epochs) 90"
    );
    let mut config = Config::default();
    config.schedule.max_lr = MaxLr::Auto;
    config.schedule.base_lr = 5.0;
    config.validate().expect("base vs max waits until max is known");
}

#[test]
fn each_network_has_its_default_depth_and_width() {
    use crate::model::arch::Arch;
    let resolve = |arch: Arch, depth: Option<usize>, width: Option<usize>| {
        let mut layer = Layer::default();
        (layer.model.arch, layer.model.depth, layer.model.width) = (Some(arch), depth, width);
        layer.resolve().map(|c| (c.model.depth, c.model.width)).map_err(|e| e.to_string())
    };
    assert_eq!(resolve(Arch::ResNet, None, None), Ok((56, None)));
    assert_eq!(resolve(Arch::Wrn, None, None), Ok((28, Some(10))));
    assert_eq!(resolve(Arch::Wrn, Some(16), Some(8)), Ok((16, Some(8))));
    assert_eq!(resolve(Arch::DenseNet, None, None), Ok((40, None)));
    assert_eq!(resolve(Arch::SmithWide, None, None), Ok((32, Some(4))));
    assert_eq!(resolve(Arch::LeNet5, None, None), Ok((5, None)));
    assert_eq!(resolve(Arch::PreActResNet18, None, None), Ok((18, None)));
    assert!(resolve(Arch::DenseNet, Some(56), None).unwrap_err().contains("3n+4"));
    assert!(resolve(Arch::ResNet, None, Some(2)).unwrap_err().contains("--width (width) applies to"));
    // config.json says which network, and reads back as the same run.
    let config = Layer { model: ModelLayer { arch: Some(Arch::Wrn), ..Default::default() }, ..Default::default() }
        .resolve()
        .unwrap();
    let json = serde_json::to_value(&config).unwrap();
    assert_eq!(
        (json["arch"].as_str(), json["depth"].as_u64(), json["width"].as_u64()),
        (Some("wrn"), Some(28), Some(10))
    );
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "config.json", &json.to_string());
    assert_eq!(Layer::from_file(&path).unwrap().resolve().unwrap(), config);
}

#[test]
fn labels_are_cifar100s_choice() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(&dir, "c.json", r#"{"dataset": "cifar100", "labels": "coarse"}"#);
    let config = Layer::from_file(&path).unwrap().resolve().unwrap();
    assert_eq!((config.data.dataset, config.data.labels), (DatasetKind::Cifar100, Labels::Coarse));
    assert_eq!(Config::default().data.labels, Labels::Fine, "fine labels unless asked");
    for other in [DatasetKind::Cifar10, DatasetKind::Synthetic] {
        let mut layer = Layer::default();
        layer.data.dataset = Some(other);
        layer.data.labels = Some(Labels::Coarse);
        let err = layer.clone().resolve().unwrap_err().to_string();
        assert!(
            err.contains("--labels (labels) coarse needs --dataset cifar100") && err.contains(other.name()),
            "{err}"
        );
        layer.data.labels = Some(Labels::Fine);
        assert!(layer.resolve().is_ok(), "fine is every data set's one label");
    }
    let err = "medium".parse::<Labels>().unwrap_err().to_string();
    assert_eq!(err, "unknown labels 'medium'; valid: fine, coarse");
}
