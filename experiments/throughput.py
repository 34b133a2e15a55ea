"""Raw env throughput against gpomdp's training throughput at the same env count.

    python experiments/throughput.py                      # cartpole and hopper, 128 envs
    python experiments/throughput.py --envs cartpole --num-envs 1024

Raw: random actions, `lax.scan` over time, `vmap` over envs, auto-reset
included.  Training: gpomdp iterations of N episodes of horizon H, one seed.
Both run in one process on the same machine; the table gives steps/s, their
ratio and the compile times, and is also written as JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import gymnasium
import jax
import jax.numpy as jnp

from rlx.agents import gpomdp
from rlx.envs import make
from rlx.train import init_carry, run_updates


def _timed(fn, *args):
    """(compile seconds, run seconds of one call after compiling)."""
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(compiled(*args))  # warm
    t0 = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    return compile_s, time.perf_counter() - t0


def raw_env(env, num_envs: int, steps: int):
    space = env.action_space()
    params = env.default_params

    def random_action(key):
        if isinstance(space, gymnasium.spaces.Discrete):
            return jax.random.randint(key, (num_envs,), 0, space.n)
        return jax.random.uniform(key, (num_envs,) + space.shape, minval=-1.0, maxval=1.0)

    def run(key):
        _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), params)

        def body(state, k):
            ka, ks = jax.random.split(k)
            out = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(ks, num_envs), state, random_action(ka), params
            )
            return out[1], out[2]

        _, rewards = jax.lax.scan(body, state, jax.random.split(key, steps))
        return rewards.sum()

    compile_s, run_s = _timed(run, jax.random.key(0))
    return {"steps_per_s": num_envs * steps / run_s, "compile_s": compile_s}


def training(env, num_envs: int, iterations: int, horizon: int):
    config = gpomdp.Config(num_envs=num_envs, horizon=horizon)
    carry = init_carry(gpomdp, env, config, jax.random.key(0))
    compile_s, run_s = _timed(lambda c: run_updates(gpomdp, env, config, c, iterations), carry)
    steps = iterations * gpomdp.env_steps_per_update(env, config)
    return {"steps_per_s": steps / run_s, "compile_s": compile_s}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=["cartpole", "hopper"])
    parser.add_argument("--num-envs", type=int, default=128)
    parser.add_argument("--out", default="experiments/throughput.json")
    args = parser.parse_args()

    rows = []
    for name in args.envs:
        env = make(name)
        horizon = min(env.max_steps(), 500)
        raw = raw_env(env, args.num_envs, horizon)
        train = training(env, args.num_envs, 2, horizon)
        rows.append({"env": name, "num_envs": args.num_envs, "horizon": horizon, "raw": raw, "gpomdp": train})
        print(
            f"| {name} | {args.num_envs} | {raw['steps_per_s']:,.0f} | {train['steps_per_s']:,.0f} | "
            f"{train['steps_per_s'] / raw['steps_per_s']:.2f} | {raw['compile_s']:.1f} | {train['compile_s']:.1f} |",
            flush=True,
        )
    record = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {jax.devices()[0].device_kind}, {jax.device_count()} device(s)",
        "jax": jax.__version__,
        "rows": rows,
    }
    with open(args.out, "w") as f:
        json.dump(record, f, indent=2)


if __name__ == "__main__":
    print("| env | envs | raw env steps/s | gpomdp steps/s | ratio | raw compile s | gpomdp compile s |")
    print("|---|---|---|---|---|---|---|")
    main()
