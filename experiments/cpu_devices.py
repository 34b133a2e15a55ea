"""Does splitting a CPU host into one XLA device a core speed up the runner?

    python experiments/cpu_devices.py              # hopper and cartpole, gpomdp, 4 and 8 seeds

Runs `python -m rlx.run` twice for each job, in subprocesses on the same
machine one after the other: `devices=1`, then `devices=<cores>` (the
runner's default), and reports the steps/s of each (after compiling, from
summary.json), their ratio, and whether the metrics came out identical.
Writes experiments/cpu_devices.json.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import jax

JOBS = {
    "hopper": ["agent=gpomdp", "env=hopper", "seeds=4", "total_steps=60000", "log_every=3"],
    "cartpole": ["agent=gpomdp", "env=cartpole", "seeds=8", "total_steps=300000"],
}
COMMON = ["eval_every=0", "checkpoint_every=0", "tensorboard=false"]


def run(args: list[str], out: str) -> tuple[dict, str]:
    subprocess.run([sys.executable, "-m", "rlx.run", *args, *COMMON, f"out={out}"], check=True,
                   stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "summary.json")) as f, open(os.path.join(out, "metrics.jsonl")) as g:
        return json.load(f), g.read()


def main() -> None:
    cores = len(os.sched_getaffinity(0))
    results = {"date": time.strftime("%Y-%m-%d"), "processor": platform.processor() or platform.machine(),
               "cores": cores, "jax": jax.__version__, "jobs": {}}
    print(f"| job | steps/s, 1 device | steps/s, {cores} devices | ratio | compile (1 / {cores}) | same metrics |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in JOBS.items():
            one, one_rows = run(args + ["devices=1"], os.path.join(tmp, f"{name}-1"))
            many, many_rows = run(args + [f"devices={cores}"], os.path.join(tmp, f"{name}-{cores}"))
            ratio = many["steps_per_second"] / one["steps_per_second"]
            results["jobs"][name] = {"args": args, "one": one["steps_per_second"], "many": many["steps_per_second"],
                                     "ratio": ratio, "compile_one": one["compile_seconds"],
                                     "compile_many": many["compile_seconds"], "same_metrics": one_rows == many_rows}
            print(f"| {' '.join(args)} | {one['steps_per_second']:,.0f} | {many['steps_per_second']:,.0f} | "
                  f"{ratio:.2f} | {one['compile_seconds']:.1f} s / {many['compile_seconds']:.1f} s | "
                  f"{one_rows == many_rows} |", flush=True)
    with open(os.path.join(os.path.dirname(__file__), "cpu_devices.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
