"""Training one agent over a grid of step sizes × seeds in ONE compiled
program (tune_defaults.py's γ0 grid)."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from rlx import agents
from rlx.train import make_train


def train_grid(name: str, env, config, iterations: int, lrs, seeds: int, seed: int = 0) -> dict:
    """Trains agent `name` for every γ0 in `lrs` and every seed, vmapped.

    Returns numpy metrics of shape [len(lrs), seeds, iterations], plus
    `env_steps` [iterations] (cumulative simulated steps of one run) and the
    compile and run seconds."""
    agent = agents.get(name)

    def one(key, lr):
        return make_train(agent, env, config.replace(lr=lr), iterations)(key)[1]

    program = jax.jit(jax.vmap(jax.vmap(one, (0, None)), (None, 0)))
    keys = jax.random.split(jax.random.key(seed), seeds)
    lrs = jnp.asarray(lrs, jnp.float32)
    t0 = time.perf_counter()
    compiled = program.lower(keys, lrs).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    metrics = jax.device_get(compiled(keys, lrs))
    run_s = time.perf_counter() - t0
    steps = agent.env_steps_per_update(env, config)
    out = {k: np.asarray(v) for k, v in metrics.items()}
    out["env_steps"] = steps * np.arange(1, iterations + 1)
    out["compile_s"], out["run_s"] = compile_s, run_s
    return out
