#!/usr/bin/env python3
"""How good could the floor rule be at all? Its constants scanned against the many-seed grids of
scripts/regret-seeds.sh and the test lengths of scripts/iters-repeats.sh, nothing trained again.

The floor rule (src/lr_finder/rules.rs) has three constants: the Gaussian's width in decades, the
rise that bounds the floor, and the factor on the floor's middle. For every width and rise below,
each seed's range test (its lr_find.csv) is analysed again; the factor is then scanned finely, and
for each the worst regret, over every part, of the median of every five seeds' LRs (what
`--repeats 5` would pick) is measured against the grid's means, exactly as regret_seeds_table.py
measures the shipped rule (checked: the shipped constants give clr's LRs). The `--iters` column is
the pick with `--repeats 5` across tests of 75, 150, 300 and 600 steps (max / min, the worse of the
parts of iters-repeats); the issue asks for at most 1.5x.

Also, per part, the interval of max_lr within 0.3 points of the best mean (the target), and the
factors that would put every five seeds' median floor middle inside it: a factor common to all
parts is what any setting of the factor needs. Of a grid grown to more seeds (SET-dD-x10 and
SET-dD-x20), only the larger is used.

usage: rule_limits.py ITERS_DIR REGRET_DIR...   (the folders iters-repeats.sh, regret-seeds.sh wrote)
Writes bench/rule-limits.json and prints Markdown tables.
       rule_limits.py --try W,R,F[;W,R,F...] REGRET_DIR...   (given constants, per part: the worst
       and median regret of one test and of every five seeds; writes nothing)
"""
import datetime
import itertools
import json
import math
import sys
from pathlib import Path

import numpy as np

from regret_seeds_table import PART, TARGET, every_median, geometric_median, grid_points, largest_grids, regret_at
from regret_table import machine

SHIPPED = {"width": 0.2, "rise": 0.5, "factor": 3.0}  # FLOOR_WIDTH, FLOOR_RISE, FLOOR_FACTOR
WIDTHS = [0.1, 0.15, 0.2, 0.3]
RISES = [0.3, 0.5, 0.7]
FACTORS = np.exp(np.linspace(math.log(1.0), math.log(6.0), 61))  # 3% apart
ITERS = [75, 150, 300, 600]
ITERS_TARGET = 1.5


def curve(path):
    """A range test's (lr, raw loss) from its lr_find.csv."""
    rows = np.genfromtxt(path, delimiter=",", names=True)
    return rows["lr"], rows["loss"]


def log_smooth(lrs, losses, width):
    """The loss smoothed over log10 LR, as rules.rs's log_smooth: a Gaussian of `width` decades
    centred at each point, cut at 3 widths."""
    x = np.log10(lrs)
    d = x[None, :] - x[:, None]
    w = np.where(np.abs(d) <= 3 * width, np.exp(-0.5 * (d / width) ** 2), 0.0)
    return (w * losses[None, :]).sum(1) / w.sum(1)


def floor_middle(lrs, losses, width, rise):
    """The geometric middle of the floor, as rules.rs's floor_rule finds it before its factor."""
    smoothed = log_smooth(lrs, losses, width)
    imin = int(np.argmin(smoothed))
    limit = smoothed[imin] + rise * (smoothed[: imin + 1].max() - smoothed[imin])
    on = np.nonzero(smoothed <= limit)[0]
    return math.sqrt(lrs[on[0]] * lrs[on[-1]])


