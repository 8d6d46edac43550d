use super::*;
use std::io::Read;
use std::path::PathBuf;

/// The reference run of the SPEC: 0.08 → 0.8 → 0.08 → 0.008 over 41, 41, 13 epochs of 98 steps.
fn reference(anneal: Anneal) -> ScheduleConfig {
    ScheduleConfig {
        policy: Policy::OneCycle,
        base_lr: 0.08,
        max_lr: Some(0.8),
        final_lr: None,
        phases: [41.0, 41.0, 13.0],
        step_size: 2.0,
        gamma: None,
        milestones: None,
        anneal,
        momentum: 0.9,
        cycle_momentum: None,
        epochs: 95.0,
        phase_ends: PhaseEnds::Epoch,
    }
}

fn cyclical(policy: Policy) -> ScheduleConfig {
    ScheduleConfig {
        policy,
        base_lr: 0.001,
        max_lr: Some(0.006),
        step_size: 2.0,
        epochs: 20.0,
        cycle_momentum: Some((0.95, 0.85)),
        ..reference(Anneal::Linear)
    }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn names_parse_and_print() {
    for p in Policy::ALL {
        assert_eq!(p.to_string().parse::<Policy>().unwrap(), *p);
        // The serde name is the command-line name.
        assert_eq!(serde_json::to_string(p).unwrap(), format!("\"{p}\""));
    }
    assert_eq!("exp_range".parse::<Policy>().unwrap(), Policy::ExpRange);
    assert_eq!("One-Cycle".parse::<Policy>().unwrap(), Policy::OneCycle);
    assert_eq!(Policy::Triangular2.to_string(), "triangular2");
    let err = "cosine".parse::<Policy>().unwrap_err().to_string();
    assert_eq!(err, "unknown policy 'cosine'; valid: one-cycle, triangular, triangular2, exp-range, fixed, step");
    for a in Anneal::ALL {
        assert_eq!(a.to_string().parse::<Anneal>().unwrap(), *a);
        assert_eq!(serde_json::to_string(a).unwrap(), format!("\"{a}\""));
    }
    assert_eq!("cos".parse::<Anneal>().unwrap(), Anneal::Cos);
    assert_eq!("x".parse::<Anneal>().unwrap_err().to_string(), "unknown anneal strategy 'x'; valid: linear, cos");
}

#[test]
fn config_round_trips_through_json() {
    let mut cfg = reference(Anneal::Cos);
    cfg.cycle_momentum = Some((0.95, 0.85));
    cfg.milestones = Some(vec![1.5, 3.0]);
    let json = serde_json::to_string(&cfg).unwrap();
    assert!(json.contains("\"policy\":\"one-cycle\"") && json.contains("\"cycle_momentum\":[0.95,0.85]"));
    assert_eq!(serde_json::from_str::<ScheduleConfig>(&json).unwrap(), cfg);
}

#[test]
fn one_cycle_hits_the_epoch_boundaries() {
    for anneal in Anneal::ALL {
        let s = Schedule::new(reference(*anneal), 98).unwrap();
        assert_eq!(s.total_steps(), 9310);
        let at = |step| s.lr(step);
        assert!(close(at(0), 0.08, 1e-10), "{anneal}");
        assert!(close(at(41 * 98), 0.8, 1e-10), "{anneal}");
        assert!(close(at(82 * 98), 0.08, 1e-10), "{anneal}");
        // The last step is 1273 of the tail's 1274 steps: just above final.
        let last = anneal.interpolate(0.08, 0.008, 1273.0 / 1274.0);
        assert!(close(at(9309), last, 1e-10) && last > 0.008 && last < 0.0081, "{anneal}");
        assert!(close(at(9310), 0.008, 1e-10) && at(20_000) == 0.008, "{anneal}");
        // Monotone within each phase.
        assert!((1..4018).all(|i| at(i) > at(i - 1)));
        assert!((4019..8036).all(|i| at(i) < at(i - 1)));
        assert!((8037..9310).all(|i| at(i) < at(i - 1)));
        assert!((0..9400).all(|i| s.momentum(i) == 0.9));
    }
    let lin = Schedule::new(reference(Anneal::Linear), 98).unwrap();
    assert!(close(lin.lr(2009), 0.44, 1e-10));
    let cos = Schedule::new(reference(Anneal::Cos), 98).unwrap();
    assert!(close(cos.lr(2009), 0.44, 1e-10) && cos.lr(1000) < lin.lr(1000));
}

#[test]
fn one_cycle_momentum_moves_against_the_lr() {
    let mut cfg = reference(Anneal::Linear);
    cfg.cycle_momentum = Some((0.95, 0.85));
    cfg.epochs = 100.0;
    let s = Schedule::new(cfg, 98).unwrap();
    assert!(close(s.momentum(0), 0.95, 1e-12));
    assert!(close(s.momentum(2009), 0.90, 1e-12));
    assert!(close(s.momentum(4018), 0.85, 1e-12));
    assert!(close(s.momentum(8036), 0.95, 1e-12));
    assert!((8036..9800).all(|i| s.momentum(i) == 0.95));
    // Epochs past the phases stay at final.
    assert_eq!(s.total_steps(), 9800);
    assert!(close(s.lr(9310), 0.008, 1e-12) && (9311..9800).all(|i| s.lr(i) == 0.008));
}

#[test]
fn one_cycle_odd_phases() {
    // TAIL 0: the two-phase shape, base at the end of DOWN, final after it.
    let mut cfg = reference(Anneal::Linear);
    cfg.phases = [2.5, 2.5, 0.0];
    cfg.final_lr = Some(0.01);
    cfg.epochs = 6.0;
    let s = Schedule::new(cfg.clone(), 10).unwrap();
    assert!(close(s.lr(25), 0.8, 1e-12) && close(s.lr(50), 0.08, 1e-12) && s.lr(51) == 0.01);
    // UP 0 starts at max; fractional phase boundaries interpolate between steps.
    cfg.phases = [0.0, 1.0, 0.55];
    let s = Schedule::new(cfg.clone(), 10).unwrap();
    assert!(close(s.lr(0), 0.8, 1e-12) && close(s.lr(10), 0.08, 1e-12));
    assert!(close(s.lr(15), 0.01 + 0.07 * 0.5 / 5.5, 1e-12) && s.lr(16) == 0.01);
    // final_lr == base_lr gives a flat tail.
    cfg.final_lr = Some(0.08);
    assert!(Schedule::new(cfg, 10).unwrap().lr(13) == 0.08);
}

/// The CLR paper's form (and the brief's): cycle = floor(1 + t/2s), x = |t/s - 2 cycle + 1|.
fn paper_lr(cfg: &ScheduleConfig, steps_per_epoch: u64, step: u64) -> f64 {
    let s = cfg.step_size * steps_per_epoch as f64;
    let t = step as f64;
    let cycle = (1.0 + t / (2.0 * s)).floor();
    let x = (t / s - 2.0 * cycle + 1.0).abs();
    let scale = match cfg.policy {
        Policy::Triangular2 => 1.0 / 2f64.powi(cycle as i32 - 1),
        Policy::ExpRange => cfg.gamma_or_default().powi(step as i32),
        _ => 1.0,
    };
    cfg.base_lr + (cfg.max_lr.unwrap() - cfg.base_lr) * (1.0 - x).max(0.0) * scale
}

#[test]
fn cyclical_policies_follow_the_paper() {
    for policy in [Policy::Triangular, Policy::Triangular2, Policy::ExpRange] {
        let cfg = cyclical(policy);
        let s = Schedule::new(cfg.clone(), 50).unwrap();
        assert_eq!(s.total_steps(), 1000);
        for step in 0..1000 {
            assert!(close(s.lr(step), paper_lr(&cfg, 50, step), 1e-15), "{policy} {step}");
        }
        assert_eq!(s.lr(0), 0.001);
        assert!(close(s.lr(200), 0.001, 1e-15) && close(s.momentum(200), 0.95, 1e-15));
        assert!(close(s.momentum(0), 0.95, 1e-15));
    }
    let peak = |p, step| Schedule::new(cyclical(p), 50).unwrap().lr(step);
    assert!(close(peak(Policy::Triangular, 100), 0.006, 1e-15));
    assert!(close(peak(Policy::Triangular, 300), 0.006, 1e-15));
    assert!(close(peak(Policy::Triangular, 150), 0.0035, 1e-15));
    assert!(close(peak(Policy::Triangular2, 300), 0.001 + 0.005 / 2.0, 1e-15));
    assert!(close(peak(Policy::Triangular2, 500), 0.001 + 0.005 / 4.0, 1e-15));
    assert!(close(peak(Policy::ExpRange, 100), 0.001 + 0.005 * 0.99994f64.powi(100), 1e-15));
    let s = Schedule::new(cyclical(Policy::Triangular), 50).unwrap();
    assert!(close(s.momentum(100), 0.85, 1e-15) && close(s.momentum(50), 0.90, 1e-15));
    let mut cfg = cyclical(Policy::Triangular2);
    cfg.cycle_momentum = None;
    let s = Schedule::new(cfg, 50).unwrap();
    assert!((0..1000).all(|i| s.momentum(i) == 0.9));
}

#[test]
fn cyclical_step_size_may_be_fractional() {
    let mut cfg = cyclical(Policy::Triangular);
    cfg.step_size = 0.25;
    let s = Schedule::new(cfg, 10).unwrap(); // 2.5 steps per half cycle
    assert!(close(s.lr(1), 0.001 + 0.005 * 0.4, 1e-15));
    assert!(close(s.lr(5), 0.001, 1e-15) && close(s.lr(3), 0.001 + 0.005 * 0.8, 1e-15));
}

#[test]
fn fixed_and_step() {
    let mut cfg = reference(Anneal::Linear);
    cfg.policy = Policy::Fixed;
    cfg.base_lr = 0.1;
    cfg.max_lr = Some(f64::NAN); // not used, not checked
    cfg.epochs = 8.0;
    let s = Schedule::new(cfg.clone(), 25).unwrap();
    assert!((0..300).all(|i| s.lr(i) == 0.1 && s.momentum(i) == 0.9));
    cfg.policy = Policy::Step;
    let s = Schedule::new(cfg.clone(), 25).unwrap();
    assert_eq!((s.lr(99), s.lr(100), s.lr(149)), (0.1, 0.1 * 0.1, 0.1 * 0.1));
    assert_eq!((s.lr(150), s.lr(199)), (0.1 * 0.1f64.powi(2), 0.1 * 0.1f64.powi(2)));
    // Milestone m is reached at round(m * steps_per_epoch): 1.5 * 25 = 37.5 -> 38.
    cfg.milestones = Some(vec![1.5, 6.0]);
    cfg.gamma = Some(0.5);
    let s = Schedule::new(cfg, 25).unwrap();
    assert_eq!((s.lr(37), s.lr(38), s.lr(149), s.lr(150)), (0.1, 0.05, 0.05, 0.025));
}

#[test]
fn rows_and_epochs() {
    let mut cfg = cyclical(Policy::Triangular);
    cfg.epochs = 2.5;
    let s = Schedule::new(cfg, 7).unwrap();
    assert_eq!(s.total_steps(), 18); // round(17.5)
    let rows: Vec<SchedulePoint> = s.points().collect();
    assert_eq!(rows.len(), 18);
    assert_eq!((s.epoch_of(6), s.epoch_of(7), s.epoch_of(17)), (0, 1, 2));
    for (i, row) in rows.iter().enumerate() {
        let step = i as u64;
        assert_eq!(*row, SchedulePoint { step, epoch: step / 7, lr: s.lr(step), momentum: s.momentum(step) });
    }
}

/// One line per check of `validate`, in the order of `edits` below.
const MESSAGES: &str = "\
    --base-lr (base_lr) must be below --max-lr (max_lr): 0.08 >= 0.08
    --base-lr (base_lr) must be below --max-lr (max_lr): 0.8 >= 0.006
    --base-lr (base_lr) must be a positive finite number: -0.1
    --max-lr (max_lr) must be a positive finite number: inf
    --final-lr (final_lr) must be a positive finite number: 0
    --final-lr (final_lr) must not exceed --base-lr (base_lr): 0.1 > 0.08
    --phases (phases) must be non-negative finite epochs: 41,-1,13
    --phases (phases) must not all be zero
    --phases (phases) add up to 96 epochs, more than --epochs (epochs) 95
    --step-size (step_size) must be a positive number of epochs: 0
    --gamma (gamma) must be in (0, 1]: 1.5
    --gamma (gamma) must be in (0, 1]: 0
    --momentum (momentum) must be in [0, 1): 1
    --cycle-momentum (cycle_momentum) HIGH must be at least LOW: 0.85 < 0.95
    --cycle-momentum (cycle_momentum) values must be in [0, 1): 1.2,0.85
    --steps-per-epoch (steps_per_epoch) must be at least 1
    --epochs (epochs) must be a positive finite number: 0
    --epochs (epochs) gives no steps: 0.005 epochs of 50 steps
    --milestones (milestones) must be strictly increasing: 60,50
    --milestones (milestones) must lie inside (0, 95) epochs: 50,95";

#[test]
fn validation_messages() {
    type Edit = fn(&mut ScheduleConfig, &mut u64);
    let one = (reference(Anneal::Linear), 98);
    let tri = (cyclical(Policy::Triangular), 50);
    let step = (ScheduleConfig { policy: Policy::Step, ..one.0.clone() }, 98);
    let edits: Vec<(&(ScheduleConfig, u64), Edit)> = vec![
        (&one, |c, _| c.max_lr = Some(0.08)),
        (&tri, |c, _| c.base_lr = 0.8),
        (&one, |c, _| c.base_lr = -0.1),
        (&one, |c, _| c.max_lr = Some(f64::INFINITY)),
        (&one, |c, _| c.final_lr = Some(0.0)),
        (&one, |c, _| c.final_lr = Some(0.1)),
        (&one, |c, _| c.phases = [41.0, -1.0, 13.0]),
        (&one, |c, _| c.phases = [0.0; 3]),
        (&one, |c, _| c.phases = [41.0, 41.0, 14.0]),
        (&tri, |c, _| c.step_size = 0.0),
        (&tri, |c, _| (c.policy, c.gamma) = (Policy::ExpRange, Some(1.5))),
        (&step, |c, _| c.gamma = Some(0.0)),
        (&one, |c, _| c.momentum = 1.0),
        (&tri, |c, _| c.cycle_momentum = Some((0.85, 0.95))),
        (&one, |c, _| c.cycle_momentum = Some((1.2, 0.85))),
        (&one, |_, steps| *steps = 0),
        (&tri, |c, _| c.epochs = 0.0),
        (&tri, |c, _| c.epochs = 0.005),
        (&step, |c, _| c.milestones = Some(vec![60.0, 50.0])),
        (&step, |c, _| c.milestones = Some(vec![50.0, 95.0])),
    ];
    let messages: Vec<&str> = MESSAGES.lines().map(str::trim).collect();
    assert_eq!(messages.len(), edits.len());
    for (((cfg, steps), edit), want) in edits.into_iter().zip(messages) {
        let (mut cfg, mut steps) = (cfg.clone(), *steps);
        edit(&mut cfg, &mut steps);
        assert_eq!(Schedule::new(cfg, steps).unwrap_err().to_string(), want);
    }
    // Fractional phases that add up to the epochs up to rounding still fit.
    let mut cfg = one.0.clone();
    (cfg.phases, cfg.epochs) = ([0.1, 0.2, 0.3], 0.6);
    assert!(Schedule::new(cfg, 98).is_ok());
}

#[test]
fn max_lr_not_yet_known_is_checked_later() {
    // `--max-lr auto`: everything else is checked at once, base < max once it is known.
    let mut cfg = reference(Anneal::Linear);
    cfg.max_lr = None;
    cfg.validate().unwrap();
    cfg.phases = [41.0, 41.0, 14.0];
    assert!(cfg.validate().unwrap_err().to_string().starts_with("--phases (phases) add up to 96"));
    cfg.phases = [41.0, 41.0, 13.0];
    let err = Schedule::new(cfg.clone(), 98).unwrap_err().to_string();
    assert_eq!(err, "--max-lr (max_lr) must be a number for the one-cycle policy");
    cfg.policy = Policy::Fixed;
    assert!(Schedule::new(cfg, 98).is_ok(), "fixed never uses max_lr");
}

/// One fixture written by scripts/gen_schedule_fixtures.py from torch.optim.lr_scheduler.
#[derive(Deserialize)]
struct Case {
    name: String,
    file: String,
    lr_tol: f64,
    momentum_tol: f64,
    config: FixtureConfig,
}

/// A fixture's configuration: the schedule's, and the steps per epoch it was generated with.
#[derive(Deserialize)]
struct FixtureConfig {
    #[serde(flatten)]
    schedule: ScheduleConfig,
    steps_per_epoch: u64,
}

#[derive(Deserialize)]
struct Manifest {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Row {
    step: u64,
    lr: f64,
    momentum: f64,
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schedules")
}

fn read_fixture(file: &str) -> Vec<Row> {
    let mut text = String::new();
    let gz = std::fs::File::open(fixtures().join(file)).unwrap();
    flate2::read::GzDecoder::new(gz).read_to_string(&mut text).unwrap();
    csv::Reader::from_reader(text.as_bytes()).deserialize().map(|r| r.unwrap()).collect()
}

/// The most clr's epoch-boundary phases may differ from PyTorch's: two steps of the steepest
/// slope of a phase (a cosine phase is π/2 times as steep as a linear one in its middle).
fn epoch_boundary_bound(cfg: &ScheduleConfig, steps_per_epoch: u64) -> f64 {
    let spe = steps_per_epoch as f64;
    let [up, _, tail] = cfg.phases;
    let max = cfg.max_lr.unwrap();
    let rise = (max - cfg.base_lr) / (up * spe);
    let fall = if tail > 0.0 { (cfg.base_lr - cfg.final_lr_or_default()) / (tail * spe) } else { 0.0 };
    let steepest = if cfg.anneal == Anneal::Cos { std::f64::consts::FRAC_PI_2 } else { 1.0 };
    2.0 * steepest * rise.max(fall) + 1e-12
}

#[test]
fn matches_pytorch_fixtures() {
    let manifest: Manifest =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("cases.json")).unwrap()).unwrap();
    let policies: Vec<Policy> = manifest.cases.iter().map(|c| c.config.schedule.policy).collect();
    for p in [Policy::OneCycle, Policy::Triangular, Policy::Triangular2, Policy::ExpRange, Policy::Step] {
        assert!(policies.contains(&p), "no fixture for {p}");
    }
    for case in &manifest.cases {
        let spe = case.config.steps_per_epoch;
        let rows = read_fixture(&case.file);
        // The bounds are the contract, whatever the manifest says: one-cycle within two steps of
        // slope (momentum: the same for its range), the other policies to rounding.
        let one_cycle = case.config.schedule.policy == Policy::OneCycle;
        let (lr_bound, momentum_bound) = if one_cycle {
            (epoch_boundary_bound(&case.config.schedule, spe), case.momentum_tol.min(0.005))
        } else {
            assert!(case.lr_tol <= 1e-6 && case.momentum_tol <= 1e-6, "{}", case.name);
            (case.lr_tol, case.momentum_tol)
        };
        check_rows(
            &case.name,
            &Schedule::new(case.config.schedule.clone(), spe).unwrap(),
            &rows,
            lr_bound,
            momentum_bound,
        );
        if one_cycle {
            // PyTorch's own phase ends: the same sequence to rounding.
            let cfg = ScheduleConfig { phase_ends: PhaseEnds::Pytorch, ..case.config.schedule.clone() };
            check_rows(
                &format!("{} (pytorch ends)", case.name),
                &Schedule::new(cfg, spe).unwrap(),
                &rows,
                1e-12,
                1e-12,
            );
        }
    }
}

