#!/usr/bin/env python3
"""The table of scripts/regret-seeds.sh: for each part (set, depth, N seeds), the grid's mean final
test accuracy over the N seeds at each max_lr with its standard error, and for each rule the regret
of every seed's range test (default length) against the best mean: worst, mean, median, how many
are within 0.3 points, and how far the rule's LR moves between seeds. Writes bench/regret-seeds.json
(keeping the parts of the earlier file that OUT_DIR does not hold) and prints Markdown tables.

With `--repeats R` tests in the part (`repeatsR-sF`, seeds F..F+R-1), also the floor rule's regret
when R seeds' tests are combined: for the tests clr ran (read from their grid-rR-sF.json), and for
every R of the N seeds (the geometric median of their floor LRs, which is what `--repeats`
computes: checked against clr's on the tests it ran; the regret interpolated as clr interpolates
it: checked against clr's on every single test).

With `train --verify N` runs (`verifyN-sS`: seed S's test, then N short runs at seed S around its
pick), the regret of the max_lr each chose, of its pick alone, and of its best candidate (what a
choice without noise would have had). With the grid refined (more values than the coarse 10 of
0.01 -> 10), also the floor rule's regret measured on the coarse values alone.

usage: regret_seeds_table.py OUT_DIR   (the folder scripts/regret-seeds.sh wrote)
       regret_seeds_table.py --fine GRID_JSON   (the --max-lrs that refine a grid around its best)
"""
import datetime
import itertools
import json
import math
import random
import re
import statistics
import sys
from pathlib import Path

# machine: the CPU (bf16 results differ in the last digits between CPUs); regret_of: a rule's regret
# in points and whether it is a lower bound (its LR outside the grid).
from regret_table import machine, regret_of

RULES = ["floor", "seed", "steepest", "valley"]
# A part's folder: SET-dDEPTH-xSEEDS (the ResNet), or SET-ARCHWIDTH-dDEPTH-xSEEDS (another network).
PART = re.compile(r"^(?P<set>.+?)(-(?P<arch>wrn|smith-wide)(?P<width>\d+))?-d(?P<depth>\d+)-x(?P<seeds>\d+)$")
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


def largest_grids(seed_counts):
    """Of a grid grown to more seeds (SET-dD-x10 and SET-dD-x20, the second holding the first's
    runs), only the largest stands for the part: the names kept, from {name: number of seeds}."""
    largest = {}
    for name, n in seed_counts.items():
        stem = re.sub(r"-x\d+$", "", name)
        if stem not in largest or n > seed_counts[largest[stem]]:
            largest[stem] = name
    return set(largest.values())


def geometric_median(values):
    """As clr's `--repeats`: the median of the logs (of an even count, the mean of the middle two)."""
    return math.exp(statistics.median(math.log(v) for v in values))


def every_median(lrs, r):
    """The geometric median of every `r` of `lrs` (what `--repeats r` would pick from those seeds)."""
    return [geometric_median([lrs[i] for i in c]) for c in itertools.combinations(range(len(lrs)), r)]


def regret_at(points, lr):
    """The regret (points) at `lr` against the best mean: the means interpolated in log LR, as clr's
    grid does; (regret, True) as a lower bound from the nearest end when `lr` is outside."""
    best = max(p["mean"] for p in points)
    x = math.log10(lr)
    xs = [math.log10(p["max_lr"]) for p in points]
    if x < xs[0] or x > xs[-1]:
        return best - (points[0] if x < xs[0] else points[-1])["mean"], True
    i = next(i for i in range(len(xs) - 1) if xs[i] <= x <= xs[i + 1])
    t = (x - xs[i]) / (xs[i + 1] - xs[i])
    return best - (points[i]["mean"] + t * (points[i + 1]["mean"] - points[i]["mean"])), False


