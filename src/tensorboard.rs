//! TensorBoard event files, written as a run goes, so that `tensorboard --logdir runs` shows it live.
//!
//! A file is a sequence of TFRecords (u64 length, masked CRC32C of the length, the data, masked
//! CRC32C of the data), each holding one `Event` proto: `file_version: "brain.Event:2"`, a
//! `session_log { status: START }` at the step the writer starts from, then scalar summaries. Each
//! record goes to the file in one `write` as soon as it is made, so a killed run leaves a file that
//! reads up to its last whole record (readers stop at a torn tail).
//!
//! Resuming: a resumed run opens a NEW file in the same folder whose START is at the step it
//! resumes from. TensorBoard's Python loader (`--load_fast=false`; `EventAccumulator`) takes
//! every START after a run's first as a restart and drops the events already read, from any file,
//! whose step is not below it: the rows a killed run wrote after its last checkpoint. That is why
//! a fresh run writes a START too (at step 0). The Rust data server (the default `--load_fast`)
//! ignores session logs; it drops, per tag, the points at or after a step that is written again,
//! as a resumed run does when it reaches that tag. Readers load a folder's files in name order, so
//! the new file's name must sort after the old ones (see `file_name_secs`).
//!
//! Encoding: prost's derive over the five small messages below (the subset of TensorBoard's protos
//! clr writes): the crate does the varints, wire types and presence rules, and needs no protoc or
//! build step. CRC32C: the `crc` crate's CRC_32_ISCSI (Castagnoli); records are tens of bytes.

use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The subset of TensorBoard's `Event` proto (tensorboard/compat/proto/event.proto) that clr writes.
#[derive(Clone, PartialEq, prost::Message)]
struct Event {
    #[prost(double, tag = "1")]
    wall_time: f64,
    #[prost(int64, tag = "2")]
    step: i64,
    #[prost(oneof = "What", tags = "3, 5, 7")]
    what: Option<What>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum What {
    #[prost(string, tag = "3")]
    FileVersion(String),
    #[prost(message, tag = "5")]
    Summary(Summary),
    // 6 is the deprecated log_message.
    #[prost(message, tag = "7")]
    SessionLog(SessionLog),
}

#[derive(Clone, PartialEq, prost::Message)]
struct Summary {
    #[prost(message, repeated, tag = "1")]
    value: Vec<Value>,
}

/// `Summary.Value`. In the proto `simple_value` sits in a oneof, so it is written even when zero:
/// `optional` gives the same bytes, and without it a 0.0 (an accuracy, a momentum) would vanish.
#[derive(Clone, PartialEq, prost::Message)]
struct Value {
    #[prost(string, tag = "1")]
    tag: String,
    #[prost(float, optional, tag = "2")]
    simple_value: Option<f32>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SessionLog {
    #[prost(enumeration = "SessionStatus", tag = "1")]
    status: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
enum SessionStatus {
    Unspecified = 0,
    Start = 1,
}

const FILE_PREFIX: &str = "events.out.tfevents.";
const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// TFRecord's masked CRC32C: a CRC of data that itself holds CRCs is weak, so it is rotated and offset.
fn masked_crc(data: &[u8]) -> u32 {
    let crc = CRC32C.checksum(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// One TFRecord around `data`.
fn frame(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut rec = Vec::with_capacity(data.len() + 16);
    rec.extend_from_slice(&len);
    rec.extend_from_slice(&masked_crc(&len).to_le_bytes());
    rec.extend_from_slice(data);
    rec.extend_from_slice(&masked_crc(data).to_le_bytes());
    rec
}

fn wall_clock() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// The seconds in a new file's name: now, or one past the newest event file already in `dir` if
/// that is not older (a resume within the same second, a clock that went back), because readers
/// load a folder's files in name order and a resumed file must come after the file it supersedes.
fn file_name_secs(dir: &Path, now: u64) -> Result<u64> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    let newest = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_prefix(FILE_PREFIX)?.split('.').next()?.parse::<u64>().ok()
        })
        .max();
    Ok(match newest {
        Some(n) if n >= now => n + 1,
        _ => now,
    })
}

/// Writes one event file: `create` for a new run, `resume` for a run continued from a checkpoint.
pub struct EventWriter {
    file: File,
    path: PathBuf,
    clock: fn() -> f64,
}

impl EventWriter {
    /// A new event file in `dir` (created if missing) for a run that starts at step 0, named as
    /// TensorBoard and PyTorch name theirs: `events.out.tfevents.<unix secs>.<hostname>.<pid>.clr`.
    pub fn create(dir: &Path) -> Result<Self> {
        Self::open(dir, 0, wall_clock)
    }

