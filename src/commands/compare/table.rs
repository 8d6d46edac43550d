//! The table of `clr compare`: one row per run, worked out from its `epochs.csv` rows alone (a
//! pure function, so that every number can be checked exactly), and its text for the terminal.

use crate::records::EpochRow;
use serde::Serialize;

/// One run's line of the table; also the row of `--csv` (field names = CSV columns, `None` = an
/// empty field).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableRow {
    pub run: String,
    pub policy: String,
    /// Epochs completed (rows of epochs.csv).
    pub epochs: u64,
    pub best_test_acc: Option<f64>,
    pub final_test_acc: Option<f64>,
    pub target: f64,
    /// Epochs trained when the test accuracy first reached `target` (epoch numbers count from
    /// 0, so this is that row's `epoch + 1`).
    pub epochs_to_target: Option<u64>,
    /// Training seconds up to the end of that epoch.
    pub seconds_to_target: Option<f64>,
    /// Training seconds of the epochs completed (the sum of epochs.csv's `seconds`).
    pub seconds: f64,
    /// From summary.json: completed, interrupted, diverged; None without one (a run in progress).
    pub status: Option<String>,
}

/// What the table needs to know about a run besides its epochs.
#[derive(Debug, Clone, PartialEq)]
pub struct TableFacts {
    pub run: String,
    pub policy: String,
    pub status: Option<String>,
}

/// The row of one run: best and final test accuracy, when it first reached `target` (test
/// accuracy >= target), and its training seconds, the running sum of the epochs' seconds.
pub fn table_row(facts: &TableFacts, epochs: &[EpochRow], target: f64) -> TableRow {
    let mut seconds = 0.0;
    let mut reached = None;
    for row in epochs {
        seconds += row.seconds;
        if reached.is_none() && row.test_acc >= target {
            reached = Some((row.epoch + 1, seconds));
        }
    }
    TableRow {
        run: facts.run.clone(),
        policy: facts.policy.clone(),
        epochs: epochs.len() as u64,
        best_test_acc: epochs.iter().map(|r| r.test_acc).filter(|a| a.is_finite()).reduce(f64::max),
        final_test_acc: epochs.last().map(|r| r.test_acc),
        target,
        epochs_to_target: reached.map(|r| r.0),
        seconds_to_target: reached.map(|r| r.1),
        seconds,
        status: facts.status.clone(),
    }
}

/// The table as aligned text lines: a header, then one line per run; "-" where a value is absent
/// (a target never reached, a run without a completed epoch or without summary.json).
pub fn table_lines(rows: &[TableRow], target: f64) -> Vec<String> {
    let header: Vec<String> = [
        "run".to_string(),
        "policy".into(),
        "epochs".into(),
        "best acc".into(),
        "final acc".into(),
        format!("epochs to {target}"),
        format!("seconds to {target}"),
        "seconds".into(),
        "status".into(),
    ]
    .into();
    let dash = || "-".to_string();
    let acc = |a: Option<f64>| a.map_or_else(dash, |a| format!("{a:.4}"));
    let secs = |s: f64| format!("{s:.1}");
    let mut cells = vec![header];
    for r in rows {
        cells.push(vec![
            r.run.clone(),
            r.policy.clone(),
            r.epochs.to_string(),
            acc(r.best_test_acc),
            acc(r.final_test_acc),
            r.epochs_to_target.map_or_else(dash, |e| e.to_string()),
            r.seconds_to_target.map_or_else(dash, secs),
            secs(r.seconds),
            r.status.clone().unwrap_or_else(dash),
        ]);
    }
    align(&cells)
}

/// Columns padded to their widest cell: text (the first two and the last) to the left, numbers
/// to the right.
fn align(cells: &[Vec<String>]) -> Vec<String> {
    let columns = cells.first().map_or(0, Vec::len);
    let widths: Vec<usize> =
        (0..columns).map(|c| cells.iter().map(|row| row[c].chars().count()).max().unwrap_or(0)).collect();
    cells
        .iter()
        .map(|row| {
            let padded: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(c, cell)| {
                    let w = widths[c];
                    if c < 2 || c + 1 == columns {
                        format!("{cell:<w$}")
                    } else {
                        format!("{cell:>w$}")
                    }
                })
                .collect();
            padded.join("  ").trim_end().to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(epoch: u64, test_acc: f64, seconds: f64) -> EpochRow {
        EpochRow { epoch, lr: 0.1, train_loss: 1.0, train_acc: 0.5, test_loss: 1.0, test_acc, seconds }
    }

    fn facts(run: &str) -> TableFacts {
        TableFacts { run: run.into(), policy: "one-cycle".into(), status: Some("completed".into()) }
    }

    #[test]
    fn best_final_first_epoch_at_target_and_seconds() {
        let rows = [epoch(0, 0.5, 1.5), epoch(1, 0.91, 2.0), epoch(2, 0.89, 2.25), epoch(3, 0.93, 2.5)];
        let row = table_row(&facts("a"), &rows, 0.9);
        assert_eq!(
            row,
            TableRow {
                run: "a".into(),
                policy: "one-cycle".into(),
                epochs: 4,
                best_test_acc: Some(0.93),
                final_test_acc: Some(0.93),
                target: 0.9,
                epochs_to_target: Some(2),
                seconds_to_target: Some(3.5),
                seconds: 8.25,
                status: Some("completed".into()),
            }
        );
        // Reached exactly counts; never reached is None.
        assert_eq!(table_row(&facts("a"), &rows, 0.93).epochs_to_target, Some(4));
        assert_eq!(table_row(&facts("a"), &rows, 0.93).seconds_to_target, Some(8.25));
        let never = table_row(&facts("a"), &rows, 0.95);
        assert_eq!((never.epochs_to_target, never.seconds_to_target), (None, None));
    }

    #[test]
    fn a_run_without_epochs_has_no_accuracies() {
        let row = table_row(&TableFacts { status: None, ..facts("b") }, &[], 0.9);
        assert_eq!((row.epochs, row.best_test_acc, row.final_test_acc, row.seconds), (0, None, None, 0.0));
        let lines = table_lines(&[row], 0.9);
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["b", "one-cycle", "0", "-", "-", "-", "-", "0.0", "-"]
        );
    }

    #[test]
    fn the_text_is_aligned() {
        let rows = [epoch(0, 0.5, 1.5), epoch(1, 0.91, 20.0)];
        let lines = table_lines(
            &[table_row(&facts("one-cycle-long-name"), &rows, 0.9), table_row(&facts("s"), &rows[..1], 0.9)],
            0.9,
        );
        assert_eq!(
            lines,
            [
                "run                  policy     epochs  best acc  final acc  epochs to 0.9  seconds to 0.9  seconds  status",
                "one-cycle-long-name  one-cycle       2    0.9100     0.9100              2            21.5     21.5  completed",
                "s                    one-cycle       1    0.5000     0.5000              -               -      1.5  completed",
            ]
        );
    }
}
