"""Brax physics backends for the Walker reproduction: samples a second of the
same rlx.run job on `spring` (what reproduce.py runs) and on `generalized`
(the closest to MuJoCo that runs here), in alternating pairs in one
invocation, and their ratio per pair.

    python experiments/vr_pg/backends.py                 # npg_igt on walker2d, 3 pairs
    python experiments/vr_pg/backends.py --pairs 5 --backends spring mjx

Each run is `python -m rlx.run` with reproduce.py's protocol for a short
budget; its speed is the runner's own (samples over the seconds spent running
chunks, compile excluded, summary.json).  The ratio of each pair is
spring / other; the median over pairs is what is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

from reproduce import TUNED_LR, runner_argv

HERE = os.path.dirname(os.path.abspath(__file__))


def speed(agent: str, env: str, backend: str, budget: int, seeds: int, folder: str) -> float:
    """Samples a second (all seeds) of one run on `backend`."""
    argv = runner_argv(env, agent, budget, seeds, folder, f"agent.lr={TUNED_LR[env][agent]}", f"env.backend={backend}")
    subprocess.run([sys.executable, "-m", "rlx.run", *argv], check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(folder, "summary.json")) as f:
        summary = json.load(f)
    return sum(summary["samples_per_seed"]) / summary["run_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", default="npg_igt")
    parser.add_argument("--env", default="walker2d")
    parser.add_argument("--backends", nargs=2, default=["spring", "generalized"])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--budget", type=int, default=20_000, help="samples a seed a run")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "backends.json"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.pairs):
            pair = {b: speed(args.agent, args.env, b, args.budget, args.seeds, os.path.join(tmp, f"{b}-{i}"))
                    for b in args.backends}
            pair["ratio"] = pair[args.backends[0]] / pair[args.backends[1]]
            rows.append(pair)
            print(json.dumps(pair), flush=True)
    result = {"agent": args.agent, "env": args.env, "backends": args.backends, "budget": args.budget,
              "seeds": args.seeds, "pairs": rows, "median_ratio": statistics.median(r["ratio"] for r in rows)}
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"{args.backends[0]} / {args.backends[1]} samples/s, median of {args.pairs} pairs: {result['median_ratio']:.1f}")


if __name__ == "__main__":
    main()
