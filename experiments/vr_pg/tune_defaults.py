"""The γ0 grid behind the classic-control and tabular defaults of the
policy-gradient agents (the agent's FAMILY_DEFAULTS): each agent at its defaults
but γ0, every γ0 and seed in one vmapped program.

    python experiments/vr_pg/tune_defaults.py                          # cartpole, 3·10^5 steps, 4 seeds
    python experiments/vr_pg/tune_defaults.py --env acrobot
    python experiments/vr_pg/tune_defaults.py --env random_mdp --total-steps 1e5

Prints, per γ0, the mean training return of the first and last 10% of the
iterations, the per-seed last 10%, and whether any seed hit a NaN.  The
default is the γ0 with the best last-10% mean whose every seed learned, with
a margin from the first γ0 that lost a seed (rlx took the next smaller value
on the grid where the best one sat next to a collapse).
"""

from __future__ import annotations

import argparse

import numpy as np
from common import train_grid

from rlx import agents
from rlx.envs import make

GRID = {
    "gpomdp": [0.05, 0.1, 0.2, 0.5, 1.0],
    "npg_igt": [0.1, 0.2, 0.5, 1.0, 2.0],
    "harpg": [0.01, 0.02, 0.05, 0.1],
    "n_harpg": [0.1, 0.2, 0.5, 1.0],
    "sharp": [0.05, 0.1, 0.2, 0.5],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="cartpole")
    parser.add_argument("--total-steps", type=float, default=3e5)
    parser.add_argument("--seeds", type=int, default=4)
    args = parser.parse_args()
    env = make(args.env)
    for name, lrs in GRID.items():
        config = agents.config(name, env)
        iterations = int(args.total_steps) // agents.get(name).env_steps_per_update(env, config)
        out = train_grid(name, env, config, iterations, lrs, seeds=args.seeds)
        tail = max(1, iterations // 10)
        for lr, returns in zip(lrs, out["episode_return"]):
            first, last = returns[:, :tail].mean(), returns[:, -tail:].mean(1)
            print(f"{name:8s} γ0={lr:<6g} first {first:8.1f} last {last.mean():8.1f}  per seed {np.round(last, 1)}"
                  f"  NaN {bool(np.isnan(returns).any())}", flush=True)


if __name__ == "__main__":
    main()
