"""[WIP, issue 7] DeepSea scaling: episodes HyperAgent (and ε-greedy DQN)
need to solve DeepSea of size N, seeds vmapped.

    python experiments/hyperagent/deepsea.py --sizes 10 20 30 40 50 --seeds 4

"Solved" at the first update after which the treasure was found in at least
90% of the episodes of the last 10 updates; episodes = env steps / N.  The
budget follows the official DeepSea table (N=20 50k steps, 30 100k, 40 120k,
50 200k; N=10 20k).  Writes experiments/hyperagent/results/deepsea.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import numpy as np

from rlx import agents
from rlx.agents import hyperagent
from rlx.envs import make
from rlx.train import make_train

HERE = os.path.dirname(os.path.abspath(__file__))
BUDGET = {10: 20_000, 20: 50_000, 30: 100_000, 40: 120_000, 50: 200_000, 60: 300_000, 80: 500_000}


def episodes_to_solve(returns, size, steps_per_update):
    found = returns > 0.5
    out = []
    for seed in found:
        window = np.convolve(seed, np.ones(10) / 10, mode="valid")
        hit = np.nonzero(window >= 0.9)[0]
        out.append((hit[0] + 10) * steps_per_update / size if len(hit) else np.nan)
    return np.asarray(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[10, 20, 30, 40, 50])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--agents", nargs="+", default=["hyperagent", "dqn"])
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for size in args.sizes:
        env = make("deepsea", size=size)
        for name in args.agents:
            config = agents.config(name).replace(num_steps=4 * size)
            updates = BUDGET.get(size, 100 * size * size) // config.num_steps
            t0 = time.perf_counter()
            _, metrics = jax.jit(jax.vmap(make_train(hyperagent, env, config, updates)))(
                jax.random.split(jax.random.key(0), args.seeds))
            returns = np.asarray(metrics["episode_return"])
            episodes = episodes_to_solve(returns, size, config.num_steps)
            rows.append({"size": size, "agent": name, "episodes": episodes.tolist(),
                         "solved": int(np.sum(np.isfinite(episodes))), "seeds": args.seeds,
                         "budget_steps": updates * config.num_steps, "seconds": time.perf_counter() - t0})
            print(f"N={size:3d} {name:10s} solved {rows[-1]['solved']}/{args.seeds}, episodes {episodes}, "
                  f"{rows[-1]['seconds']:.0f} s", flush=True)
            with open(os.path.join(args.out, "deepsea.json"), "w") as f:
                json.dump({"date": time.strftime("%Y-%m-%d"), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
