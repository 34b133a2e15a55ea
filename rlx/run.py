"""The experiment runner.

    python -m rlx.run                                   # gpomdp on cartpole, 8 seeds
    python -m rlx.run agent=harpg env=hopper seeds=4 total_steps=2e5 out=runs/demo
    python -m rlx.run sweep.agent.lr=[0.01,0.03,0.1] seeds=4   # one program: 3 values × 4 seeds
    python -m rlx.run resume=runs/demo                  # continue from the latest checkpoint

Overrides are `key=value`: the run's own fields (rlx.config.RunConfig),
`agent.<field>` for the agent's Config, `env.<arg>` for the env's constructor
and `sweep.agent.<field>=[v1,v2,…]` for a grid over traced agent fields.  Bad
input is one line on stderr and exit code 2, before anything compiles.

Every run of a job (sweep point × seed) lies on one axis, vmapped in one
compiled chunk of `log_every` iterations and sharded over all devices.  Between
chunks the host writes metrics.jsonl, TensorBoard scalars and a progress line,
evaluates every `eval_every` iterations and checkpoints every
`checkpoint_every` iterations.
"""

from __future__ import annotations

import dataclasses
import fcntl
import itertools
import json
import math
import os
import sys
import time
import typing
from types import ModuleType
from typing import Any

import gymnasium
import jax
import numpy as np

from rlx import agents, devices, envs
from rlx.checkpoint import Checkpoints
from rlx.config import (
    BOOKKEEPING,
    ConfigError,
    RunConfig,
    apply_overrides,
    coerce_kwargs,
    field_types,
    parse_literal,
    parse_sweep,
    split_overrides,
    to_dict,
)
from rlx.logs import METRICS, RunLog
from rlx.rollout import episode_horizon
from rlx.train import evaluate, init_carry, run_updates

USAGE = __doc__.split("\n\n")[1]
MAX_SEED = 2**31  # jax.random.key takes a 32-bit seed
EVAL_STREAM = 0xE7A1  # eval keys: fold_in(key(seed), EVAL_STREAM), apart from training's
# Keys that say where a job runs, not what it computes: they may accompany resume=.
PLACEMENT_KEYS = ("devices", "coordinator", "num_processes", "process_id")


@dataclasses.dataclass
class Plan:
    """Everything resolved from the command line, before compiling."""

    run: RunConfig
    argv: list[str]  # the overrides that define the job (what resume= replays)
    agent: ModuleType
    agent_config: Any  # the base config, before the sweep
    env: Any
    env_kwargs: dict
    env_defaults: dict  # the agent fields rlx.agents.ENV_DEFAULTS set for this env's family (not overridden)
    sweep: dict[str, list]  # agent field -> values; the grid is their product
    points: list[dict]  # the grid, one {field: value} a point
    configs: Any  # the agent config with every numeric field an array over runs
    seeds: np.ndarray  # [runs] seed of each run
    num_runs: int  # points × seeds; the arrays are padded to a multiple of the devices
    sharding: Any
    steps_per_update: int
    chunk: int  # iterations per compiled chunk
    num_chunks: int
    out: str
    resume_from: dict | None  # the latest checkpoint's progress record when resuming from one
    resuming: bool
    programs: Any  # Programs
    lowered_chunk: Any  # the chunk program, traced and lowered, not yet compiled
    trace_s: float
    lock: Any  # the run folder's lock file, held while the run lives

    @property
    def num_iterations(self) -> int:
        return self.chunk * self.num_chunks

    def chunks_per(self, iterations: int) -> int:
        """`iterations` rounded up to whole chunks (0 = only at the end)."""
        return math.ceil(iterations / self.chunk) if iterations > 0 else self.num_chunks

    def point_of(self, r: int) -> int:
        """The sweep point of run r (runs are point-major: point g holds runs g·S … g·S + S − 1)."""
        return r // self.run.seeds

    def runs_of(self, g: int) -> slice:
        return slice(g * self.run.seeds, (g + 1) * self.run.seeds)


