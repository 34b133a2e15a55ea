"""The experiment runner.

    python -m rlx.run                                   # gpomdp on cartpole, 8 seeds
    python -m rlx.run agent=harpg env=hopper seeds=4 total_steps=2e5 out=runs/demo
    python -m rlx.run sweep.agent.lr=[0.01,0.03,0.1] seeds=4   # one program: 3 values × 4 seeds
    python -m rlx.run resume=runs/demo                  # continue from the latest checkpoint

Overrides are `key=value`: the run's own fields (rlx.runner.config.RunConfig),
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
import signal
import sys
import time
import typing
from types import ModuleType
from typing import Any

import jax
import numpy as np

from rlx import agents, envs
from rlx.agent import ContractError, check_metrics
from rlx.fields import ConfigError, field_types, validate, validate_kwargs
from rlx.runner import devices
from rlx.runner.checkpoint import Checkpoints
from rlx.runner.help import show_help
from rlx.runner.config import (
    BOOKKEEPING,
    PLACEMENT_KEYS,
    RunConfig,
    apply_overrides,
    coerce_kwargs,
    one_line,
    parse_literal,
    parse_sweep,
    split_overrides,
    to_dict,
)
from rlx.runner.logs import METRICS, RunLog, prefix_digest
from rlx.train import evaluate, init_carry, run_updates

USAGE = __doc__.split("\n\n")[1]
MAX_SEED = 2**31  # jax.random.key takes a 32-bit seed
EVAL_STREAM = 0xE7A1  # eval keys: fold_in(key(seed), EVAL_STREAM), apart from training's


@dataclasses.dataclass
class Plan:
    """Everything resolved from the command line, before compiling."""

    run: RunConfig
    argv: list[str]  # the overrides that define the job (what resume= replays)
    agent: ModuleType
    agent_config: Any  # the base config, before the sweep
    env: Any
    env_kwargs: dict
    env_defaults: dict  # the agent fields the agent's FAMILY_DEFAULTS set for this env's family (not overridden)
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
    resume_points: list[dict]  # resuming: the intact checkpoints' progress records, newest first
    resuming: bool
    extending: bool  # resuming with a larger total_steps than the run was started with
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


def _resume_argv(argv: list[str], folder: str) -> tuple[list[str], dict]:
    """The job's own overrides, read back from the run folder's config.json
    (a `total_steps=` given beside resume= replaces the saved one: it extends
    the run), and the saved record."""
    if not folder:
        raise ConfigError("resume= needs a run folder")
    extra = [w for w in argv if w.split("=", 1)[0] not in ("resume", "total_steps") + PLACEMENT_KEYS]
    if extra:
        raise ConfigError(f"resume= continues a run as it was configured (only total_steps= may extend it); "
                          f"drop {extra[0]!r}")
    path = os.path.join(folder, "config.json")
    try:
        with open(path) as f:
            record = json.load(f)
        saved = record["argv"]
    except FileNotFoundError:
        raise ConfigError(f"resume={folder}: no run there ({path} is missing)") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"resume={folder}: cannot read {path}: {one_line(err)}") from None
    if not isinstance(saved, list) or not all(isinstance(w, str) for w in saved):
        raise ConfigError(f"resume={folder}: {path} has no list of overrides")
    given = [w for w in argv if w.split("=", 1)[0] in ("total_steps",) + PLACEMENT_KEYS]
    if any(w.startswith("total_steps=") for w in given):
        saved = [w for w in saved if not w.startswith("total_steps=")]
    return saved + given + [f"out={folder}"], record


def plan(argv: list[str]) -> Plan:
    """Parses and checks the command line, builds the env and the agent's
    config, lays out the runs and lowers the chunk program; ConfigError on any
    bad input, before the run folder is made."""
    argv, run, saved, extending = _parse_run(argv)
    run_over, agent_over, env_over, sweep_over = split_overrides(argv)
    devices.configure(run)
    _compile_cache(run.compile_cache, given="compile_cache" in run_over or "RLX_COMPILE_CACHE" in os.environ)
    try:
        agent = agents.get(run.agent)
        env_factory = envs.factory(run.env)
    except (ValueError, ContractError) as err:
        raise ConfigError(str(err)) from None
    apply_overrides(agents.config(run.agent), agent_over, "agent.")  # a bad agent key fails before the env is built
    env, env_kwargs = _make_env(run, env_factory, env_over)
    env_defaults = {k: v for k, v in agents.env_defaults(run.agent, env).items() if k not in agent_over}
    agent_config = apply_overrides(agents.config(run.agent, env), agent_over, "agent.")
    validate(agent_config, "agent.")
    sweep = parse_sweep(agent_config, sweep_over)
    if env.host_stepped and run.num_processes > 1:
        raise ConfigError(f"env {run.env} is stepped on the host and runs in one process")
    points = [dict(zip(sweep, values)) for values in itertools.product(*sweep.values())]
    steps_per_update = _steps_per_update(run, agent, env, agent_config, len(points))

    num_runs = len(points) * run.seeds
    mesh = devices.run_mesh(num_runs, single_device=env.host_stepped)
    padded = math.ceil(num_runs / mesh.size) * mesh.size  # idle copies of the last run fill the devices
    per_run = [points[min(r, num_runs - 1) // run.seeds] for r in range(padded)]
    seeds = np.array([run.seed + min(r, num_runs - 1) % run.seeds for r in range(padded)], np.int32)
    configs = _batched_config(agent_config, per_run)
    sharding = devices.run_sharding(mesh)
    chunk, num_chunks = _chunks(run, steps_per_update, saved)
    programs, lowered, trace_s = _lower(run, agent, env, chunk, sharding, configs, seeds)
    out, lock, resume_points = _claim(run, num_runs, num_chunks, chunk, resuming=bool(saved))
    return Plan(run=run, argv=[w for w in argv if w.split("=", 1)[0] not in ("out", "resume") + PLACEMENT_KEYS],
                agent=agent, agent_config=agent_config, env=env, env_kwargs=env_kwargs, env_defaults=env_defaults,
                sweep=sweep, points=points, configs=configs, seeds=seeds, num_runs=num_runs, sharding=sharding,
                steps_per_update=steps_per_update, chunk=chunk, num_chunks=num_chunks, out=out,
                resume_points=resume_points, resuming=bool(saved), extending=extending, programs=programs,
                lowered_chunk=lowered, trace_s=trace_s, lock=lock)


def _parse_run(argv: list[str]) -> tuple[list[str], RunConfig, dict, bool]:
    """The job's overrides (read back from the run folder on resume=), the
    checked RunConfig, the saved record ({} for a new run) and whether a
    resume extends the run's budget."""
    run_over, _, _, _ = split_overrides(argv)
    saved = {}
    if "resume" in run_over:
        argv, saved = _resume_argv(argv, run_over["resume"])  # a record, never empty: it holds the argv
    run_over = split_overrides(argv)[0]
    run = apply_overrides(RunConfig(), run_over, "")
    if "compile_cache" not in run_over and "RLX_COMPILE_CACHE" in os.environ:
        run = dataclasses.replace(run, compile_cache=os.environ["RLX_COMPILE_CACHE"])
    validate(run)
    extending = False
    if saved:
        saved_run = saved.get("run") if isinstance(saved.get("run"), dict) else {}
        budget = saved_run.get("total_steps", run.total_steps)
        if run.total_steps < budget:
            raise ConfigError(f"resume={run.out}: total_steps={run.total_steps} is below the run's budget of "
                              f"{budget}; a run can be extended, not shortened")
        extending = run.total_steps > budget
    if run.seed < 0 or run.seed + run.seeds > MAX_SEED:
        raise ConfigError(f"seeds must lie in [0, {MAX_SEED}): got seed={run.seed} seeds={run.seeds}")
    if run.num_processes > 1 and not run.out:
        raise ConfigError("a multi-process run needs out=<run folder> (the same on every process)")
    if run.wandb:
        try:
            import wandb  # noqa: F401
        except ImportError:
            raise ConfigError("wandb= needs the wandb package: pip install wandb") from None
    return argv, run, saved, extending


