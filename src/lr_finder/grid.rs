//! The maths of `clr grid` (pure): the grid of `max_lr` values, the mean accuracy of each value
//! over its seeds, the accuracy at any LR interpolated in log LR between those means, and each
//! rule's regret: the best mean accuracy of the grid minus the accuracy at the LR the rule
//! suggests. With one seed a value's mean is its run's accuracy.

use super::analysis::Suggestion;
use super::rules::Rule;
use serde::{Deserialize, Serialize};

/// Significant digits a grid value keeps: the value the run trains at is the one its folder and
/// `grid.csv` name.
const DIGITS: i32 = 6;

/// `points` values from `from` to `to` (both included), equally spaced in log LR, each rounded
/// to 6 significant digits. `points` ≥ 2 and 0 < `from` < `to` (checked by the caller).
pub fn geometric(from: f64, to: f64, points: usize) -> Vec<f64> {
    let (a, b) = (from.log10(), to.log10());
    let last = (points - 1) as f64;
    (0..points).map(|i| round_significant(10f64.powf(a + (b - a) * i as f64 / last))).collect()
}

/// `v` rounded to 6 significant digits.
pub fn round_significant(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(DIGITS - 1 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

/// Where an LR falls against the grid.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outside {
    /// Below the grid's lowest `max_lr`.
    Below,
    /// Above its highest.
    Above,
}

impl Outside {
    /// "below", "above" (the grid).
    pub fn words(self) -> &'static str {
        match self {
            Outside::Below => "below",
            Outside::Above => "above",
        }
    }
}

/// The accuracy at `lr`, interpolated linearly in log10(lr) between the two grid points around
/// it; `Err` when `lr` lies outside the grid. `points` are (max_lr, accuracy), max_lr increasing.
pub fn accuracy_at(points: &[(f64, f64)], lr: f64) -> Result<f64, Outside> {
    let (Some(first), Some(last)) = (points.first(), points.last()) else { return Err(Outside::Below) };
    // A value that rounds to a grid point is that point (a rule's LR read back from JSON).
    let near = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b;
    if lr < first.0 && !near(lr, first.0) {
        return Err(Outside::Below);
    }
    if lr > last.0 && !near(lr, last.0) {
        return Err(Outside::Above);
    }
    let x = lr.log10();
    for w in points.windows(2) {
        let ((x0, y0), (x1, y1)) = ((w[0].0.log10(), w[0].1), (w[1].0.log10(), w[1].1));
        if x <= x1 {
            let t = ((x - x0) / (x1 - x0)).clamp(0.0, 1.0);
            return Ok(y0 + t * (y1 - y0));
        }
    }
    Ok(last.1)
}

/// One rule's suggestion measured against the grid.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RuleRegret {
    pub rule: Rule,
    /// The rule's LR (None: the rule gives none on this curve).
    pub lr: Option<f64>,
    /// The grid's accuracy at that LR, interpolated in log LR (None outside the grid).
    pub accuracy: Option<f64>,
    /// The best accuracy of the grid minus `accuracy`, a fraction (None outside the grid).
    pub regret: Option<f64>,
    /// Set when the LR lies outside the grid: then the regret is at least `regret_at_least`,
    /// the best accuracy minus the accuracy of the grid's nearest end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outside: Option<Outside>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regret_at_least: Option<f64>,
}

/// Every rule's regret against the grid's `points` (max_lr, accuracy), max_lr increasing.
pub fn regrets(points: &[(f64, f64)], suggestion: &Suggestion) -> Vec<RuleRegret> {
    let best = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    Rule::ALL
        .iter()
        .map(|&rule| {
            let lr = suggestion.lr_of(rule);
            let at = lr.map(|lr| accuracy_at(points, lr));
            let (accuracy, outside) = match at {
                Some(Ok(acc)) => (Some(acc), None),
                Some(Err(side)) => (None, Some(side)),
                None => (None, None),
            };
            let end = |side: Outside| match side {
                Outside::Below => points[0].1,
                Outside::Above => points[points.len() - 1].1,
            };
            RuleRegret {
                rule,
                lr,
                accuracy,
                regret: accuracy.map(|a| best - a),
                outside,
                regret_at_least: outside.map(|side| best - end(side)),
            }
        })
        .collect()
}

/// How one run of the grid ended.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GridStatus {
    Completed,
    Diverged,
    Interrupted,
}

