#!/usr/bin/env python3
"""The held-out loss as the range test's curve, measured against the many-seed grids: the table of
scripts/heldout-loss.sh.

Per part and seed, from the test with `--val-batches 4` (held-out loss, batch statistics):
- the floor rule on that curve (clr's suggested_lr with --val-batches);
- the LR at the lowest point of the curve smoothed over log LR as the floor rule smooths
  (0.2 decades);
- its *first dip* times a factor: walking up the LRs, the lowest point of the smoothed curve
  before it first climbs back by a tenth of its drop, times DIP_FACTOR. The three constants were
  fitted on the five Fashion-MNIST parts, and written down (with the criterion for adopting the
  rule) before the four digits parts ran: the digits are its held-out test;
and, beside them, the floor rule on the same seed's training-loss test (regret-seeds.sh's
range-test-sN, on all the part's training images). Regrets are against the grid's mean over its
seeds (regret_seeds_table.regret_at).

usage: heldout_loss_table.py HELDOUT_DIR SEEDS_DIR...
Writes bench/heldout-loss.json and prints Markdown tables.
"""
import datetime
import json
import re
import sys
from pathlib import Path

import numpy as np

from regret_seeds_table import PART, TARGET, grid_points, largest_grids, regret_at
from regret_table import machine
from rule_limits import SHIPPED, curve, floor_middle, log_smooth, target_interval

DIP_WIDTH, DIP_RISE, DIP_FACTOR = 0.2, 0.1, 1.72  # fitted on the Fashion-MNIST parts only
FITTED_ON = "fmnist"


def lowest(lrs, losses):
    return float(lrs[int(np.argmin(log_smooth(lrs, losses, SHIPPED["width"])))])


def first_dip(lrs, losses, width=DIP_WIDTH, rise=DIP_RISE):
    """The LR of the running minimum of the smoothed curve where it first climbs back above that
    minimum by `rise` of its drop (from its highest value up to the minimum)."""
    s = log_smooth(lrs, losses, width)
    imin = 0
    for i, v in enumerate(s):
        if v < s[imin]:
            imin = i
        elif v > s[imin] + rise * (s[: imin + 1].max() - s[imin]):
            break
    return float(lrs[imin])


def grids(dirs):
    """{part: its folder} of the largest finished grid of each part (every seed's test there); a
    part is the grid's name without its seed count (SET-dD, SET-ARCHW-dD)."""
    found = {}
    for out in dirs:
        for base in Path(out).glob("*-d*-x*"):
            m = PART.match(base.name)
            tests = [base / f"range-test-s{s}" / "lr_find.csv" for s in range(1, int(m["seeds"]) + 1)] if m else []
            if m and (base / "grid" / "grid.json").is_file() and all(t.is_file() for t in tests):
                found[base.name] = base
    kept = largest_grids({n: int(PART.match(n)["seeds"]) for n in found})
    return {re.sub(r"-x\d+$", "", n): found[n] for n in kept}


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
        dip_lr = first_dip(lrs, losses) * DIP_FACTOR
        train_lr = floor_middle(*curve(train_csv), SHIPPED["width"], SHIPPED["rise"]) * SHIPPED["factor"]
        seeds.append({"seed": s, "heldout_floor_lr": floor_lr, "heldout_floor_regret": regret_at(points, floor_lr)[0],
                      "heldout_lowest_lr": lowest(lrs, losses), "first_dip_lr": first_dip(lrs, losses),
                      "dip_lr": dip_lr, "dip_regret": regret_at(points, dip_lr)[0],
                      "train_floor_lr": train_lr, "train_floor_regret": regret_at(points, train_lr)[0]})
    best = max(points, key=lambda q: q["mean"])
    lo, hi = target_interval(points)
    dips = [s["first_dip_lr"] for s in seeds]
    return {"grid": base.name, "grid_seeds": int(PART.match(base.name)["seeds"]), "best_max_lr": best["max_lr"],
            "target_lo": lo, "target_hi": hi, "points": points, "seeds": seeds,
            "dip_factor_lo": lo / min(dips), "dip_factor_hi": hi / max(dips)}


