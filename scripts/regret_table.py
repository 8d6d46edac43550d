#!/usr/bin/env python3
"""The regret table from the folders scripts/regret.sh made: for each set, depth and seed, the
grid's best max_lr and accuracy, and for each rule its LR at each --iters and its regret (points
of test accuracy below the grid's best; '>=' when the LR falls outside the grid, measured to the
grid's nearest end). Parts that were not used to fit the floor rule's constants are reported as
held out. Where a set and depth was run from several seeds, a noise section compares the seeds'
grids and measures each rule against their mean. Writes bench/regret.json (keeping the parts of
the earlier file that OUT_DIR does not hold) and prints Markdown tables.

usage: regret_table.py OUT_DIR   (the folder scripts/regret.sh wrote)
"""
import datetime
import json
import math
import os
import re
import sys
from pathlib import Path

ITERS = ["75", "150", "300", "600"]
RULES = ["floor", "seed", "steepest", "valley"]
# The parts the floor rule's constants (src/lr_finder/rules.rs) were fitted on, 2026-12-04.
FITTED = {"digits-d8", "digits-d20", "fmnist5k-d8", "fmnist5k-d20", "fmnist20k-d8"}
PART = re.compile(r"^(?P<set>.+)-d(?P<depth>\d+)(?:-s(?P<seed>\d+))?$")


def describe(name):
    """set, depth, seed and whether the floor rule was fitted on it, from a part's name."""
    m = PART.match(name)
    return {"set": m["set"], "depth": int(m["depth"]), "seed": int(m["seed"] or 1), "fitted": name in FITTED}


def measured(out):
    """{part name: {iters: grid.json measured against that test}} for every finished part."""
    parts = {}
    for base in sorted(out.glob("*-d*")):
        files = {it: base / f"grid-i{it}.json" for it in ITERS}
        if PART.match(base.name) and all(f.is_file() for f in files.values()):
            parts[base.name] = {it: json.loads(f.read_text()) for it, f in files.items()}
    return parts


def regret_of(r):
    """A rule's regret in points, and whether it is only a lower bound (LR outside the grid)."""
    if r.get("regret") is not None:
        return 100 * r["regret"], False
    if r.get("regret_at_least") is not None:
        return 100 * r["regret_at_least"], True
    return None, False


def accuracy(run):
    """The accuracy a grid compares (clr's RunRecord::accuracy): a diverged run counts as 0."""
    return 0.0 if run[2] == "diverged" else run[1]


def machine():
    """The CPU's model name and core count: bf16 results differ in the last digits between CPUs."""
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return f"{cpu}, {os.cpu_count()} cores"


def spread(lrs):
    """The largest LR over the smallest (None when no test gave one)."""
    known = [v for v in lrs if v]
    return max(known) / min(known) if known else None


def summarise(name, grids):
    first = grids[ITERS[0]]
    best = first["best"]
    out = {**describe(name), "date": datetime.date.today().isoformat(), "machine": machine(), "best_max_lr": best["max_lr"],
           "best_test_acc": best["final_test_acc"],
           "grid": [(r["max_lr"], r["final_test_acc"], r["status"]) for r in first["runs"]], "rules": {}}
    for rule in RULES:
        lrs, regrets, bounds = {}, {}, {}
        for it, g in grids.items():
            r = next(x for x in g["range_test"]["rules"] if x["rule"] == rule)
            lrs[it] = r["lr"]
            regrets[it], bounds[it] = regret_of(r)
        worst = max((v for v in regrets.values() if v is not None), default=None)
        out["rules"][rule] = {"lr": lrs, "regret_points": regrets, "lower_bound": bounds,
                              "lr_spread": spread(lrs.values()), "worst_regret_points": worst,
                              "lr_spread_from_150": spread(v for it, v in lrs.items() if int(it) >= 150)}
    return out


def interpolate(points, lr):
    """Accuracy at lr, linear in log10(lr) between grid points (as clr's accuracy_at); outside
    the grid, the nearest end's, flagged."""
    if lr < points[0][0]:
        return points[0][1], True
    if lr > points[-1][0]:
        return points[-1][1], True
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= lr <= x1:
            t = (math.log10(lr) - math.log10(x0)) / (math.log10(x1) - math.log10(x0))
            return y0 + t * (y1 - y0), False
    raise ValueError(lr)


