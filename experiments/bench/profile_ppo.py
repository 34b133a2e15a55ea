"""Where one PPO iteration's time goes, and what issue 22's changes to the
shared pieces buy, as paired in-process timings.

    python experiments/bench/profile_ppo.py                 # cartpole and hopper, 5 rounds
    python experiments/bench/profile_ppo.py --envs cartpole --rounds 3

The benchmark's PPO (128 envs × 16 steps, 4 epochs × 4 minibatches, 64×64,
observation normalisation).  Each quantity is timed as K scanned iterations
of a compiled program; the programs of a comparison run alternately, round
by round, and the table gives the median over rounds of each program's time
and of the per-round ratio (with its range).

- the iteration split: the rollout alone (T steps of N envs with the policy)
  and the whole update;
- the env step: `vmap(Env.step)` (a reset computed at every step and kept
  where an episode ended) against `Env.step_batch` (only the kept resets);
- the minibatch order: `jax.random.permutation` (two sorts) against
  `onpolicy.random_order` (a Feistel permutation), 4 orders an iteration.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time


def compiled(fn, *args):
    import jax

    program = jax.jit(fn).lower(*args).compile()
    jax.block_until_ready(program(*args))
    return lambda: jax.block_until_ready(program(*args))


def seconds(call) -> float:
    t0 = time.perf_counter()
    call()
    return time.perf_counter() - t0


def paired(programs: dict, rounds: int) -> dict:
    times = {name: [] for name in programs}
    for _ in range(rounds):
        for name, call in programs.items():
            times[name].append(seconds(call))
    return times


def profile(env_name: str, rounds: int, iterations: int) -> dict:
    import gymnasium
    import jax
    import jax.numpy as jnp

    from rlx.agents import ppo
    from rlx.agents.shared import onpolicy
    from rlx.envs import make

    env = make(env_name)
    config = ppo.Config(num_envs=128, num_steps=16, minibatches=4, epochs=4, normalize_obs=True, discount=0.99)
    state = ppo.init(jax.random.key(0), env, config)
    pi = ppo.policy(env, config)
    keys = jax.random.split(jax.random.key(1), iterations)
    space = env.action_space()

    def rollout(state):
        def body(envs, k):
            act = lambda kk, o: pi.sample(kk, state.params["policy"], state.obs_stats.normalize(o))
            _, envs, r = onpolicy.rollout(k, env, act, envs, config.num_steps)
            return envs, r
        return jax.lax.scan(body, state.envs, keys)

    def update(state):
        return jax.lax.scan(lambda s, k: ppo.update(k, s, env, config), state, keys)

    def random_actions(k):
        if isinstance(space, gymnasium.spaces.Discrete):
            return jax.random.randint(k, (config.num_envs,), 0, space.n)
        return jax.random.uniform(k, (config.num_envs,) + space.shape, minval=-1.0, maxval=1.0)

    def raw(step):
        def run(env_state):
            def body(s, k):
                out = step(jax.random.split(k, config.num_envs), s, random_actions(k), env.default_params)
                return out[1], out[2]
            return jax.lax.scan(body, env_state, jax.random.split(keys[0], iterations * config.num_steps))
        return run

    vmapped_step = lambda *a: jax.vmap(env.step, in_axes=(0, 0, 0, None))(*a)
    size = config.num_envs * config.num_steps

    def orders(order_fn):
        return lambda k: jax.lax.scan(lambda c, kk: (c + order_fn(kk, size)[0], None), jnp.zeros((), jnp.int32),
                                      jax.random.split(k, iterations * config.epochs))[0]

    split = paired({"rollout": compiled(rollout, state), "update": compiled(update, state)}, rounds)
    step = paired({"vmap(step)": compiled(raw(vmapped_step), state.envs.state),
                   "step_batch": compiled(raw(env.step_batch), state.envs.state)}, rounds)
    order = paired({"permutation": compiled(orders(lambda k, n: jax.random.permutation(k, n)), keys[0]),
                    "random_order": compiled(orders(onpolicy.random_order), keys[0])}, rounds)
    per_iteration = lambda ts: statistics.median(ts) / iterations * 1e3
    ratio = lambda a, b: sorted(x / y for x, y in zip(a, b))
    return {
        "env": env_name, "rounds": rounds, "iterations": iterations,
        "update_ms": per_iteration(split["update"]), "rollout_ms": per_iteration(split["rollout"]),
        "rollout_share": statistics.median(ratio(split["rollout"], split["update"])),
        "step_ms": {k: per_iteration(v) for k, v in step.items()},
        "step_batch_speedup": ratio(step["vmap(step)"], step["step_batch"]),
        "order_ms": {k: per_iteration(v) for k, v in order.items()},
        "order_share_before": statistics.median(ratio(order["permutation"], split["update"])),
        "random_order_speedup": ratio(order["permutation"], order["random_order"]),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--envs", default="cartpole,hopper")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--iterations", type=int, default=10)
    args = p.parse_args()
    for env_name in args.envs.split(","):
        row = profile(env_name, args.rounds, args.iterations)
        speed = row["step_batch_speedup"]
        order = row["random_order_speedup"]
        print(f"{env_name}: update {row['update_ms']:.1f} ms/iteration, rollout {row['rollout_ms']:.1f} ms "
              f"({row['rollout_share']:.0%}); env steps of an iteration: vmap(step) {row['step_ms']['vmap(step)']:.1f} "
              f"ms, step_batch {row['step_ms']['step_batch']:.1f} ms (× {statistics.median(speed):.2f}, "
              f"{speed[0]:.2f}–{speed[-1]:.2f}); 4 minibatch orders: permutation {row['order_ms']['permutation']:.2f} ms "
              f"(would be {row['order_share_before']:.0%} of today's update), random_order "
              f"{row['order_ms']['random_order']:.2f} ms (× {statistics.median(order):.1f})", flush=True)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
