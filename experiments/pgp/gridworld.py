"""PGP against PDPG on the constrained gridworld: the exact entropy and
constraint violation of each iterate's occupancy, and the paper's sweeps over
episodes an iteration {8, 24, 72}, the step size {1e-3, 1e-2, 1e-1} and the
penalty ρ (PGP) or dual step η_μ (PDPG), seeds and the numeric settings
vmapped in one program per (agent, episodes).

    python experiments/pgp/gridworld.py [--iterations 500 --seeds 4]

The map is rlx's 6 × 6 `constrained_gridworld` (hole occupancy ≤ 0.2) at
γ 0.9 and horizon 60 (the paper: horizon 25), so that the exact
infinite-horizon constrained optimum (`rlx.exact.max_entropy_occupancy`) is
the reference line.  Writes experiments/pgp/results/gridworld.{md,json,png}.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from rlx import agents, exact
from rlx.agents.shared import convex_utility
from rlx.envs import make
from rlx.train import make_train

HERE = os.path.dirname(os.path.abspath(__file__))
EPISODES = (8, 24, 72)
LRS = (1e-3, 1e-2, 1e-1)
PENALTIES = (1.0, 10.0, 100.0)  # PGP's ρ
DUAL_LRS = (0.1, 1.0, 10.0)  # PDPG's η_μ


def run(env, name, episodes, iterations, seeds):
    """Metrics [lr, knob, seed, iteration] for every (lr, ρ or η_μ) pair."""
    config = agents.config(name).replace(num_envs=episodes)
    knob = "penalty" if name == "pgp" else "dual_lr"
    grid = list(itertools.product(LRS, PENALTIES if name == "pgp" else DUAL_LRS))

    def one(lr, value, key):
        return make_train(agents.get(name), env, config.replace(lr=lr, **{knob: value}), iterations)(key)[1]

    lrs, values = (jnp.asarray(v, jnp.float32) for v in zip(*grid))
    keys = jax.random.split(jax.random.key(0), seeds)
    metrics = jax.jit(jax.vmap(jax.vmap(one, (None, None, 0)), (0, 0, None)))(lrs, values, keys)
    shape = (len(LRS), 3, seeds, iterations)
    return {k: np.asarray(metrics[k]).reshape(shape) for k in ("exact_entropy", "exact_violation")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    env = make("constrained_gridworld", discount=0.9, horizon=60)
    cost = -np.asarray(exact.expected_reward(env.mdp))
    lam_star, mu_star, residual = exact.max_entropy_occupancy(env.mdp, cost, agents.config("pgp").budget)
    h_star = float(convex_utility.entropy(jnp.asarray(lam_star)))
    print(f"constrained optimum H* = {h_star:.3f} (μ* = {mu_star:.2f}, flow residual {residual:.1e})")
    results, rows = {}, []
    for name in ("pgp", "pdpg"):
        for episodes in EPISODES:
            t0 = time.perf_counter()
            m = run(env, name, episodes, args.iterations, args.seeds)
            results[(name, episodes)] = m
            tail = max(args.iterations // 10, 1)
            for i, lr in enumerate(LRS):
                for j, value in enumerate(PENALTIES if name == "pgp" else DUAL_LRS):
                    gap = h_star - m["exact_entropy"][i, j, :, -1]
                    violation = m["exact_violation"][i, j, :, -1]
                    rows.append({"agent": name, "episodes": episodes, "lr": lr,
                                 "penalty" if name == "pgp" else "dual_lr": value,
                                 "gap": float(gap.mean()), "gap_se": float(gap.std(ddof=1) / np.sqrt(len(gap))),
                                 "violation": float(violation.mean()),
                                 "violation_se": float(violation.std(ddof=1) / np.sqrt(len(violation))),
                                 "tail_violation": float(m["exact_violation"][i, j, :, -tail:].mean())})
            print(f"{name} N={episodes}: {time.perf_counter() - t0:.0f} s", flush=True)
    with open(os.path.join(args.out, "gridworld.json"), "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d"), "seeds": args.seeds, "iterations": args.iterations,
                   "h_star": h_star, "mu_star": mu_star, "rows": rows}, f, indent=1)
    lines = [f"Constrained optimum H* = {h_star:.3f} (μ* = {mu_star:.2f}); last iterate, mean ± s.e. over "
             f"{args.seeds} seeds, {args.iterations} iterations.", "",
             "| agent | episodes | lr | ρ or η_μ | H* − H | violation |", "|---|---|---|---|---|---|"]
    for r in rows:
        knob = r.get("penalty", r.get("dual_lr"))
        lines.append(f"| {r['agent']} | {r['episodes']} | {r['lr']:g} | {knob:g} | {r['gap']:.3f} ± {r['gap_se']:.3f} "
                     f"| {r['violation']:.4f} ± {r['violation_se']:.4f} |")
    with open(os.path.join(args.out, "gridworld.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(EPISODES), figsize=(5 * len(EPISODES), 7), squeeze=False)
    x = np.arange(1, args.iterations + 1)
    for col, episodes in enumerate(EPISODES):
        for name, j, style in (("pgp", 1, "-"), ("pgp", 2, "--"), ("pdpg", 1, ":")):
            m = results[(name, episodes)]
            label = f"{name} " + (f"ρ={PENALTIES[j]:g}" if name == "pgp" else f"η_μ={DUAL_LRS[j]:g}") + " lr=0.1"
            axes[0, col].plot(x, m["exact_entropy"][2, j].mean(0), style, label=label)
            axes[1, col].plot(x, m["exact_violation"][2, j].mean(0), style, label=label)
        axes[0, col].axhline(h_star, color="k", lw=0.8, label="constrained optimum H*")
        axes[0, col].set_title(f"{episodes} episodes an iteration")
        axes[0, col].set_ylabel("exact occupancy entropy")
        axes[1, col].set_ylabel("exact violation max(0, g)")
        axes[1, col].set_xlabel("iteration")
        axes[0, col].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "gridworld.png"), dpi=100)


if __name__ == "__main__":
    main()
