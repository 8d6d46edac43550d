#!/usr/bin/env python3
"""The held-out loss as the range test's curve, measured against the many-seed grids: the table of
scripts/heldout-loss.sh.

Per part and seed: the floor rule on the held-out curve (clr's suggested_lr with --val-batches),
the LR at the lowest point of the held-out curve smoothed over log LR as the floor rule smooths
(0.2 decades), and, beside them, the floor rule on the same seed's training-loss test
(regret-seeds.sh's range-test-sN). Regrets are against the grid's mean over its seeds
(regret_seeds_table.regret_at). Then the question a rule on the held-out curve must answer: is
there one factor on its lowest point that keeps every seed of every part within 0.3 points?

usage: heldout_loss_table.py HELDOUT_DIR SEEDS_DIR...
Writes bench/heldout-loss.json and prints Markdown tables.
"""
import datetime
import json
import math
import statistics
import sys
from pathlib import Path

import numpy as np

from regret_seeds_table import PART, TARGET, grid_points, largest_grids, regret_at
from regret_table import machine
from rule_limits import SHIPPED, curve, floor_middle, target_interval

FACTORS = np.exp(np.linspace(0.0, math.log(100.0), 201))  # 1 to 100, 2.3% apart


def lowest(lrs, losses, width=SHIPPED["width"]):
    """The LR at the lowest point of the loss smoothed over log10 LR (the floor rule's Gaussian)."""
    x = np.log10(lrs)
    d = x[None, :] - x[:, None]
    w = np.where(np.abs(d) <= 3 * width, np.exp(-0.5 * (d / width) ** 2), 0.0)
    return float(lrs[int(np.argmin((w * losses[None, :]).sum(1) / w.sum(1)))])


def grids(dirs):
    """{SET-dD: its folder} of the largest finished grid of each part (every seed's test there)."""
    found = {}
    for out in dirs:
        for base in Path(out).glob("*-d*-x*"):
            m = PART.match(base.name)
            tests = [base / f"range-test-s{s}" / "lr_find.csv" for s in range(1, int(m["seeds"]) + 1)] if m else []
            if m and (base / "grid" / "grid.json").is_file() and all(t.is_file() for t in tests):
                found[base.name] = base
    kept = largest_grids({n: int(PART.match(n)["seeds"]) for n in found})
    return {PART.match(n)["set"] + "-d" + PART.match(n)["depth"]: found[n] for n in kept}


def part(held, base):
    points = grid_points(json.loads((base / "grid" / "grid.json").read_text()))
    seeds = []
    for rt in sorted(held.glob("heldout-s*"), key=lambda p: int(p.name.split("-s")[1])):
        s = int(rt.name.split("-s")[1])
        train_csv = base / f"range-test-s{s}" / "lr_find.csv"
        if not (rt / "range_test.json").is_file() or not train_csv.is_file():
            continue
        lrs, losses = curve(rt / "lr_find.csv")
        floor_lr = json.loads((rt / "range_test.json").read_text())["suggested_lr"]
        train_lr = floor_middle(*curve(train_csv), SHIPPED["width"], SHIPPED["rise"]) * SHIPPED["factor"]
        seeds.append({"seed": s, "heldout_floor_lr": floor_lr, "heldout_floor_regret": regret_at(points, floor_lr)[0],
                      "heldout_lowest_lr": lowest(lrs, losses),
                      "train_floor_lr": train_lr, "train_floor_regret": regret_at(points, train_lr)[0]})
    best = max(points, key=lambda q: q["mean"])
    lo, hi = target_interval(points)
    low = [s["heldout_lowest_lr"] for s in seeds]
    return {"grid": base.name, "grid_seeds": int(PART.match(base.name)["seeds"]), "best_max_lr": best["max_lr"],
            "target_lo": lo, "target_hi": hi, "points": points, "seeds": seeds,
            "best_over_lowest": statistics.median(best["max_lr"] / v for v in low),
            "factor_lo": lo / min(low), "factor_hi": hi / max(low)}


def common_factor(parts):
    """The factor on the held-out curve's lowest point with the lowest worst single-test regret."""
    def worst(f):
        return max(regret_at(p["points"], s["heldout_lowest_lr"] * f)[0] for p in parts.values() for s in p["seeds"])
    f = min(FACTORS, key=worst)
    return {"factor": float(f), "worst": worst(f),
            "window": [max(p["factor_lo"] for p in parts.values()), min(p["factor_hi"] for p in parts.values())]}


def main():
    held_root, dirs = Path(sys.argv[1]), sys.argv[2:]
    by_part = grids(dirs)
    parts = {n: part(held_root / n, by_part[n]) for n in sorted(by_part) if (held_root / n).is_dir()}
    parts = {n: p for n, p in parts.items() if p["seeds"]}
    if not parts:
        sys.exit("usage: heldout_loss_table.py HELDOUT_DIR SEEDS_DIR...  (run scripts/heldout-loss.sh)")
    common = common_factor(parts)
    print("\n| part | grid's best max_lr | held-out floor (clr --val-batches): LRs / worst regret | lowest held-out "
          "loss at | best / lowest | training-loss floor: LRs / worst regret |")
    print("| --- | --- | --- | --- | --- | --- |")
    span = lambda xs: f"{min(xs):.3g}–{max(xs):.3g}"
    for n, p in parts.items():
        s = p["seeds"]
        print(f"| {n} ({len(s)} seeds, grid of {p['grid_seeds']}) | {p['best_max_lr']:.3g} | "
              f"{span([x['heldout_floor_lr'] for x in s])} / {max(x['heldout_floor_regret'] for x in s):.2f} | "
              f"{span([x['heldout_lowest_lr'] for x in s])} | {p['best_over_lowest']:.1f} | "
              f"{span([x['train_floor_lr'] for x in s])} / {max(x['train_floor_regret'] for x in s):.2f} |")
    lo, hi = common["window"]
    print(f"\nOne factor on the lowest held-out point for every part: best {common['factor']:.1f}, worst regret "
          f"{common['worst']:.2f}; factors keeping every test within {TARGET}: "
          + (f"{lo:.1f}–{hi:.1f}" if hi >= lo else f"none (the parts need {lo:.1f} at least and {hi:.1f} at most)"))
    out = {"command": "scripts/heldout-loss.sh", "date": datetime.date.today().isoformat(), "machine": machine(),
           "common_factor": common, "parts": {n: {k: v for k, v in p.items() if k != "points"} for n, p in parts.items()}}
    Path("bench/heldout-loss.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
