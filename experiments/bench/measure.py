"""One rlx measurement of the benchmark, printed as one JSON line.

    python experiments/bench/measure.py raw --env hopper --num-envs 128
    python experiments/bench/measure.py train --agent harpg --env cartpole --num-envs 1024
    python experiments/bench/measure.py seeds --agent ppo --env cartpole --seeds 16
    python experiments/bench/measure.py ppo --env hopper --num-envs 128 --num-steps 16 --minibatches 4 --epochs 4
    python experiments/bench/measure.py learn --env cartpole --learn-steps 300000 --seed 1

Each call measures one thing in its own process, so `peak_rss_mb`
(ru_maxrss) is that measurement's own peak.  experiments/bench/run.py calls
it for every row; `ppo` takes the same flags as the peers' scripts
(peer_brax_ppo.py, peer_rejax_ppo.py) and runs in the Brax virtualenv for
the side-by-side comparison.

Timing: the program is compiled ahead of time (`jit(...).lower(...).compile()`,
reported as `compile_s`), called once to warm up, then called `--repeats`
times; steps/s uses the median call (as the peers' scripts do).

- raw: random actions, `lax.scan` over `--steps` steps of `Env.step_batch`
  (vmapped envs, the step every rlx rollout takes), auto-reset included.
- train: `--iterations` scanned updates of one seed.  Policy-gradient agents
  play whole episodes of horizon H in `num_envs` slots until ≥ num_envs × H
  steps an iteration (H = min(episode limit, `--horizon`)); PPO runs `num_envs` envs for `num_steps` steps.
- seeds: the same, vmapped over `--seeds` seeds; steps/s counts all seeds.
- ppo: rlx PPO with the peers' settings (observation normalisation on, rlx's
  loss defaults), K iterations of N·T env steps.
- learn: the same PPO trained for `--learn-steps` env steps from `--seed`,
  then `final_return`: the mean return of 128 fresh episodes of the
  stochastic policy (how rejax's and Brax's trainers evaluate by default),
  the learning half of the speed comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import resource
import statistics
import sys
import time
import warnings


def timed(fn, args, repeats: int):
    """(compile seconds, median of `repeats` calls after one warm-up call),
    the median as the peers' scripts report theirs."""
    import jax

    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(compiled(*args))
    calls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        calls.append(time.perf_counter() - t0)
    return compile_s, statistics.median(calls)


def raw(env, num_envs: int, steps: int, repeats: int) -> dict:
    import gymnasium
    import jax

    space, params = env.action_space(), env.default_params

    def random_action(key):
        if isinstance(space, gymnasium.spaces.Discrete):
            return jax.random.randint(key, (num_envs,), 0, space.n)
        return jax.random.uniform(key, (num_envs,) + space.shape, minval=-1.0, maxval=1.0)

    def run(key):
        _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), params)

        def body(state, k):
            action_key, step_key = jax.random.split(k)
            out = env.step_batch(
                jax.random.split(step_key, num_envs), state, random_action(action_key), params)
            return out[1], out[2]

        _, rewards = jax.lax.scan(body, state, jax.random.split(key, steps))
        return rewards.sum()

    compile_s, run_s = timed(run, (jax.random.key(0),), repeats)
    return {"steps_per_s": num_envs * steps / run_s, "compile_s": compile_s}


def agent_config(name: str, env, num_envs: int, horizon: int):
    from rlx import agents

    config = agents.config(name).replace(num_envs=num_envs)
    if hasattr(config, "horizon"):
        config = config.replace(horizon=min(env.max_steps(), horizon))
    if hasattr(config, "batch_steps"):  # policy-gradient agents: num_envs slots, a batch of num_envs × H steps
        config = config.replace(batch_steps=num_envs * config.horizon)
    return config


def train(agent, env, config, iterations: int, repeats: int, seeds: int = 0) -> dict:
    """`iterations` scanned updates of one seed, or of `seeds` vmapped seeds."""
    import jax

    from rlx.train import init_carry, run_updates

    def updates(carry):
        return run_updates(agent, env, config, carry, iterations)

    if seeds:
        carry = jax.vmap(lambda k: init_carry(agent, env, config, k))(jax.random.split(jax.random.key(0), seeds))
        updates = jax.vmap(updates)
    else:
        carry = init_carry(agent, env, config, jax.random.key(0))
    compile_s, run_s = timed(updates, (carry,), repeats)
    steps = iterations * agent.env_steps_per_update(env, config) * max(seeds, 1)
    return {"steps_per_s": steps / run_s, "iteration_s": run_s / iterations, "compile_s": compile_s,
            "env_steps_per_iteration": agent.env_steps_per_update(env, config)}


