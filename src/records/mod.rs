//! What a run records: the rows of the CSV files it writes (SPEC: column names and order are a
//! contract), with a writer that flushes every row so that a killed run leaves valid CSV up to its
//! last full row, and (`summary.rs`) how a training run ended, its `summary.json`.
//! `lr_find.csv`, `sweep.csv` and `clr schedule` rows are the pure modules' own points; this file
//! gives them their headers.

pub mod summary;

pub use crate::lr_finder::grid::GridRow;
pub use crate::lr_finder::sweep::SweepEntry as SweepRow;
pub use crate::lr_finder::LrFindRow;
pub use crate::optim::schedule::SchedulePoint as ScheduleRow;
use anyhow::{Context, Result};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::path::Path;
pub use summary::{Distributed, Status, Summary};

/// A CSV row type and its header (the field names, in order).
pub trait Row: Serialize {
    const HEADER: &'static [&'static str];
}

macro_rules! row {
    ($t:ident, $($f:ident),+) => {
        impl Row for $t {
            const HEADER: &'static [&'static str] = &[$(stringify!($f)),+];
        }
    };
}

row!(StepRow, step, epoch, lr, momentum, loss);
row!(EpochRow, epoch, lr, train_loss, train_acc, test_loss, test_acc, seconds);
row!(LrFindRow, step, lr, loss, smoothed_loss);
row!(ScheduleRow, step, epoch, lr, momentum);
row!(GridRow, label, max_lr, base_lr, seed, status, final_test_acc, best_test_acc, final_test_loss, epochs, seconds);
row!(
    SweepRow,
    label,
    value,
    lr_at_min_loss,
    min_loss,
    suggested_lr,
    steepest_lr,
    valley_lr,
    max_lr,
    base_lr,
    diverged_at_lr,
    stop_reason,
    steps,
    favoured,
    error
);

/// `steps.csv`: one row per mini-batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRow {
    pub step: u64,
    pub epoch: u64,
    pub lr: f64,
    pub momentum: f64,
    pub loss: f64,
}

/// `epochs.csv`: one row per epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRow {
    pub epoch: u64,
    pub lr: f64,
    pub train_loss: f64,
    pub train_acc: f64,
    pub test_loss: f64,
    pub test_acc: f64,
    pub seconds: f64,
}

/// Appends rows to a CSV file and flushes after each one.
pub struct RowWriter {
    inner: csv::Writer<File>,
}

impl RowWriter {
    /// A new file with `T`'s header (replacing any file there), flushed at once.
    pub fn create<T: Row>(path: &Path) -> Result<Self> {
        let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut inner = csv::WriterBuilder::new().has_headers(false).from_writer(file);
        inner.write_record(T::HEADER)?;
        inner.flush()?;
        Ok(RowWriter { inner })
    }

    /// Continue an existing file (its header already written).
    pub fn append(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {} to append", path.display()))?;
        let inner = csv::WriterBuilder::new().has_headers(false).from_writer(file);
        Ok(RowWriter { inner })
    }

    pub fn write<T: Row>(&mut self, row: &T) -> Result<()> {
        self.inner.serialize(row)?;
        self.inner.flush()?;
        Ok(())
    }
}

/// Read every row of a CSV file written by [`RowWriter`]; its header must be `T`'s.
pub fn read_rows<T: Row + DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_rows(path, &bytes)
}

/// Like [`read_rows`], but a last line without its newline (a row torn by a killed process)
/// is ignored: every complete row ends with one, since each row is flushed whole. A file without
/// one complete line (killed while its header was written) has no rows.
pub fn read_rows_lenient<T: Row + DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    parse_rows(path, &bytes[..complete])
}

/// The rows of `bytes`, the text of `path`, after a header that must be `T`'s: another file (a
/// different CSV, an edited header) is not read as rows with missing fields, or as none.
fn parse_rows<T: Row + DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<Vec<T>> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let mut reader = csv::Reader::from_reader(bytes);
    let header = reader.headers().with_context(|| format!("{}: bad header row", path.display()))?;
    if !header.iter().eq(T::HEADER.iter().copied()) {
        anyhow::bail!(
            "{}: the header row is `{}`, not `{}`: not a file clr wrote",
            path.display(),
            header.iter().collect::<Vec<_>>().join(","),
            T::HEADER.join(",")
        );
    }
    let mut rows = Vec::new();
    for (i, row) in reader.deserialize().enumerate() {
        rows.push(row.with_context(|| format!("{}: bad row {}", path.display(), i + 2))?);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_written_at_once_and_rows_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("steps.csv");
        let mut w = RowWriter::create::<StepRow>(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "step,epoch,lr,momentum,loss\n");
        let row = StepRow { step: 3, epoch: 0, lr: 0.1, momentum: 0.9, loss: 2.5 };
        w.write(&row).unwrap();
        assert_eq!(read_rows::<StepRow>(&path).unwrap(), vec![row.clone()]);
        drop(w);
        RowWriter::append(&path).unwrap().write(&StepRow { step: 4, ..row.clone() }).unwrap();
        assert_eq!(read_rows::<StepRow>(&path).unwrap().len(), 2);
    }

    #[test]
    fn lenient_reading_drops_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("steps.csv");
        std::fs::write(&path, "step,epoch,lr,momentum,loss\n0,0,0.1,0.9,2.5\n1,0,0.1,0.9,2.4").unwrap();
        let rows: Vec<StepRow> = read_rows_lenient(&path).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(StepRow::HEADER, ["step", "epoch", "lr", "momentum", "loss"]);
        assert_eq!(EpochRow::HEADER.len(), 7);
        // A torn header is no rows; another header is an error naming the file.
        std::fs::write(&path, "step,epoch,l").unwrap();
        assert!(read_rows_lenient::<StepRow>(&path).unwrap().is_empty());
        std::fs::write(&path, "a,b,c\n").unwrap();
        let err = read_rows_lenient::<StepRow>(&path).unwrap_err().to_string();
        assert!(err.contains("steps.csv: the header row is `a,b,c`, not `step,epoch,lr,momentum,loss`"), "{err}");
        assert!(read_rows::<StepRow>(&path).is_err());
    }

    #[test]
    fn sweep_rows_follow_their_header_and_read_back() {
        // The header is listed by hand: serde's own field order must be the same.
        let row = SweepRow {
            label: "momentum=0.9".into(),
            value: 0.9,
            lr_at_min_loss: Some(0.5),
            min_loss: Some(1.25),
            suggested_lr: Some(0.05),
            steepest_lr: None,
            valley_lr: Some(0.1),
            max_lr: Some(0.05),
            base_lr: Some(0.005),
            diverged_at_lr: Some(2.0),
            stop_reason: Some(crate::lr_finder::StopReason::Diverged),
            steps: Some(40),
            favoured: true,
            error: None,
        };
        let json = serde_json::to_value(&row).unwrap();
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        let mut header = SweepRow::HEADER.to_vec();
        header.sort_unstable();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, header);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sweep.csv");
        RowWriter::create::<SweepRow>(&path).unwrap().write(&row).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().nth(1), Some("momentum=0.9,0.9,0.5,1.25,0.05,,0.1,0.05,0.005,2.0,diverged,40,true,"));
        assert_eq!(read_rows::<SweepRow>(&path).unwrap(), vec![row]);
    }
}
