"""What the vr_pg experiments share: training one agent over a grid of
step sizes × seeds in ONE compiled program, and writing a table and a plot."""

from __future__ import annotations

import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from rlx import agents
from rlx.train import make_train

LABELS = {"gpomdp": "vanilla PG", "npg_igt": "N-PG-IGT", "harpg": "HARPG", "n_harpg": "N-HARPG", "sharp": "SHARP"}


def cartpole_config(name: str, env):
    """Agent `name` in the official code's CartPole set-up: horizon 200, a
    [32, 32] tanh softmax policy, whole episodes until ≥ 1,000 steps for g and
    ≥ 32 for B (the defaults), γ0 the classic-control default."""
    return agents.config(name, env).replace(horizon=200, hidden=(32, 32))


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


def machine() -> dict:
    return dict(date=time.strftime("%Y-%m-%d"), processor=platform.processor() or platform.machine(),
                cpus=os.cpu_count(), jax=jax.__version__, backend=jax.default_backend())


def write_json(path: str, payload: dict) -> None:
    def plain(x):
        if isinstance(x, np.ndarray):
            return x.tolist()
        if isinstance(x, (np.floating, np.integer)):
            return x.item()
        raise TypeError(type(x))

    with open(path, "w") as f:
        json.dump(payload, f, default=plain, indent=1)