def _make_env(run: RunConfig, factory, env_over: dict[str, str]):
    """The env and its keyword arguments, typed by its constructor and checked;
    whatever the constructor raises is one line."""
    env_kwargs = coerce_kwargs(factory, env_over, "env.")
    validate_kwargs(factory, env_kwargs, "env.")
    try:
        return envs.make(run.env, **env_kwargs), env_kwargs
    except ImportError as err:
        raise ConfigError(f"env {run.env} needs a package that is not installed: {one_line(err)}") from None
    except Exception as err:  # an env constructor's own check of its arguments, whatever it raises
        raise ConfigError(f"env {run.env}: {one_line(err)}") from None


def _steps_per_update(run: RunConfig, agent, env, config, num_points: int) -> int:
    """The agent's nominal env steps an update, once the agent has accepted
    the env and its settings and the job fits in memory."""
    try:
        steps = agent.env_steps_per_update(env, config)
        if steps < 1:
            raise ValueError(f"an update must simulate at least one env step, got {steps}")
        _check_memory(agent, env, config, steps, num_points * run.seeds)
    except JobTooLarge:
        raise
    except ValueError as err:  # a ConfigError among them: the agent refuses its settings or this env
        raise ConfigError(f"agent {run.agent}: {one_line(err)}") from None
    return steps


def _chunks(run: RunConfig, steps_per_update: int, saved: dict) -> tuple[int, int]:
    """(iterations a chunk, chunks): the budget in `log_every`-sized chunks, or,
    resuming, in the run's own chunks (an extended budget would chunk differently)."""
    iterations = max(1, math.ceil(run.total_steps / steps_per_update))
    num_chunks = math.ceil(iterations / run.log_every)
    chunk = math.ceil(iterations / num_chunks)
    if isinstance(saved.get("chunk"), int) and saved["chunk"] >= 1:
        chunk = saved["chunk"]
        num_chunks = math.ceil(iterations / chunk)
    return chunk, num_chunks


def _lower(run: RunConfig, agent, env, chunk: int, sharding, configs, seeds):
    """The programs, and the chunk traced and lowered (not compiled) now, so
    that a bad static choice or a metric the agent promised but does not
    return surfaces as one line before the run folder is made."""
    try:
        t0 = time.perf_counter()
        programs = Programs(agent, env, chunk, sharding, run.eval_episodes)
        lowered = programs.chunk.lower(programs.placed(configs), programs.abstract_carry(configs, seeds))
        trace_s = time.perf_counter() - t0
        _, metric_shapes = lowered.out_info  # [runs, chunk] a metric
        check_metrics(run.agent, agent, {k: v.shape[2:] for k, v in metric_shapes.items()})
    except (ValueError, ContractError) as err:
        raise ConfigError(f"agent {run.agent}: {one_line(err)}") from None
    return programs, lowered, trace_s


