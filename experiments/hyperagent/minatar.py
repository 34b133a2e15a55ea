"""MinAtar learning curves: HyperAgent against ε-greedy double DQN, seeds
vmapped, one plot per game.

    python experiments/hyperagent/minatar.py --games breakout asterix --steps 100000 --seeds 4 [--set KEY=VALUE ...]
    python experiments/hyperagent/minatar.py --report results/raw/minatar_*.json

A run writes minatar.json into --out (after every game and agent, so a killed
sweep keeps what finished): the mean training episode return over the last
10% of updates (mean ± s.e. over seeds) and the seed-mean curve.  --report
merges runs into results/minatar.{md,png}.
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
from rlx.runner.config import apply_overrides
from rlx.envs import make
from rlx.train import make_train

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS_PER_UPDATE = 256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", nargs="+", default=["breakout", "asterix"])
    parser.add_argument("--agents", nargs="+", default=["hyperagent", "dqn"])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="config overrides for every agent, e.g. target_index=shared")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--report", nargs="+", metavar="JSON", help="merge these runs into a table and a plot")
    args = parser.parse_args()
    if args.report:
        return report(args.report, args.out)
    overrides = dict(item.split("=", 1) for item in args.set)
    os.makedirs(args.out, exist_ok=True)
    rows, curves = [], {}
    for game in args.games:
        env = make(game)
        for name in args.agents:
            config = apply_overrides(agents.config(name), {**overrides, "num_steps": str(STEPS_PER_UPDATE)}, "agent")
            updates = args.steps // config.num_steps
            t0 = time.perf_counter()
            _, metrics = jax.jit(jax.vmap(make_train(hyperagent, env, config, updates)))(
                jax.random.split(jax.random.key(0), args.seeds))
            returns = np.asarray(metrics["episode_return"])
            tail = returns[:, -max(updates // 10, 1):].mean(1)
            curves[f"{game}/{name}"] = returns.mean(0).tolist()
            rows.append({"game": game, "agent": name, "score": float(tail.mean()),
                         "se": float(tail.std(ddof=1) / np.sqrt(len(tail))) if len(tail) > 1 else 0.0,
                         "steps": updates * config.num_steps, "seconds": time.perf_counter() - t0})
            print(f"{game:15s} {name:10s} {tail.mean():7.2f} ± {rows[-1]['se']:.2f}  {rows[-1]['seconds']:.0f} s",
                  flush=True)
            with open(os.path.join(args.out, "minatar.json"), "w") as f:
                json.dump({"date": time.strftime("%Y-%m-%d"), "seeds": args.seeds, "overrides": overrides,
                           "steps_per_update": STEPS_PER_UPDATE, "rows": rows, "curves": curves}, f, indent=1)


def report(paths, out) -> None:
    rows, curves = [], {}
    for path in sorted(paths):
        with open(path) as f:
            run = json.load(f)
        suffix = "".join(f" {k}={v}" for k, v in sorted(run.get("overrides", {}).items()))
        for row in run["rows"]:
            rows.append({**row, "variant": row["agent"] + suffix, "seeds": run["seeds"]})
            curves[(row["game"], row["agent"] + suffix)] = (run.get("steps_per_update", STEPS_PER_UPDATE),
                                                            run["curves"][f"{row['game']}/{row['agent']}"])
    lines = ["| game | variant | score (last 10%) | seeds | env steps |", "|---|---|---|---|---|"]
    lines += [f"| {r['game']} | {r['variant']} | {r['score']:.2f} ± {r['se']:.2f} | {r['seeds']} | {r['steps']} |"
              for r in rows]
    with open(os.path.join(out, "minatar.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    games = sorted({game for game, _ in curves})
    fig, axes = plt.subplots(1, len(games), figsize=(5 * len(games), 4), squeeze=False)
    for ax, game in zip(axes[0], games):
        for (g, variant), (per_update, curve) in curves.items():
            if g == game:
                ax.plot(per_update * np.arange(1, len(curve) + 1), curve, label=variant)
        ax.set_title(game)
        ax.set_xlabel("env steps")
        ax.set_ylabel("episode return (mean over seeds)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "minatar.png"), dpi=100)


if __name__ == "__main__":
    main()
