#!/usr/bin/env python3
"""Summary of scripts/gpu-check.sh's measurements: reads what is in OUT (any part may be missing,
as after a call cut short), writes OUT/summary.json and prints it, then a table for BENCHMARKS.md.

usage: gpu_summary.py OUT IMAGES
"""
import csv
import json
import statistics
import sys

out, images = sys.argv[1], int(sys.argv[2])


def load(path):
    try:
        return json.load(open(path))
    except Exception as e:
        return {"error": str(e)}


def rows(path):
    try:
        return list(csv.DictReader(open(path)))
    except Exception:
        return None


def clr_epoch(run):
    """Median seconds of the steady epochs (the first one tunes cuDNN)."""
    epochs = rows(f"{out}/{run}/epochs.csv")
    if not epochs:
        return None
    secs = [float(r["seconds"]) for r in epochs]
    return statistics.median(secs[1:] or secs)


def ratio(clr_seconds, peer_seconds):
    # peer seconds / clr seconds = clr speed / peer speed
    return peer_seconds / clr_seconds if clr_seconds and peer_seconds else None


res = {}
# 1. The same initial weights: step 0's loss on the CPU and on the device.
first = {}
for side in ("cpu", "device"):
    steps = rows(f"{out}/init-{side}/steps.csv")
    first[side] = float(steps[0]["loss"]) if steps else None
res["init_step0_loss_cpu"], res["init_step0_loss_device"] = first["cpu"], first["device"]
if first["cpu"] is not None and first["device"] is not None:
    res["init_step0_loss_gap"] = abs(first["cpu"] - first["device"])
try:
    steps = rows(f"{out}/dynamics/steps.csv")
    sched = {r["step"]: float(r["lr"]) for r in rows(f"{out}/dynamics-schedule.csv")}
    res["dynamics_max_lr_gap"] = max(abs(float(r["lr"]) - sched[r["step"]]) for r in steps)
    ep = rows(f"{out}/dynamics/epochs.csv")
    res["dynamics_train_loss"] = [float(r["train_loss"]) for r in ep]
    res["dynamics_test_acc"] = [float(r["test_acc"]) for r in ep]
except Exception as e:
    res["dynamics_error"] = str(e)

# 2. Throughput.
for p in ("fp32", "bf16"):
    res[f"peer_{p}_sec_per_epoch"] = load(f"{out}/peer-{p}.json").get("sec_per_epoch")
    res[f"clr_{p}_sec_per_epoch"] = clr_epoch(f"clr-{p}")
    res[f"bench_{p}"] = load(f"{out}/bench-{p}.json")
    res[f"speed_ratio_{p}_clr_over_peer"] = ratio(res[f"clr_{p}_sec_per_epoch"], res[f"peer_{p}_sec_per_epoch"])


# 3. Distributed.
def dist_run(run):
    try:
        s = json.load(open(f"{out}/{run}/summary.json"))
        ep = rows(f"{out}/{run}/epochs.csv")
        return {"status": s["status"], "distributed": s.get("distributed"), "device": s["device"],
                "train_loss": [float(r["train_loss"]) for r in ep], "sec_per_epoch": [float(r["seconds"]) for r in ep]}
    except Exception as e:
        return {"error": str(e)}


res["dist_world1"] = dist_run("dist-one")
res["dist_gloo_2proc"] = dist_run("dist-gloo-2")
json.dump(res, open(f"{out}/summary.json", "w"), indent=2)
print(json.dumps(res, indent=2))
print("| measurement | seconds/epoch | clr speed / peer |")
print("| --- | --- | --- |")
for p, peer_mode in (("fp32", "fp32"), ("bf16", "bf16 + channels-last")):
    print(f"| peer {peer_mode} | {res[f'peer_{p}_sec_per_epoch']} | |")
    print(f"| clr {p} | {res[f'clr_{p}_sec_per_epoch']} | {res[f'speed_ratio_{p}_clr_over_peer']} |")
for k in ("dist_world1", "dist_gloo_2proc"):
    d = res[k].get("distributed") or {}
    print(f"| {k}: {d.get('backend')} x {d.get('processes')} | {res[k].get('sec_per_epoch')} | all-reduce median "
          f"{d.get('all_reduce_ms_median')} ms, status {res[k].get('status', res[k].get('error'))} |")
print(f"| initial weights, step-0 loss cpu vs device | gap {res.get('init_step0_loss_gap')} | |")