def _claim(run: RunConfig, num_runs: int, num_chunks: int, chunk: int, resuming: bool):
    """(run folder, its lock, the intact checkpoints' progress newest first).
    Process 0 claims (or, resuming, checks) the folder; the others learn
    whether it could, so no process is left waiting for the rest."""
    main_process = jax.process_index() == 0
    out, lock, resume_points, error = run.out, None, [], None
    if main_process:
        try:
            out = run.out if resuming else _claim_run_folder(run)
            lock = _lock(out)
            if resuming:
                resume_points = _resume_points(out, num_runs, num_chunks, chunk)
        except ConfigError as err:
            if lock is not None:
                lock.close()  # releases it
            error = err
    if devices.agree(error is not None):
        raise error or ConfigError("process 0 could not start the run (its own error says why)")
    if resuming and not main_process:
        resume_points = _resume_points(out, num_runs, num_chunks, chunk, quiet=True)
    return out, lock, resume_points


def _compile_cache(folder: str, given: bool) -> None:
    """JAX's persistent compilation cache in `folder` ("" = off): a rerun of a
    job loads its compiled programs instead of compiling them again.  A folder
    that cannot be made is an error when given, a warning (and no cache) when
    it is the default.  JAX sets its cache up once a process: in one Python
    process the first run's folder stays."""
    if folder:
        folder = os.path.expanduser(folder)
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as err:
            if given:
                raise ConfigError(f"compile_cache={folder}: cannot create it ({err.strerror}); "
                                  "give another or compile_cache=") from None
            warn(f"no compilation cache: cannot create {folder} ({err.strerror})")
            folder = ""
    jax.config.update("jax_enable_compilation_cache", bool(folder))
    if folder:
        jax.config.update("jax_compilation_cache_dir", folder)
        if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)  # what takes longer is kept


class JobTooLarge(ConfigError):
    """The runs of a job cannot fit in this machine's memory."""


def _check_memory(agent, env, config, steps_per_update: int, num_runs: int) -> None:
    """ConfigError when the runs cannot fit in this machine's memory, before
    anything is allocated.  A lower bound: a run's state (its shapes, traced
    without computing) plus one update's rollout (each step's observation, action and
    a few floats, twice over for the gradient); the compiled program needs more."""
    carry = jax.eval_shape(lambda k: init_carry(agent, env, config, k), jax.random.key(0))
    state_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(carry) if hasattr(x, "dtype"))
    obs = env.observation_space(env.default_params).shape
    act = getattr(env.action_space(env.default_params), "shape", ())
    step_bytes = 4 * (math.prod(obs) + math.prod(act or (1,)) + 8)
    per_run = state_bytes + 2 * steps_per_update * step_bytes
    have = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    num_runs = math.ceil(num_runs / jax.process_count())  # this host's share
    if num_runs * per_run > 0.8 * have:
        raise JobTooLarge(f"{num_runs:,} runs need at least {num_runs * per_run / 2**30:,.1f} GiB "
                          f"({per_run / 2**20:,.2f} MiB a run), more than this machine's {have / 2**30:.1f} GiB: "
                          "give fewer seeds or sweep points")


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


def warn(text: str) -> None:
    print(f"rlx.run: warning: {text}", file=sys.stderr, flush=True)


def _resume_points(out: str, num_runs: int, num_chunks: int, chunk: int, quiet: bool = False) -> list[dict]:
    """The progress records of the run's checkpoints whose record can be
    read, newest first, each checked against the run and its metrics file
    ([]: no checkpoint yet, start over).  A checkpoint whose record is damaged
    is skipped with a warning; one that does not fit the run, or a metrics file
    changed before the checkpoint's offset (its checksum differs), is
    ConfigError: those are not damage that an older checkpoint repairs."""
    checkpoints = Checkpoints(out, 1, read_only=True)
    points, skipped = [], []
    try:
        try:
            steps = sorted(checkpoints.all(), reverse=True)
        except Exception as err:  # orbax's errors for a damaged checkpoint folder vary
            raise ConfigError(f"resume={out}: cannot read its checkpoints: {one_line(err)}") from None
        for step in steps:
            try:
                progress = checkpoints.progress(step)
                if not isinstance(progress, dict) or any(not isinstance(progress.get(k), t) for k, t in PROGRESS_KEYS.items()):
                    raise ValueError("no valid progress record")
            except Exception as err:  # a truncated or corrupt file, whatever orbax makes of it
                skipped.append(step)
                if not quiet:
                    warn(f"checkpoint {step} of {out} is damaged ({one_line(err)}); skipped")
                continue
            _check_progress(out, step, progress, num_runs, num_chunks, chunk)
            points.append({**progress, "iteration": step})
    finally:
        checkpoints.close()
    if skipped and not points:
        raise ConfigError(f"resume={out}: every checkpoint is damaged ({', '.join(map(str, skipped))}); start a new run")
    return points


