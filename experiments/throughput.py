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

from rlx.agents import gpomdp
from rlx.envs import make
from rlx.train import init_carry, run_updates


def timed(fn, *args, repeats: int = 1):
    """(compile seconds, best-of-`repeats` run seconds of one call after compiling)."""
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(compiled(*args))  # warm
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        best = min(best, time.perf_counter() - t0)
    return compile_s, best


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

    compile_s, run_s = timed(run, jax.random.key(0))
    return {"steps_per_s": num_envs * steps / run_s, "compile_s": compile_s}


def training(agent, env, config, iterations: int, repeats: int = 1):
    """Steps/s, seconds an iteration and compile seconds of `iterations`
    scanned updates of one seed."""
    carry = init_carry(agent, env, config, jax.random.key(0))
    compile_s, run_s = timed(lambda c: run_updates(agent, env, config, c, iterations), carry, repeats=repeats)
    steps = iterations * agent.env_steps_per_update(env, config)
    return {"steps_per_s": steps / run_s, "iteration_s": run_s / iterations, "compile_s": compile_s}


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
        train = training(gpomdp, env, gpomdp.Config(num_envs=args.num_envs, horizon=horizon), 2)
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
