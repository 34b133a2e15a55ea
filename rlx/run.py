"""The experiment runner.

    python -m rlx.run                                   # gpomdp on cartpole, 4 seeds
    python -m rlx.run agent=gpomdp env=cartpole seeds=8 total_steps=2e5 out=runs/demo
    python -m rlx.run env=hopper agent.optimizer=adam agent.lr=3e-3 env.backend=positional

Overrides are `key=value`: the run's own fields (rlx.config.RunConfig),
`agent.<field>` for the agent's Config and `env.<arg>` for the env's
constructor.  Bad input is one line on stderr and exit code 2, before anything
compiles.  Seeds are vmapped inside one compiled chunk of `log_every`
iterations; between chunks the host writes metrics.jsonl and a progress line.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from types import ModuleType
from typing import Any

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np

from rlx import agents, envs
from rlx.config import ConfigError, RunConfig, apply_overrides, coerce_kwargs, split_overrides, to_dict
from rlx.train import init_carry, run_updates

USAGE = __doc__.split("\n\n")[1]


@dataclasses.dataclass
class Plan:
    """Everything resolved from the command line, before compiling."""

    run: RunConfig
    agent: ModuleType
    agent_config: Any
    env: Any
    env_kwargs: dict
    steps_per_update: int
    chunk: int  # iterations per compiled chunk
    num_chunks: int
    out: str
    lowered_chunk: Any  # the chunk program, traced and lowered, not yet compiled
    trace_s: float

    @property
    def num_iterations(self) -> int:
        return self.chunk * self.num_chunks


def plan(argv: list[str]) -> Plan:
    """Parses and checks the command line; ConfigError on any bad input."""
    run_over, agent_over, env_over = split_overrides(argv)
    run = apply_overrides(RunConfig(), run_over, "")
    for name in ("seeds", "total_steps", "log_every"):
        if getattr(run, name) < 1:
            raise ConfigError(f"{name} must be at least 1, got {getattr(run, name)}")
    if run.seed < 0 or run.seed + run.seeds > MAX_SEED:
        raise ConfigError(f"seeds must lie in [0, {MAX_SEED}): got seed={run.seed} seeds={run.seeds}")
    try:
        agent = agents.get(run.agent)
        env_factory = envs.factory(run.env)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    agent_config = apply_overrides(agents.config(run.agent), agent_over, "agent.")
    env_kwargs = coerce_kwargs(env_factory, env_over, "env.")
    try:
        env = envs.make(run.env, **env_kwargs)
    except (ValueError, TypeError, KeyError, gymnasium.error.Error) as err:
        raise ConfigError(f"env {run.env}: {_one_line(err)}") from None

    try:
        steps_per_update = agent.env_steps_per_update(env, agent_config)
        if steps_per_update < 1:
            raise ValueError(f"an update must simulate at least one env step, got {steps_per_update}")
        iterations = max(1, math.ceil(run.total_steps / steps_per_update))
        num_chunks = math.ceil(iterations / run.log_every)
        chunk = math.ceil(iterations / num_chunks)
        # Trace and lower (not compile) the chunk program now, so that a bad
        # static choice in the agent config surfaces here as one line; the
        # run then only compiles what was lowered.
        t0 = time.perf_counter()
        lowered = _chunk_program(agent, env, agent_config, chunk).lower(
            jax.eval_shape(_init_program(agent, env, agent_config), _seed_keys(run))
        )
        trace_s = time.perf_counter() - t0
    except ValueError as err:
        raise ConfigError(f"agent {run.agent}: {_one_line(err)}") from None
    out = _claim_run_folder(run)
    return Plan(run, agent, agent_config, env, env_kwargs, steps_per_update, chunk, num_chunks, out, lowered, trace_s)


def _seed_keys(run: RunConfig) -> jax.Array:
    """Seed i of the run uses jax.random.key(seed + i)."""
    return jax.vmap(jax.random.key)(jnp.arange(run.seed, run.seed + run.seeds))


def _init_program(agent, env, config):
    return jax.jit(jax.vmap(lambda k: init_carry(agent, env, config, k)))


def _chunk_program(agent, env, config, chunk: int):
    return jax.jit(jax.vmap(lambda c: run_updates(agent, env, config, c, chunk)), donate_argnums=0)


MAX_SEED = 2**31  # jax.random.key takes a 32-bit seed


def _one_line(err: Exception) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]


def _claim_run_folder(run: RunConfig) -> str:
    """Creates the run folder and its metrics file atomically, so two runs can
    never write into one folder; an existing non-empty folder is refused."""
    if run.out:
        candidates = [run.out]
    else:
        stem = os.path.join("runs", f"{run.agent}-{run.env.replace(':', '_')}-{time.strftime('%Y%m%d-%H%M%S')}")
        candidates = [stem] + [f"{stem}-{i}" for i in range(1, 100)]
    for out in candidates:
        if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
            continue
        try:
            os.makedirs(out, exist_ok=True)
            open(os.path.join(out, METRICS), "x").close()
        except FileExistsError:
            continue
        except OSError as err:
            raise ConfigError(f"cannot create run folder {out}: {err.strerror}") from None
        return out
    raise ConfigError(f"run folder {candidates[0]} already exists and is not empty; choose another out=")


METRICS = "metrics.jsonl"


def _fmt_return(values: np.ndarray) -> str:
    return f"{np.mean(values):9.2f} ± {np.std(values):7.2f}"


def execute(p: Plan) -> dict:
    """Compiles and runs the plan, writing the run folder; returns the summary."""
    run = p.run
    config_record = {
        "run": to_dict(run),
        "agent": to_dict(p.agent_config),
        "env": {"name": run.env, **p.env_kwargs},
        "steps_per_update": p.steps_per_update,
        "iterations": p.num_iterations,
        "jax": jax.__version__,
        "devices": [str(d) for d in jax.devices()],
    }
    with open(os.path.join(p.out, "config.json"), "w") as f:
        json.dump(config_record, f, indent=2)

    agent, env, config = p.agent, p.env, p.agent_config
    seeds = np.arange(run.seed, run.seed + run.seeds)
    print(
        f"rlx.run: {run.agent} on {run.env}, {run.seeds} seeds, {p.num_iterations} iterations "
        f"× {p.steps_per_update:,} env steps → {p.out}",
        flush=True,
    )

    t0 = time.perf_counter()
    carry = _init_program(agent, env, config)(_seed_keys(run))
    compiled = p.lowered_chunk.compile()
    compile_s = p.trace_s + time.perf_counter() - t0
    print(f"compiled in {compile_s:.1f}s", flush=True)

    metrics_path = os.path.join(p.out, METRICS)
    run_s = 0.0
    last_returns = None
    samples = np.zeros(run.seeds, np.int64)  # transitions used so far, per seed
    with open(metrics_path, "a") as log:
        for c in range(p.num_chunks):
            t_chunk = time.perf_counter()
            carry, metrics = compiled(carry)
            metrics = jax.device_get(metrics)  # once a chunk: {name: [seeds, chunk]}
            run_s += time.perf_counter() - t_chunk
            start = c * p.chunk
            # samples: the cumulative count of the agent's `transitions`.
            used = samples[:, None] + np.cumsum(metrics.get("transitions", np.zeros((run.seeds, p.chunk))), 1)
            samples = used[:, -1].astype(np.int64)
            for i in range(p.chunk):
                it = start + i
                for s, seed in enumerate(seeds):
                    row = {"iteration": it, "env_steps": (it + 1) * p.steps_per_update, "samples": int(used[s, i]),
                           "seed": int(seed)}
                    row.update({k: float(v[s, i]) for k, v in metrics.items()})
                    log.write(json.dumps(row) + "\n")
            log.flush()
            bad = {k: v for k, v in metrics.items() if not np.all(np.isfinite(v))}
            if bad:
                name, v = next(iter(bad.items()))
                s, i = np.argwhere(~np.isfinite(v))[0]
                raise FloatingPointError(
                    f"{name} is not finite at iteration {start + i}, seed {seeds[s]}; run stopped"
                )
            last_returns = metrics["episode_return"][:, -1]
            done_steps = (start + p.chunk) * p.steps_per_update
            rate = done_steps * run.seeds / max(run_s, 1e-9)
            print(
                f"iter {start + p.chunk:6d}/{p.num_iterations}  env steps {done_steps:>12,}  "
                f"return {_fmt_return(last_returns)}  {rate:>11,.0f} steps/s",
                flush=True,
            )

    summary = {
        "agent": run.agent,
        "env": run.env,
        "seeds": [int(s) for s in seeds],
        "iterations": p.num_iterations,
        "env_steps_per_seed": p.num_iterations * p.steps_per_update,
        "final_return_mean": float(np.mean(last_returns)),
        "final_return_std": float(np.std(last_returns)),
        "final_returns": [float(x) for x in last_returns],
        "compile_seconds": compile_s,
        "run_seconds": run_s,
        "steps_per_second": p.num_iterations * p.steps_per_update * run.seeds / max(run_s, 1e-9),
    }
    with open(os.path.join(p.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(
        f"done: final return {_fmt_return(last_returns)} (mean ± std over {run.seeds} seeds); "
        f"{summary['env_steps_per_seed']:,} env steps a seed in {run_s:.1f}s "
        f"({summary['steps_per_second']:,.0f} steps/s) after {compile_s:.1f}s compile; "
        f"metrics in {metrics_path}",
        flush=True,
    )
    return summary


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help", "help") for a in argv):
        print(USAGE)
        print("run fields: " + ", ".join(f"{k}={v!r}" for k, v in to_dict(RunConfig()).items()))
        print("agents: " + ", ".join(agents.names()))
        print("envs: " + ", ".join(envs.names()))
        return 0
    try:
        p = plan(argv)
    except ConfigError as err:
        print(f"rlx.run: error: {err}", file=sys.stderr)
        return 2
    try:
        execute(p)
    except FloatingPointError as err:
        print(f"rlx.run: error: {err}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
