//! What a run's config.json says now against what its checkpoint was trained with (the resolved
//! config the checkpoint records): `--resume` refuses a change that the checkpoint cannot follow
//! and says which other settings changed, instead of using them silently.

use super::checkpoint::RunState;
use crate::config::Config;
use crate::run_dir::RunDir;
use anyhow::{bail, Result};
use serde_json::{Map, Value};

/// Whether the run in `out`, checkpointed at `state`, can continue with `config` (its config.json
/// now), data of `classes` classes and `spe` steps per epoch. Refuses what the checkpoint cannot
/// follow, naming it; returns the note to print once the run continues, when other settings
/// changed (the checkpoint then records the new config).
pub fn check(dir: &RunDir, state: &RunState, config: &Config, classes: usize, spe: u64) -> Result<Option<String>> {
    let (out, file) = (dir.path(), dir.config_json());
    let now = serde_json::to_value(config)?;
    let changes = state.config.as_ref().map(|old| between(old, &now)).unwrap_or_default();
    if !changes.refused.is_empty() {
        crate::usage!(
            "{} was edited after the run started: {} cannot change on --resume (the checkpoint holds that model, \
             data and steps); restore it, or start a new run",
            file.display(),
            changes.refused.join(", ")
        );
    }
    if state.num_classes != classes {
        crate::usage!(
            "{}: the model has {} outputs, but this data has {classes} classes: resume with the data set and \
             --labels it was trained with",
            out.display(),
            state.num_classes,
        );
    }
    let net = (state.arch, state.depth, state.width);
    if net != (config.model.arch, config.model.depth, config.model.width) {
        crate::usage!(
            "{}: the checkpoint holds --arch {} --depth {}{}, but {} asks for --arch {} --depth {}: the network \
             cannot change on --resume",
            out.display(),
            net.0,
            net.1,
            net.2.map_or(String::new(), |w| format!(" --width {w}")),
            file.display(),
            config.model.arch,
            config.model.depth
        );
    }
    if state.steps_per_epoch != spe {
        bail!(
            "{}: saved with {} steps per epoch, but this data and batch size give {spe}: resume with the same data \
             and batch size",
            out.display(),
            state.steps_per_epoch
        );
    }
    Ok((!changes.noted.is_empty()).then(|| {
        format!(
            "note: {} changed after the checkpoint of step {}: {}; the run goes on with the new values",
            file.display(),
            state.step,
            changes.noted.join(", ")
        )
    }))
}

/// A folder without a checkpoint is a run that stopped during its set-up, and starts again from
/// step 0, unless it logged steps: then its checkpoints were deleted, and starting again would
/// write over the rows of epochs it had finished. Refused, saying so.
pub fn check_never_saved(dir: &RunDir) -> Result<()> {
    let steps = dir.steps_csv();
    let rows =
        if steps.is_file() { crate::records::read_rows_lenient::<crate::records::StepRow>(&steps)?.len() } else { 0 };
    if rows > 0 {
        bail!(
            "cannot resume {}: {} and {} are both missing, but steps.csv holds {rows} steps: the run's checkpoints \
             were deleted. Restore one, or, to train it again from step 0 in this folder, delete steps.csv and \
             epochs.csv",
            dir.path().display(),
            dir.checkpoint_pt().display(),
            dir.previous_checkpoint_pt().display()
        );
    }
    Ok(())
}

/// Settings the checkpoint is made of: the model's shape, the data and its order, the steps per
/// epoch. A run cannot continue with others.
const FIXED: [&str; 9] =
    ["dataset", "labels", "synthetic_train", "synthetic_test", "arch", "depth", "width", "batch_size", "seed"];
/// Where the run computes and finds its data (free to change, as the flags of `--resume` are),
/// and what clr writes for people.
const IGNORED: [&str; 7] = ["device", "threads", "data_dir", "url", "md5", "no_download", "lr_source"];

/// The fields that differ, as `name old → new` in the order of their names, split into those that cannot change and the rest.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    pub refused: Vec<String>,
    pub noted: Vec<String>,
}

/// Compare the config a checkpoint recorded with the run's config now (both as JSON objects).
pub fn between(recorded: &Value, now: &Value) -> Changes {
    let empty = Map::new();
    let (old, new) = (recorded.as_object().unwrap_or(&empty), now.as_object().unwrap_or(&empty));
    let mut changes = Changes::default();
    let names: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for name in names.into_iter().filter(|n| !IGNORED.contains(&n.as_str())) {
        let (a, b) = (old.get(name).unwrap_or(&Value::Null), new.get(name).unwrap_or(&Value::Null));
        if a != b {
            let line = format!("{name} {} → {}", text(a), text(b));
            match FIXED.contains(&name.as_str()) {
                true => changes.refused.push(line),
                false => changes.noted.push(line),
            }
        }
    }
    changes
}

/// A value as config.json holds it, `null` as "auto".
fn text(v: &Value) -> String {
    match v {
        Value::Null => "auto".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_are_sorted_into_refused_and_noted_and_the_location_is_free() {
        let old = json!({"depth": 8, "momentum": 0.9, "epochs": null, "device": "cpu", "seed": 1});
        let new = json!({"depth": 14, "momentum": 0.8, "epochs": 3.0, "device": "cuda", "seed": 1});
        let c = between(&old, &new);
        assert_eq!(c.refused, ["depth 8 → 14"]);
        assert_eq!(c.noted, ["epochs auto → 3.0", "momentum 0.9 → 0.8"]);
        assert_eq!(between(&old, &old), Changes::default());
    }
}