    /// As `create`, for a run resumed at `step`, the first step it writes again: TensorBoard
    /// discards the events of the folder's earlier files at `step` and after.
    pub fn resume(dir: &Path, step: u64) -> Result<Self> {
        Self::open(dir, step, wall_clock)
    }

    fn open(dir: &Path, start_step: u64, clock: fn() -> f64) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let secs = file_name_secs(dir, wall_clock() as u64)?;
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        let name = format!("{FILE_PREFIX}{secs:010}.{host}.{}.clr", std::process::id());
        let path = dir.join(name);
        // create_new: two writers racing for one name must not interleave their records.
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("creating TensorBoard event file {}", path.display()))?;
        let mut writer = EventWriter { file, path, clock };
        writer.write(0, What::FileVersion("brain.Event:2".into()))?;
        let start = SessionLog { status: SessionStatus::Start as i32 };
        writer.write(start_step, What::SessionLog(start))?;
        Ok(writer)
    }

    /// The event file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One scalar; TensorBoard stores it as a float32.
    pub fn scalar(&mut self, tag: &str, step: u64, value: f64) -> Result<()> {
        self.scalars(step, &[(tag, value)])
    }

    /// Several scalars of one step in one event (one record, one write). Nothing for an empty list.
    pub fn scalars(&mut self, step: u64, values: &[(&str, f64)]) -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        let value =
            values.iter().map(|&(tag, v)| Value { tag: tag.to_string(), simple_value: Some(v as f32) }).collect();
        self.write(step, What::Summary(Summary { value }))
    }

    fn write(&mut self, step: u64, what: What) -> Result<()> {
        let step = i64::try_from(step).with_context(|| format!("TensorBoard step {step} exceeds i64"))?;
        let event = Event { wall_time: (self.clock)(), step, what: Some(what) };
        let record = frame(&prost::Message::encode_to_vec(&event));
        // One write_all of the whole record, no buffering: a kill leaves whole records only,
        // short of a torn last one, which readers treat as not yet written.
        self.file.write_all(&record).with_context(|| format!("writing {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tensorboard/reference.tfevents");
    /// The wall time of every event in the fixture (scripts/gen_tensorboard_fixture.py).
    fn fixture_clock() -> f64 {
        1_700_000_000.25
    }

    /// Split a file into its records' data, checking both CRCs of each; a torn tail is left out.
    fn records(bytes: &[u8]) -> Vec<&[u8]> {
        let (mut out, mut at) = (Vec::new(), 0);
        while at + 12 <= bytes.len() {
            let len_bytes = &bytes[at..at + 8];
            let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
            assert_eq!(masked_crc(len_bytes).to_le_bytes(), bytes[at + 8..at + 12], "length CRC at {at}");
            let end = at + 12 + len + 4;
            if end > bytes.len() {
                break;
            }
            let data = &bytes[at + 12..at + 12 + len];
            assert_eq!(masked_crc(data).to_le_bytes(), bytes[end - 4..end], "data CRC at {at}");
            out.push(data);
            at = end;
        }
        out
    }

    fn events(path: &Path) -> Vec<Event> {
        let bytes = std::fs::read(path).unwrap();
        records(&bytes).into_iter().map(|d| Event::decode(d).unwrap()).collect()
    }

    #[test]
    fn crc32c_and_its_mask_match_known_vectors() {
        // The CRC-32C check value, and masked values from TensorBoard's masked_crc32c.
        assert_eq!(CRC32C.checksum(b"123456789"), 0xe306_9283);
        assert_eq!(masked_crc(b""), 0xa282_ead8);
        assert_eq!(masked_crc(b"123456789"), 0xc78a_b0e5);
        assert_eq!(masked_crc(&24u64.to_le_bytes()), 0x224b_7fa3);
    }

    #[test]
    fn frame_is_length_crc_data_crc() {
        let rec = frame(b"abc");
        assert_eq!(rec.len(), 8 + 4 + 3 + 4);
        assert_eq!(rec[..8], 3u64.to_le_bytes());
        assert_eq!(rec[8..12], masked_crc(&3u64.to_le_bytes()).to_le_bytes());
        assert_eq!(&rec[12..15], b"abc");
        assert_eq!(rec[15..], masked_crc(b"abc").to_le_bytes());
    }

    #[test]
    fn writes_the_bytes_tensorboards_own_writer_writes() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::open(dir.path(), 5, fixture_clock).unwrap();
        w.scalar("lr", 0, 0.0).unwrap();
        w.scalar("train/loss", 6, std::f64::consts::LN_10).unwrap();
        let epoch =
            [("epoch/train_loss", 1.25), ("epoch/test_acc", 0.5), ("momentum", -0.95), ("range/loss", f64::INFINITY)];
        w.scalars(300_000, &epoch).unwrap();
        let expected = std::fs::read(FIXTURE).unwrap();
        let written = std::fs::read(w.path()).unwrap();
        assert_eq!(written, expected, "bytes differ from {FIXTURE}");
        assert_eq!(records(&written).len(), 5);
    }

    #[test]
    fn each_record_is_in_the_file_when_the_call_returns() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(dir.path()).unwrap();
        assert_eq!(events(w.path()).len(), 2, "file_version and START are on disk at once");
        for step in 0..3 {
            w.scalar("loss", step, 1.0 / (step + 1) as f64).unwrap();
            // Read through another handle while the writer is still open.
            let got = events(w.path());
            assert_eq!(got.len(), step as usize + 3);
            let last = got.last().unwrap();
            assert_eq!(last.step, step as i64);
            let Some(What::Summary(s)) = &last.what else { panic!("not a summary: {last:?}") };
            assert_eq!(s.value, vec![Value { tag: "loss".into(), simple_value: Some(1.0 / (step + 1) as f32) }]);
        }
        let head = &events(w.path())[..2];
        assert_eq!(head[0].what, Some(What::FileVersion("brain.Event:2".into())));
        let start = Some(What::SessionLog(SessionLog { status: SessionStatus::Start as i32 }));
        assert_eq!((head[1].step, &head[1].what), (0, &start), "a fresh run starts at step 0");
    }

    #[test]
    fn resume_writes_session_start_at_the_step() {
        let dir = tempfile::tempdir().unwrap();
        let w = EventWriter::resume(dir.path(), 1234).unwrap();
        let got = events(w.path());
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].step, 1234);
        assert_eq!(got[1].what, Some(What::SessionLog(SessionLog { status: SessionStatus::Start as i32 })));
        assert!((got[1].wall_time - wall_clock()).abs() < 60.0, "wall time {}", got[1].wall_time);
    }

    #[test]
    fn empty_scalars_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(dir.path()).unwrap();
        w.scalars(7, &[]).unwrap();
        assert_eq!(events(w.path()).len(), 2);
    }

    #[test]
    fn file_is_named_as_tensorboard_names_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let before = wall_clock() as u64;
        let w = EventWriter::create(&dir.path().join("new/sub")).unwrap();
        let name = w.path().file_name().unwrap().to_str().unwrap().to_string();
        let rest = name.strip_prefix(FILE_PREFIX).unwrap();
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        let tail = format!(".{host}.{}.clr", std::process::id());
        let secs = rest.strip_suffix(&tail).unwrap_or_else(|| panic!("{name} does not end in {tail}"));
        assert_eq!(secs.len(), 10, "{name}");
        let secs: u64 = secs.parse().unwrap();
        assert!(secs >= before && secs <= wall_clock() as u64 + 1, "{secs} vs {before}");
    }

    #[test]
    fn a_new_file_sorts_after_every_file_already_there() {
        let dir = tempfile::tempdir().unwrap();
        // Back to back in one second: the second name must still sort later.
        let first = EventWriter::create(dir.path()).unwrap();
        let second = EventWriter::resume(dir.path(), 10).unwrap();
        assert!(second.path() > first.path(), "{:?} !> {:?}", second.path(), first.path());
        // A file from a clock that ran ahead.
        let ahead = wall_clock() as u64 + 1000;
        std::fs::write(dir.path().join(format!("{FILE_PREFIX}{ahead:010}.other.1.clr")), b"").unwrap();
        let third = EventWriter::resume(dir.path(), 20).unwrap();
        let name = third.path().file_name().unwrap().to_str().unwrap().to_string();
        assert!(name.starts_with(&format!("{FILE_PREFIX}{:010}.", ahead + 1)), "{name}");
    }

    #[test]
    fn a_folder_that_cannot_be_made_is_a_one_line_error() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"x").unwrap();
        let err = format!("{:#}", EventWriter::create(&blocker.join("run")).err().unwrap());
        assert!(err.contains(&blocker.display().to_string()) && !err.contains('\n'), "{err}");
    }
}
