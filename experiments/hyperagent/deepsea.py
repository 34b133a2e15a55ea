"""DeepSea scaling: episodes HyperAgent (and ε-greedy DQN) need to solve
DeepSea of size N, seeds vmapped.

    python experiments/hyperagent/deepsea.py --sizes 10 20 30 40 50 --seeds 8 [--set target_index=shared]
    python experiments/hyperagent/deepsea.py --report results/raw/deepsea_*.json

"Solved" at the first update (4 episodes) after which the treasure was found
in at least 90% of the training episodes of the last 10 updates; episodes =
env steps / N.  The budget follows the official DeepSea table (N=20 50k steps,
30 100k, 40 120k, 50 200k, 60 300k, 80 500k; N=10 20k).  A run writes
deepsea.json into --out; --report merges runs into results/deepsea.{md,png}
with the median episodes per N (unsolved seeds count as infinite) and the
fitted growth: the slope of median episodes against N and the exponent of
log(median) against log(N).
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
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="config overrides for every agent, e.g. target_index=shared")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--report", nargs="+", metavar="JSON", help="merge these runs into a table and a plot")
    args = parser.parse_args()
    if args.report:
        return report(args.report, args.out)
    overrides = dict(item.split("=", 1) for item in args.set)
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for size in args.sizes:
        env = make("deepsea", size=size)
        for name in args.agents:
            config = apply_overrides(agents.config(name), {**overrides, "num_steps": str(4 * size)}, "agent")
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
                json.dump({"date": time.strftime("%Y-%m-%d"), "overrides": overrides, "rows": rows}, f, indent=1)


def _variant(agent, overrides):
    return agent + "".join(f" {k}={v}" for k, v in sorted(overrides.items()))


def growth(sizes, medians):
    """(slope of median episodes against N, exponent of the log-log fit) over
    the sizes where the median is finite; NaN where fewer than 2 are."""
    sizes, medians = np.asarray(sizes, float), np.asarray(medians, float)
    ok = np.isfinite(medians)
    if ok.sum() < 2:
        return float("nan"), float("nan")
    return float(np.polyfit(sizes[ok], medians[ok], 1)[0]), float(np.polyfit(np.log(sizes[ok]), np.log(medians[ok]), 1)[0])


def report(paths, out) -> None:
    table = {}  # variant -> size -> row (the first run that has it)
    for path in sorted(paths):
        with open(path) as f:
            run = json.load(f)
        for row in run["rows"]:
            table.setdefault(_variant(row["agent"], run.get("overrides", {})), {}).setdefault(row["size"], row)
    lines = ["| variant | N | solved | median episodes | episodes per seed | env-step budget |", "|---|---|---|---|---|---|"]
    summary = {}
    for variant, by_size in table.items():
        sizes = sorted(by_size)
        medians = []
        for size in sizes:
            row = by_size[size]
            episodes = np.asarray(row["episodes"], float)
            median = float(np.median(np.where(np.isfinite(episodes), episodes, np.inf)))
            medians.append(median)
            shown = ", ".join("–" if not np.isfinite(e) else f"{e:.0f}" for e in episodes)
            lines.append(f"| {variant} | {size} | {row['solved']}/{row['seeds']} | "
                         f"{f'{median:.0f}' if np.isfinite(median) else 'unsolved'} | {shown} | "
                         f"{row['budget_steps']} |")
        slope, exponent = growth(sizes, medians)
        summary[variant] = {"sizes": sizes, "medians": medians, "slope": slope, "exponent": exponent}
    lines += ["", "| variant | slope (episodes per unit N) | exponent (log-log) | sizes fitted |", "|---|---|---|---|"]
    for variant, s in summary.items():
        fitted = [n for n, m in zip(s["sizes"], s["medians"]) if np.isfinite(m)]
        lines.append(f"| {variant} | {s['slope']:.1f} | {s['exponent']:.2f} | {fitted} |")
    with open(os.path.join(out, "deepsea.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for variant, s in summary.items():
        finite = [(n, m) for n, m in zip(s["sizes"], s["medians"]) if np.isfinite(m)]
        if finite:
            ax.plot(*zip(*finite), "o-", label=f"{variant} (slope {s['slope']:.0f})" if np.isfinite(s["slope"]) else variant)
    ax.set_xlabel("DeepSea size N")
    ax.set_ylabel("median episodes to solve")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "deepsea.png"), dpi=100)


if __name__ == "__main__":
    main()
