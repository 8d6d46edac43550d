#!/usr/bin/env python3
"""Checks that every figure README.md quotes agrees with bench/*.json.

The figures live in one table under "## Speed": columns clr | peer | clr / peer | rerun. The
rerun command (in backticks) names the JSON file (its "command" field); each number must equal
that file's field rounded to the number of decimals the README shows. Outside the table the
README may quote no speed ("images/s") or ratio ("1.38×"). The rule table under "## How good is
the suggested LR?" (rule | worst regret | worst regret against the seeds' mean | LR spread on
digits | median regret against a ten-seed mean) must equal bench/regret.json (scripts/regret.sh):
the worst regret of each rule over every grid, the worst over the sets run from several seeds
measured against their mean accuracy, the largest LR spread over the digits sets; and
bench/regret-seeds.json (scripts/regret-seeds.sh): the largest over its parts of the median
regret of the ten seeds' range tests (of a grid grown to more seeds, only the largest counts). The floor rule's table beside it (floor rule | one test |
`--repeats 5`) must equal bench/regret-seeds.json (the worst and the median regret, over its
parts, of single tests and of every five seeds combined) and bench/iters-repeats.json
(scripts/iters-repeats.sh: the largest move across test lengths of a single seed's pick and of
the combined one). Exit 0 when all agree, 1 naming each disagreement. usage: check-readme-figures.py [--readme README.md] [--bench bench]
"""
import argparse
import glob
import json
import re
import sys

from regret_seeds_table import largest_grids

# Which JSON fields the clr, peer and clr / peer columns quote, by the script that wrote the file.
FIELDS = {
    "scripts/bench-cpu.sh": ("clr_median", "peer_median", "ratio_clr_over_peer"),
    "scripts/bench-cpu-bf16.sh": (
        "clr_bf16_median",
        "peer_bf16_channels_last_median",
        "ratio_clr_bf16_over_peer_bf16_channels_last",
    ),
    "scripts/compare-peer.sh": ("clr_test_acc_mean", "peer_test_acc_mean", "speed_ratio_clr_over_peer"),
    "scripts/compare-peer-fashion.sh": ("clr_test_acc", "peer_test_acc", "speed_ratio_clr_over_peer"),
    # clr from an image folder's cache (the clr column) against clr from the CIFAR layout (the peer's).
    "scripts/bench-folder.sh": ("folder_median", "cifar_layout_median", "ratio_folder_over_cifar_layout"),
}
LOOSE = re.compile(r"\d[\d.,]*\s*(×|images/s)")


def agrees(cell, value):
    decimals = len(cell.split(".")[1]) if "." in cell else 0
    return float(cell) == round(value, decimals)


def regret_errors(cells, n, bench):
    """A row of the README's rule table against bench/regret.json."""
    try:
        with open(f"{bench}/regret.json") as f:
            record = json.load(f)
    except OSError:
        return [f"README.md:{n}: a regret row but no {bench}/regret.json"]
    sets, noise = record["sets"], record.get("noise", {})
    rule = cells[0].split()[0]
    rules = [s["rules"].get(rule) for s in sets.values()]
    if None in rules or not noise:
        return [f"README.md:{n}: no rule {rule!r} or no seeds compared in {bench}/regret.json"]
    worst = max(r["worst_regret_points"] for r in rules)
    of_mean = max(g["rules"][rule]["worst_regret_points"] for g in noise.values())
    spread = max(s["rules"][rule]["lr_spread"] for name, s in sets.items() if name.startswith("digits"))
    parts = load(bench, "regret-seeds.json")
    if parts is None:
        return [f"README.md:{n}: a regret row but no {bench}/regret-seeds.json"]
    median = max(p["rules"][rule]["median"] for p in parts.values())
    errors = []
    checks = ((cells[1], worst, "worst regret"), (cells[2], of_mean, "worst regret against the seeds' mean"),
              (cells[3], spread, "digits LR spread"), (cells[4], median, "median regret against ten seeds"))
    for cell, value, what in checks:
        if not agrees(cell.lstrip("≥"), value):
            errors.append(f"README.md:{n}: {rule} {cell} but {bench}/regret.json has {what} {value}")
    return errors


