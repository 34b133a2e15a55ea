"""The γ0 (and Hessian batch) grid behind the cartpole settings of
tests/test_vr_agents.py: the official code's CartPole set-up (horizon 200,
[32, 32] tanh softmax policy, 1,000 env steps for g), 150 iterations, 4 seeds,
every γ0 of an agent in one vmapped program.

    python experiments/vr_pg/tune_cartpole.py
"""

from __future__ import annotations

import numpy as np
from common import cartpole_config, train_grid

from rlx.envs import make

GRID = {
    "gpomdp": ([0.005, 0.01, 0.02, 0.05], {}),
    "npg_igt": ([0.1, 0.2, 0.5, 1.0], {}),
    "harpg": ([0.001, 0.002, 0.003], {"hessian_envs": 20}),
    "n_harpg": ([0.05, 0.1, 0.2, 0.5], {}),
    "sharp": ([0.05, 0.1, 0.2, 0.5], {}),
}


def main() -> None:
    env = make("cartpole")
    for name, (lrs, extra) in GRID.items():
        config = cartpole_config(name, **extra)
        out = train_grid(name, env, config, 150, lrs, seeds=4)
        for lr, returns in zip(lrs, out["episode_return"]):
            final = returns[:, -10:].mean(1)
            print(f"{name:8s} γ0={lr:<6g} {extra}  final return per seed {np.round(final)}  min {final.min():.0f}")


if __name__ == "__main__":
    main()
