#!/usr/bin/env python3
"""The table of scripts/iters-repeats.sh: per part and test length, each seed's floor pick and the
combined pick of `--repeats R` (their geometric median, as range_test.json has it); then how far
each moves across the lengths (highest / lowest): every single seed's, and the combined one's.
Writes bench/iters-repeats.json.

usage: iters_repeats_table.py OUT_DIR   (the folder scripts/iters-repeats.sh wrote)
"""
import datetime
import json
import re
import sys
from pathlib import Path

from regret_table import machine


def ratio(values):
    return max(values) / min(values)


def summarise(part, r):
    lengths = {}
    for rt in sorted(part.glob(f"iters*-r{r}")):
        report = json.loads((rt / "range_test.json").read_text())
        if report["stop_reason"] == "interrupted":
            continue
        iters = int(re.match(r"iters(\d+)-r\d+", rt.name)[1])
        tests = report["repeats"]["tests"]
        lengths[iters] = {"combined": report["floor_lr"], "seeds": {str(t["seed"]): t["suggested_lr"] for t in tests},
                          "rule": report["rule"]}
    if not lengths:
        return None
    seeds = sorted(set.intersection(*(set(v["seeds"]) for v in lengths.values())), key=int)
    each = {s: ratio([v["seeds"][s] for v in lengths.values()]) for s in seeds}
    longer = {i: v for i, v in lengths.items() if i >= 150}
    return {"machine": machine(), "date": datetime.date.today().isoformat(), "iters": sorted(lengths),
            "lengths": {str(i): lengths[i] for i in sorted(lengths)},
            "combined_ratio": ratio([v["combined"] for v in lengths.values()]),
            "single_ratio": each, "single_ratio_worst": max(each.values()),
            "combined_ratio_from_150": ratio([v["combined"] for v in longer.values()]) if longer else None,
            "single_ratio_from_150_worst": max(ratio([v["seeds"][s] for v in longer.values()]) for s in seeds)
            if longer else None}


def main():
    out = Path(sys.argv[1])
    counts = sorted({int(re.match(r"iters\d+-r(\d+)$", rt.name)[1]) for rt in out.glob("*-d*/iters*-r*")})
    # One entry per part and --repeats R (a part run at two Rs has two).
    parts = {f"{p.name}-r{r}": s for p in sorted(out.glob("*-d*")) for r in counts if (s := summarise(p, r))}
    if not parts:
        sys.exit(f"{out}: no finished test (run scripts/iters-repeats.sh)")
    for name, p in parts.items():
        seeds = list(p["single_ratio"])
        print(f"\n{name} ({p['machine']}, {p['date']}): the floor rule's pick by test length\n")
        print("| --iters | " + " | ".join(f"seed {s}" for s in seeds) + f" | --repeats {len(seeds)} |")
        print("| --- " * (len(seeds) + 2) + "|")
        for i, v in p["lengths"].items():
            print(f"| {i} | " + " | ".join(f"{v['seeds'][s]:.3g}" for s in seeds) + f" | {v['combined']:.3g} |")
        print("| highest / lowest | " + " | ".join(f"{p['single_ratio'][s]:.2f}x" for s in seeds)
              + f" | {p['combined_ratio']:.2f}x |")
    Path("bench").mkdir(exist_ok=True)
    record = {"command": "scripts/iters-repeats.sh", "date": datetime.date.today().isoformat(), "parts": parts}
    Path("bench/iters-repeats.json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
