"""Deep SPO's dual: what the warm start saves, as ratios of paired runs.

    python experiments/wpo/dual_speed.py [--env walker2d --iterations 6 --pairs 3]

Compiles `spo_deep` with its dual searched cold (`warm_start=False`: 40
bisections from the β above which nothing moves), warm (the default: 16
log-bisections around the last iteration's β), with the fixed β (no dual),
and `ppo` at its defaults, then times each in turn `--pairs` times (the same
seeds, alternating, so load on the machine falls on all alike) and reports the
median of each ratio over the rounds, with the β sequences of the cold and warm
searches side by side (they agree to the search's precision).  Writes
experiments/wpo/results/dual_speed_<env>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import numpy as np

from rlx import agents
from rlx.envs import make
from rlx.train import make_train

HERE = os.path.dirname(os.path.abspath(__file__))
VARIANTS = {"spo_cold": ("spo_deep", {"warm_start": False}), "spo_warm": ("spo_deep", {}),
            "spo_fixed": ("spo_deep", {"beta_schedule": "fixed"}), "ppo": ("ppo", {})}
RATIOS = (("spo_cold", "spo_warm"), ("spo_warm", "ppo"), ("spo_cold", "ppo"), ("spo_warm", "spo_fixed"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="walker2d")
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    env = make(args.env)
    programs, betas = {}, {}
    for name, (agent, fields) in VARIANTS.items():
        config = agents.config(agent, env).replace(**fields)
        programs[name] = jax.jit(make_train(agents.get(agent), env, config, args.iterations))
        _, metrics = jax.block_until_ready(programs[name](jax.random.key(0)))  # compile (and the β sequence)
        if agent == "spo_deep":
            betas[name] = np.asarray(metrics["beta"]).tolist()
    seconds = {name: [] for name in programs}
    for round_ in range(args.pairs):
        for name, program in programs.items():
            t0 = time.perf_counter()
            jax.block_until_ready(program(jax.random.key(round_)))
            seconds[name].append(time.perf_counter() - t0)
    ratios = {f"{a}/{b}": float(np.median(np.asarray(seconds[a]) / np.asarray(seconds[b]))) for a, b in RATIOS}
    out = {"date": time.strftime("%Y-%m-%d"), "env": args.env, "iterations": args.iterations, "pairs": args.pairs,
           "seconds": seconds, "ratios": ratios, "betas": betas}
    stem = os.path.join(HERE, "results", f"dual_speed_{args.env}")
    with open(stem + ".json", "w") as f:
        json.dump(out, f, indent=1)
    lines = [f"### Deep SPO's dual on {args.env}: cold against warm search ({args.iterations} iterations a run, "
             f"{args.pairs} alternating rounds, median ratio of wall time)", "",
             "| ratio | median |", "|---|---|"] + [f"| {k} | {v:.2f} |" for k, v in ratios.items()]
    lines += ["", "β per iteration, cold: " + ", ".join(f"{b:.4f}" for b in betas["spo_cold"]),
              "β per iteration, warm: " + ", ".join(f"{b:.4f}" for b in betas["spo_warm"])]
    with open(stem + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
