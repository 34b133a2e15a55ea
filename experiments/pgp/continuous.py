"""PGP on the continuous tasks: the visited-state-action entropy estimate and
the constraint against iterations, with the penalty and without it (ρ = 0 on
the same constraint, so the same estimate is reported), seeds vmapped.

    python experiments/pgp/continuous.py [--iterations 300 --seeds 4 --hidden 256 256 --tag 256]

Tasks: `cartpole_swingup` with the cost |x| > 2 (budget 0: g is the fraction
of steps beyond 2), and `point_mass` with KL(λ ‖ λ_ref) ≤ 1, λ_ref the
occupancy of a zero-mean Gaussian policy of std 0.3.  Writes
experiments/pgp/results/continuous.{md,json,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import numpy as np

from rlx import agents
from rlx.agents import pgp_deep
from rlx.envs import make
from rlx.train import make_train

HERE = os.path.dirname(os.path.abspath(__file__))
TASKS = {"cartpole_swingup": {"constraint": "cost"}, "point_mass": {"constraint": "kl", "kl_radius": 1.0}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--hidden", nargs="+", type=int, default=[256, 256], help="policy and value widths")
    parser.add_argument("--tag", default="", help="suffix of the output files")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()
    stem = os.path.join(args.out, "continuous" + (f"_{args.tag}" if args.tag else ""))
    os.makedirs(args.out, exist_ok=True)
    curves, rows = {}, []
    for task in args.tasks:
        settings, env = TASKS[task], make(task)
        for penalty in (agents.config("pgp_deep").penalty, 0.0):
            config = agents.config("pgp_deep").replace(penalty=penalty, hidden=tuple(args.hidden), **settings)
            t0 = time.perf_counter()
            _, m = jax.jit(jax.vmap(make_train(pgp_deep, env, config, args.iterations)))(
                jax.random.split(jax.random.key(0), args.seeds))
            entropy, g = np.asarray(m["entropy"]), np.asarray(m["constraint"])
            curves[f"{task}/ρ={penalty:g}"] = {"entropy": entropy.mean(0).tolist(), "constraint": g.mean(0).tolist()}
            tail = max(args.iterations // 10, 1)
            last_g, last_h = g[:, -tail:].mean(1), entropy[:, -tail:].mean(1)
            rows.append({"task": task, "penalty": penalty, "start_constraint": float(g[:, :5].mean()),
                         "constraint": float(last_g.mean()), "constraint_se": float(last_g.std(ddof=1) / np.sqrt(args.seeds)),
                         "start_entropy": float(entropy[:, :5].mean()),
                         "entropy": float(last_h.mean()), "entropy_se": float(last_h.std(ddof=1) / np.sqrt(args.seeds)),
                         "seconds": time.perf_counter() - t0})
            print(f"{task} ρ={penalty:g}: g {rows[-1]['start_constraint']:.3f} → {rows[-1]['constraint']:.3f}, "
                  f"entropy {rows[-1]['start_entropy']:.2f} → {rows[-1]['entropy']:.2f}, {rows[-1]['seconds']:.0f} s",
                  flush=True)
    with open(stem + ".json", "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d"), "seeds": args.seeds, "iterations": args.iterations,
                   "hidden": args.hidden,
                   "rows": rows, "curves": curves}, f, indent=1)
    lines = [f"Networks {args.hidden}. Mean over {args.seeds} seeds; start = first 5 iterations, end = last 10% of {args.iterations}; "
             "g = the constraint's value (≤ 0 feasible; swing-up: fraction of steps with |x| > 2; point mass: KL − 1).",
             "", "| task | ρ | g start → end | entropy start → end |", "|---|---|---|---|"]
    lines += [f"| {r['task']} | {r['penalty']:g} | {r['start_constraint']:.3f} → {r['constraint']:.3f} ± "
              f"{r['constraint_se']:.3f} | {r['start_entropy']:.2f} → {r['entropy']:.2f} ± {r['entropy_se']:.2f} |"
              for r in rows]
    with open(stem + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(args.tasks), figsize=(5 * len(args.tasks), 7), squeeze=False)
    for col, task in enumerate(args.tasks):
        for name, curve in curves.items():
            if name.startswith(task):
                axes[0, col].plot(curve["entropy"], label=name.split("/")[1])
                axes[1, col].plot(curve["constraint"], label=name.split("/")[1])
        axes[1, col].axhline(0.0, color="k", lw=0.8)
        axes[0, col].set_title(task)
        axes[0, col].set_ylabel("entropy estimate −mean log λ̂")
        axes[1, col].set_ylabel("constraint g (≤ 0 feasible)")
        axes[1, col].set_xlabel("iteration (4096 steps)")
        axes[0, col].legend()
    fig.tight_layout()
    fig.savefig(stem + ".png", dpi=100)


if __name__ == "__main__":
    main()
