"""Throughput of Brax's own PPO trainer (brax.training.agents.ppo.train).

Run inside the `brax` virtualenv made by experiments/bench/setup_peers.sh
(jax 0.9.2, flax 0.12.6, brax 0.14.2; the trainer fails on jax 0.10):

    .bench/brax/bin/python experiments/bench/peer_brax_ppo.py --env hopper \
        --num-envs 128 --num-steps 16 --minibatches 4 --epochs 4 --iterations 10

Prints one JSON line on stdout (everything else goes to stderr).

Mapping to rlx PPO (N envs, T steps, M minibatches, E epochs): num_envs=N,
unroll_length=T, batch_size=N/M, num_minibatches=M, num_updates_per_batch=E,
action_repeat=1, so one Brax "training step" collects N*T env steps (one
unroll of T steps in each of the N envs) and then makes E passes over M
minibatches of N*T/M transitions.  When N < M (e.g. N=1) Brax cannot split
one unroll across minibatches; then batch_size=1 and unroll_length=T*N/M, so
a training step collects M/N consecutive unrolls per env (still N*T env
steps, minibatches still N*T/M transitions; GAE is cut at every unroll).

What is timed (read from brax/training/agents/ppo/train.py, brax 0.14.2):
train() builds `training_epoch`, a jax.pmap of a lax.scan over
`num_training_steps_per_epoch` training steps; `training_epoch_with_timing`
times one call of it (time.time() before the call to block_until_ready on its
metrics) and reports `training/sps` = env steps in the epoch / that time.
Evaluation, checkpointing and the policy_params_fn callback run outside that
interval; XLA compilation of training_epoch runs inside it.  On jax 0.9.2 the
trainer compiles training_epoch TWICE: on the first call and again on the
second call (seen with jax.monitoring; presumably its inputs, now pmap
outputs rather than device_put_replicated arrays, differ in sharding).
So this script asks for W + R epochs of K training steps each (num_timesteps
= (W+R)*K*N*T, num_evals = W+R+1, run_evals=False so the evaluator never
runs; it is still built, which jits one reset of num_eval_envs=1 env outside
the epochs), W = --warmup-epochs (default 2).  A jax.monitoring listener
marks each epoch during which XLA compiled anything:

  steps_per_s = K*N*T / median seconds of the epochs that compiled nothing
                (~ median training/sps over them)
  compile_s   = sum over the epochs that compiled of (their seconds - the
                median steady seconds): tracing + lowering + XLA compile of
                training_epoch, both compilations
  jax_compile_events_s = jax.monitoring's trace/lower/backend-compile
                durations summed over everything compiled in train()
                (the two epoch compilations dominate; env reset, the
                evaluator's reset and parameter init are included)
  peak_rss_mb = resource.getrusage(RUSAGE_SELF).ru_maxrss of this process.
It exits non-zero if no epoch ran without compiling.

By default the policy is the one rlx PPO uses for continuous actions: a
Gaussian whose mean is an MLP of the (normalised) observation and whose
log-std is a state-independent parameter initialised to 0, no tanh squashing
(make_ppo_networks(distribution_type="normal", noise_std_type="log",
init_noise_std=1.0, state_dependent_std=False)); --distribution tanh_normal
gives Brax's default (MLP outputs mean and softplus std, tanh-squashed).
Hidden activation tanh.  Loss hyper-parameters follow rlx PPO's defaults.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import sys
import time
import warnings


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="hopper", help="Brax env name (brax.envs.get_environment)")
    p.add_argument("--backend", default="spring",
                   help="Brax physics backend; rlx's Brax envs default to spring")
    p.add_argument("--num-envs", type=int, default=128, help="N")
    p.add_argument("--num-steps", type=int, default=16, help="T, unroll length")
    p.add_argument("--minibatches", type=int, default=4, help="M")
    p.add_argument("--epochs", type=int, default=4, help="E, passes over the batch")
    p.add_argument("--policy-hidden", default="64,64")
    p.add_argument("--value-hidden", default="64,64")
    p.add_argument("--distribution", choices=["normal", "tanh_normal"], default="normal")
    p.add_argument("--iterations", type=int, default=10, help="K training steps per timed epoch")
    p.add_argument("--warmup-epochs", type=int, default=2,
                   help="W epochs run first (Brax compiles in the first two)")
    p.add_argument("--repeats", type=int, default=3, help="R timed epochs after the warm-up")
    p.add_argument("--episode-length", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--learn-steps", type=int, default=0,
                   help="> 0: train this many env steps from --seed and report final_return (Brax's own "
                        "evaluator: 128 episodes of the stochastic policy) instead of timing")
    p.add_argument("--cpu-devices", type=int, default=0,
                   help="> 0: split the CPU into this many jax devices (Brax pmaps over them); "
                        "0 leaves jax's default (one CPU device)")
    return p.parse_args(argv)


def hidden(spec: str) -> tuple[int, ...]:
    return tuple(int(w) for w in spec.split(",") if w.strip())


def brax_layout(n: int, t: int, m: int) -> dict:
    """batch_size / unroll_length / num_minibatches giving N*T env steps a
    training step and minibatches of N*T/M transitions."""
    if n % m == 0:
        return {"batch_size": n // m, "unroll_length": t, "num_minibatches": m, "unrolls_per_step": 1}
    if m % n == 0 and (t * n) % m == 0:
        return {"batch_size": 1, "unroll_length": t * n // m, "num_minibatches": m,
                "unrolls_per_step": m // n}
    raise SystemExit(f"peer_brax_ppo: cannot map N={n}, T={t}, M={m} onto Brax "
                     "(need N % M == 0, or M % N == 0 and N*T % M == 0)")


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.cpu_devices > 0:
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={args.cpu_devices}".strip()
    n, t, m, e, k, r = (args.num_envs, args.num_steps, args.minibatches, args.epochs,
                        args.iterations, args.repeats)
    layout = brax_layout(n, t, m)
    real_stdout = sys.stdout

    # mujoco and Brax print and warn on import; keep stdout for the JSON line.
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import functools
        from importlib.metadata import version

        import jax
        from brax import envs
        from flax import linen
        from brax.training.agents.ppo import networks as ppo_networks
        from brax.training.agents.ppo import train as ppo

        compile_events: dict[str, float] = {}
        backend_compiles = [0]  # XLA compilations so far

        def on_duration(event, duration, **kwargs):
            if event.startswith("/jax/core/compile/"):
                name = event.rsplit("/", 1)[-1]
                compile_events[name] = compile_events.get(name, 0.0) + duration
                if name == "backend_compile_duration":
                    backend_compiles[0] += 1

        jax.monitoring.register_event_duration_secs_listener(on_duration)

        env = envs.get_environment(args.env, backend=args.backend)
        network_factory = functools.partial(
            ppo_networks.make_ppo_networks,
            policy_hidden_layer_sizes=hidden(args.policy_hidden),
            value_hidden_layer_sizes=hidden(args.value_hidden),
            activation=linen.tanh,
            distribution_type=args.distribution,
            noise_std_type="log",
            init_noise_std=1.0,
            state_dependent_std=False,
        )

        steps_per_training_step = n * t
        epochs_total = args.warmup_epochs + r
        progress: list[tuple[int, float, int]] = []  # (env steps, training/sps, XLA compiles so far)

        evals: list[tuple[int, float]] = []  # (env steps, eval/episode_reward) with --learn-steps

        def progress_fn(step, metrics):
            if args.learn_steps:
                evals.append((int(step), float(metrics["eval/episode_reward"])))
                return
            progress.append((int(step), float(metrics["training/sps"]), backend_compiles[0]))

        t0 = time.perf_counter()
        ppo.train(
            environment=env,
            num_timesteps=args.learn_steps or epochs_total * k * steps_per_training_step,
            num_evals=2 if args.learn_steps else epochs_total + 1,
            run_evals=bool(args.learn_steps),
            num_eval_envs=128 if args.learn_steps else 1,
            episode_length=args.episode_length,
            action_repeat=1,
            num_envs=n,
            unroll_length=layout["unroll_length"],
            batch_size=layout["batch_size"],
            num_minibatches=layout["num_minibatches"],
            num_updates_per_batch=e,
            normalize_observations=True,
            learning_rate=2.5e-4,
            entropy_cost=0.01,
            discounting=0.99,
            gae_lambda=0.95,
            clipping_epsilon=0.2,
            vf_loss_coefficient=0.5,
            max_grad_norm=0.5,
            normalize_advantage=True,
            reward_scaling=1.0,
            network_factory=network_factory,
            seed=args.seed,
            progress_fn=progress_fn,
        )
        total_s = time.perf_counter() - t0
        if args.learn_steps:
            print(json.dumps({"framework": "brax", "env": args.env, "final_return": evals[-1][1], "seed": args.seed,
                              "env_steps": evals[-1][0], "wall_s": total_s}), file=real_stdout, flush=True)
            return

    if len(progress) != epochs_total:
        raise SystemExit(f"peer_brax_ppo: expected {epochs_total} progress callbacks, got {len(progress)}")
    steps_per_epoch = k * steps_per_training_step
    if progress[-1][0] != epochs_total * steps_per_epoch:
        raise SystemExit(f"peer_brax_ppo: Brax ran {progress[-1][0]} env steps, "
                         f"expected {epochs_total * steps_per_epoch}")
    epoch_s = [steps_per_epoch / sps for _, sps, _ in progress]
    # The first epoch always compiles; a later one did if the XLA compile
    # count rose since the previous callback.
    compiled = [True] + [progress[i][2] > progress[i - 1][2] for i in range(1, len(progress))]
    steady = [sec for sec, c in zip(epoch_s, compiled) if not c]
    if not steady:
        raise SystemExit("peer_brax_ppo: every epoch compiled something; raise --repeats")
    steady_s = statistics.median(steady)
    result = {
        "framework": "brax",
        "env": args.env,
        "num_envs": n,
        "steps_per_s": steps_per_epoch / steady_s,
        "compile_s": sum(sec - steady_s for sec, c in zip(epoch_s, compiled) if c),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "versions": {"jax": version("jax"), "jaxlib": version("jaxlib"), "brax": version("brax"),
                     "flax": version("flax"), "mujoco": version("mujoco"),
                     "python": platform.python_version()},
        "config": {
            "backend": args.backend, "num_steps": t, "minibatches": m, "epochs": e,
            "minibatch_transitions": n * t // m, "policy_hidden": list(hidden(args.policy_hidden)),
            "value_hidden": list(hidden(args.value_hidden)), "activation": "tanh",
            "distribution": args.distribution, "iterations": k, "warmup_epochs": args.warmup_epochs,
            "repeats": r, "seed": args.seed, "env_steps_per_iteration": steps_per_training_step,
            "episode_length": args.episode_length,
            "brax_train": {"num_envs": n, "unroll_length": layout["unroll_length"],
                           "batch_size": layout["batch_size"], "num_minibatches": layout["num_minibatches"],
                           "num_updates_per_batch": e, "action_repeat": 1,
                           "unrolls_per_step": layout["unrolls_per_step"]},
            "jax_devices": jax.local_device_count(), "platform": jax.default_backend(),
        },
        "epoch_s": [round(sec, 4) for sec in epoch_s],
        "epoch_compiled": compiled,
        "jax_compile_events_s": {key: round(v, 3) for key, v in sorted(compile_events.items())},
        "total_train_call_s": total_s,
    }
    print(json.dumps(result), file=real_stdout, flush=True)


if __name__ == "__main__":
    main()