def _resume_argv(argv: list[str], folder: str) -> list[str]:
    """The job's own overrides, read back from the run folder's config.json."""
    if not folder:
        raise ConfigError("resume= needs a run folder")
    extra = [w for w in argv if w.split("=", 1)[0] not in ("resume",) + PLACEMENT_KEYS]
    if extra:
        raise ConfigError(f"resume= continues a run as it was configured; drop {extra[0]!r}")
    path = os.path.join(folder, "config.json")
    try:
        with open(path) as f:
            saved = json.load(f)["argv"]
    except FileNotFoundError:
        raise ConfigError(f"resume={folder}: no run there ({path} is missing)") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"resume={folder}: cannot read {path}: {_one_line(err)}") from None
    if not isinstance(saved, list) or not all(isinstance(w, str) for w in saved):
        raise ConfigError(f"resume={folder}: {path} has no list of overrides")
    where = [w for w in argv if w.split("=", 1)[0] in PLACEMENT_KEYS]
    return saved + where + [f"out={folder}"]


def plan(argv: list[str]) -> Plan:
    """Parses and checks the command line; ConfigError on any bad input."""
    run_over, _, _, _ = split_overrides(argv)
    resuming = "resume" in run_over
    if resuming:
        argv = _resume_argv(argv, run_over["resume"])
    run_over, agent_over, env_over, sweep_over = split_overrides(argv)
    run = apply_overrides(RunConfig(), run_over, "")
    for name in ("seeds", "total_steps", "log_every", "eval_episodes", "num_processes", "keep_checkpoints"):
        if getattr(run, name) < 1:
            raise ConfigError(f"{name} must be at least 1, got {getattr(run, name)}")
    for name in ("checkpoint_every", "eval_every"):
        if getattr(run, name) < 0:
            raise ConfigError(f"{name} must be 0 or positive, got {getattr(run, name)}")
    if run.seed < 0 or run.seed + run.seeds > MAX_SEED:
        raise ConfigError(f"seeds must lie in [0, {MAX_SEED}): got seed={run.seed} seeds={run.seeds}")
    if run.num_processes > 1 and not run.out:
        raise ConfigError("a multi-process run needs out=<run folder> (the same on every process)")
    if run.wandb:
        try:
            import wandb  # noqa: F401
        except ImportError:
            raise ConfigError("wandb= needs the wandb package: pip install wandb") from None
    devices.configure(run)
    try:
        agent = agents.get(run.agent)
        env_factory = envs.factory(run.env)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    apply_overrides(agents.config(run.agent), agent_over, "agent.")  # a bad agent key fails before the env is built
    env_kwargs = coerce_kwargs(env_factory, env_over, "env.")
    try:
        env = envs.make(run.env, **env_kwargs)
    except (ValueError, TypeError, KeyError, gymnasium.error.Error) as err:
        raise ConfigError(f"env {run.env}: {_one_line(err)}") from None
    env_defaults = {k: v for k, v in agents.env_defaults(run.agent, env).items() if k not in agent_over}
    agent_config = apply_overrides(agents.config(run.agent, env), agent_over, "agent.")
    sweep = parse_sweep(agent_config, sweep_over)
    host_env = getattr(env, "host_env", False)
    if host_env and run.num_processes > 1:
        raise ConfigError(f"env {run.env} is stepped on the host and runs in one process")

    points = [dict(zip(sweep, values)) for values in itertools.product(*sweep.values())]
    num_runs = len(points) * run.seeds
    mesh = devices.run_mesh(num_runs, single_device=host_env)
    padded = math.ceil(num_runs / mesh.size) * mesh.size  # idle copies of the last run fill the devices
    per_run = [points[min(r, num_runs - 1) // run.seeds] for r in range(padded)]
    seeds = np.array([run.seed + min(r, num_runs - 1) % run.seeds for r in range(padded)], np.int32)
    configs = _batched_config(agent_config, per_run)
    main_process = jax.process_index() == 0
    sharding = devices.run_sharding(mesh)

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
        programs = Programs(agent, env, chunk, sharding, run.eval_episodes)
        lowered = programs.chunk.lower(programs.placed(configs), programs.abstract_carry(configs, seeds))
        trace_s = time.perf_counter() - t0
    except ValueError as err:
        raise ConfigError(f"agent {run.agent}: {_one_line(err)}") from None
    # Process 0 claims (or, resuming, checks) the run folder; the others
    # learn whether it could, so no process is left waiting for the rest.
    out, lock, resume_from, error = run.out, None, None, None
    if main_process:
        try:
            out = run.out if resuming else _claim_run_folder(run)
            lock = _lock(out)
            if resuming:
                resume_from = _resume_point(out, num_runs, num_chunks)
        except ConfigError as err:
            if lock is not None:
                lock.close()  # releases it
            error = err
    if devices.agree(error is not None):
        raise error or ConfigError("process 0 could not start the run (its own error says why)")
    if resuming and not main_process:
        resume_from = _resume_point(out, num_runs, num_chunks)
    job = [w for w in argv if w.split("=", 1)[0] not in ("out", "resume") + PLACEMENT_KEYS]
    return Plan(run, job, agent, agent_config, env, env_kwargs, env_defaults, sweep, points, configs, seeds, num_runs,
                sharding, steps_per_update, chunk, num_chunks, out, resume_from, resuming, programs, lowered, trace_s,
                lock)


def _lock(out: str):
    """An exclusive lock on the run folder for this process's lifetime (the
    kernel drops it when the process dies, even by SIGKILL)."""
    f = open(os.path.join(out, ".lock"), "w")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise ConfigError(f"run folder {out} is in use by another rlx.run process") from None
    return f


PROGRESS_KEYS = {"chunks_done": int, "samples": list, "metrics_bytes": int, "runs": int, "padded_runs": int}


def _resume_point(out: str, num_runs: int, num_chunks: int) -> dict | None:
    """The latest checkpoint's progress record, checked against the run and
    its metrics file (None: no checkpoint yet, start over); ConfigError if
    they do not fit."""
    checkpoints = Checkpoints(out, 1, read_only=True)
    try:
        latest = checkpoints.latest()
        if latest is None:
            return None
        progress = checkpoints.progress(latest)
    except Exception as err:  # orbax's errors for a damaged checkpoint folder vary
        raise ConfigError(f"resume={out}: cannot read its checkpoints: {_one_line(err)}") from None
    finally:
        checkpoints.close()
    where = f"resume={out}: checkpoint {latest}"
    if not isinstance(progress, dict) or any(not isinstance(progress.get(k), t) for k, t in PROGRESS_KEYS.items()):
        raise ConfigError(f"{where} has no valid progress record")
    if progress["runs"] != num_runs or len(progress["samples"]) != progress["padded_runs"] or not (
        0 < progress["chunks_done"] <= num_chunks
    ):
        raise ConfigError(f"{where} does not fit the run's configuration")
    path = os.path.join(out, METRICS)
    size = os.path.getsize(path) if os.path.isfile(path) else -1
    if size < progress["metrics_bytes"]:
        raise ConfigError(f"{where} follows {progress['metrics_bytes']} bytes of {path}, which has {max(size, 0)}")
    return {**progress, "iteration": latest}


def _batched_config(config, per_run: list[dict]):
    """`config` with every traced (numeric) field an array over runs: run r
    takes its sweep point's value, or the config's own; float fields as
    float32, int fields as int32 (by their annotation)."""
    types = field_types(type(config))
    changes = {}
    for field in dataclasses.fields(config):
        if not field.metadata.get("pytree_node", True):
            continue
        values = [point.get(field.name, getattr(config, field.name)) for point in per_run]
        if all(v is None for v in values):
            continue
        annotation = types[field.name]
        floating = float in (annotation, *typing.get_args(annotation))
        changes[field.name] = np.asarray(values, np.float32 if floating else None)
        if changes[field.name].dtype.kind in "iu":
            changes[field.name] = changes[field.name].astype(np.int32)
    return config.replace(**changes)


class Programs:
    """The jitted programs of a run, each vmapped over the runs axis: `init`
    (configs, seeds) -> carry, `chunk` (configs, carry) -> (carry, metrics),
    `evaluate` (configs, seeds, state) -> eval metrics.  Evaluation is its own
    program, so evaluating never recompiles the training chunk.

    `init` runs whole in every process on the host-held configs and seeds,
    and its result is sharded by `devices.put`, the same path a restored
    checkpoint takes, so a fresh and a resumed run place their carry alike.
    (It also kept init clear of a jaxlib 0.10 deadlock of batched LAPACK QRs
    sharded over 2 CPU devices; the MLP init no longer calls LAPACK.)"""

    def __init__(self, agent, env, chunk: int, sharding, eval_episodes: int):
        def init(config, seed):
            return init_carry(agent, env, config, jax.random.key(seed))

        def updates(config, carry):
            return run_updates(agent, env, config, carry, chunk, check_finite=True)

        def evaluation(config, seed, state):
            key = jax.random.fold_in(jax.random.key(seed), EVAL_STREAM)
            horizon = episode_horizon(env, getattr(config, "horizon", 0))
            return evaluate(agent, env, config, state, key, eval_episodes, horizon)

        self.init = jax.jit(jax.vmap(init))
        self.chunk = jax.jit(jax.vmap(updates), out_shardings=sharding, donate_argnums=1)
        self.evaluate = jax.jit(jax.vmap(evaluation), out_shardings=sharding)
        self.sharding = sharding

    def placed(self, tree):
        """Shapes and dtypes of `tree`, placed as the run places its arrays."""
        return jax.tree.map(lambda s: jax.ShapeDtypeStruct(np.shape(s), s.dtype, sharding=self.sharding), tree)

    def abstract_carry(self, configs, seeds):
        return self.placed(jax.eval_shape(self.init, configs, seeds))


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
    raise ConfigError(f"run folder {candidates[0]} already exists and is not empty; choose another out= or resume=")


def _fmt_return(values: np.ndarray) -> str:
    return f"{np.mean(values):9.2f} ± {np.std(values):7.2f}"


def label(point: dict) -> str:
    """A sweep point as text: 'agent.lr=0.03 agent.discount=0.9'."""
    return " ".join(f"agent.{k}={v:g}" for k, v in point.items())


def _record(p: Plan) -> dict:
    """config.json: the resolved run, agent and env, and what resume= and
    rlx.plot read back (argv, overrides, sweep)."""
    overrides = {}
    for word in p.argv:
        key, text = word.split("=", 1)
        if key not in BOOKKEEPING and key != "agent" and not key.startswith("sweep."):
            overrides[key] = parse_literal(text)
    return {
        "run": to_dict(p.run),
        "agent": to_dict(p.agent_config),
        "env": {"name": p.run.env, **p.env_kwargs},
        "env_family": agents.family(p.env),
        "env_defaults": {f"agent.{k}": list(v) if isinstance(v, tuple) else v for k, v in p.env_defaults.items()},
        "argv": p.argv,
        "overrides": overrides,
        "sweep": {f"agent.{k}": v for k, v in p.sweep.items()},
        "steps_per_update": p.steps_per_update,
        "iterations": p.num_iterations,
        "chunk": p.chunk,
        "jax": jax.__version__,
        "devices": [str(d) for d in p.sharding.mesh.devices.flat],
        "processes": jax.process_count(),
    }


class NonFinite(FloatingPointError):
    """NaN or Inf in a run's state or metrics."""


def _first_nonfinite(metrics: dict, state_finite: np.ndarray, evals: dict | None, num_runs: int):
    """(what, run, step in chunk) of the earliest NaN or Inf among the real
    runs — in the agent state, a metric, or the chunk's evaluation — or None."""
    checks = {name: ~np.isfinite(v[:num_runs]) for name, v in metrics.items()}
    checks["the agent state (params)"] = ~state_finite[:num_runs]
    for name, v in (evals or {}).items():  # evaluated after the chunk's last update
        bad = np.zeros_like(state_finite[:num_runs])
        bad[:, -1] = ~np.isfinite(v[:num_runs])
        checks[name] = bad
    # argwhere over [step, run] lists the earliest step first
    found = [(*np.argwhere(bad.T)[0], name) for name, bad in checks.items() if bad.any()]
    if not found:
        return None
    i, r, name = min(found)
    return name, int(r), int(i)


def _divergence_hint(p: Plan) -> str:
    """What to try after a NaN or Inf: most often the step size is too large
    for the env (an unnormalised step scales with the gradient)."""
    lr = getattr(p.agent_config, "lr", None)
    if lr is None or "lr" in p.sweep:
        return "The step size is the likeliest cause: try a smaller one."
    return (f"The likeliest cause is a step size too large for {p.run.env}: agent.lr is {float(lr):g}, "
            f"try agent.lr={float(lr) / 10:g} (or sweep.agent.lr=[{float(lr) / 100:g},{float(lr) / 10:g}])")


def execute(p: Plan) -> dict:
    """Compiles and runs the plan, writing the run folder; returns the summary."""
    run, programs, n = p.run, p.programs, p.num_runs
    main_process = jax.process_index() == 0
    record = _record(p)
    if main_process and not p.resuming:
        with open(os.path.join(p.out, "config.json"), "w") as f:
            json.dump(record, f, indent=2)
    print(
        f"rlx.run: {run.agent} on {run.env}, {len(p.points)} point(s) × {run.seeds} seeds on "
        f"{p.sharding.mesh.size} device(s), {p.num_iterations} iterations × {p.steps_per_update:,} env steps → {p.out}",
        flush=True,
    )
    if p.env_defaults:
        applied = " ".join(f"agent.{k}={v}" for k, v in p.env_defaults.items())
        print(f"rlx.run: {run.agent}'s defaults for {agents.family(p.env)} envs: {applied}", flush=True)
    resume_from = p.resume_from
    if resume_from is not None and (resume_from["chunks_done"] == p.num_chunks or resume_from.get("finished")):
        print(f"{p.out} is already complete", flush=True)
        return _write_summary(p, *_final_from_rows(p), 0.0, 0.0, resume_from["chunks_done"], resume_from["chunks_done"])

    t0 = time.perf_counter()
    configs = devices.put(p.configs, p.sharding)
    seeds = devices.put(p.seeds, p.sharding)
    checkpoints = Checkpoints(p.out, run.keep_checkpoints)
    start, samples, truncate_to, last_saved = 0, np.zeros(len(p.seeds), np.int64), None, None
    if p.resuming and resume_from is None:
        truncate_to = 0  # killed before its first checkpoint: start over
        print("no checkpoint yet: starting from the beginning", flush=True)
    if resume_from is not None:
        try:
            carry = checkpoints.restore(resume_from["iteration"], programs.abstract_carry(p.configs, p.seeds),
                                        resume_from["padded_runs"])
        except Exception as err:  # orbax's errors for a damaged or foreign checkpoint vary
            raise ConfigError(f"resume={p.out}: cannot restore checkpoint {resume_from['iteration']}: {_one_line(err)}") from None
        # The saved runs axis was padded for the devices of that run; re-pad for these.
        carry = devices.put(_repad(carry, n, len(p.seeds)), p.sharding)
        start, truncate_to = resume_from["chunks_done"], resume_from["metrics_bytes"]
        samples = _repad(np.array(resume_from["samples"], np.int64), n, len(p.seeds))
        last_saved = resume_from["iteration"]
        print(f"resumed after iteration {last_saved} from {checkpoints.folder}", flush=True)
    else:
        carry = devices.put(programs.init(p.configs, p.seeds), p.sharding)
    compiled = p.lowered_chunk.compile()
    evaluation = programs.evaluate.lower(configs, seeds, carry.state).compile() if run.eval_every else None
    compile_s = p.trace_s + time.perf_counter() - t0
    print(f"compiled in {compile_s:.1f}s", flush=True)

    log = None
    if main_process:
        log = RunLog(p.out, tensorboard=run.tensorboard, wandb_project=run.wandb, record=record,
                     truncate_to=truncate_to, purge_step=(start * p.chunk + 1) * p.steps_per_update if p.resuming else None)
    eval_chunks, ckpt_chunks = p.chunks_per(run.eval_every), p.chunks_per(run.checkpoint_every)
    run_s, last_returns, last_eval, end = 0.0, None, None, start
    samples_at_start = int(np.mean(samples[:n]))
    try:
        for c in range(start, p.num_chunks):
            t_chunk = time.perf_counter()
            carry, metrics = compiled(configs, carry)
            metrics = devices.gather(metrics)  # once a chunk: {name: [runs, chunk]}
            run_s += time.perf_counter() - t_chunk
            finite = metrics.pop("state_finite")
            used = samples[:, None] + np.cumsum(metrics.get("transitions", np.zeros(finite.shape)), 1)
            samples = used[:, -1].astype(np.int64)
            # The budget is in samples (valid transitions, the papers' env steps): an update
            # samples at least its nominal steps, so the run may end before its last chunk.
            done = c + 1 == p.num_chunks or bool(np.all(samples[:n] >= run.total_steps))
            evals = None
            if evaluation is not None and ((c + 1) % eval_chunks == 0 or done):
                evals = devices.gather(evaluation(configs, seeds, carry.state))
                last_eval = evals["eval_return"][:n]
            offset = log.write(*_chunk_rows(p, c, metrics, evals, used)) if log else 0
            first_bad = _first_nonfinite(metrics, finite, evals, n)
            if first_bad is not None:
                name, r, i = first_bad
                point = f" ({label(p.points[p.point_of(r)])})" if p.sweep else ""
                kept = (f"the last good checkpoint is the one after {last_saved} iterations" if last_saved is not None
                        else "no checkpoint was saved")
                raise NonFinite(f"{name} is not finite at iteration {c * p.chunk + i}, seed {p.seeds[r]}{point}; "
                                f"run stopped, {kept}. {_divergence_hint(p)}")
            if (c + 1) % ckpt_chunks == 0 or done:
                iteration = (c + 1) * p.chunk
                # metrics_bytes: process 0's file length; orbax writes the JSON from process 0 only.
                progress = {"chunks_done": c + 1, "samples": samples.tolist(), "metrics_bytes": offset, "runs": n,
                            "padded_runs": len(p.seeds), "finished": done}
                checkpoints.save(iteration, carry, progress)
                last_saved = iteration
            last_returns = metrics["episode_return"][:n, -1]
            used_so_far = int(np.mean(samples[:n]))
            rate = (used_so_far - samples_at_start) * n / max(run_s, 1e-9)
            shown = "" if evals is None else f"  eval {np.mean(last_eval):9.2f}"
            print(
                f"iter {(c + 1) * p.chunk:6d}/{p.num_iterations}  samples {used_so_far:>12,}  "
                f"return {_fmt_return(last_returns)}{shown}  {rate:>11,.0f} samples/s",
                flush=True,
            )
            end = c + 1
            if done:
                break
    finally:
        checkpoints.close()
        if log:
            log.close()
    summary = _write_summary(p, last_returns, last_eval, compile_s, run_s, start, end, samples[:n])
    print(
        f"done: final return {_fmt_return(last_returns)} (mean ± std over {n} runs); "
        f"{int(np.mean(samples[:n])):,} samples a run in {run_s:.1f}s "
        f"({(np.mean(samples[:n]) - samples_at_start) * n / max(run_s, 1e-9):,.0f} samples/s) after {compile_s:.1f}s compile; "
        f"metrics in {os.path.join(p.out, METRICS)}",
        flush=True,
    )
    for point in summary.get("points", []):
        print(f"  {point['label']}: final return {point['final_return_mean']:.2f} ± {point['final_return_std']:.2f}")
    return summary


def _repad(tree, num_runs: int, padded: int):
    """The first `num_runs` entries of every leaf's runs axis, then copies of
    the last run up to `padded`."""

    def one(x):
        idx = np.minimum(np.arange(padded), num_runs - 1)
        return x[idx]

    return jax.tree.map(one, tree)


def _final_from_rows(p: Plan):
    """(final returns, final eval returns or None) of a finished run, read back from metrics.jsonl."""
    with open(os.path.join(p.out, METRICS)) as f:
        rows = list(map(json.loads, f))
    last = max(row["iteration"] for row in rows)
    rows = [row for row in rows if row["iteration"] == last]
    evals = [r["eval_return"] for r in rows if "eval_return" in r]
    return np.array([r["episode_return"] for r in rows]), (np.array(evals) if evals else None)


def _write_summary(p: Plan, last_returns, last_eval, compile_s: float, run_s: float, start: int, end: int,
                   samples=None) -> dict:
    """summary.json and curves.png (process 0), and the summary; chunks
    start…end ran in this process."""
    summary = _summary(p, last_returns, last_eval, compile_s, run_s, start, end, samples)
    if jax.process_index() == 0:
        with open(os.path.join(p.out, "summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
        from rlx.plot import PlotError, plot_runs

        try:
            plot_runs([p.out], os.path.join(p.out, "curves.png"))
        except PlotError as err:
            print(f"rlx.run: no curves.png: {err}", file=sys.stderr)
    return summary


def _chunk_rows(p: Plan, c: int, metrics: dict, evals: dict | None, used: np.ndarray):
    """metrics.jsonl rows (one an iteration and run) and TensorBoard scalars
    (means over seeds, one series a sweep point) of chunk `c`."""
    rows, scalars = [], []
    swept = [{f"agent.{k}": v for k, v in point.items()} for point in p.points]
    for i in range(p.chunk):
        it = c * p.chunk + i
        step = (it + 1) * p.steps_per_update
        last = i == p.chunk - 1
        for r in range(p.num_runs):
            row = {"iteration": it, "env_steps": step, "samples": int(used[r, i]), "seed": int(p.seeds[r])}
            row.update(swept[p.point_of(r)])
            row.update({k: float(v[r, i]) for k, v in metrics.items()})
            if evals is not None and last:
                row.update({k: float(v[r]) for k, v in evals.items()})
            rows.append(row)
        values = {}
        for g, point in enumerate(p.points):
            runs = p.runs_of(g)
            suffix = f"/{label(point)}" if p.sweep else ""
            values.update({f"{k}{suffix}": float(np.mean(v[runs, i])) for k, v in metrics.items()})
            if evals is not None and last:
                values.update({f"{k}{suffix}": float(np.mean(v[runs])) for k, v in evals.items()})
        scalars.append((step, values))
    return rows, scalars


def _summary(p: Plan, last_returns, last_eval, compile_s: float, run_s: float, start: int, end: int,
             samples=None) -> dict:
    run, n = p.run, p.num_runs
    iterations_run = (end - start) * p.chunk
    summary = {
        "agent": run.agent,
        "env": run.env,
        "seeds": [int(s) for s in p.seeds[:n]],
        "iterations": end * p.chunk,
        "env_steps_per_seed": end * p.chunk * p.steps_per_update,
        "samples_per_seed": None if samples is None else [int(x) for x in samples],
        "final_return_mean": float(np.mean(last_returns)),
        "final_return_std": float(np.std(last_returns)),
        "final_returns": [float(x) for x in last_returns],
        "compile_seconds": compile_s,
        "run_seconds": run_s,
        "steps_per_second": iterations_run * p.steps_per_update * n / max(run_s, 1e-9),
        "resumed_at_iteration": start * p.chunk if p.resuming else None,
    }
    if last_eval is not None:
        summary["final_eval_return_mean"] = float(np.mean(last_eval))
    if p.sweep:
        summary["points"] = []
        for g, point in enumerate(p.points):
            mine = last_returns[p.runs_of(g)]
            summary["points"].append({"label": label(point), "values": point, "final_return_mean": float(np.mean(mine)),
                                      "final_return_std": float(np.std(mine))})
    return summary


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help", "help") for a in argv):
        print(USAGE)
        print("run fields: " + ", ".join(f"{k}={v!r}" for k, v in to_dict(RunConfig()).items()))
        print("agents: " + ", ".join(agents.names()))
        print("envs: " + ", ".join(envs.names()))
        print("defaults by env family (rlx.agents.ENV_DEFAULTS; agent.<field>= overrides them):")
        for name, by_family in agents.ENV_DEFAULTS.items():
            for fam, values in by_family.items():
                print(f"  {name} on {fam}: " + " ".join(f"agent.{k}={v}" for k, v in values.items()))
        return 0
    try:
        p = plan(argv)
    except ConfigError as err:
        print(f"rlx.run: error: {err}", file=sys.stderr)
        return 2
    try:
        execute(p)
    except ConfigError as err:  # a checkpoint that cannot be restored
        print(f"rlx.run: error: {err}", file=sys.stderr)
        return 2
    except NonFinite as err:
        print(f"rlx.run: error: {err}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