/// One run of the grid: a row of `grid.csv`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct GridRow {
    /// The run's folder inside the grid's (`lr=0.1`).
    pub label: String,
    pub max_lr: f64,
    pub base_lr: f64,
    /// The run's `--seed`: its initial weights and data order (a grid written before seeds
    /// were recorded reads as 0).
    #[serde(default)]
    pub seed: u64,
    pub status: GridStatus,
    pub final_test_acc: Option<f64>,
    pub best_test_acc: Option<f64>,
    pub final_test_loss: Option<f64>,
    /// Epochs completed.
    pub epochs: u64,
    /// Training seconds.
    pub seconds: f64,
}

impl GridRow {
    /// The accuracy the grid compares: the run's final test accuracy; a diverged run counts as 0
    /// (it ends with no model worth keeping); an interrupted one has none yet.
    pub fn accuracy(&self) -> Option<f64> {
        match self.status {
            GridStatus::Completed => self.final_test_acc,
            GridStatus::Diverged => Some(0.0),
            GridStatus::Interrupted => None,
        }
    }
}

/// One `max_lr` of the grid over its seeds: the mean accuracy of its runs that finished.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct GridPoint {
    pub max_lr: f64,
    /// The mean of the runs' accuracies (`GridRow::accuracy`: a diverged run counts 0).
    pub accuracy: f64,
    /// The runs it is the mean of.
    pub runs: usize,
    /// The lowest and the highest of those accuracies: their spread is the noise between seeds.
    pub lowest: f64,
    pub highest: f64,
}

/// The finished runs grouped by `max_lr` (increasing), each value's accuracies averaged.
pub fn mean_points(runs: &[GridRow]) -> Vec<GridPoint> {
    let mut points: Vec<GridPoint> = Vec::new();
    for (max_lr, acc) in runs.iter().filter_map(|r| Some((r.max_lr, r.accuracy()?))) {
        match points.iter_mut().find(|p| p.max_lr == max_lr) {
            Some(p) => {
                p.accuracy += acc;
                p.runs += 1;
                p.lowest = p.lowest.min(acc);
                p.highest = p.highest.max(acc);
            }
            None => points.push(GridPoint { max_lr, accuracy: acc, runs: 1, lowest: acc, highest: acc }),
        }
    }
    for p in &mut points {
        p.accuracy /= p.runs as f64;
    }
    points.sort_by(|a, b| a.max_lr.total_cmp(&b.max_lr));
    points
}

/// The range test a grid measures, and every rule's regret against the grid.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RangeTestRegrets {
    /// The range test's folder.
    pub dir: String,
    /// The rule that made the test's `suggested_lr` (the one `--max-lr auto` uses).
    pub rule: Rule,
    pub rules: Vec<RuleRegret>,
}

/// `grid.json`: the grid asked for, the runs made so far, the best of them, each value's mean over
/// its seeds and, with a range test, every rule's regret against those means. Rewritten after
/// every run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct GridReport {
    /// The `max_lr` values, increasing.
    pub values: Vec<f64>,
    /// The seeds every value runs with (a grid written before seeds were recorded: none listed).
    #[serde(default)]
    pub seeds: Vec<u64>,
    /// Every run's `base_lr` when it was given; None: each run's `max_lr` / 10.
    pub base_lr: Option<f64>,
    /// Epochs of each run.
    pub epochs: f64,
    pub runs: Vec<GridRow>,
    /// Every value ran (to its end or to a divergence).
    pub complete: bool,
    /// The run with the highest accuracy (the first of equals).
    pub best: Option<GridRow>,
    /// Each value's mean accuracy over the seeds that finished it, increasing in `max_lr`.
    #[serde(default)]
    pub points: Vec<GridPoint>,
    /// The value with the highest mean (the first of equals): what the regrets are measured from.
    #[serde(default)]
    pub best_mean: Option<GridPoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_test: Option<RangeTestRegrets>,
}