def span(xs):
    return f"{min(xs):.3g}–{max(xs):.3g}"


def worst(seeds, key):
    return max(s[key] for s in seeds)


def print_table(parts):
    print("\n| part | grid's best max_lr (within 0.3) | floor rule on the held-out loss (clr --val-batches): "
          f"LRs / worst regret | lowest held-out loss at | first dip x {DIP_FACTOR}: LRs / worst regret | "
          "factors on the first dip within 0.3 | floor rule on the training loss: LRs / worst regret |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for n, p in parts.items():
        s = p["seeds"]
        fitted = " (dip fitted here)" if n.startswith(FITTED_ON) else " (dip held out)"
        window = (f"{p['dip_factor_lo']:.2f}–{p['dip_factor_hi']:.2f}" if p["dip_factor_hi"] >= p["dip_factor_lo"]
                  else "none")
        print(f"| {n}{fitted}, {len(s)} seeds (grid of {p['grid_seeds']}) | {p['best_max_lr']:.3g} "
              f"({p['target_lo']:.3g}–{p['target_hi']:.3g}) | "
              f"{span([x['heldout_floor_lr'] for x in s])} / {worst(s, 'heldout_floor_regret'):.2f} | "
              f"{span([x['heldout_lowest_lr'] for x in s])} | "
              f"{span([x['dip_lr'] for x in s])} / {worst(s, 'dip_regret'):.2f} | {window} | "
              f"{span([x['train_floor_lr'] for x in s])} / {worst(s, 'train_floor_regret'):.2f} |")


def summary(parts):
    """Worst single-test regret of each rule over the fitted and the held-out parts, and the
    number of parts whose every test is within the target."""
    out = {}
    for group, names in (("fitted", [n for n in parts if n.startswith(FITTED_ON)]),
                         ("held_out", [n for n in parts if not n.startswith(FITTED_ON)])):
        for key in ("heldout_floor_regret", "dip_regret", "train_floor_regret"):
            regrets = {n: worst(parts[n]["seeds"], key) for n in names}
            if regrets:
                out.setdefault(group, {})[key] = {"worst": max(regrets.values()),
                                                  "parts_within": sum(v <= TARGET for v in regrets.values()),
                                                  "parts": len(regrets)}
    return out


def main():
    held_root, dirs = Path(sys.argv[1]), sys.argv[2:]
    by_part = grids(dirs)
    parts = {n: part(held_root / n, by_part[n]) for n in sorted(by_part) if (held_root / n).is_dir()}
    parts = {n: p for n, p in parts.items() if p["seeds"]}
    if not parts:
        sys.exit("usage: heldout_loss_table.py HELDOUT_DIR SEEDS_DIR...  (run scripts/heldout-loss.sh)")
    print_table(parts)
    totals = summary(parts)
    labels = {"heldout_floor_regret": "floor rule, held-out loss", "dip_regret": f"first dip x {DIP_FACTOR}, held-out loss",
              "train_floor_regret": "floor rule, training loss"}
    print("\n| rule | worst regret, Fashion-MNIST parts (the dip fitted here) | parts within 0.3 | "
          "worst regret, digits parts (the dip held out) | parts within 0.3 |")
    print("| --- | --- | --- | --- | --- |")
    for key, label in labels.items():
        f, h = totals.get("fitted", {}).get(key), totals.get("held_out", {}).get(key)
        cells = [f"{g['worst']:.2f} | {g['parts_within']} of {g['parts']}" if g else "- | -" for g in (f, h)]
        print(f"| {label} | " + " | ".join(cells) + " |")
    out = {"command": "scripts/heldout-loss.sh", "date": datetime.date.today().isoformat(), "machine": machine(),
           "dip": {"width": DIP_WIDTH, "rise": DIP_RISE, "factor": DIP_FACTOR, "fitted_on": FITTED_ON},
           "totals": totals, "parts": {n: {k: v for k, v in p.items() if k != "points"} for n, p in parts.items()}}
    Path("bench/heldout-loss.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
