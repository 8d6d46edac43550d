//! Reads a run folder's TensorBoard event files back with the `tensorboard` Python package (from
//! the virtual environment that scripts/setup.sh makes, linked as `.venv`): every file in name
//! order, CRCs checked, orphaned events purged. Through both of its Python loaders, which must
//! agree: the one `tensorboard --load_fast=false` serves from (plugin_event_accumulator) and the
//! older event_accumulator.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// One point of a scalar time series, as TensorBoard holds it (a float32 value).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub step: i64,
    pub value: f32,
    pub wall_time: f64,
}

/// Prints {tag: [[step, value as float32 bits, wall_time], ...]} from each loader; the bits keep
/// NaN and infinities exact through JSON. Size guidance 0 keeps every point, not a sample.
const SCRIPT: &str = r#"
import json, struct, sys
from tensorboard.backend.event_processing import event_accumulator as ea, plugin_event_accumulator as pea
from tensorboard.util import tensor_util
bits = lambda v: struct.unpack("<I", struct.pack("<f", float(v)))[0]
served = pea.EventAccumulator(sys.argv[1], size_guidance={pea.TENSORS: 0})
served.Reload()
is_scalar = lambda t: served.SummaryMetadata(t).plugin_data.plugin_name == "scalars"
value = lambda e: tensor_util.make_ndarray(e.tensor_proto).item()
legacy = ea.EventAccumulator(sys.argv[1], size_guidance={ea.SCALARS: 0})
legacy.Reload()
print(json.dumps({
    "served": {t: [[e.step, bits(value(e)), e.wall_time] for e in served.Tensors(t)] for t in served.Tags()["tensors"] if is_scalar(t)},
    "legacy": {t: [[e.step, bits(e.value), e.wall_time] for e in legacy.Scalars(t)] for t in legacy.Tags()["scalars"]},
}))
"#;

/// The project's Python (`.venv/bin/python` at the repository root).
pub fn python() -> PathBuf {
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(py.exists(), "{} is missing: run scripts/setup.sh", py.display());
    py
}

/// Every scalar time series in the event files of `dir`, by tag, in the order TensorBoard keeps.
pub fn read_scalars(dir: &Path) -> BTreeMap<String, Vec<Point>> {
    // Files, not pipes: a long series would fill a pipe that nobody reads while we poll.
    let (stdout, stderr) = (tempfile::tempfile().unwrap(), tempfile::tempfile().unwrap());
    let mut child = Command::new(python())
        .arg("-c")
        .arg(SCRIPT)
        .arg(dir)
        .stdout(stdout.try_clone().unwrap())
        .stderr(stderr.try_clone().unwrap())
        .spawn()
        .expect("start python");
    // Bounded: a hung interpreter fails the test instead of stalling the suite.
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for python") {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            panic!("reading {} with tensorboard took over 120 s", dir.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (read_all(stdout), read_all(stderr));
    assert!(status.success(), "tensorboard could not read {}:\n{stderr}", dir.display());
    type Series = BTreeMap<String, Vec<(i64, u32, f64)>>;
    let mut json: BTreeMap<String, Series> =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    let (served, legacy) = (json.remove("served").unwrap(), json.remove("legacy").unwrap());
    assert_eq!(served, legacy, "TensorBoard's two loaders disagree on {}", dir.display());
    served
        .into_iter()
        .map(|(tag, pts)| {
            let pts =
                pts.into_iter().map(|(step, bits, wall_time)| Point { step, value: f32::from_bits(bits), wall_time });
            (tag, pts.collect())
        })
        .collect()
}

fn read_all(mut file: std::fs::File) -> String {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).and_then(|_| file.read_to_string(&mut text)).expect("read python output");
    text
}

/// The (step, value) pairs of one tag; panics naming the tags there are when it is absent.
pub fn series(scalars: &BTreeMap<String, Vec<Point>>, tag: &str) -> Vec<(i64, f32)> {
    let pts = scalars.get(tag).unwrap_or_else(|| panic!("no tag {tag:?}; tags: {:?}", scalars.keys()));
    pts.iter().map(|p| (p.step, p.value)).collect()
}