impl GridReport {
    /// The report of `runs` (each value's run at each seed, in the grid's order) and, when given, a
    /// range test's suggestion (its folder and the suggestion read from it).
    pub fn new(
        values: &[f64],
        seeds: &[u64],
        base_lr: Option<f64>,
        epochs: f64,
        runs: Vec<GridRow>,
        range_test: Option<(String, &Suggestion)>,
    ) -> GridReport {
        let finished = |r: &&GridRow| r.status != GridStatus::Interrupted;
        let complete = runs.iter().filter(finished).count() == planned_runs(values, seeds);
        let mut best: Option<&GridRow> = None;
        for r in &runs {
            if r.accuracy().is_some_and(|a| best.and_then(GridRow::accuracy).is_none_or(|b| a > b)) {
                best = Some(r);
            }
        }
        let points = mean_points(&runs);
        let best_mean = points.iter().fold(None, |b: Option<&GridPoint>, p| match b {
            Some(b) if b.accuracy >= p.accuracy => Some(b),
            _ => Some(p),
        });
        let curve: Vec<(f64, f64)> = points.iter().map(|p| (p.max_lr, p.accuracy)).collect();
        let range_test = range_test.filter(|_| !curve.is_empty()).map(|(dir, s)| RangeTestRegrets {
            dir,
            rule: s.rule,
            rules: regrets(&curve, s),
        });
        GridReport {
            values: values.to_vec(),
            seeds: seeds.to_vec(),
            base_lr,
            epochs,
            best: best.cloned(),
            best_mean: best_mean.copied(),
            points,
            runs,
            complete,
            range_test,
        }
    }

    /// More than one seed per value: the report speaks of means.
    pub fn seeded(&self) -> bool {
        self.seeds.len() > 1
    }
}

impl GridReport {
    /// The printed summary: one line per run, the best, each value's mean over several seeds, and
    /// each rule's regret.
    pub fn summary_lines(&self) -> Vec<String> {
        let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.2}%", 100.0 * v));
        let base = self.base_lr.map_or("max_lr / 10".to_string(), |b| b.to_string());
        let seeds = match self.seeds.as_slice() {
            many @ [_, _, ..] => format!(" at {} seeds ({})", many.len(), join(many)),
            _ => String::new(),
        };
        let runs = planned_runs(&self.values, &self.seeds);
        let mut lines = vec![
            format!(
                "grid: {} of {runs} runs{seeds}, {} epochs each, base_lr {base}{}",
                self.runs.len(),
                self.epochs,
                if self.complete { "" } else { " (stopped: continue with clr grid --resume)" }
            ),
            format!("{:>12}  {:>5}  {:<11}  {:>9}  {:>9}", "max_lr", "seed", "status", "final acc", "best acc"),
        ];
        for r in &self.runs {
            let status = serde_json::to_value(r.status).ok().and_then(|v| v.as_str().map(str::to_string));
            lines.push(format!(
                "{:>12}  {:>5}  {:<11}  {:>9}  {:>9}",
                r.max_lr,
                r.seed,
                status.unwrap_or_default(),
                pct(r.final_test_acc),
                pct(r.best_test_acc)
            ));
        }
        if let Some(b) = &self.best {
            lines.push(format!("best run: max_lr {} (final test accuracy {})", b.max_lr, pct(b.final_test_acc)));
        }
        lines.extend(self.mean_lines());
        lines.extend(self.regret_lines());
        lines
    }

    /// With several seeds: each value's mean and spread, and the best mean.
    fn mean_lines(&self) -> Vec<String> {
        let pct = |v: f64| format!("{:.2}%", 100.0 * v);
        if !self.seeded() {
            return Vec::new();
        }
        let mut lines = vec![format!("{:>12}  {:>5}  {:>9}  {:>17}", "max_lr", "runs", "mean acc", "lowest - highest")];
        for p in &self.points {
            let range = format!("{} - {}", pct(p.lowest), pct(p.highest));
            lines.push(format!("{:>12}  {:>5}  {:>9}  {:>17}", p.max_lr, p.runs, pct(p.accuracy), range));
        }
        if let Some(b) = &self.best_mean {
            lines.push(format!(
                "best mean: max_lr {} ({} over {} seeds; they spread over {:.2} points, so smaller \
                 differences between values are within the noise)",
                b.max_lr,
                pct(b.accuracy),
                b.runs,
                100.0 * (b.highest - b.lowest)
            ));
        }
        lines
    }

    /// Each rule's regret, when the grid measures a range test.
    fn regret_lines(&self) -> Vec<String> {
        let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.2}%", 100.0 * v));
        let mut lines = Vec::new();
        if let Some(rt) = &self.range_test {
            let against = if self.seeded() { ", against the mean over the seeds" } else { "" };
            lines.push(format!("regret of each rule of the range test in {} (default: {}){against}:", rt.dir, rt.rule));
            for r in &rt.rules {
                let lr = r.lr.map_or("none".to_string(), |lr| format!("{lr:.3e}"));
                let verdict = match (r.regret, r.outside, r.regret_at_least) {
                    (Some(v), _, _) => format!("accuracy {}, regret {:.2} points", pct(r.accuracy), 100.0 * v),
                    (_, Some(side), Some(least)) => {
                        format!("{} the grid: regret at least {:.2} points", side.words(), 100.0 * least)
                    }
                    _ => "no lr on this curve".to_string(),
                };
                lines.push(format!("  {:<9} lr {lr}: {verdict}", r.rule.name()));
            }
        }
        lines
    }
}

