#!/usr/bin/env python3
"""The table of scripts/regret-seeds.sh: for each part (set, depth, N seeds), the grid's mean final
test accuracy over the N seeds at each max_lr with its standard error, and for each rule the regret
of every seed's range test (default length) against the best mean: worst, mean, median, how many
are within 0.3 points, and how far the rule's LR moves between seeds. Writes bench/regret-seeds.json
(keeping the parts of the earlier file that OUT_DIR does not hold) and prints Markdown tables.

usage: regret_seeds_table.py OUT_DIR   (the folder scripts/regret-seeds.sh wrote)
"""
import datetime
import json
import math
import re
import statistics
import sys
from pathlib import Path

# machine: the CPU (bf16 results differ in the last digits between CPUs); regret_of: a rule's regret
# in points and whether it is a lower bound (its LR outside the grid).
from regret_table import machine, regret_of

RULES = ["floor", "seed", "steepest", "valley"]
PART = re.compile(r"^(?P<set>.+)-d(?P<depth>\d+)-x(?P<seeds>\d+)$")
TARGET = 0.3  # points: the regret target


def accuracy(run):
    """The accuracy the grid compares: final test accuracy, a diverged run 0, an unfinished none."""
    return {"completed": run["final_test_acc"], "diverged": 0.0}.get(run["status"])


def grid_points(grid):
    """Per max_lr: the mean over the seeds, one run's standard deviation and the mean's standard
    error, in points."""
    by_lr = {}
    for run in grid["runs"]:
        if accuracy(run) is not None:
            by_lr.setdefault(run["max_lr"], []).append(100 * accuracy(run))
    points = []
    for lr, accs in sorted(by_lr.items()):
        sd = statistics.stdev(accs) if len(accs) > 1 else None
        points.append({"max_lr": lr, "mean": statistics.fmean(accs), "runs": len(accs), "sd": sd,
                       "se": sd / math.sqrt(len(accs)) if sd is not None else None})
    return points


def summarise(base):
    m = PART.match(base.name)
    n = int(m["seeds"])
    grid = json.loads((base / "grid" / "grid.json").read_text())
    tests = {}
    for seed in range(1, n + 1):
        measured = json.loads((base / f"grid-s{seed}.json").read_text())["range_test"]
        iters = json.loads((base / f"range-test-s{seed}" / "range_test.json").read_text())["iters"]
        tests[seed] = {"iters": iters, "rules": {r["rule"]: r for r in measured["rules"]}}
    points = grid_points(grid)
    best = max(points, key=lambda p: p["mean"])
    rules = {}
    for name in RULES:
        per_seed = [(tests[s]["rules"][name].get("lr"), *regret_of(tests[s]["rules"][name])) for s in sorted(tests)]
        values = [r for _, r, _ in per_seed if r is not None]
        lrs = [lr for lr, _, _ in per_seed if lr]
        rules[name] = {
            "lr": [lr for lr, _, _ in per_seed], "regret_points": [r for _, r, _ in per_seed],
            "lower_bound": [b for _, _, b in per_seed],
            "worst": max(values, default=None), "mean": statistics.fmean(values) if values else None,
            "median": statistics.median(values) if values else None,
            "within_target": sum(1 for _, r, b in per_seed if r is not None and not b and r <= TARGET),
            "lr_spread": max(lrs) / min(lrs) if lrs else None,
        }
    return {"set": m["set"], "depth": int(m["depth"]), "seeds": sorted(tests), "machine": machine(),
            "date": datetime.date.today().isoformat(), "iters": sorted({t["iters"] for t in tests.values()}),
            "points": points, "best_max_lr": best["max_lr"], "best_mean": best["mean"], "best_se": best["se"],
            "rules": rules}


def cell(value, bound=False):
    return "-" if value is None else (">=" if bound else "") + f"{value:.2f}"


def print_part(name, p):
    n = len(p["seeds"])
    print(f"\n{name}: {n} seeds, range tests of {', '.join(map(str, p['iters']))} steps ({p['machine']}, "
          f"{p['date']})\n")
    print("| max_lr | mean final test accuracy (%) | one run's sd | the mean's standard error |")
    print("| --- | --- | --- | --- |")
    for pt in p["points"]:
        print(f"| {pt['max_lr']:.3g} | {pt['mean']:.2f} | {cell(pt['sd'])} | {cell(pt['se'])} |")
    print(f"\nBest mean: max_lr {p['best_max_lr']:.3g}, {p['best_mean']:.2f} % (standard error "
          f"{cell(p['best_se'])}). Each rule over the {n} seeds' range tests, regret against the best mean "
          f"(points; >=: some LR fell outside the grid):\n")
    print(f"| rule | worst | mean | median | tests within {TARGET} | its LR across seeds (max / min) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for rule, r in p["rules"].items():
        bound = any(r["lower_bound"])
        spread = "-" if r["lr_spread"] is None else f"{r['lr_spread']:.2f}x"
        print(f"| {rule} | {cell(r['worst'], bound)} | {cell(r['mean'], bound)} | {cell(r['median'])} | "
              f"{r['within_target']} of {n} | {spread} |")


def main():
    out = Path(sys.argv[1])
    fresh = {}
    for base in sorted(out.glob("*-d*-x*")):
        m = PART.match(base.name)
        if m and all((base / f"grid-s{s}.json").is_file() for s in range(1, int(m["seeds"]) + 1)):
            fresh[base.name] = summarise(base)
    if not fresh:
        sys.exit(f"{out}: no finished part (run scripts/regret-seeds.sh)")
    earlier = Path("bench/regret-seeds.json")
    parts = json.loads(earlier.read_text())["parts"] if earlier.is_file() else {}
    parts.update(fresh)
    parts = dict(sorted(parts.items()))
    for name, p in parts.items():
        print_part(name, p)
    Path("bench").mkdir(exist_ok=True)
    record = {"command": "scripts/regret-seeds.sh", "date": datetime.date.today().isoformat(), "parts": parts}
    earlier.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