fn check_rows(name: &str, s: &Schedule, rows: &[Row], lr_tol: f64, momentum_tol: f64) {
    assert_eq!(rows.len() as u64, s.total_steps(), "{name}");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.step, i as u64);
        let (lr, momentum) = s.lr_and_momentum(row.step);
        assert!(close(lr, row.lr, lr_tol), "{name} step {i}: lr {lr} vs torch {}", row.lr);
        assert!(
            close(momentum, row.momentum, momentum_tol),
            "{name} step {i}: momentum {momentum} vs torch {}",
            row.momentum
        );
    }
}

#[test]
fn the_epoch_convention_can_differ_by_two_steps_of_slope() {
    // 24 steps per epoch, phases 3.5/3.5/1: PyTorch reaches max one step earlier and base two
    // steps earlier; the gap is 2.1 % of max_lr, within two steps of slope and not below 0.5 %.
    let cfg = ScheduleConfig { phases: [3.5, 3.5, 1.0], epochs: 8.0, ..reference(Anneal::Linear) };
    let ours = Schedule::new(cfg.clone(), 24).unwrap();
    let theirs = Schedule::new(ScheduleConfig { phase_ends: PhaseEnds::Pytorch, ..cfg.clone() }, 24).unwrap();
    let gap = (0..ours.total_steps()).map(|t| (ours.lr(t) - theirs.lr(t)).abs()).fold(0.0, f64::max);
    assert!(gap <= epoch_boundary_bound(&cfg, 24) && gap > 0.02 * 0.8, "gap {gap}");
    assert!(close(theirs.lr(83), 0.8, 1e-12) && close(theirs.lr(166), 0.08, 1e-12));
    assert!(close(theirs.lr(191), 0.008, 1e-12) && ours.lr(191) > 0.008, "PyTorch reaches final on its last step");
    let err = Schedule::new(ScheduleConfig { phase_ends: PhaseEnds::Pytorch, phases: [3.0, 4.0, 1.0], ..cfg }, 24);
    assert!(err.unwrap_err().to_string().starts_with("--phase-ends pytorch (phase_ends) follows OneCycleLR"));
}

#[test]
fn lengths_past_the_limit_are_refused_not_saturated() {
    let mut cfg = cyclical(Policy::Fixed);
    cfg.epochs = 1e12;
    assert_eq!(Schedule::new(cfg.clone(), 1).unwrap().total_steps(), MAX_STEPS, "the limit itself runs");
    let err = Schedule::new(cfg.clone(), 2).unwrap_err().to_string();
    assert_eq!(
        err,
        "--epochs (epochs) 1e12 of 2 steps (--steps-per-epoch) makes 2e12 steps, more than clr's limit of 1e12"
    );
    cfg.epochs = 1e300;
    assert!(cfg.validate().unwrap_err().to_string().starts_with("--epochs (epochs) 1e300 (at one step per epoch)"));
    let mut tri = cyclical(Policy::Triangular);
    tri.step_size = 1e300;
    assert!(Schedule::new(tri, 50).unwrap_err().to_string().starts_with("--step-size (step_size) 1e300 of 50 steps"));
}
