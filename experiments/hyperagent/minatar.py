"""[WIP, issue 7] MinAtar learning curves: HyperAgent against ε-greedy double
DQN, seeds vmapped, one plot per game.

    python experiments/hyperagent/minatar.py --games breakout space_invaders --steps 200000 --seeds 4

Writes experiments/hyperagent/results/minatar.{md,json,png}: the mean training
episode return over the last 10% of updates (mean ± s.e. over seeds) and the
curves against env steps.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", nargs="+", default=["breakout", "space_invaders"])
    parser.add_argument("--agents", nargs="+", default=["hyperagent", "dqn"])
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rows, curves = [], {}
    for game in args.games:
        env = make(game)
        for name in args.agents:
            config = agents.config(name).replace(num_steps=256)
            updates = args.steps // config.num_steps
            t0 = time.perf_counter()
            _, metrics = jax.jit(jax.vmap(make_train(hyperagent, env, config, updates)))(
                jax.random.split(jax.random.key(0), args.seeds))
            returns = np.asarray(metrics["episode_return"])
            tail = returns[:, -max(updates // 10, 1):].mean(1)
            curves[(game, name)] = returns
            rows.append({"game": game, "agent": name, "score": float(tail.mean()),
                         "se": float(tail.std(ddof=1) / np.sqrt(len(tail))) if len(tail) > 1 else 0.0,
                         "steps": updates * config.num_steps, "seconds": time.perf_counter() - t0})
            print(f"{game:15s} {name:10s} {tail.mean():7.2f} ± {rows[-1]['se']:.2f}  {rows[-1]['seconds']:.0f} s",
                  flush=True)
    with open(os.path.join(args.out, "minatar.json"), "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d"), "seeds": args.seeds, "rows": rows}, f, indent=1)
    lines = ["| game | agent | score | env steps |", "|---|---|---|---|"]
    lines += [f"| {r['game']} | {r['agent']} | {r['score']:.2f} ± {r['se']:.2f} | {r['steps']} |" for r in rows]
    with open(os.path.join(args.out, "minatar.md"), "w") as f:
        f.write("\n".join(lines) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(args.games), figsize=(5 * len(args.games), 4), squeeze=False)
    for ax, game in zip(axes[0], args.games):
        for (g, name), returns in curves.items():
            if g == game:
                x = 256 * np.arange(1, returns.shape[1] + 1)
                ax.plot(x, returns.mean(0), label=name)
        ax.set_title(game)
        ax.set_xlabel("env steps")
        ax.set_ylabel("episode return")
        ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "minatar.png"), dpi=100)


if __name__ == "__main__":
    main()