def load(bench, name):
    try:
        with open(f"{bench}/{name}") as f:
            return current(json.load(f)["parts"])
    except OSError:
        return None


def current(parts):
    """The parts the README quotes: of a grid grown to more seeds only the largest; the smaller
    stays in the file for the BENCHMARKS sections that show it."""
    kept = largest_grids({name: len(p.get("seeds", ())) for name, p in parts.items()})
    return {name: p for name, p in parts.items() if name in kept}


# The rows of the floor rule's table: (first words of the row, the single test's figure, --repeats 5's).
REPEATS_ROWS = {
    "worst regret": (lambda s, i: max(p["rules"]["floor"]["worst"] for p in s.values()),
                     lambda s, i: max(p["repeats"]["5"]["worst"] for p in s.values() if "5" in p.get("repeats", {}))),
    "median regret": (lambda s, i: max(p["rules"]["floor"]["median"] for p in s.values()),
                      lambda s, i: max(p["repeats"]["5"]["median"] for p in s.values() if "5" in p.get("repeats", {}))),
    "its LR across": (lambda s, i: max(p["single_ratio_worst"] for p in i.values()),
                      lambda s, i: max(p["combined_ratio"] for p in i.values())),
}


def repeats_errors(cells, n, bench):
    """A row of the README's floor-rule table against bench/regret-seeds.json and iters-repeats.json."""
    seeds, iters = load(bench, "regret-seeds.json"), load(bench, "iters-repeats.json")
    if seeds is None or iters is None:
        return [f"README.md:{n}: a --repeats row but no {bench}/regret-seeds.json or iters-repeats.json"]
    row = next((v for k, v in REPEATS_ROWS.items() if cells[0].startswith(k)), None)
    if row is None:
        return [f"README.md:{n}: unknown row of the floor rule's table: {cells[0]!r}"]
    errors = []
    for cell, figure in zip(cells[1:], row):
        value = figure(seeds, iters)
        if not agrees(cell, value):
            errors.append(f"README.md:{n}: {cells[0]}: {cell} but bench has {value}")
    return errors


def check(readme, bench):
    by_command = {}
    for path in sorted(glob.glob(f"{bench}/*.json")):
        with open(path) as f:
            data = json.load(f)
        by_command[data.get("command")] = (path, data)
    errors, rows, in_speed, in_regret = [], 0, False, False
    for n, line in enumerate(open(readme, encoding="utf-8"), 1):
        if line.startswith("## "):
            in_speed = line.strip() == "## Speed"
            in_regret = line.strip() == "## How good is the suggested LR?"
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if in_regret and len(cells) == 3 and cells[0] not in ("floor rule", "---"):
            rows += 1
            errors += repeats_errors(cells, n, bench)
        elif in_regret and cells and cells[0] not in ("rule", "---", "floor rule"):
            rows += 1
            if len(cells) != 5:
                errors.append(f"README.md:{n}: a rule row of {len(cells)} columns, not 5")
                continue
            errors += regret_errors(cells, n, bench)
        elif in_speed and len(cells) == 5 and cells[4].startswith("`"):
            rows += 1
            command = cells[4].strip("`")
            if command not in by_command:
                errors.append(f"README.md:{n}: no bench/*.json has command {command!r}")
                continue
            path, data = by_command[command]
            script = command.split()[0]
            for cell, field in zip(cells[1:4], FIELDS.get(script, ())):
                if not agrees(cell, data[field]):
                    errors.append(f"README.md:{n}: {cell} but {path} has {field} = {data[field]}")
            if script not in FIELDS:
                errors.append(f"README.md:{n}: no known fields for {script}")
        elif LOOSE.search(line):
            errors.append(f"README.md:{n}: a figure outside the Speed table: {line.strip()}")
    if rows == 0:
        errors.append("README.md: no figure rows under ## Speed")
    return errors, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--readme", default="README.md")
    ap.add_argument("--bench", default="bench")
    args = ap.parse_args()
    errors, rows = check(args.readme, args.bench)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        return 1
    print(f"README figures: {rows} rows agree with {args.bench}/*.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
