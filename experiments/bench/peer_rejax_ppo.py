"""Throughput of rejax's PPO (rejax.PPO) on a gymnax env.

Run inside the `rejax` virtualenv made by experiments/bench/setup_peers.sh
(jax 0.9.2, rejax 0.1.3, gymnax 0.0.9; rejax 0.1.3 breaks on gymnax 1.0's
six-value step, so rlx itself cannot live in this venv):

    .bench/rejax/bin/python experiments/bench/peer_rejax_ppo.py --env CartPole-v1 \
        --num-envs 128 --num-steps 16 --minibatches 4 --epochs 4 --iterations 20

Prints one JSON line on stdout (everything else goes to stderr).

Mapping to rlx PPO (N envs, T steps, M minibatches, E epochs, hidden):
num_envs=N, num_steps=T, num_minibatches=M, num_epochs=E,
agent_kwargs={"hidden_layer_sizes": hidden, "activation": "tanh"} (actor and
critic get the same layers), total_timesteps = K*N*T.  One rejax
train_iteration collects T steps in each of the N envs (lax.scan) and makes
E epochs of M minibatches of N*T/M transitions, shuffled per transition.

Evaluation (read from rejax/algos/mixins.py, OnPolicyMixin.train, 0.1.3):
train() evaluates once before training unless skip_initial_evaluation, then
runs ceil(total_timesteps / eval_freq) blocks of ceil(eval_freq / (N*T))
train_iterations, each block followed by one eval_callback (by default 128
full episodes, up to max_steps_in_episode each).  Here eval_freq =
total_timesteps (one block of exactly K iterations),
skip_initial_evaluation=True, and the eval_callback field is replaced by one
that returns a constant, so no evaluation episode is ever simulated.

What is timed: the whole train(key) (init of networks, optimiser and env
states + the K iterations) as one jitted function.
  compile_s   = jax.jit(train).lower(key) + .compile()  (trace, lower, XLA)
  steps_per_s = K*N*T / median over --repeats calls of the compiled function
                (each call trains from scratch; block_until_ready on its output)
  peak_rss_mb = resource.getrusage(RUSAGE_SELF).ru_maxrss of this process.

Other settings follow rlx PPO's defaults: Adam lr 2.5e-4, grad-norm clip 0.5,
gamma 0.99, GAE lambda 0.95, clip 0.2, vf_coef 0.5, ent_coef 0.01, observation
normalisation on.
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


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="CartPole-v1", help="gymnax env id (or rejax's prefix/name)")
    p.add_argument("--num-envs", type=int, default=128, help="N")
    p.add_argument("--num-steps", type=int, default=16, help="T steps per env per iteration")
    p.add_argument("--minibatches", type=int, default=4, help="M")
    p.add_argument("--epochs", type=int, default=4, help="E")
    p.add_argument("--hidden", default="64,64", help="hidden layers of actor and critic")
    p.add_argument("--iterations", type=int, default=20, help="K training iterations timed")
    p.add_argument("--repeats", type=int, default=3, help="timed calls of the compiled train")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--learn-steps", type=int, default=0,
                   help="> 0: train this many env steps from --seed and report final_return (rejax's own "
                        "evaluation: 128 episodes of its stochastic act) instead of timing")
    return p.parse_args(argv)


def learn(algo, args) -> dict:
    """Train for --learn-steps env steps (whole iterations) with rejax's default
    evaluation at the end only; its mean return over 128 episodes."""
    import jax

    steps = -(-args.learn_steps // (args.num_envs * args.num_steps)) * args.num_envs * args.num_steps
    algo = algo.replace(total_timesteps=steps, eval_freq=steps)
    t0 = time.perf_counter()
    _, (_, returns) = jax.jit(algo.train)(jax.random.key(args.seed))
    return {"framework": "rejax", "env": args.env, "final_return": float(returns[-1].mean()), "seed": args.seed,
            "env_steps": steps, "wall_s": time.perf_counter() - t0}


def main(argv=None) -> None:
    args = parse_args(argv)
    n, t, m, e, k = args.num_envs, args.num_steps, args.minibatches, args.epochs, args.iterations
    hidden = tuple(int(w) for w in args.hidden.split(",") if w.strip())
    if (n * t) % m:
        raise SystemExit(f"peer_rejax_ppo: N*T = {n * t} does not split into {m} minibatches")
    real_stdout = sys.stdout

    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from importlib.metadata import version

        import jax
        import jax.numpy as jnp
        from rejax import PPO

        total = k * n * t
        algo = PPO.create(
            env=args.env,
            num_envs=n,
            num_steps=t,
            num_minibatches=m,
            num_epochs=e,
            total_timesteps=total,
            eval_freq=total,
            skip_initial_evaluation=True,
            agent_kwargs={"hidden_layer_sizes": hidden, "activation": "tanh"},
            normalize_observations=True,
            learning_rate=2.5e-4,
            max_grad_norm=0.5,
            gamma=0.99,
            gae_lambda=0.95,
            clip_eps=0.2,
            vf_coef=0.5,
            ent_coef=0.01,
        )
        if args.learn_steps:
            print(json.dumps(learn(algo, args)), file=real_stdout, flush=True)
            return
        algo = algo.replace(eval_callback=lambda _algo, _ts, _rng: jnp.zeros(()))

        def train(key):
            ts, _ = algo.train(key)
            return ts

        key = jax.random.key(args.seed)
        t0 = time.perf_counter()
        lowered = jax.jit(train).lower(key)
        t1 = time.perf_counter()
        compiled = lowered.compile()
        t2 = time.perf_counter()

        run_s = []
        for _ in range(args.repeats):
            t3 = time.perf_counter()
            ts = jax.block_until_ready(compiled(key))
            run_s.append(time.perf_counter() - t3)
        steps_done = int(ts.global_step)
        if steps_done != total:
            raise SystemExit(f"peer_rejax_ppo: rejax ran {steps_done} env steps, expected {total}")

    median_s = statistics.median(run_s)
    result = {
        "framework": "rejax",
        "env": args.env,
        "num_envs": n,
        "steps_per_s": total / median_s,
        "compile_s": t2 - t0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "versions": {"jax": version("jax"), "jaxlib": version("jaxlib"), "rejax": version("rejax"),
                     "gymnax": version("gymnax"), "flax": version("flax"), "optax": version("optax"),
                     "python": platform.python_version()},
        "config": {
            "num_steps": t, "minibatches": m, "epochs": e, "minibatch_transitions": n * t // m,
            "hidden": list(hidden), "activation": "tanh", "iterations": k, "repeats": args.repeats,
            "seed": args.seed, "env_steps_per_iteration": n * t, "total_timesteps": total,
            "eval": "off (eval_callback replaced by a constant)",
            "jax_devices": jax.local_device_count(), "platform": jax.default_backend(),
        },
        "lower_s": t1 - t0,
        "xla_compile_s": t2 - t1,
        "run_s": [round(s, 4) for s in run_s],
    }
    print(json.dumps(result), file=real_stdout, flush=True)


if __name__ == "__main__":
    main()