def noise(sets):
    """For each set and depth run from several seeds: every seed's accuracy at each grid LR, their
    mean and spread, and each rule's regret against the mean curve (from every seed's tests)."""
    groups = {}
    for name, s in sets.items():
        groups.setdefault(f"{s['set']}-d{s['depth']}", []).append(s)
    result = {}
    for key, members in sorted(groups.items()):
        if len(members) < 2:
            continue
        members.sort(key=lambda s: s["seed"])
        lrs = [run[0] for run in members[0]["grid"]]
        if any([run[0] for run in s["grid"]] != lrs for s in members):
            continue
        per_seed = [[accuracy(run) for run in s["grid"]] for s in members]
        mean = [sum(col) / len(col) for col in zip(*per_seed)]
        curve = list(zip(lrs, mean))
        best = max(mean)
        rules = {}
        for rule in RULES:
            # (regret, whether the LR fell outside the grid) for every seed's every test
            measured = [(100 * (best - acc), out) for s in members for lr in s["rules"][rule]["lr"].values() if lr
                        for acc, out in [interpolate(curve, lr)]]
            worst = max(measured, default=(None, False))
            rules[rule] = {"worst_regret_points": worst[0], "lower_bound": worst[1],
                           "mean_lower_bound": any(out for _, out in measured),
                           "mean_regret_points": sum(r for r, _ in measured) / len(measured) if measured else None}
            # The default test is never shorter than 30 steps per decade (150 here): its regret alone.
            steady = [100 * (best - acc) for s in members for it, lr in s["rules"][rule]["lr"].items()
                      if lr and int(it) >= 150 for acc, _ in [interpolate(curve, lr)]]
            rules[rule]["worst_regret_points_from_150"] = max(steady, default=None)
        result[key] = {
            "seeds": [s["seed"] for s in members], "max_lr": lrs, "test_acc": per_seed, "mean_test_acc": mean,
            **run_noise(lrs, per_seed, mean, best),
            "spread_points": [100 * (max(col) - min(col)) for col in zip(*per_seed)],
            "best_max_lr_per_seed": [lrs[row.index(max(row))] for row in per_seed],
            "best_max_lr_of_mean": lrs[mean.index(best)], "best_mean_test_acc": best, "rules": rules,
        }
    return result


def run_noise(lrs, per_seed, mean, best):
    """How much one run's accuracy moves between seeds near the best LRs (the grid points whose mean
    is within 2 points of the best): the pooled standard deviation of one run, in points, the
    standard error of the mean of these seeds, and the seeds a mean would need for a standard error
    of 0.3 points (the issue's regret target)."""
    near = [i for i, m in enumerate(mean) if m >= best - 0.02]
    n = len(per_seed)
    variances = [sum((row[i] - mean[i]) ** 2 for row in per_seed) / (n - 1) for i in near]
    sigma = 100 * math.sqrt(sum(variances) / len(variances))
    return {"near_best_max_lr": [lrs[i] for i in near], "run_sd_points": sigma, "mean_se_points": sigma / math.sqrt(n),
            "seeds_for_se_0_3": math.ceil((sigma / 0.3) ** 2)}


def cell(value, bound=False, fmt="{:.2f}"):
    return "-" if value is None else (">=" if bound else "") + fmt.format(value)


def regret_rows(sets, names):
    print("| part | " + " | ".join(RULES) + " | grid's best (max_lr: acc) |")
    print("| --- |" + " --- |" * (len(RULES) + 1))
    worst = dict.fromkeys(RULES, 0.0)
    for n in names:
        cells = []
        for rule in RULES:
            r = sets[n]["rules"][rule]
            w = r["worst_regret_points"]
            cells.append(cell(w, any(r["lower_bound"].values())))
            worst[rule] = max(worst[rule], w or 0.0)
        best = f"{sets[n]['best_max_lr']:.3g}: {100 * sets[n]['best_test_acc']:.2f}%"
        print(f"| {n} | " + " | ".join(cells) + f" | {best} |")
    print("| worst | " + " | ".join(f"{worst[r]:.2f}" for r in RULES) + " | |")


