//! `clr compare` on three tiny real runs of different policies: the table on stdout and in
//! `--csv` against the runs' own epochs.csv (exactly), the PNG, a run still in progress, and the
//! errors.

mod common;

use clr::records::{read_rows, EpochRow, Row};
use common::{assert_png, cifar, one_line_error, run, stdout, Cmd};
use std::path::{Path, PathBuf};

/// 512 training images, 100 test images; depth 8, batch 32: 16 steps per epoch, 4 epochs a run.
fn runs(tmp: &Path) -> Vec<PathBuf> {
    let data = tmp.join("data");
    cifar::write_learnable(&data, 2, 256, 100, 3);
    let policies: [&[&str]; 3] = [
        &["--policy", "one-cycle", "--base-lr", "0.04", "--max-lr", "0.4", "--phases", "2,1,1"],
        &["--policy", "step", "--base-lr", "0.1", "--epochs", "4", "--milestones", "2,3"],
        // So small an LR that it learns little: a run that misses the target.
        &["--policy", "triangular", "--base-lr", "0.0001", "--max-lr", "0.0002", "--step-size", "1", "--epochs", "4"],
    ];
    let names = ["one-cycle", "step", "slow"];
    names
        .iter()
        .zip(policies)
        .map(|(name, args)| {
            let out = tmp.join(name);
            Cmd::tiny("train").data(&data).out(&out).args(args).ok();
            out
        })
        .collect()
}

/// What the table must say about a run, worked out here from its epochs.csv.
#[derive(Debug, PartialEq)]
struct Expected {
    epochs: u64,
    best: f64,
    last: f64,
    to_target: Option<(u64, f64)>,
    seconds: f64,
}

fn expected(dir: &Path, target: f64) -> Expected {
    let rows: Vec<EpochRow> = read_rows(&dir.join("epochs.csv")).unwrap();
    let mut seconds = 0.0;
    let mut to_target = None;
    for r in &rows {
        seconds += r.seconds;
        if to_target.is_none() && r.test_acc >= target {
            to_target = Some((r.epoch + 1, seconds));
        }
    }
    let best = rows.iter().map(|r| r.test_acc).fold(f64::MIN, f64::max);
    Expected { epochs: rows.len() as u64, best, last: rows.last().unwrap().test_acc, to_target, seconds }
}

fn compare(dirs: &[PathBuf], extra: &[&str]) -> std::process::Output {
    let mut cmd = Cmd::new("compare").args(dirs.iter().map(|d| d.display().to_string()));
    cmd = cmd.args(extra);
    cmd.ok()
}

/// The CSV row of `run`: every field as text.
fn csv_rows(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().iter().map(str::to_string).collect();
    let rows = reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();
    (header, rows)
}

fn opt<T: std::str::FromStr>(s: &str) -> Option<T>
where
    T::Err: std::fmt::Debug,
{
    (!s.is_empty()).then(|| s.parse().unwrap())
}