def repeats(base, points, floor_lrs, floor_regrets):
    """The floor rule with R seeds combined, for each R that clr ran in this part and for 5 (the
    README's figure) in every part: the median of every R seeds' LRs is what `--repeats R`
    computes, checked against clr's on the parts where it ran."""
    for lr, (regret, bound) in zip(floor_lrs, floor_regrets):
        ours, our_bound = regret_at(points, lr)
        assert bound == our_bound and abs(ours - regret) < 1e-6, f"{base}: interpolation {ours} vs clr's {regret}"
    found = {}
    for grid in sorted(base.glob("grid-r*-s*.json")):
        r, first = map(int, re.match(r"grid-r(\d+)-s(\d+)\.json", grid.name).groups())
        floor = next(x for x in json.loads(grid.read_text())["range_test"]["rules"] if x["rule"] == "floor")
        mine = geometric_median(floor_lrs[first - 1:first - 1 + r])
        assert abs(floor["lr"] / mine - 1) < 1e-9, f"{grid}: clr's {floor['lr']} vs the median {mine}"
        found.setdefault(r, []).append({"first_seed": first, "lr": floor["lr"], "regret": regret_of(floor)[0]})
    found.setdefault(5, [])
    out = {}
    for r, ran in sorted(found.items()):
        lrs = every_median(floor_lrs, r)
        combos = [regret_at(points, lr) for lr in lrs]
        values = [v for v, _ in combos]
        out[str(r)] = {"ran": ran, "combinations": len(values), "worst": max(values),
                       "median": statistics.median(values), "within_target": sum(v <= TARGET and not b for v, b in combos),
                       "lower_bound": any(b for _, b in combos), "lr_spread": max(lrs) / min(lrs)}
    return out


FLOOR_FACTOR = 3.0  # the floor rule's factor on the middle of the floor (src/lr_finder/rules.rs)
FACTORS = [1.5, 2.0, 2.5, 3.0, 3.5]


def factors(base, points, floor_lrs):
    """The floor rule's worst regret had its factor been another (the seeds' floor LRs scaled by
    factor / FLOOR_FACTOR), for one test and for the median of every five seeds: how much of the
    regret left is the factor's, i.e. the rule's bias rather than noise."""
    for seed in range(1, len(floor_lrs) + 1):
        rt = json.loads((base / f"range-test-s{seed}" / "range_test.json").read_text())
        middle = math.sqrt(rt["floor_start_lr"] * rt["floor_end_lr"])
        assert abs(middle * FLOOR_FACTOR / floor_lrs[seed - 1] - 1) < 1e-9, f"{base}: FLOOR_FACTOR is not clr's"
    out = {}
    for f in FACTORS:
        lrs = [lr * f / FLOOR_FACTOR for lr in floor_lrs]
        fives = every_median(lrs, 5)
        out[str(f)] = {"single_worst": max(regret_at(points, lr)[0] for lr in lrs),
                       "repeats5_worst": max(regret_at(points, lr)[0] for lr in fives)}
    return out


def every_five(points, lrs):
    """A rule's worst and median regret over the median LR of every five of the seeds' tests (what
    `--repeats 5` would pick with that rule)."""
    regrets = sorted(regret_at(points, lr)[0] for lr in every_median(lrs, 5))
    return {"worst": regrets[-1], "median": statistics.median(regrets)}