def print_tables(sets, noisy):
    fitted = [n for n in sets if sets[n]["fitted"]]
    held = [n for n in sets if not sets[n]["fitted"]]
    print("Worst regret over --iters 75/150/300/600 (points of accuracy below the grid's best), "
          "the parts the floor rule was fitted on:\n")
    regret_rows(sets, fitted)
    if held:
        print("\nHeld out (not used to fit the floor rule: another depth, other images or another seed):\n")
        regret_rows(sets, held)
    print("\nEach rule's LR at --iters 75 / 150 / 300 / 600 (max/min over the four; over 150-600):\n")
    print("| part | " + " | ".join(RULES) + " |")
    print("| --- |" + " --- |" * len(RULES))
    for n in sets:
        cells = []
        for rule in RULES:
            r = sets[n]["rules"][rule]
            lrs = " / ".join("-" if r["lr"][it] is None else f"{r['lr'][it]:.3g}" for it in ITERS)
            spreads = [f"{v:.2f}x" for v in (r["lr_spread"], r.get("lr_spread_from_150")) if v is not None]
            cells.append(lrs + (f" ({'; '.join(spreads)})" if spreads else ""))
        print(f"| {n} | " + " | ".join(cells) + " |")
    for key, nz in noisy.items():
        seeds = ", ".join(map(str, nz["seeds"]))
        print(f"\n{key}, seeds {seeds}: final test accuracy (%) at each grid max_lr\n")
        print("| max_lr | " + " | ".join(f"seed {s}" for s in nz["seeds"]) + " | mean | spread (points) |")
        print("| --- |" + " --- |" * (len(nz["seeds"]) + 2))
        for i, lr in enumerate(nz["max_lr"]):
            accs = " | ".join(f"{100 * row[i]:.2f}" for row in nz["test_acc"])
            print(f"| {lr:.3g} | {accs} | {100 * nz['mean_test_acc'][i]:.2f} | {nz['spread_points'][i]:.2f} |")
        print(f"\nbest max_lr per seed: {', '.join(f'{v:.3g}' for v in nz['best_max_lr_per_seed'])}; "
              f"of the mean: {nz['best_max_lr_of_mean']:.3g}. Near the best (means within 2 points of it) one "
              f"run's accuracy has a standard deviation of {nz['run_sd_points']:.2f} points between seeds: the "
              f"mean of {len(nz['seeds'])} has a standard error of {nz['mean_se_points']:.2f}, and one of 0.3 "
              f"would take {nz['seeds_for_se_0_3']} seeds. Regret against the mean curve, every seed's tests "
              "(worst / mean; worst of the tests of 150 steps or more, the default's length, points):\n")
        print("| rule | worst | mean | worst, 150+ steps |")
        print("| --- | --- | --- | --- |")
        for rule, r in nz["rules"].items():
            print(f"| {rule} | {cell(r['worst_regret_points'], r['lower_bound'])} | "
                  f"{cell(r['mean_regret_points'], r['mean_lower_bound'])} | "
                  f"{cell(r.get('worst_regret_points_from_150'))} |")


def main():
    out = Path(sys.argv[1])
    fresh = {n: summarise(n, g) for n, g in measured(out).items()}
    if not fresh:
        sys.exit(f"{out}: no finished set (run scripts/regret.sh)")
    # JSON turns the --iters keys into strings: round-trip so fresh and kept parts look alike.
    fresh = json.loads(json.dumps(fresh))
    earlier = Path("bench/regret.json")
    kept = json.loads(earlier.read_text())["sets"] if earlier.is_file() else {}
    for name, s in kept.items():
        if name not in fresh:
            fresh[name] = {**describe(name), "date": s.get("date", "2026-12-04"),
                           "machine": s.get("machine", "not recorded"), **s}
    sets = dict(sorted(fresh.items(), key=lambda kv: (kv[1]["set"], kv[1]["depth"], kv[1]["seed"])))
    noisy = noise(sets)
    print_tables(sets, noisy)
    Path("bench").mkdir(exist_ok=True)
    record = {"command": "scripts/regret.sh", "date": datetime.date.today().isoformat(),
              "fitted_on": sorted(FITTED), "sets": sets, "noise": noisy}
    earlier.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
