"""Copy a finished run's best weights into pretrained/ and record it in pretrained/manifest.json.

Usage: python3 scripts/ship-pretrained.py RUN_DIR NAME --command "vision train ..." [--data-note TEXT]
                                          [--test-metric NAME=VALUE ...]
The manifest entry holds the exact command, data, seed, epochs, wall time (sum of the epochs'
seconds in metrics.csv), the final validation metrics from run.json, any test metrics measured
separately, the file size and its sha256.
"""
import argparse
import hashlib
import json
import os
import shutil

ap = argparse.ArgumentParser()
ap.add_argument("run")
ap.add_argument("name")
ap.add_argument("--command", required=True)
ap.add_argument("--data-note", default="")
ap.add_argument("--checkpoint", choices=["best", "last"], default="best")
ap.add_argument("--test-metric", action="append", default=[])
a = ap.parse_args()

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pretrained")
record = json.load(open(os.path.join(a.run, "run.json")))
config, state = record["config"], record["state"]
history = state["history"]
shipped_epoch = state["bestEpoch"] if a.checkpoint == "best" else state["epochsCompleted"]
best = next(h for h in history if h["epoch"] == shipped_epoch)
target = os.path.join(root, a.name + ".safetensors")
shutil.copyfile(os.path.join(a.run, record["bestWeights" if a.checkpoint == "best" else "lastWeights"]), target)
digest = hashlib.sha256(open(target, "rb").read()).hexdigest()

manifest_path = os.path.join(root, "manifest.json")
manifest = json.load(open(manifest_path)) if os.path.exists(manifest_path) else {"models": []}
manifest["models"] = [m for m in manifest["models"] if m["file"] != os.path.basename(target)]
manifest["models"].append({
    "file": os.path.basename(target),
    "model": config["model"],
    "model_options": config["modelOptions"],
    "task": config["task"],
    "classes": config["classNames"],
    "command": a.command,
    "data": config["data"] if not a.data_note else a.data_note,
    "seed": config["seed"],
    "epochs": state["epochsCompleted"],
    "shipped_epoch": shipped_epoch,
    "wall_time_seconds_2_cores": round(sum(h["seconds"] for h in history), 1),
    "validation_at_shipped_epoch": {k: v for k, v in best.items() if k.startswith("validation") and v is not None},
    "test_metrics": dict(m.split("=", 1) for m in a.test_metric),
    "bytes": os.path.getsize(target),
    "sha256": digest,
})
with open(manifest_path, "w") as f:
    json.dump(manifest, f, indent=2, sort_keys=True)
    f.write("\n")
print(f"{target}: {os.path.getsize(target)} bytes, sha256 {digest}")
