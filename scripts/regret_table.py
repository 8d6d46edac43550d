#!/usr/bin/env python3
"""The regret table from the folders scripts/regret.sh made: for each set and depth, the grid's
best max_lr and accuracy, and for each rule its LR at each --iters and its regret (points of
test accuracy below the grid's best; '>=' when the LR falls outside the grid, measured to the
grid's nearest end). Writes bench/regret.json and prints Markdown tables.

usage: regret_table.py OUT_DIR   (the folder scripts/regret.sh wrote)
"""
import datetime
import json
import sys
from pathlib import Path

ITERS = [75, 150, 300, 600]
RULES = ["floor", "seed", "steepest", "valley"]


def measured(out):
    """{(set, depth): {iters: grid.json measured against that test}} for every finished part."""
    parts = {}
    for base in sorted(out.glob("*-d*")):
        files = {it: base / f"grid-i{it}.json" for it in ITERS}
        if not all(f.is_file() for f in files.values()):
            continue
        name, depth = base.name.rsplit("-d", 1)
        parts[(name, int(depth))] = {it: json.loads(f.read_text()) for it, f in files.items()}
    return parts


def regret_of(r):
    """A rule's regret in points, and whether it is only a lower bound (LR outside the grid)."""
    if r.get("regret") is not None:
        return 100 * r["regret"], False
    if r.get("regret_at_least") is not None:
        return 100 * r["regret_at_least"], True
    return None, False


def summarise(grids):
    first = grids[ITERS[0]]
    best = first["best"]
    out = {"best_max_lr": best["max_lr"], "best_test_acc": best["final_test_acc"],
           "grid": [(r["max_lr"], r["final_test_acc"], r["status"]) for r in first["runs"]], "rules": {}}
    for rule in RULES:
        lrs, regrets, bounds = {}, {}, {}
        for it, g in grids.items():
            r = next(x for x in g["range_test"]["rules"] if x["rule"] == rule)
            lrs[it] = r["lr"]
            regrets[it], bounds[it] = regret_of(r)
        known = [v for v in lrs.values() if v]
        spread = max(known) / min(known) if known else None
        worst = max((v for v in regrets.values() if v is not None), default=None)
        out["rules"][rule] = {"lr": lrs, "regret_points": regrets, "lower_bound": bounds,
                              "lr_spread": spread, "worst_regret_points": worst}
    return out


def main():
    out = Path(sys.argv[1])
    parts = measured(out)
    if not parts:
        sys.exit(f"{out}: no finished set (run scripts/regret.sh)")
    table = {f"{s}-d{d}": summarise(g) for (s, d), g in sorted(parts.items())}
    names = list(table)
    print("Worst regret over --iters 75/150/300/600 (points of accuracy below the grid's best):\n")
    print("| rule | " + " | ".join(names) + " | worst |")
    print("| --- |" + " --- |" * (len(names) + 1))
    for rule in RULES:
        cells, worst = [], 0.0
        for n in names:
            r = table[n]["rules"][rule]
            w = r["worst_regret_points"]
            bound = any(r["lower_bound"].values())
            cells.append("-" if w is None else f"{'>=' if bound else ''}{w:.2f}")
            worst = max(worst, w or 0.0)
        print(f"| {rule} | " + " | ".join(cells) + f" | {worst:.2f} |")
    print("| grid's best (max_lr: acc) | " + " | ".join(
        f"{table[n]['best_max_lr']:.3g}: {100 * table[n]['best_test_acc']:.2f}%" for n in names) + " | |")
    print("\nEach rule's LR at --iters 75 / 150 / 300 / 600 (max/min):\n")
    print("| rule | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for rule in RULES:
        cells = []
        for n in names:
            r = table[n]["rules"][rule]
            lrs = " / ".join("-" if r["lr"][it] is None else f"{r['lr'][it]:.3g}" for it in ITERS)
            cells.append(lrs + ("" if r["lr_spread"] is None else f" ({r['lr_spread']:.2f}x)"))
        print(f"| {rule} | " + " | ".join(cells) + " |")
    Path("bench").mkdir(exist_ok=True)
    record = {"command": "scripts/regret.sh", "date": datetime.date.today().isoformat(), "sets": table}
    Path("bench/regret.json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