#[test]
fn the_table_the_csv_and_the_png_agree_with_the_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = runs(tmp.path());
    // A target the best run reaches and the slow one does not.
    let best_of = |d: &PathBuf| expected(d, 1.0).best;
    let target = best_of(&dirs[0]).max(best_of(&dirs[1]));
    assert!(best_of(&dirs[2]) < target, "the slow run should miss {target}");
    let (png, csv) = (tmp.path().join("cmp.png"), tmp.path().join("cmp.csv"));
    let target_text = target.to_string();
    let out =
        compare(&dirs, &["--out", png.to_str().unwrap(), "--csv", csv.to_str().unwrap(), "--target", &target_text]);
    let text = stdout(&out);
    println!("{text}");

    let (header, rows) = csv_rows(&csv);
    let columns =
        "run,policy,epochs,best_test_acc,final_test_acc,target,epochs_to_target,seconds_to_target,seconds,status";
    assert_eq!(header.join(","), columns);
    assert_eq!(rows.len(), 3);
    for ((dir, row), policy) in dirs.iter().zip(&rows).zip(["one-cycle", "step", "triangular"]) {
        let want = expected(dir, target);
        let name = dir.file_name().unwrap().to_str().unwrap();
        assert_eq!((row[0].as_str(), row[1].as_str(), row[9].as_str()), (name, policy, "completed"));
        let got = Expected {
            epochs: row[2].parse().unwrap(),
            best: row[3].parse().unwrap(),
            last: row[4].parse().unwrap(),
            to_target: opt::<u64>(&row[6]).zip(opt::<f64>(&row[7])),
            seconds: row[8].parse().unwrap(),
        };
        assert_eq!(got, want, "{name}: the CSV row, to the last bit");
        assert_eq!(row[5].parse::<f64>().unwrap(), target);
        assert_eq!(row[6].is_empty(), row[7].is_empty());

        // The terminal's line: the same numbers, rounded.
        let line = text.lines().find(|l| l.split_whitespace().next() == Some(name)).unwrap();
        let cells: Vec<&str> = line.split_whitespace().collect();
        let (epochs, secs) = match want.to_target {
            Some((e, s)) => (e.to_string(), format!("{s:.1}")),
            None => ("-".into(), "-".into()),
        };
        let wanted = [
            name.to_string(),
            policy.to_string(),
            want.epochs.to_string(),
            format!("{:.4}", want.best),
            format!("{:.4}", want.last),
            epochs,
            secs,
            format!("{:.1}", want.seconds),
            "completed".to_string(),
        ];
        assert_eq!(cells, wanted, "{name}: the table's line");
    }
    assert!(!rows[0][6].is_empty() || !rows[1][6].is_empty(), "the best run reaches the target");
    assert!(rows[2][6].is_empty(), "the slow run never reaches it");
    assert!(text.lines().next().unwrap().contains(&format!("epochs to {target}")));
    assert!(text.contains(&format!("wrote {}", png.display())) && text.contains(&format!("wrote {}", csv.display())));

    assert_eq!(assert_png(&png), (1600, 1500));
    // Each run's curves are drawn, in its own colour (matplotlib's first three).
    let img = image::open(&png).unwrap().to_rgb8();
    for (colour, run) in [[31, 119, 180], [255, 127, 14], [44, 160, 44]].iter().zip(&dirs) {
        let n = img.pixels().filter(|p| p.0 == *colour).count();
        assert!(n > 500, "{}: {n} pixels of its colour {colour:?}", run.display());
    }
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn a_run_in_progress_and_the_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    cifar::write_learnable(&data, 1, 128, 50, 4);
    let done = tmp.path().join("done");
    Cmd::tiny("train").data(&data).out(&done).args(["--policy", "fixed", "--base-lr", "0.05", "--epochs", "2"]).ok();

    // A run still going: one full row, a torn one, no summary.json yet.
    let going = tmp.path().join("going");
    std::fs::create_dir(&going).unwrap();
    std::fs::copy(done.join("config.json"), going.join("config.json")).unwrap();
    let csv = std::fs::read_to_string(done.join("epochs.csv")).unwrap();
    let mut lines = csv.lines();
    let (head, first, second) = (lines.next().unwrap(), lines.next().unwrap(), lines.next().unwrap());
    std::fs::write(going.join("epochs.csv"), format!("{head}\n{first}\n{}", &second[..second.len() / 2])).unwrap();
    let png = tmp.path().join("c.png");
    let args = ["--out", png.to_str().unwrap(), "--target", "0.5"];
    let text = stdout(&compare(&[done.clone(), going.clone()], &args));
    let line = text.lines().find(|l| l.starts_with("going")).unwrap();
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!((cells[1], cells[2], cells[8]), ("fixed", "1", "-"), "{line}");
    assert_png(&png);

    let show = |d: &Path| d.display().to_string();
    let not_a_folder = tmp.path().join("nothing");
    let e = one_line_error(&run(&["compare", &show(&done), &show(&not_a_folder)]), 2);
    assert!(e.contains(&show(&not_a_folder)) && e.contains("not a folder"), "{e}");
    let e = one_line_error(&run(&["compare", &show(&done.join("epochs.csv"))]), 2);
    assert!(e.contains("epochs.csv") && e.contains("not a folder"), "{e}");
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = one_line_error(&run(&["compare", &show(&done), &show(&empty)]), 2);
    assert!(e.contains(&show(&empty)) && e.contains("no epochs.csv"), "{e}");
    let e = one_line_error(&run(&["compare", &show(&done), "--target", "90"]), 2);
    assert!(e.contains("--target") && e.contains("90"), "{e}");
    let e = one_line_error(&run(&["compare"]), 2);
    assert!(e.contains("RUN_DIR"), "{e}");
}

#[test]
fn impossible_values_and_foreign_files_are_refused_naming_the_file_and_the_row() {
    // Shown as "final acc inf, seconds to 0.9 -4.0" and "0 epochs … completed", exit 0.
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    std::fs::write(run_dir.join("summary.json"), r#"{"status": "completed"}"#).unwrap();
    let head = EpochRow::HEADER.join(",");
    let good = "0,0.1,1.5,0.5,1.25,0.5,1";
    let png = tmp.path().join("c.png");
    let cases = [
        (format!("{head}\n{good}\n1,nan,inf,-inf,nan,1e999,-5\n"), "row 2 (line 3) has lr NaN"),
        (format!("{head}\n{good}\n1,0.1,1,0.5,1,1e999,2\n"), "row 2 (line 3) has test_acc inf"),
        (format!("{head}\n{good}\n1,0.1,1,0.5,1,0.5,-5\n"), "row 2 (line 3) has seconds -5"),
        (format!("{head}\n{good}\n3,0.1,1,0.5,1,0.5,2\n"), "row 2 (line 3) has epoch 3"),
        (format!("{head}\n1.5,0.1,1,0.5,1,0.5,2\n"), "bad row 2"),
        (String::new(), "epochs.csv is empty"),
        ("epoch,accuracy\n".to_string(), "the header row is `epoch,accuracy`"),
    ];
    for (text, want) in cases {
        std::fs::write(run_dir.join("epochs.csv"), &text).unwrap();
        let out = run(&["compare", run_dir.to_str().unwrap(), "--out", png.to_str().unwrap()]);
        let e = one_line_error(&out, 2);
        assert!(e.contains("epochs.csv") && e.contains(want), "{text:?}: {e}");
    }
    std::fs::write(run_dir.join("epochs.csv"), format!("{head}\n{good}\n")).unwrap();
    std::fs::write(run_dir.join("steps.csv"), "step,epoch,lr,momentum,loss\n0,0,inf,0.9,2\n").unwrap();
    let e = one_line_error(&run(&["compare", run_dir.to_str().unwrap(), "--out", png.to_str().unwrap()]), 2);
    assert!(e.contains("steps.csv: row 1 (line 2)"), "{e}");
    assert!(!png.exists(), "nothing written");
}
