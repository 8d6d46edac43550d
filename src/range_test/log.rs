//! Where a range test reports: `lr_find.csv`, the progress bar and, with `--tensorboard`, event
//! files (the raw and smoothed loss and the LR against the step); at the end `range_test.json` and
//! `range_test.png`. Rank 0 alone holds them (and the folder's lock); the other ranks get none of
//! them and a silent bar.

use crate::config::Config;
use crate::engine::{Read, Session};
use crate::lr_finder::{LrFindRow, RangeTestReport, RangeTracker, StopReason};
use crate::records::RowWriter;
use crate::run_dir::{NewRun, RunDir, RunLock};
use crate::runtime::progress::Progress;
use crate::tensorboard::EventWriter;
use anyhow::Result;

/// Rank 0's part of a range test's log.
struct Held {
    _lock: RunLock,
    dir: RunDir,
    csv: RowWriter,
    events: Option<EventWriter>,
}

pub(super) struct TestLog {
    held: Option<Held>,
    bar: Progress,
}

impl TestLog {
    /// Rank 0's lock, config.json and files, then the test's first line, once it has them all.
    pub(super) fn start(config: &Config, session: &Session, dir: &RunDir, iters: u64) -> Result<TestLog> {
        let opened = session.on_root(|| {
            let lock = RunLock::new_run(dir, NewRun::RangeTest)?;
            session.recorded(config).save(&dir.config_json())?;
            let csv = RowWriter::create::<LrFindRow>(&dir.lr_find_csv())?;
            let events = config.run.tensorboard.then(|| EventWriter::create(dir.path())).transpose()?;
            Ok(Held { _lock: lock, dir: dir.clone(), csv, events })
        })?;
        let Some(held) = opened else {
            return Ok(TestLog { held: None, bar: Progress::silent() });
        };
        let rt = &config.range_test;
        let mut bar = Progress::new(iters, session.progress());
        bar.line(&format!(
            "range test: lr {} → {} ({}) over {iters} steps, {} depth {}, batch {}, {} → {}",
            rt.start_lr,
            rt.end_lr,
            rt.mode,
            config.model.arch,
            config.model.depth,
            config.model.batch_size,
            session.data().source,
            dir.path().display()
        ));
        Ok(TestLog { held: Some(held), bar })
    }

    /// Feed the (lr, loss) pairs read, in order, to the tracker, logging each recorded row; the
    /// stop reason when one of them ends the test (those after it are dropped).
    pub(super) fn record(&mut self, tracker: &mut RangeTracker, values: Vec<Read<f64>>) -> Result<Option<StopReason>> {
        for (lr, loss, _) in values {
            let recorded = tracker.rows().len();
            let stop = tracker.push(lr, loss);
            if let Some(row) = tracker.rows().get(recorded) {
                self.row(row)?;
            }
            if stop.is_some() {
                return Ok(stop);
            }
        }
        Ok(None)
    }

    fn row(&mut self, row: &LrFindRow) -> Result<()> {
        if let Some(held) = &mut self.held {
            held.csv.write(row)?;
            if let Some(events) = &mut held.events {
                let values = [
                    ("range_test/loss", row.loss),
                    ("range_test/smoothed_loss", row.smoothed_loss),
                    ("range_test/lr", row.lr),
                ];
                events.scalars(row.step, &values)?;
            }
        }
        let msg = format!("lr {:.3e} loss {:.4} smoothed {:.4}", row.lr, row.loss, row.smoothed_loss);
        self.bar.update(row.step + 1, msg);
        Ok(())
    }

    /// A line that is always shown (rank 0 only).
    pub(super) fn line(&mut self, msg: &str) {
        self.bar.line(msg);
    }

    pub(super) fn end_progress(&self) {
        self.bar.finish();
    }

    /// The test's report: range_test.json and the plots of the folder (rank 0).
    pub(super) fn write_report(self, report: &RangeTestReport) -> Result<()> {
        if let Some(held) = &self.held {
            crate::files::write_json(&held.dir.range_test_json(), report)?;
            crate::plot::plot_run(&held.dir)?;
        }
        Ok(())
    }
}