/// Every value at every seed (a grid written before seeds were recorded ran at one).
fn planned_runs(values: &[f64], seeds: &[u64]) -> usize {
    values.len() * seeds.len().max(1)
}

fn join(seeds: &[u64]) -> String {
    seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_is_geometric_and_rounded() {
        let g = geometric(0.01, 1.0, 5);
        assert_eq!(g, vec![0.01, 0.0316228, 0.1, 0.316228, 1.0]);
        assert_eq!(geometric(0.05, 0.8, 2), vec![0.05, 0.8]);
        assert_eq!(round_significant(0.017782794100389226), 0.0177828);
        assert_eq!(round_significant(1234567.0), 1234570.0);
    }

    #[test]
    fn accuracy_is_interpolated_in_log_lr() {
        let points = [(0.01, 0.5), (0.1, 0.9), (1.0, 0.7)];
        // Halfway in log10 between 0.01 and 0.1 is 0.0316…: halfway in accuracy.
        assert!((accuracy_at(&points, 10f64.powf(-1.5)).unwrap() - 0.7).abs() < 1e-12);
        assert_eq!(accuracy_at(&points, 0.1), Ok(0.9));
        assert_eq!(accuracy_at(&points, 0.01), Ok(0.5));
        assert_eq!(accuracy_at(&points, 1.0), Ok(0.7));
        assert!((accuracy_at(&points, 10f64.powf(-0.25)).unwrap() - 0.75).abs() < 1e-12);
        assert_eq!(accuracy_at(&points, 0.005), Err(Outside::Below));
        assert_eq!(accuracy_at(&points, 2.0), Err(Outside::Above));
    }

    #[test]
    fn regret_is_the_best_minus_the_interpolated_accuracy() {
        let points = [(0.01, 0.5), (0.1, 0.9), (1.0, 0.7)];
        let s = Suggestion {
            lr_at_min_loss: 5.0,
            min_loss: 0.3,
            rule: Rule::Floor,
            suggested_lr: 10f64.powf(-0.5),
            seed_lr: Some(0.5),
            floor_lr: Some(10f64.powf(-0.5)),
            floor_start_lr: Some(0.01),
            floor_end_lr: Some(1.0),
            steepest_lr: Some(1e-3),
            valley_lr: None,
            max_lr: 10f64.powf(-0.5),
            base_lr: 10f64.powf(-1.5),
        };
        let r = regrets(&points, &s);
        let by = |rule: Rule| r.iter().find(|x| x.rule == rule).unwrap().clone();
        // floor: halfway between 0.1 (0.9) and 1 (0.7) in log LR: 0.8, regret 0.1.
        let floor = by(Rule::Floor);
        assert!((floor.accuracy.unwrap() - 0.8).abs() < 1e-12 && (floor.regret.unwrap() - 0.1).abs() < 1e-12);
        // seed: 0.5 is log10 0.699 of the way from 0.1 to 1.
        let seed = by(Rule::Seed);
        let want = 0.9 - 0.2 * (0.5f64.log10() + 1.0);
        assert!((seed.accuracy.unwrap() - want).abs() < 1e-12, "{seed:?}");
        // steepest lies below the grid: no regret, but at least best - the lowest point's.
        let steep = by(Rule::Steepest);
        assert_eq!((steep.regret, steep.outside), (None, Some(Outside::Below)));
        assert!((steep.regret_at_least.unwrap() - 0.4).abs() < 1e-12);
        assert_eq!(
            by(Rule::Valley),
            RuleRegret {
                rule: Rule::Valley,
                lr: None,
                accuracy: None,
                regret: None,
                outside: None,
                regret_at_least: None
            }
        );
    }

    fn row(max_lr: f64, seed: u64, status: GridStatus, acc: Option<f64>) -> GridRow {
        GridRow {
            label: format!("lr={max_lr}_seed={seed}"),
            max_lr,
            base_lr: max_lr / 10.0,
            seed,
            status,
            final_test_acc: acc,
            best_test_acc: acc,
            final_test_loss: acc.map(|a| 1.0 - a),
            epochs: 2,
            seconds: 1.0,
        }
    }

    #[test]
    fn each_value_is_the_mean_of_its_finished_seeds() {
        use GridStatus::*;
        let runs = [
            row(0.1, 1, Completed, Some(0.8)),
            row(1.0, 1, Diverged, None),
            row(0.01, 1, Completed, Some(0.5)),
            row(0.1, 2, Completed, Some(0.7)),
            row(1.0, 2, Completed, Some(0.6)),
            row(0.01, 2, Interrupted, None),
        ];
        let p = mean_points(&runs);
        let got: Vec<(f64, usize, f64, f64)> = p.iter().map(|p| (p.max_lr, p.runs, p.lowest, p.highest)).collect();
        assert_eq!(got, [(0.01, 1, 0.5, 0.5), (0.1, 2, 0.7, 0.8), (1.0, 2, 0.0, 0.6)], "a diverged run counts 0");
        assert!((p[1].accuracy - 0.75).abs() < 1e-15 && (p[2].accuracy - 0.3).abs() < 1e-15, "{p:?}");
    }

    /// With several seeds the best single run and the best mean can differ; the regrets are
    /// measured from the means.
    #[test]
    fn a_seeded_report_measures_regret_against_the_means() {
        use GridStatus::Completed;
        let runs = vec![
            row(0.1, 1, Completed, Some(0.70)),
            row(1.0, 1, Completed, Some(0.90)),
            row(0.1, 2, Completed, Some(0.80)),
            row(1.0, 2, Completed, Some(0.50)),
        ];
        let mut s = Suggestion {
            lr_at_min_loss: 1.0,
            min_loss: 0.3,
            rule: Rule::Floor,
            suggested_lr: 0.1,
            seed_lr: None,
            floor_lr: Some(0.1),
            floor_start_lr: None,
            floor_end_lr: None,
            steepest_lr: Some(1.0),
            valley_lr: None,
            max_lr: 0.1,
            base_lr: 0.01,
        };
        let report = GridReport::new(&[0.1, 1.0], &[1, 2], None, 2.0, runs.clone(), Some(("rt".into(), &s)));
        assert!(report.complete && report.seeded());
        assert_eq!(report.best.as_ref().map(|b| (b.max_lr, b.seed)), Some((1.0, 1)), "the best single run");
        let best_mean = report.best_mean.unwrap();
        assert_eq!(best_mean.max_lr, 0.1);
        assert!((best_mean.accuracy - 0.75).abs() < 1e-15);
        let regret =
            |rule: Rule| report.range_test.as_ref().unwrap().rules.iter().find(|r| r.rule == rule).unwrap().regret;
        assert_eq!(regret(Rule::Floor), Some(0.0));
        assert!((regret(Rule::Steepest).unwrap() - 0.05).abs() < 1e-12, "0.75 - mean(0.9, 0.5)");
        let text = report.summary_lines().join("\n");
        assert!(
            text.contains("4 of 4 runs at 2 seeds (1,2)") && text.contains("against the mean over the seeds"),
            "{text}"
        );
        assert!(text.contains("best mean: max_lr 0.1 (75.00% over 2 seeds; they spread over 10.00 points"), "{text}");
        // Three of four runs: not complete.
        s.rule = Rule::Steepest;
        let partial = GridReport::new(&[0.1, 1.0], &[1, 2], None, 2.0, runs[..3].to_vec(), Some(("rt".into(), &s)));
        assert!(!partial.complete);
        // One seed: the mean is the run.
        let single = GridReport::new(&[0.1, 1.0], &[1], None, 2.0, runs[..2].to_vec(), None);
        assert!(single.complete && !single.seeded());
        assert_eq!(single.best_mean.map(|p| (p.max_lr, p.accuracy)), Some((1.0, 0.9)));
        assert!(!single.summary_lines().join("\n").contains("mean"));
    }
}
