"""First and second compile of a job with rlx.run's persistent compilation
cache (issue 17's target: second ≤ 20% of first), as paired runs.

    python experiments/bench/compile_cache.py                    # the default job and harpg on hopper, 2 pairs
    python experiments/bench/compile_cache.py --repeats 3 --jobs default

Each pair runs the job twice in fresh processes, first with an empty cache
folder (cold), then with the folder the first run filled (warm), and reads
the runner's own "compiled in Xs" line (tracing, lowering and compiling the
chunk and evaluation programs) and the process's wall time.  The report is
the median warm ÷ cold ratio over the pairs with its range, written to
results/compile_cache.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
JOBS = {
    "default": [],  # gpomdp on cartpole, 8 seeds
    "harpg_hopper": ["agent=harpg", "env=hopper", "seeds=2"],
}


def run_once(job: list[str], cache: str, out: str) -> tuple[float, float]:
    """(compile seconds the runner reports, process wall seconds)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "rlx.run", *job, "total_steps=1", "eval_every=0",
                           "tensorboard=false", f"compile_cache={cache}", f"out={out}"],
                          capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    compiled = float(re.search(r"compiled in ([0-9.]+)s", proc.stdout).group(1))
    return compiled, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", nargs="+", default=list(JOBS), choices=list(JOBS))
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    report = {}
    for name in args.jobs:
        pairs = []
        for r in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                cache = os.path.join(tmp, "cache")
                cold = run_once(JOBS[name], cache, os.path.join(tmp, "cold"))
                warm = run_once(JOBS[name], cache, os.path.join(tmp, "warm"))
            pairs.append({"cold_compile_s": cold[0], "warm_compile_s": warm[0], "cold_wall_s": cold[1],
                          "warm_wall_s": warm[1], "compile_ratio": warm[0] / cold[0], "wall_ratio": warm[1] / cold[1]})
            print(f"{name} pair {r}: compile {cold[0]:.1f}s -> {warm[0]:.1f}s ({warm[0] / cold[0]:.2f}), "
                  f"process {cold[1]:.1f}s -> {warm[1]:.1f}s", flush=True)
        ratios = sorted(p["compile_ratio"] for p in pairs)
        report[name] = {"job": JOBS[name], "pairs": pairs, "median_compile_ratio": ratios[len(ratios) // 2],
                        "range": [ratios[0], ratios[-1]]}
        print(f"{name}: warm / cold compile, median {report[name]['median_compile_ratio']:.2f} "
              f"(range {ratios[0]:.2f}-{ratios[-1]:.2f}) over {len(pairs)} pairs", flush=True)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "compile_cache.json"), "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d"), "jobs": report}, f, indent=2)


if __name__ == "__main__":
    main()
