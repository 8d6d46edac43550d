#!/usr/bin/env python3
"""Write the TensorBoard event-file fixture that src/tensorboard.rs is tested against, byte for byte.

The records are framed by TensorBoard's own RecordWriter (u64 length, masked CRC32C of the length,
data, masked CRC32C of the data) around Event protos serialized by its own compat protos: the
file_version event, a session_log START (what a resumed run writes), scalars with a zero step and
a zero value (presence of simple_value must survive), a negative value, an infinity, and one event
holding several tags. Every event carries WALL_TIME, the fixed clock the Rust test uses.

Writes tests/fixtures/tensorboard/reference.tfevents. No arguments; deterministic. Run with the
project's Python: .venv/bin/python scripts/gen_tensorboard_fixture.py
"""

import io
import math
from pathlib import Path

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "tensorboard" / "reference.tfevents"
# Exactly representable, so that the double is the same whichever side computes it.
WALL_TIME = 1700000000.25


def scalars(step, pairs):
    values = [summary_pb2.Summary.Value(tag=tag, simple_value=value) for tag, value in pairs]
    return event_pb2.Event(wall_time=WALL_TIME, step=step, summary=summary_pb2.Summary(value=values))


EVENTS = [
    event_pb2.Event(wall_time=WALL_TIME, file_version="brain.Event:2"),
    event_pb2.Event(wall_time=WALL_TIME, step=5, session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START)),
    scalars(0, [("lr", 0.0)]),
    scalars(6, [("train/loss", math.log(10))]),  # a 10-class initial loss
    scalars(300000, [("epoch/train_loss", 1.25), ("epoch/test_acc", 0.5), ("momentum", -0.95), ("range/loss", float("inf"))]),
]


def main():
    buf = io.BytesIO()
    writer = RecordWriter(buf)
    for event in EVENTS:
        writer.write(event.SerializeToString())
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(buf.getvalue())
    print(f"wrote {OUT} ({len(buf.getvalue())} bytes, {len(EVENTS)} records)")


if __name__ == "__main__":
    main()