def learn(agent, env, config, steps: int, seed: int, episodes: int = 128) -> dict:
    """Train from `seed` for `steps` env steps (whole iterations), then the
    mean return of `episodes` fresh episodes of the stochastic policy."""
    import jax

    from rlx.rollout import collect_episodes
    from rlx.train import init_carry, run_updates

    iterations = -(-steps // agent.env_steps_per_update(env, config))
    key, eval_key = jax.random.split(jax.random.key(seed))
    t0 = time.perf_counter()
    carry, _ = jax.jit(lambda c: run_updates(agent, env, config, c, iterations))(init_carry(agent, env, config, key))
    act = lambda k, obs: agent.act(k, carry.state, obs, env, config, deterministic=False)
    traj = jax.jit(lambda k: collect_episodes(k, env, env.default_params, act, episodes, env.max_steps()))(eval_key)
    return {"final_return": float(traj.episode_return.mean()), "seed": seed, "iterations": iterations,
            "env_steps": iterations * agent.env_steps_per_update(env, config), "wall_s": time.perf_counter() - t0}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("kind", choices=["raw", "train", "seeds", "ppo", "learn"])
    p.add_argument("--env", default="cartpole", help="an rlx env name")
    p.add_argument("--agent", default="gpomdp")
    p.add_argument("--num-envs", type=int, default=128, help="N (envs, or episodes an iteration)")
    p.add_argument("--horizon", type=int, default=500, help="H of policy-gradient agents, and raw's steps")
    p.add_argument("--iterations", type=int, default=2)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--hessian-envs", type=int, default=0, help="> 0: HARPG/SHARP's second batch size")
    # ppo: the peers' flags
    p.add_argument("--num-steps", type=int, default=16, help="T")
    p.add_argument("--minibatches", type=int, default=4, help="M")
    p.add_argument("--epochs", type=int, default=4, help="E")
    p.add_argument("--hidden", default="64,64", help="policy and value hidden layers")
    p.add_argument("--learn-steps", type=int, default=300_000, help="learn: env steps of training")
    p.add_argument("--seed", type=int, default=0, help="learn: the run's seed")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    real_stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from importlib.metadata import version

        import jax

        from rlx import agents
        from rlx.envs import make

        env = make(args.env)
        row = {"framework": "rlx", "kind": args.kind, "env": args.env, "num_envs": args.num_envs}
        if args.kind == "raw":
            row["steps"] = args.horizon
            row.update(raw(env, args.num_envs, args.horizon, args.repeats))
        elif args.kind in ("train", "seeds"):
            config = agent_config(args.agent, env, args.num_envs, args.horizon)
            if args.hessian_envs:  # a Hessian batch of that many episodes' steps
                config = config.replace(hessian_steps=args.hessian_envs * config.horizon)
            seeds = args.seeds if args.kind == "seeds" else 0
            row.update(agent=args.agent, seeds=max(seeds, 1), hessian_steps=getattr(config, "hessian_steps", None))
            row.update(train(agents.get(args.agent), env, config, args.iterations, args.repeats, seeds))
        else:
            from rlx.agents import ppo

            hidden = tuple(int(w) for w in args.hidden.split(","))
            config = ppo.Config(num_envs=args.num_envs, num_steps=args.num_steps, minibatches=args.minibatches,
                                epochs=args.epochs, hidden=hidden, normalize_obs=True, discount=0.99)
            row.update(agent="ppo", config={"num_steps": args.num_steps, "minibatches": args.minibatches,
                                            "epochs": args.epochs, "hidden": list(hidden)})
            if args.kind == "ppo":
                row.update(train(ppo, env, config, args.iterations, args.repeats))
            else:
                row.update(learn(ppo, env, config, args.learn_steps, args.seed))
        row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        row["versions"] = {"jax": version("jax"), "jaxlib": version("jaxlib"), "flax": version("flax"),
                           "python": platform.python_version()}
        row["device"] = f"{jax.default_backend()} ({jax.devices()[0].device_kind})"
    print(json.dumps(row), file=real_stdout, flush=True)


if __name__ == "__main__":
    main()
