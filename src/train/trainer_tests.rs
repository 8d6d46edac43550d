//! Several runs on one session, as `grid` and `--verify` make them: each in its own folder, from
//! the same initial weights and data order, and a diverged run is an outcome, not an error.

use super::*;
use crate::config::{DatasetKind, DeviceSpec, Layer, MaxLr};
use crate::optim::schedule::Policy;

/// One-cycle on 64 synthetic images, ResNet-8, batch 32: 2 steps per epoch, 2 epochs.
fn config(max_lr: f64) -> Config {
    let mut layer = Layer::default();
    layer.data.dataset = Some(DatasetKind::Synthetic);
    (layer.data.synthetic_train, layer.data.synthetic_test) = (Some(64), Some(16));
    (layer.model.depth, layer.model.batch_size) = (Some(8), Some(32));
    layer.run.device = Some(DeviceSpec::Cpu);
    layer.schedule.policy = Some(Policy::OneCycle);
    (layer.schedule.base_lr, layer.schedule.max_lr) = (Some(max_lr / 10.0), Some(MaxLr::Value(max_lr)));
    layer.schedule.phases = Some(vec![1.0, 1.0, 0.0]);
    layer.resolve().unwrap()
}

#[test]
fn runs_on_one_session_start_alike_and_a_divergence_is_an_outcome() {
    let _rng = crate::rng_lock();
    let session = Session::alone(&config(0.1)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut first_losses = Vec::new();
    for (name, max_lr) in [("a", 0.1), ("b", 0.2)] {
        let config = config(max_lr);
        let out = RunDir::new(dir.path().join(name));
        let mut trainer = Trainer::open(&config, &session, &out, Open::Fresh).unwrap();
        let outcome = trainer.run().unwrap();
        assert!(matches!(outcome, Outcome::Completed), "{outcome:?}");
        let summary = trainer.finish(&outcome).unwrap();
        assert_eq!((summary.status, summary.steps, summary.epochs), (Status::Completed, 4, 2));
        let steps: Vec<StepRow> = records::read_rows(&out.steps_csv()).unwrap();
        first_losses.push(steps[0].loss);
    }
    // The same weights and the same first batch: the first loss does not depend on the LR.
    assert_eq!(first_losses[0], first_losses[1]);

    let config = config(1e9);
    let out = RunDir::new(dir.path().join("diverged"));
    let mut trainer = Trainer::open(&config, &session, &out, Open::Fresh).unwrap();
    let outcome = trainer.run().unwrap();
    let Outcome::Diverged(d) = &outcome else { panic!("{outcome:?}") };
    assert!(trainer.divergence_error(d).to_string().contains("training diverged"));
    let summary = trainer.finish(&outcome).unwrap();
    assert_eq!(summary.status, Status::Diverged);
    assert!(out.summary_json().is_file());
    // The folder is released: the same folder can be opened again (here: refused as a run).
    let again = Trainer::open(&config, &session, &out, Open::Fresh).err().unwrap();
    assert!(again.to_string().contains("already holds a run"), "{again}");
}