def verify(base, points):
    """`train --verify N` per N: each seed's choice, its pick alone and its candidates, each
    measured against the best mean (a diverged candidate's run scores 0, as clr scores it)."""
    out = {}
    for run in sorted(base.glob("verify*-s*"), key=lambda p: int(p.name.rsplit("-s", 1)[1])):
        n, seed = map(int, re.match(r"verify(\d+)-s(\d+)$", run.name).groups())
        done = run / "summary.json"
        summary = json.loads(done.read_text()) if done.is_file() else {"status": None}
        if summary["status"] not in ("completed", "diverged"):
            continue  # still running, or stopped: the script reruns it
        chosen = json.loads((run / "config.json").read_text())["max_lr"]
        candidates = json.loads((run / "verify" / "grid.json").read_text())["values"]
        assert any(abs(chosen / c - 1) < 1e-9 for c in candidates), f"{run}: {chosen} is no candidate"
        pick = candidates[len(candidates) // 2]
        out.setdefault(str(n), []).append({
            "seed": seed, "candidates": candidates, "chosen": chosen, "regret": regret_at(points, chosen)[0],
            "pick_regret": regret_at(points, pick)[0],
            "best_candidate_regret": min(regret_at(points, c)[0] for c in candidates),
            "final_test_acc": summary["final_test_acc"]})
    return {n: {"runs": runs, "worst": max(r["regret"] for r in runs),
                "median": statistics.median(r["regret"] for r in runs),
                "within_target": sum(r["regret"] <= TARGET for r in runs),
                "pick_worst": max(r["pick_regret"] for r in runs),
                "pick_median": statistics.median(r["pick_regret"] for r in runs),
                "best_candidate_worst": max(r["best_candidate_regret"] for r in runs)}
            for n, runs in out.items()}


# The coarse grid of scripts/regret-seeds.sh (--from 0.01 --to 10 --points 10) that FINE refines.
COARSE = [0.01 * 10 ** (k / 3) for k in range(10)]


def coarse_index(lr):
    """The index in COARSE of a grid value (grid.json keeps 6 significant digits), or None."""
    return next((k for k, c in enumerate(COARSE) if abs(lr / c - 1) < 1e-5), None)


def fine_values(grid):
    """FINE=auto: the midpoints (in log LR) of the coarse values two steps each side of the best
    mean among them, as a --max-lrs list."""
    means = {coarse_index(p["max_lr"]): p["accuracy"] for p in grid["points"]}
    means.pop(None, None)
    best = max(means, key=lambda k: (means[k], -k))
    return [0.01 * 10 ** ((2 * k + 1) / 6) for k in range(max(best - 2, 0), min(best + 2, len(COARSE) - 1))
            if k in means and k + 1 in means]


def coarse(points, floor_lrs):
    """The floor rule (one test, and the median of every five seeds) measured on the coarse values
    alone, when the grid was refined: what the refinement changed."""
    kept = [p for p in points if coarse_index(p["max_lr"]) is not None]
    if len(kept) == len(points) or len(kept) < 2:
        return None
    single = [regret_at(kept, lr)[0] for lr in floor_lrs]
    fives = every_five(kept, floor_lrs)
    return {"values": len(kept), "best_max_lr": max(kept, key=lambda p: p["mean"])["max_lr"],
            "single_worst": max(single), "single_median": statistics.median(single),
            "repeats5_worst": fives["worst"], "repeats5_median": fives["median"]}


BOOTSTRAP = 1000  # resamples of the grid's seeds


def bootstrap(grid, floor_lrs):
    """How precisely ten seeds measure a regret: the grid's seeds resampled with replacement (a
    seed's runs at every max_lr together: they share initial weights and data order), the means,
    their best and the regrets recomputed, the floor rule's LRs kept. For the median of the ten
    tests' LRs, and for the worst over every five seeds' median: the estimate and the 5th and 95th
    percentiles over the resamples."""
    by_seed = {}
    for run in grid["runs"]:
        if accuracy(run) is not None:
            by_seed.setdefault(run["seed"], {})[run["max_lr"]] = 100 * accuracy(run)
    lrs = sorted({lr for runs in by_seed.values() for lr in runs})
    seeds = sorted(s for s, runs in by_seed.items() if len(runs) == len(lrs))
    median_lr = geometric_median(floor_lrs)
    fives = every_median(floor_lrs, 5)
    rng = random.Random(0)

    def regrets(sample):
        points = [{"max_lr": lr, "mean": statistics.fmean(by_seed[s][lr] for s in sample)} for lr in lrs]
        return regret_at(points, median_lr)[0], max(regret_at(points, lr)[0] for lr in fives)

    estimate = regrets(seeds)
    draws = [regrets([rng.choice(seeds) for _ in seeds]) for _ in range(BOOTSTRAP)]
    out = {"resamples": BOOTSTRAP, "seeds": len(seeds)}
    for i, key in enumerate(["median_pick", "repeats5_worst"]):
        values = sorted(d[i] for d in draws)
        out[key] = {"lr": median_lr if i == 0 else None, "estimate": estimate[i],
                    "p5": values[BOOTSTRAP // 20], "p95": values[BOOTSTRAP - 1 - BOOTSTRAP // 20]}
    return out


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
    floor_lrs = rules["floor"]["lr"]
    floor_regrets = [regret_of(tests[s]["rules"]["floor"]) for s in sorted(tests)]
    net = {"arch": m["arch"], "width": int(m["width"])} if m["arch"] else {}
    return {"set": m["set"], **net, "depth": int(m["depth"]), "seeds": sorted(tests), "machine": machine(),
            "date": datetime.date.today().isoformat(), "iters": sorted({t["iters"] for t in tests.values()}),
            "points": points, "best_max_lr": best["max_lr"], "best_mean": best["mean"], "best_se": best["se"],
            "rules": rules, "repeats": repeats(base, points, floor_lrs, floor_regrets),
            "factors": factors(base, points, floor_lrs),
            "rules_repeats5": {name: every_five(points, r["lr"]) for name, r in rules.items() if all(r["lr"])},
            "verify": verify(base, points), "coarse": coarse(points, floor_lrs),
            "bootstrap": bootstrap(grid, floor_lrs)}


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


def section(parts, key, title, columns):
    """The parts that hold `key`; when there are some, the table's title and header printed."""
    rows = [(name, p) for name, p in parts.items() if p.get(key)]
    if rows:
        print(f"\n{title}\n")
        print("| " + " | ".join(columns) + " |")
        print("| --- " * len(columns) + "|")
    return rows


def print_repeats(parts):
    """One table: the floor rule with 1, and R, seeds' tests combined, per part."""
    rows = section(parts, "repeats", "The floor rule with --repeats R (the geometric median of R seeds' picks), "
                   "regret against the best mean (points): worst and median over every R of the seeds, and over "
                   "the tests clr ran:", ["part", "R", "every R of the seeds: worst", "median", f"within {TARGET}",
                                          "LR spread", "clr's runs (first seed: regret)"])
    for name, p in rows:
        f = p["rules"]["floor"]
        print(f"| {name} | 1 | {cell(f['worst'])} | {cell(f['median'])} | {f['within_target']} of "
              f"{len(p['seeds'])} | {f['lr_spread']:.2f}x | - |")
        for r, x in p["repeats"].items():
            ran = ", ".join(f"{t['first_seed']}: {t['regret']:.2f}" for t in x["ran"]) or "none run"
            print(f"| {name} | {r} | {cell(x['worst'], x['lower_bound'])} | {cell(x['median'])} | "
                  f"{x['within_target']} of {x['combinations']} | {x['lr_spread']:.2f}x | {ran} |")


def print_rules_repeats(parts):
    """One table: every rule with --repeats 5, worst / median regret over every five seeds."""
    rows = section(parts, "rules_repeats5", "Every rule with --repeats 5 (the median LR of every five of the seeds' "
                   "tests): worst / median regret against the best mean (points):", ["part", *RULES])
    for name, p in rows:
        r = p["rules_repeats5"]
        cells = [f"{r[x]['worst']:.2f} / {r[x]['median']:.2f}" if x in r else "-" for x in RULES]
        print(f"| {name} | " + " | ".join(cells) + " |")


def print_factors(parts):
    """One table: the floor rule's worst regret at other factors, one test / --repeats 5."""
    rows = section(parts, "factors", f"The floor rule's worst regret (points) had its factor been another (clr's "
                   f"is {FLOOR_FACTOR}): one test / the median of every five seeds:",
                   ["part", *(f"x{f}" for f in FACTORS)])
    if not rows:
        return
    for name, p in rows:
        cells = [f"{p['factors'][str(f)]['single_worst']:.2f} / {p['factors'][str(f)]['repeats5_worst']:.2f}"
                 for f in FACTORS]
        print(f"| {name} | " + " | ".join(cells) + " |")
    worst = [max(p["factors"][str(f)]["repeats5_worst"] for _, p in rows) for f in FACTORS]
    print("| worst, --repeats 5 | " + " | ".join(f"{w:.2f}" for w in worst) + " |")


def print_verify(parts):
    """One table: `train --verify N` against its pick alone, per part."""
    rows = section(parts, "verify", "`train --max-lr TEST --verify N` at each seed (the seed's test, N short runs "
                   "of 3 epochs at that seed): regret (points) of the max_lr chosen, worst / median over the seeds, "
                   "against the pick alone and the best of the candidates:",
                   ["part", "N", "pick alone", "--verify choice", f"choices within {TARGET}",
                    "best candidate (worst)"])
    for name, p in rows:
        for n, v in p["verify"].items():
            print(f"| {name} | {n} | {v['pick_worst']:.2f} / {v['pick_median']:.2f} | {v['worst']:.2f} / "
                  f"{v['median']:.2f} | {v['within_target']} of {len(v['runs'])} | {v['best_candidate_worst']:.2f} |")


def print_coarse(parts):
    """One table: the floor rule's regret on the refined grid against the coarse one."""
    rows = section(parts, "coarse", "The floor rule's regret (points) measured on the refined grid and on its "
                   "coarse 10 values alone, worst / median: one test, and the median of every five seeds:",
                   ["part", "best max_lr, refined / coarse", "one test, refined", "coarse",
                    "--repeats 5, refined", "coarse"])
    for name, p in rows:
        c, f, r = p["coarse"], p["rules"]["floor"], p["rules_repeats5"]["floor"]
        print(f"| {name} | {p['best_max_lr']:.3g} / {c['best_max_lr']:.3g} | {f['worst']:.2f} / {f['median']:.2f} | "
              f"{c['single_worst']:.2f} / {c['single_median']:.2f} | {r['worst']:.2f} / {r['median']:.2f} | "
              f"{c['repeats5_worst']:.2f} / {c['repeats5_median']:.2f} |")


def print_bootstrap(parts):
    """One table: the regrets' 90 % intervals over resamples of the grid's seeds."""
    rows = section(parts, "bootstrap", f"How precisely ten seeds measure a regret: the grid's seeds resampled "
                   f"{BOOTSTRAP} times (the floor rule's LRs kept), regret (points), estimate and 5th-95th "
                   "percentiles:", ["part", "median of the tests' LRs", "its regret", "worst of every five seeds"])
    for name, p in rows:
        b = p["bootstrap"]
        m, w = b["median_pick"], b["repeats5_worst"]
        print(f"| {name} | {m['lr']:.3g} | {m['estimate']:.2f} ({m['p5']:.2f}-{m['p95']:.2f}) | "
              f"{w['estimate']:.2f} ({w['p5']:.2f}-{w['p95']:.2f}) |")


def main():
    if sys.argv[1] == "--fine":  # regret-seeds.sh, FINE=auto: the values to refine a grid with
        print(",".join(f"{m:.6g}" for m in fine_values(json.loads(Path(sys.argv[2]).read_text()))))
        return
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
    print_repeats(parts)
    print_rules_repeats(parts)
    print_factors(parts)
    print_verify(parts)
    print_coarse(parts)
    print_bootstrap(parts)
    Path("bench").mkdir(exist_ok=True)
    record = {"command": "scripts/regret-seeds.sh", "date": datetime.date.today().isoformat(), "parts": parts}
    earlier.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