def load_parts(dirs):
    parts = {}
    for out in dirs:
        for base in sorted(Path(out).glob("*-d*-x*")):
            m = PART.match(base.name)
            n = int(m["seeds"]) if m else 0
            tests = [base / f"range-test-s{s}" / "lr_find.csv" for s in range(1, n + 1)]
            if m and (base / "grid" / "grid.json").is_file() and all(t.is_file() for t in tests):
                points = grid_points(json.loads((base / "grid" / "grid.json").read_text()))
                shipped = [json.loads((t.parent / "range_test.json").read_text())["floor_lr"] for t in tests]
                parts[base.name] = {"points": points, "curves": [curve(t) for t in tests], "clr_floor": shipped}
    # A grid grown to more seeds (SET-dD-x20 holding SET-dD-x10's runs) stands for both.
    kept = largest_grids({name: len(p["curves"]) for name, p in parts.items()})
    return {name: p for name, p in parts.items() if name in kept}


def load_iters(root):
    """Per part of iters-repeats: per length, each seed's curve."""
    out = {}
    for part in sorted(Path(root).iterdir()):
        tests = {i: sorted((part / f"iters{i}-r5").glob("seed=*/lr_find.csv")) for i in ITERS}
        if part.name != "data" and all(tests.values()):
            out[part.name] = {i: [curve(t) for t in ts] for i, ts in tests.items()}
    return out


def target_interval(points):
    """The max_lr values (a fine log grid between the grid's ends) within TARGET of the best mean."""
    xs = np.linspace(math.log10(points[0]["max_lr"]), math.log10(points[-1]["max_lr"]), 2001)
    inside = [x for x in xs if regret_at(points, 10 ** x)[0] <= TARGET]
    return 10 ** min(inside), 10 ** max(inside)


def scan(parts, iters):
    rows = []
    for width, rise in itertools.product(WIDTHS, RISES):
        middles = {n: [floor_middle(*c, width, rise) for c in p["curves"]] for n, p in parts.items()}
        ratio = max(
            max(picks) / min(picks)
            for picks in ([geometric_median([floor_middle(*c, width, rise) for c in cs]) for cs in by_len.values()]
                          for by_len in iters.values()))
        best = None
        for f in FACTORS:
            worst = {n: max(regret_at(parts[n]["points"], lr * f)[0] for lr in every_median(m, 5)) for n, m in middles.items()}
            if best is None or max(worst.values()) < max(best[1].values()):
                best = (float(f), worst)
        rows.append({"width": width, "rise": rise, "iters_ratio": ratio, "factor": best[0],
                     "worst": max(best[1].values()), "per_part": best[1],
                     "parts_within": sum(v <= TARGET for v in best[1].values())})
    return rows


def shipped_check(parts):
    """The shipped constants reproduce clr's floor LRs: the analysis here is clr's."""
    for name, p in parts.items():
        for c, lr in zip(p["curves"], p["clr_floor"]):
            mine = floor_middle(*c, SHIPPED["width"], SHIPPED["rise"]) * SHIPPED["factor"]
            assert abs(mine / lr - 1) < 1e-6, f"{name}: {mine} vs clr's {lr}"


def factor_windows(parts):
    """Per part: the target interval, and the factors on the shipped floor's middle at which every
    five seeds' median lands inside it (None when no factor does)."""
    out = {}
    for name, p in parts.items():
        lo, hi = target_interval(p["points"])
        middles = every_median([floor_middle(*c, SHIPPED["width"], SHIPPED["rise"]) for c in p["curves"]], 5)
        f_lo, f_hi = lo / min(middles), hi / max(middles)
        best = max(p["points"], key=lambda q: q["mean"])
        out[name] = {"best_max_lr": best["max_lr"], "target_lo": lo, "target_hi": hi,
                     "factor_lo": f_lo, "factor_hi": f_hi if f_hi >= f_lo else None}
    return out


def try_constants(settings, dirs):
    """`--try`: each setting's regret per part, one test and every five seeds (worst / median)."""
    parts = load_parts(dirs)
    shipped_check(parts)
    print("| width, rise, factor | part | one test: worst / median | every five seeds: worst / median |")
    print("| --- | --- | --- | --- |")
    for setting in settings.split(";"):
        width, rise, factor = map(float, setting.split(","))
        for name, p in parts.items():
            lrs = [floor_middle(*c, width, rise) * factor for c in p["curves"]]
            one = sorted(regret_at(p["points"], lr)[0] for lr in lrs)
            five = sorted(regret_at(p["points"], lr)[0] for lr in every_median(lrs, 5))
            print(f"| {width}, {rise}, {factor} | {name} | {one[-1]:.2f} / {np.median(one):.2f} | "
                  f"{five[-1]:.2f} / {np.median(five):.2f} |")


