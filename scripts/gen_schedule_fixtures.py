#!/usr/bin/env python3
"""Write the LR/momentum schedule fixtures that src/optim/schedule.rs is tested against.

Every sequence comes from torch.optim.lr_scheduler driving a dummy SGD with one parameter: the
LR and momentum are read from the param group before each optimizer step, i.e. the values that
step trains with (step = global 0-based mini-batch index, as in clr).

Writes tests/fixtures/schedules/*.csv.gz (CSV step,lr,momentum at %.17g, gzipped) and cases.json, which holds for each
file the clr ScheduleConfig (serde form) that must reproduce it and the tolerances. No
arguments; deterministic. Run with the project's Python: .venv/bin/python scripts/gen_schedule_fixtures.py
"""

import gzip
import json
import math
from pathlib import Path

import torch
from torch.optim import SGD
from torch.optim.lr_scheduler import CyclicLR, MultiStepLR, OneCycleLR

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "schedules"


def config(policy, epochs, steps_per_epoch, base_lr, max_lr=1.0, **kw):
    """A clr ScheduleConfig as JSON, every field present (defaults are clr's, not PyTorch's)."""
    cfg = {
        "policy": policy,
        "base_lr": base_lr,
        "max_lr": max_lr,
        "final_lr": None,
        "phases": [0.0, 0.0, 0.0],
        "step_size": 1.0,
        "gamma": None,
        "milestones": None,
        "anneal": "linear",
        "momentum": 0.9,
        "cycle_momentum": None,
        "epochs": float(epochs),
        "steps_per_epoch": steps_per_epoch,
    }
    cfg.update(kw)
    return cfg


def record(make_scheduler, total_steps, momentum=0.9, lr=0.1):
    """(lr, momentum) before each of `total_steps` optimizer steps."""
    param = torch.zeros(1, requires_grad=True)
    opt = SGD([param], lr=lr, momentum=momentum)
    sched = make_scheduler(opt)
    rows = []
    for _ in range(total_steps):
        group = opt.param_groups[0]
        rows.append((group["lr"], group["momentum"]))
        opt.step()  # no grad: a no-op, but keeps the documented step order
        sched.step()
    return rows


def one_cycle(up, down, tail, spe, base, peak, final, anneal, cycle_momentum):
    """OneCycleLR(three_phase=True): needs up == down; clr's final_lr = base / final_div_factor."""
    assert up == down
    total = round((up + down + tail) * spe)
    high, low = cycle_momentum or (0.9, 0.9)
    return total, lambda opt: OneCycleLR(
        opt,
        max_lr=peak,
        total_steps=total,
        pct_start=up / (up + down + tail),
        anneal_strategy=anneal,
        cycle_momentum=cycle_momentum is not None,
        base_momentum=low,
        max_momentum=high,
        div_factor=peak / base,
        final_div_factor=base / final,
        three_phase=True,
    )


def cases():
    """(name, clr config, total steps, scheduler factory, lr_tol, momentum_tol)."""
    out = []
    # The reference run (SPEC): 0.08 -> 0.8 -> 0.08 -> 0.008 over 41, 41, 13 epochs of 98 steps.
    # PyTorch ends its phases one or two steps before clr's epoch boundaries: compare to 0.5 %
    # of max_lr (clr's convention, see README), momentum likewise to 0.5 % of 1.
    for anneal in ("linear", "cos"):
        total, make = one_cycle(41, 41, 13, 98, 0.08, 0.8, 0.008, anneal, None)
        cfg = config("one-cycle", 95, 98, 0.08, 0.8, phases=[41.0, 41.0, 13.0], anneal=anneal)
        out.append((f"one-cycle-{anneal}", cfg, total, make, 0.005 * 0.8, 0.005))
    for anneal in ("linear", "cos"):
        total, make = one_cycle(5, 5, 2, 100, 0.08, 0.8, 0.008, anneal, (0.95, 0.85))
        cfg = config(
            "one-cycle", 12, 100, 0.08, 0.8, final_lr=0.008, phases=[5.0, 5.0, 2.0],
            anneal=anneal, cycle_momentum=[0.95, 0.85],
        )
        out.append((f"one-cycle-{anneal}-momentum", cfg, total, make, 0.005 * 0.8, 0.005))

    # Cyclical policies: exact formulas, compared to 1e-6. step_size 2 epochs x 50 steps.
    def cyclic(mode, gamma, step_size_up, cycle_momentum):
        high, low = cycle_momentum or (0.9, 0.9)
        return lambda opt: CyclicLR(
            opt, base_lr=0.001, max_lr=0.006, step_size_up=step_size_up, mode=mode,
            gamma=gamma, cycle_momentum=cycle_momentum is not None,
            base_momentum=low, max_momentum=high,
        )

    for name, policy, mode, gamma in (
        ("triangular", "triangular", "triangular", None),
        ("triangular2", "triangular2", "triangular2", None),
        ("exp-range", "exp-range", "exp_range", 0.99994),
        ("exp-range-fast", "exp-range", "exp_range", 0.999),
    ):
        cfg = config(
            policy, 20, 50, 0.001, 0.006, step_size=2.0, gamma=gamma, cycle_momentum=[0.95, 0.85],
        )
        make = cyclic(mode, 1.0 if gamma is None else gamma, 100, (0.95, 0.85))
        out.append((name, cfg, 1000, make, 1e-6, 1e-6))
    # A step size that is not a whole number of steps (0.25 epochs x 10 = 2.5): PyTorch takes it
    # as a float, and so does clr. Constant momentum.
    cfg = config("triangular2", 10, 10, 0.001, 0.006, step_size=0.25)
    out.append(("triangular2-fractional", cfg, 100, cyclic("triangular2", 1.0, 2.5, None), 1e-6, 1e-6))

    # Step policy (MultiStepLR stepped every mini-batch): default milestones at 50 % and 75 %,
    # and explicit fractional ones. clr reaches milestone m at step round(m * steps_per_epoch).
    def milestone_steps(milestones, spe):
        return [math.floor(m * spe + 0.5) for m in milestones]

    def multi_step(ms, gamma):
        return lambda opt: MultiStepLR(opt, milestones=ms, gamma=gamma)

    for name, milestones, gamma in (("step", None, None), ("step-milestones", [1.5, 3.4, 6.0], 0.5)):
        epochs, spe = 8, 25
        ms = milestone_steps(milestones or [0.5 * epochs, 0.75 * epochs], spe)
        g = 0.1 if gamma is None else gamma
        cfg = config("step", epochs, spe, 0.1, gamma=gamma, milestones=milestones)
        out.append((name, cfg, epochs * spe, multi_step(ms, g), 1e-9, 1e-12))
    return out


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    manifest = []
    for name, cfg, total, make, lr_tol, momentum_tol in cases():
        rows = record(make, total, lr=cfg["base_lr"])
        text = "step,lr,momentum\n" + "".join(
            f"{step},{lr:.17g},{momentum:.17g}\n" for step, (lr, momentum) in enumerate(rows)
        )
        # gzip (no name, mtime 0: byte-for-byte reproducible) keeps the 9310-step reference
        # sequences at %.17g small: all fixtures together stay around 250 kB instead of 1.2 MB.
        path = OUT / f"{name}.csv.gz"
        with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as f:
            f.write(text.encode())
        manifest.append(
            {"name": name, "file": path.name, "lr_tol": lr_tol, "momentum_tol": momentum_tol, "config": cfg}
        )
    with open(OUT / "cases.json", "w", newline="\n") as f:
        json.dump({"torch": torch.__version__.split("+")[0], "cases": manifest}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