def _check_progress(out: str, step: int, progress: dict, num_runs: int, num_chunks: int, chunk: int) -> None:
    where = f"resume={out}: checkpoint {step}"
    if progress["runs"] != num_runs or len(progress["samples"]) != progress["padded_runs"] or not (
        0 < progress["chunks_done"] <= num_chunks
    ) or step != progress["chunks_done"] * chunk:
        raise ConfigError(f"{where} does not fit the run's configuration")
    path = os.path.join(out, METRICS)
    size = os.path.getsize(path) if os.path.isfile(path) else -1
    if size < progress["metrics_bytes"]:
        raise ConfigError(f"{where} follows {progress['metrics_bytes']} bytes of {path}, which has {max(size, 0)}")
    expected = progress.get("metrics_sha256")  # absent in checkpoints written before rlx recorded it
    if expected is not None and prefix_digest(path, progress["metrics_bytes"]) != expected:
        raise ConfigError(f"{where}: {path} was changed in its first {progress['metrics_bytes']} bytes (the rows the "
                          "checkpoint follows; their checksum differs): restore the file or start a new run")


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
            horizon = agent.eval_horizon(env, config)
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


def _claim_run_folder(run: RunConfig) -> str:
    """Creates the run folder and its metrics file atomically, so two runs can
    never write into one folder; an existing non-empty folder is refused."""
    if run.out:
        candidates = [run.out]
    else:
        stem = os.path.join("runs", f"{run.agent}-{run.env.replace(':', '_')}-{time.strftime('%Y%m%d-%H%M%S')}")
        candidates = [stem] + [f"{stem}-{i}" for i in range(1, 100)]
    if run.out and os.path.exists(run.out) and not os.path.isdir(run.out):
        raise ConfigError(f"out={run.out} is a file, not a folder; give a new folder")
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
    """mean ± std over the live runs (a dropped run's NaN left out)."""
    return f"{_finite_stat(np.mean, values, math.nan):9.2f} ± {_finite_stat(np.std, values, math.nan):7.2f}"


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


def _nonfinite_checks(metrics: dict, state_finite: np.ndarray, evals: dict | None, num_runs: int) -> dict:
    """{what: bool [run, step in chunk]}: where the real runs' agent state,
    each metric and the chunk's evaluation are NaN or Inf."""
    checks = {name: ~np.isfinite(v[:num_runs]) for name, v in metrics.items()}
    checks["the agent state (params)"] = ~state_finite[:num_runs]
    for name, v in (evals or {}).items():  # evaluated after the chunk's last update
        bad = np.zeros_like(state_finite[:num_runs])
        bad[:, -1] = ~np.isfinite(v[:num_runs])
        checks[name] = bad
    return checks


def _first_nonfinite(metrics: dict, state_finite: np.ndarray, evals: dict | None, num_runs: int):
    """(what, run, step in chunk) of the earliest NaN or Inf among the real
    runs — in the agent state, a metric, or the chunk's evaluation — or None."""
    checks = _nonfinite_checks(metrics, state_finite, evals, num_runs)
    # argwhere over [step, run] lists the earliest step first
    found = [(*np.argwhere(bad.T)[0], name) for name, bad in checks.items() if bad.any()]
    if not found:
        return None
    i, r, name = min(found)
    return name, int(r), int(i)


def _first_nonfinite_by_run(checks: dict) -> dict[int, tuple[int, str]]:
    """{run: (its earliest non-finite step in the chunk, what)} for the runs that have one."""
    first: dict[int, tuple[int, str]] = {}
    for name, bad in checks.items():
        for r in np.flatnonzero(bad.any(1)):
            i = int(np.argmax(bad[r]))
            if int(r) not in first or i < first[int(r)][0]:
                first[int(r)] = (i, name)
    return first


def _divergence_hint(p: Plan) -> str:
    """What to try after a NaN or Inf: most often the step size is too large
    for the env (an unnormalised step scales with the gradient)."""
    lr = getattr(p.agent_config, "lr", None)
    if lr is None or "lr" in p.sweep:
        return "The step size is the likeliest cause: try a smaller one."
    return (f"The likeliest cause is a step size too large for {p.run.env}: agent.lr is {float(lr):g}, "
            f"try agent.lr={float(lr) / 10:g} (or sweep.agent.lr=[{float(lr) / 100:g},{float(lr) / 10:g}])")