def main():
    if sys.argv[1] == "--try":
        return try_constants(sys.argv[2], sys.argv[3:])
    iters = load_iters(sys.argv[1])
    parts = load_parts(sys.argv[2:])
    if not parts or not iters:
        sys.exit("usage: rule_limits.py ITERS_DIR REGRET_DIR...  (run iters-repeats.sh and regret-seeds.sh first)")
    shipped_check(parts)
    rows = scan(parts, iters)
    windows = factor_windows(parts)
    names = list(parts)
    print(f"\nThe floor rule's constants against {len(parts)} grids of ten or more seeds: for each width and rise, the "
          f"factor with the lowest worst regret of `--repeats 5` (every five seeds, every part); "
          f"`--iters`: the pick's spread over 75-600 steps (target {ITERS_TARGET}x)\n")
    print("| width | rise | best factor | worst regret | parts within 0.3 | --iters max / min | "
          + " | ".join(names) + " |")
    print("| --- " * (6 + len(names)) + "|")
    for r in sorted(rows, key=lambda r: r["worst"]):
        mark = " (shipped)" if (r["width"], r["rise"]) == (SHIPPED["width"], SHIPPED["rise"]) else ""
        print(f"| {r['width']}{mark} | {r['rise']} | {r['factor']:.2f} | {r['worst']:.2f} | {r['parts_within']} of "
              f"{len(names)} | {r['iters_ratio']:.2f}x | " + " | ".join(f"{r['per_part'][n]:.2f}" for n in names) + " |")
    print("\nPer part, the max_lr within 0.3 points of the best mean, and the factors on the shipped floor's "
          "middle that keep every five seeds' median inside it\n")
    print("| part | best max_lr | within 0.3 | its width (decades) | factors that keep every five inside |")
    print("| --- | --- | --- | --- | --- |")
    for n, w in windows.items():
        fs = "none" if w["factor_hi"] is None else f"{w['factor_lo']:.2f}-{w['factor_hi']:.2f}"
        print(f"| {n} | {w['best_max_lr']:.3g} | {w['target_lo']:.3g}-{w['target_hi']:.3g} | "
              f"{math.log10(w['target_hi'] / w['target_lo']):.2f} | {fs} |")
    need_lo = max(windows.items(), key=lambda kv: kv[1]["factor_lo"])
    need_hi = min(windows.items(), key=lambda kv: kv[1]["factor_hi"] or 0.0)
    common = None
    if all(w["factor_hi"] for w in windows.values()) and need_hi[1]["factor_hi"] >= need_lo[1]["factor_lo"]:
        common = [need_lo[1]["factor_lo"], need_hi[1]["factor_hi"]]
    closed = [n for n, w in windows.items() if w["factor_hi"] is None]
    print(f"\nA factor for every part: {'none' if common is None else f'{common[0]:.2f}-{common[1]:.2f}'} "
          f"({need_lo[0]} needs at least {need_lo[1]['factor_lo']:.2f}"
          + (f"; none keeps {', '.join(closed)} inside" if closed else
             f", {need_hi[0]} at most {need_hi[1]['factor_hi']:.2f}") + ")")
    Path("bench").mkdir(exist_ok=True)
    record = {"command": "scripts/rule_limits.py", "date": datetime.date.today().isoformat(),
              "machine": machine(), "parts": names, "shipped": SHIPPED, "iters_target": ITERS_TARGET, "scan": rows,
              "windows": windows, "common_factor": common}
    Path("bench/rule-limits.json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