class Interrupted(Exception):
    """SIGINT or SIGTERM stopped the run at a consistent point."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.exit_code = 128 + signum  # 130 for SIGINT, 143 for SIGTERM, as a shell reports them


class _Signals:
    """While a run lives, SIGINT and SIGTERM (what SLURM sends before it
    preempts a job) only raise a flag: the chunk in flight finishes, the loop
    checkpoints and stops.  A second signal stops at once (the last checkpoint
    is kept, the rows after it are cut on resume)."""

    def __init__(self, out: str):
        self.out, self.received, self.previous = out, None, {}

    def __enter__(self):
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                self.previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread: signals stay as they were
                pass
        return self

    def _handle(self, signum, frame):
        if self.received is not None:
            print(f"\nrlx.run: {signal.Signals(signum).name} again: stopping now; "
                  f"python -m rlx.run resume={self.out} continues from the last checkpoint", file=sys.stderr, flush=True)
            os._exit(128 + signum)
        self.received = signum
        print(f"\nrlx.run: {signal.Signals(signum).name}: stopping after the current chunk (again to stop at once)",
              file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        return False


def _restore(p: Plan, checkpoints: Checkpoints):
    """(carry, progress) from the newest checkpoint that restores; a damaged
    one is skipped with a warning naming it."""
    for progress in p.resume_points:
        try:
            carry = checkpoints.restore(progress["iteration"], p.programs.abstract_carry(p.configs, p.seeds),
                                        progress["padded_runs"])
        except Exception as err:  # orbax's errors for a damaged or foreign checkpoint vary
            text = one_line(err)
            if isinstance(err, MemoryError) or "RESOURCE_EXHAUSTED" in text or jax.process_count() > 1:
                # out of memory is not damage; and several processes must not each pick their own
                raise ConfigError(f"resume={p.out}: cannot restore checkpoint {progress['iteration']}: {text}") from None
            warn(f"checkpoint {progress['iteration']} of {p.out} cannot be restored ({text}); skipped")
            continue
        # The saved runs axis was padded for the devices of that run; re-pad for these.
        return devices.put(_repad(carry, p.num_runs, len(p.seeds)), p.sharding), progress
    raise ConfigError(f"resume={p.out}: no checkpoint can be restored; start a new run")


def _eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def _progress_line(p: Plan, c: int, samples: np.ndarray, returns: np.ndarray, last_eval, rate: float) -> str:
    """One progress line: iterations, samples a run, the return (mean ± std
    over seeds; with a sweep the best and the worst point's), the latest
    evaluation, the speed and the time left."""
    n = p.num_runs
    live = np.isfinite(returns)  # a dropped run's return is NaN
    used = int(np.mean(samples[:n][live])) if live.any() else 0
    behind = max(p.run.total_steps - int(np.min(samples[:n][live], initial=p.run.total_steps)), 0)
    left = behind * n / rate if rate > 0 else math.inf
    if p.sweep:
        means = np.array([_finite_stat(np.mean, returns[p.runs_of(g)], math.nan) for g in range(len(p.points))])
        kept = np.flatnonzero(np.isfinite(means))  # the points with a live run
        best = int(kept[np.argmax(means[kept])]) if kept.size else 0
        worst = int(kept[np.argmin(means[kept])]) if kept.size else 0
        shown = (f"return best {means[best]:9.2f} ({label(p.points[best])})  "
                 f"worst {means[worst]:9.2f} ({label(p.points[worst])})")
        if last_eval is not None:
            evals = [_finite_stat(np.mean, last_eval[p.runs_of(g)], -math.inf) for g in range(len(p.points))]
            shown += f"  eval best {max(evals):9.2f}"
    else:
        shown = f"return {_fmt_return(returns)}" + ("" if last_eval is None else
                                                     f"  eval {_finite_stat(np.mean, last_eval, math.nan):9.2f}")
    return (f"iter {(c + 1) * p.chunk:6d}/{p.num_iterations}  samples {used:>12,}  {shown}  "
            f"{rate:>11,.0f} samples/s  ETA {_eta(left)}")


def _write_record(p: Plan, record: dict) -> None:
    path = os.path.join(p.out, "config.json")
    with open(path + ".tmp", "w") as f:
        json.dump(record, f, indent=2)
    os.replace(path + ".tmp", path)


def execute(p: Plan) -> dict:
    """Compiles and runs the plan, writing the run folder; returns the summary.
    SIGINT and SIGTERM stop it at the next chunk's end with a checkpoint (Interrupted)."""
    with _Signals(p.out) as signals:
        return _execute(p, signals)


def _execute(p: Plan, signals: _Signals) -> dict:
    run, n = p.run, p.num_runs
    main_process = jax.process_index() == 0
    record = _record(p)
    if main_process and (not p.resuming or p.extending):
        _write_record(p, record)
    _announce(p)
    latest = p.resume_points[0] if p.resume_points else None
    if main_process and p.resuming:
        _forget_stop(p.out)
    if latest is not None:
        dropped = _dropped_runs(latest)
        live = _live(n, dropped)
        if latest["chunks_done"] == p.num_chunks or np.all(np.array(latest["samples"][:n])[live] >= run.total_steps):
            print(f"{p.out} is already complete", flush=True)
            return _write_summary(p, *_final_from_rows(p, live), 0.0, 0.0, latest["chunks_done"],
                                  latest["chunks_done"], np.array(latest["samples"][:n]), dropped)

    t0 = time.perf_counter()
    configs = devices.put(p.configs, p.sharding)
    seeds = devices.put(p.seeds, p.sharding)
    checkpoints, carry, start, truncate_to, samples, last_saved, dropped = _start(p, latest)
    print(f"compiling {p.chunk} iterations of {run.agent} on {run.env} for {len(p.seeds)} runs "
          f"(tens of seconds; a Brax env can take minutes)…", flush=True)
    compiled = p.lowered_chunk.compile()
    evaluation = p.programs.evaluate.lower(configs, seeds, carry.state).compile() if run.eval_every else None
    compile_s = p.trace_s + time.perf_counter() - t0
    print(f"compiled in {compile_s:.1f}s", flush=True)

    log = None
    if main_process:
        log = RunLog(p.out, tensorboard=run.tensorboard, wandb_project=run.wandb, record=record,
                     truncate_to=truncate_to, purge_step=(start * p.chunk + 1) * p.steps_per_update if p.resuming else None)
    eval_chunks, ckpt_chunks = p.chunks_per(run.eval_every), p.chunks_per(run.checkpoint_every)
    run_s, last_returns, last_eval, end = 0.0, None, None, start
    samples_at_start = int(np.mean(samples[:n]))

    def save(c: int, offset_digest) -> int:
        offset, digest = offset_digest
        # metrics_bytes: process 0's file length; orbax writes the JSON from process 0 only.
        progress = {"chunks_done": c + 1, "samples": samples.tolist(), "metrics_bytes": offset,
                    "metrics_sha256": digest, "runs": n, "padded_runs": len(p.seeds)}
        if dropped:
            progress["dropped"] = [{"run": r, **d} for r, d in sorted(dropped.items())]
        checkpoints.save((c + 1) * p.chunk, carry, progress)
        return (c + 1) * p.chunk

    try:
        for c in range(start, p.num_chunks):
            if c == start and devices.any_process(signals.received is not None):
                _interrupt(signals, "while compiling: nothing new ran; "
                           f"python -m rlx.run resume={p.out} continues")
            t_chunk = time.perf_counter()
            carry, metrics = compiled(configs, carry)
            metrics = devices.gather(metrics)  # once a chunk: {name: [runs, chunk]}
            run_s += time.perf_counter() - t_chunk
            finite = metrics.pop("state_finite")
            before = samples
            used = samples[:, None] + np.cumsum(metrics.get("transitions", np.zeros(finite.shape)), 1)
            samples = used[:, -1].astype(np.int64)
            # The budget is in samples (valid transitions, the papers' env steps): an update
            # samples at least its nominal steps, so the run may end before its last chunk.
            done = c + 1 == p.num_chunks or bool(np.all(samples[:n][_live(n, dropped)] >= run.total_steps))
            evals = None
            if evaluation is not None and ((c + 1) % eval_chunks == 0 or done):
                evals = devices.gather(evaluation(configs, seeds, carry.state))
                last_eval = evals["eval_return"][:n]
            if run.on_nonfinite == "drop":
                _drop_nonfinite(p, c, dropped, _nonfinite_checks(metrics, finite, evals, n), before, used)
                for r, d in dropped.items():  # a dropped run's samples stay where it stopped
                    samples[r] = d["samples"]
            cut = _row_cut(p, dropped)
            written = log.write(*_chunk_rows(p, c, metrics, evals, used, cut)) if log else (0, "")
            if run.on_nonfinite == "stop":
                _stop_if_nonfinite(p, c, metrics, finite, evals, last_saved)
            stop = devices.any_process(signals.received is not None)
            if (c + 1) % ckpt_chunks == 0 or done or stop:
                last_saved = save(c, written)
            last_returns = np.where(_live(n, dropped), metrics["episode_return"][:n, -1], np.nan)
            if last_eval is not None:
                last_eval = np.where(_live(n, dropped), last_eval, np.nan)
            rate = (int(np.mean(samples[:n])) - samples_at_start) * n / max(run_s, 1e-9)
            print(_progress_line(p, c, samples, last_returns, last_eval, rate), flush=True)
            end = c + 1
            if done:
                break
            if stop:
                _interrupt(signals, f"stopped after iteration {last_saved}, checkpoint saved; "
                           f"continue with: python -m rlx.run resume={p.out}")
    finally:
        checkpoints.close()
        if log:
            log.close()
    summary = _write_summary(p, last_returns, last_eval, compile_s, run_s, start, end, samples[:n], dropped)
    print(
        f"done: final return {_fmt_return(last_returns)} (mean ± std over {int(np.sum(_live(n, dropped)))} runs"
        f"{f', {len(dropped)} dropped' if dropped else ''}); "
        f"{int(np.mean(samples[:n])):,} samples a run in {run_s:.1f}s "
        f"({(np.mean(samples[:n]) - samples_at_start) * n / max(run_s, 1e-9):,.0f} samples/s) after {compile_s:.1f}s compile; "
        f"metrics in {os.path.join(p.out, METRICS)}",
        flush=True,
    )
    for point in summary.get("points", []):
        if point["final_return_mean"] is None:
            print(f"  {point['label']}: every run dropped (not finite)")
        else:
            print(f"  {point['label']}: final return {point['final_return_mean']:.2f} ± {point['final_return_std']:.2f}")
    return summary


def _announce(p: Plan) -> None:
    """The job in a line, and the env family's defaults it applied."""
    run = p.run
    print(
        f"rlx.run: {run.agent} on {run.env}, {len(p.points)} point(s) × {run.seeds} seeds on "
        f"{p.sharding.mesh.size} device(s), {p.num_iterations} iterations × {p.steps_per_update:,} env steps → {p.out}",
        flush=True,
    )
    if p.env_defaults:
        applied = " ".join(f"agent.{k}={v}" for k, v in p.env_defaults.items())
        print(f"rlx.run: {run.agent}'s defaults for {agents.defaults_scope(run.agent, p.env)} envs: {applied}",
              flush=True)


def _start(p: Plan, latest: dict | None):
    """(checkpoints, carry, first chunk, metrics bytes to keep, samples a run,
    the last saved iteration, the dropped runs): a fresh start, or the newest
    intact checkpoint (damaged newer ones set aside in damaged-checkpoints/)."""
    checkpoints = Checkpoints(p.out, p.run.keep_checkpoints)
    if latest is None:
        if p.resuming:
            print("no checkpoint yet: starting from the beginning", flush=True)
        carry = devices.put(p.programs.init(p.configs, p.seeds), p.sharding)
        return checkpoints, carry, 0, 0 if p.resuming else None, np.zeros(len(p.seeds), np.int64), None, {}
    carry, resume_from = _restore(p, checkpoints)
    newer = [step for step in checkpoints.all() if step > resume_from["iteration"]]
    if newer:  # the damaged ones (one process: _restore): kept aside, out of the way of the saves to come
        checkpoints.close()
        aside = os.path.join(p.out, "damaged-checkpoints")
        os.makedirs(aside, exist_ok=True)
        for step in newer:
            os.replace(os.path.join(checkpoints.folder, str(step)), os.path.join(aside, f"{step}-{time.time_ns()}"))
        warn(f"the damaged checkpoint(s) {', '.join(map(str, newer))} were moved to {aside}")
        checkpoints = Checkpoints(p.out, p.run.keep_checkpoints)
    samples = _repad(np.array(resume_from["samples"], np.int64), p.num_runs, len(p.seeds))
    print(f"resumed after iteration {resume_from['iteration']} from {checkpoints.folder}", flush=True)
    return (checkpoints, carry, resume_from["chunks_done"], resume_from["metrics_bytes"], samples,
            resume_from["iteration"], _dropped_runs(resume_from))


def _stop_if_nonfinite(p: Plan, c: int, metrics: dict, finite, evals, last_saved) -> None:
    """NonFinite naming the first NaN/Inf of chunk c (its iteration, seed and
    sweep point), after writing where the run stopped to summary.json."""
    first_bad = _first_nonfinite(metrics, finite, evals, p.num_runs)
    if first_bad is None:
        return
    name, r, i = first_bad
    point = f" ({label(p.points[p.point_of(r)])})" if p.sweep else ""
    kept = (f"the last good checkpoint is the one after {last_saved} iterations" if last_saved is not None
            else "no checkpoint was saved")
    if jax.process_index() == 0:
        _write_stopped(p, {"reason": "nonfinite", "what": name, "iteration": c * p.chunk + i, "seed": int(p.seeds[r])})
    raise NonFinite(f"{name} is not finite at iteration {c * p.chunk + i}, seed {p.seeds[r]}{point}; "
                    f"run stopped, {kept}. {_divergence_hint(p)}")


def _dropped_runs(progress: dict) -> dict[int, dict]:
    """{run: {"iteration", "what", "seed", "samples"}} of the runs a checkpoint's
    progress record lists as dropped (on_nonfinite=drop)."""
    return {int(d["run"]): {k: v for k, v in d.items() if k != "run"} for d in progress.get("dropped", [])}


def _live(num_runs: int, dropped: dict) -> np.ndarray:
    """bool [runs]: the real runs not dropped."""
    live = np.ones(num_runs, bool)
    live[list(dropped)] = False
    return live


def _drop_nonfinite(p: Plan, c: int, dropped: dict, checks: dict, before: np.ndarray, used: np.ndarray) -> None:
    """on_nonfinite=drop: each live run with a NaN or Inf in chunk c joins
    `dropped` at its first such iteration, with the samples it had spent
    before it; a warning line names it.  The others go on."""
    for r, (i, what) in sorted(_first_nonfinite_by_run(checks).items()):
        if r in dropped:
            continue
        spent = int(used[r, i - 1]) if i > 0 else int(before[r])
        dropped[r] = {"iteration": c * p.chunk + i, "what": what, "seed": int(p.seeds[r]), "samples": spent}
        point = f" ({label(p.points[p.point_of(r)])})" if p.sweep else ""
        warn(f"{what} is not finite at iteration {c * p.chunk + i}, seed {p.seeds[r]}{point}: "
             f"that run is dropped (its rows end there), the others go on")


def _row_cut(p: Plan, dropped: dict) -> np.ndarray:
    """[runs]: the first iteration each run logs no row for (its drop; the end of the run if it is live)."""
    cut = np.full(p.num_runs, p.num_iterations)
    for r, d in dropped.items():
        cut[r] = d["iteration"]
    return cut


def _interrupt(signals: _Signals, what: str):
    """Interrupted by the signal received (SIGTERM if another process got it)."""
    signum = signals.received or signal.SIGTERM
    raise Interrupted(signum, f"{signal.Signals(signum).name} {what}" if what.startswith("while")
                      else f"{signal.Signals(signum).name}: {what}")


def _forget_stop(out: str) -> None:
    """A resumed run cuts the rows a NaN stop left after its last checkpoint,
    so the stop's summary.json no longer describes the run: it goes."""
    path = os.path.join(out, "summary.json")
    try:
        with open(path) as f:
            stopped = "stopped" in json.load(f)
    except (OSError, ValueError, TypeError):
        return
    if stopped:
        os.remove(path)


def _write_stopped(p: Plan, stopped: dict) -> None:
    """summary.json of a run stopped by a NaN or Inf: what and where (rlx.plot
    marks the end of its curve)."""
    with open(os.path.join(p.out, "summary.json"), "w") as f:
        json.dump({"agent": p.run.agent, "env": p.run.env, "stopped": stopped}, f, indent=2)


def _repad(tree, num_runs: int, padded: int):
    """The first `num_runs` entries of every leaf's runs axis, then copies of
    the last run up to `padded`."""

    def one(x):
        idx = np.minimum(np.arange(padded), num_runs - 1)
        return x[idx]

    return jax.tree.map(one, tree)


def _final_from_rows(p: Plan, live: np.ndarray):
    """(final returns, final eval returns or None) of a finished run, read back
    from metrics.jsonl: one a run, NaN for a dropped one (it logged no last row)."""
    with open(os.path.join(p.out, METRICS)) as f:
        rows = list(map(json.loads, f))
    last = max(row["iteration"] for row in rows)
    rows = [row for row in rows if row["iteration"] == last]  # the live runs', in run order
    returns = np.full(p.num_runs, np.nan)
    returns[live] = [r["episode_return"] for r in rows]
    evals = None
    if any("eval_return" in r for r in rows):
        evals = np.full(p.num_runs, np.nan)
        evals[live] = [r.get("eval_return", np.nan) for r in rows]
    return returns, evals


def _write_summary(p: Plan, last_returns, last_eval, compile_s: float, run_s: float, start: int, end: int,
                   samples=None, dropped: dict | None = None) -> dict:
    """summary.json and curves.png (process 0), and the summary; chunks
    start…end ran in this process."""
    summary = _summary(p, last_returns, last_eval, compile_s, run_s, start, end, samples, dropped or {})
    if jax.process_index() == 0:
        with open(os.path.join(p.out, "summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
        from rlx.runner.plot import PlotError, plot_runs

        try:
            plot_runs([p.out], os.path.join(p.out, "curves.png"))
        except PlotError as err:
            print(f"rlx.run: no curves.png: {err}", file=sys.stderr)
    return summary


def _chunk_rows(p: Plan, c: int, metrics: dict, evals: dict | None, used: np.ndarray, cut: np.ndarray):
    """metrics.jsonl rows (one an iteration and run, up to the run's `cut`
    iteration) and TensorBoard scalars (means over the seeds logged, one
    series a sweep point) of chunk `c`."""
    rows, scalars = [], []
    swept = [{f"agent.{k}": v for k, v in point.items()} for point in p.points]
    for i in range(p.chunk):
        it = c * p.chunk + i
        step = (it + 1) * p.steps_per_update
        last = i == p.chunk - 1
        for r in range(p.num_runs):
            if it >= cut[r]:
                continue
            row = {"iteration": it, "env_steps": step, "samples": int(used[r, i]), "seed": int(p.seeds[r])}
            row.update(swept[p.point_of(r)])
            row.update({k: float(v[r, i]) for k, v in metrics.items()})
            if evals is not None and last:
                row.update({k: float(v[r]) for k, v in evals.items()})
            rows.append(row)
        values = {}
        for g, point in enumerate(p.points):
            runs = [r for r in range(p.num_runs)[p.runs_of(g)] if it < cut[r]]
            if not runs:
                continue
            suffix = f"/{label(point)}" if p.sweep else ""
            values.update({f"{k}{suffix}": float(np.mean(v[runs, i])) for k, v in metrics.items()})
            if evals is not None and last:
                values.update({f"{k}{suffix}": float(np.mean(v[runs])) for k, v in evals.items()})
        scalars.append((step, values))
    return rows, scalars


def _summary(p: Plan, last_returns, last_eval, compile_s: float, run_s: float, start: int, end: int,
             samples, dropped: dict) -> dict:
    """The run's summary; a dropped run's final return is null, and the means
    and stds are over the live runs."""
    run, n = p.run, p.num_runs
    iterations_run = (end - start) * p.chunk
    summary = {
        "agent": run.agent,
        "env": run.env,
        "seeds": [int(s) for s in p.seeds[:n]],
        "iterations": end * p.chunk,
        "env_steps_per_seed": end * p.chunk * p.steps_per_update,
        "samples_per_seed": None if samples is None else [int(x) for x in samples],
        "final_return_mean": _finite_stat(np.mean, last_returns),
        "final_return_std": _finite_stat(np.std, last_returns),
        "final_returns": [float(x) if np.isfinite(x) else None for x in last_returns],
        "compile_seconds": compile_s,
        "run_seconds": run_s,
        "steps_per_second": iterations_run * p.steps_per_update * n / max(run_s, 1e-9),
        "resumed_at_iteration": start * p.chunk if p.resuming else None,
    }
    if last_eval is not None:
        summary["final_eval_return_mean"] = _finite_stat(np.mean, last_eval)
    if p.sweep:
        summary["points"] = []
        for g, point in enumerate(p.points):
            mine = last_returns[p.runs_of(g)]
            summary["points"].append({"label": label(point), "values": point,
                                      "final_return_mean": _finite_stat(np.mean, mine),
                                      "final_return_std": _finite_stat(np.std, mine)})
    if dropped:
        summary["dropped"] = [{"run": r, "point": {f"agent.{k}": v for k, v in p.points[p.point_of(r)].items()}, **d}
                              for r, d in sorted(dropped.items())]
    return summary


def _finite_stat(stat, values: np.ndarray, empty: float | None = None) -> float | None:
    """stat (np.mean, np.std) over the finite values (the live runs'); `empty` if there are none."""
    finite = np.asarray(values)[np.isfinite(values)]
    return float(stat(finite)) if finite.size else empty


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help", "help") for a in argv):
        try:
            return show_help(argv, USAGE)
        except BrokenPipeError:  # `--help | head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    try:
        p = plan(argv)
    except ConfigError as err:
        print(f"rlx.run: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rlx.run: interrupted before the run started", file=sys.stderr)
        return 130
    try:
        execute(p)
    except KeyboardInterrupt:  # before the run's own handlers were installed, or after they were removed
        print(f"rlx.run: interrupted; python -m rlx.run resume={p.out} continues from its last checkpoint",
              file=sys.stderr)
        return 130
    except ConfigError as err:  # a checkpoint that cannot be restored
        print(f"rlx.run: error: {err}", file=sys.stderr)
        return 2
    except NonFinite as err:
        print(f"rlx.run: error: {err}", file=sys.stderr)
        return 3
    except Interrupted as err:
        print(f"rlx.run: {err}", file=sys.stderr)
        return err.exit_code
    return 0

