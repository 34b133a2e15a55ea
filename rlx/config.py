"""Configs: static fields, and `key=value` overrides parsed as data.

An agent's `Config` is a `flax.struct.dataclass`: numeric fields are pytree
leaves (traced, so a sweep can vmap them); fields declared with `static(...)`
shape the program and live in the treedef.

Overrides are parsed with `ast.literal_eval` (numbers, booleans, strings,
lists; never code) and checked against the field's annotated type, so a typo
or a wrong type is one clear line before anything compiles.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import math
import re
import types
import typing
from typing import Any

from flax import struct


class ConfigError(ValueError):
    """A bad override; its message is one line meant for the user."""


def static(default):
    """A config field that shapes the program (not traced, not sweepable)."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("static defaults must be immutable (use a tuple)")
    return struct.field(pytree_node=False, default=default)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """The runner's own fields (`python -m rlx.run key=value ...`)."""

    agent: str = "gpomdp"  # agent name (rlx.agents)
    env: str = "cartpole"  # env name (rlx.envs)
    seed: int = 0  # first seed; seed i of the run uses jax.random.key(seed + i)
    seeds: int = 8  # how many seeds, vmapped in one program
    total_steps: int = 500_000  # env-step budget per seed (rounded up to whole chunks)
    out: str = ""  # run folder; "" = runs/<agent>-<env>-<time>
    log_every: int = 10  # iterations per compiled chunk (one progress line a chunk)
    checkpoint_every: int = 100  # iterations between Orbax checkpoints (rounded up to whole chunks); 0 = only at the end
    keep_checkpoints: int = 3  # how many of the latest checkpoints to keep (at least 1)
    eval_every: int = 100  # iterations between deterministic evaluations (rounded up to chunks); 0 = never
    eval_episodes: int = 10  # episodes a seed in each evaluation (greedy or mean action)
    resume: str = ""  # a run folder to continue from its latest checkpoint (the job is read back from its
    #   config.json; beside it only total_steps=, to extend the run, devices= and the multi-host keys)
    tensorboard: bool = True  # TensorBoard event files in <out>/tb
    wandb: str = ""  # a Weights & Biases project to log to ("" = off; needs `pip install wandb`)
    devices: int = 0  # CPU only: XLA devices to split the host into; 0 = one a core
    compile_cache: str = "~/.cache/rlx/jax"  # JAX's persistent compilation cache (a rerun skips most of its
    #   compile); "" = off.  The environment variable RLX_COMPILE_CACHE sets the default
    coordinator: str = ""  # multi-host: the jax.distributed coordinator, host:port
    num_processes: int = 1  # multi-host: how many processes run this job
    process_id: int = 0  # multi-host: this process's index


# Run fields that say how a run is kept, not what it computes: left out of a
# run's label (rlx.plot) and free to differ between runs that must agree.
BOOKKEEPING = (
    "seed", "seeds", "out", "log_every", "checkpoint_every", "keep_checkpoints", "eval_every", "eval_episodes",
    "resume", "tensorboard", "wandb", "devices", "compile_cache", "coordinator", "num_processes", "process_id",
)


@dataclasses.dataclass(frozen=True)
class Range:
    """The values a numeric field may take: low ≤ v ≤ high (strict where `open_low`)."""

    low: float = -math.inf
    high: float = math.inf
    open_low: bool = False

    def check(self, value, where: str) -> None:
        if value is None or isinstance(value, (bool, str)):
            return
        if isinstance(value, (tuple, list)):
            for i, v in enumerate(value):
                self.check(v, f"{where}[{i}]")
            return
        if isinstance(value, float) and not math.isfinite(value):  # (an int is finite, however large)
            raise ConfigError(f"{where} must be a finite number, got {value!r}")
        if self.open_low and value <= self.low:
            raise ConfigError(f"{where} must be positive, got {value!r}")
        if value < self.low or value > self.high:
            raise ConfigError(f"{where} must {self.describe()}, got {value!r}")

    def describe(self) -> str:
        if self.high == math.inf:
            return "be 0 or positive" if self.low == 0 else f"be at least {self.low:g}"
        return f"lie in {'(' if self.open_low else '['}{self.low:g}, {self.high:g}]"


ANY = Range()
POSITIVE = Range(0.0, open_low=True)
NONNEGATIVE = Range(0.0)
COUNT = Range(1)  # sizes, widths, counts of steps, envs, epochs
UNIT = Range(0.0, 1.0)  # probabilities, discounts, mixing weights
# What each numeric field may take, by name, for every config in rlx (the
# runner's, every agent's, every env's arguments): one table, read by
# `validate`.  An int field not named here is a count (≥ 1), or ≥ 0 where its
# default is 0 (a seed, "none"); a float field not named here only has to be
# finite.  A field named here means the same thing everywhere it appears.
RANGES: dict[str, Range] = {
    # the runner
    "seed": NONNEGATIVE, "checkpoint_every": NONNEGATIVE, "eval_every": NONNEGATIVE, "devices": NONNEGATIVE,
    "process_id": NONNEGATIVE,
    # agents: 0 = "the env's own" or "none"
    "horizon": NONNEGATIVE, "learning_starts": NONNEGATIVE, "lr_decay_iterations": NONNEGATIVE,
    # step sizes, radii, scales that divide or bound
    "lr": POSITIVE, "critic_lr": POSITIVE, "natural_lr": POSITIVE, "dual_lr": POSITIVE, "max_grad_norm": POSITIVE,
    "kl_radius": POSITIVE, "natural_radius": POSITIVE, "critic_radius": POSITIVE, "clip": POSITIVE,
    "temperature": POSITIVE, "delta": POSITIVE, "occupancy_floor": POSITIVE, "reference_std": POSITIVE,
    "reward_scale": POSITIVE, "beta": POSITIVE, "lam": POSITIVE,
    # weights of a loss or a noise: 0 switches them off
    "value_coef": NONNEGATIVE, "entropy_coef": NONNEGATIVE, "penalty": NONNEGATIVE, "noise_scale": NONNEGATIVE,
    "prior_std": NONNEGATIVE, "prior_scale": NONNEGATIVE, "posterior_scale": NONNEGATIVE,
    # probabilities and discounts
    "discount": UNIT, "gae_lambda": UNIT, "epsilon_start": UNIT, "epsilon_end": UNIT, "momentum": Range(0.0, 1.0, True),
}


def field_range(name: str, annotation: Any, default: Any = None) -> Range:
    """The Range of a field, from RANGES or from its type and default (ints
    and tuples of ints are counts, ≥ 0 where the default is 0; floats any
    finite number)."""
    if name in RANGES:
        return RANGES[name]
    types_ = {annotation, *typing.get_args(annotation)}
    if int in types_ and float not in types_ or any(typing.get_args(t) and int in typing.get_args(t) for t in types_):
        return NONNEGATIVE if default == 0 and not isinstance(default, bool) else COUNT
    return ANY


def validate(instance, group: str = "") -> None:
    """ConfigError naming the first numeric field of the dataclass `instance`
    outside its Range (rlx.config.RANGES): one place for every config."""
    defaults = {f.name: f.default for f in dataclasses.fields(instance)}
    for name, annotation in field_types(type(instance)).items():
        value = getattr(instance, name)
        if isinstance(value, (int, float, tuple, list)) and not isinstance(value, bool):
            field_range(name, annotation, defaults[name]).check(value, f"{group}{name}")


def validate_kwargs(fn, kwargs: dict[str, Any], group: str) -> None:
    """`validate` for keyword arguments of `fn` (an env constructor), typed by
    its signature; arguments it only takes through **kwargs need be finite."""
    sig = inspect.signature(fn)
    hints = typing.get_type_hints(fn)
    for name, value in kwargs.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, tuple, list)):
            continue
        param = sig.parameters.get(name)
        if param is None or param.kind is param.VAR_KEYWORD:  # only finiteness is known
            ANY.check(value, f"{group}{name}")
            continue
        default = param.default
        annotation = hints.get(name, type(default) if default is not inspect.Parameter.empty else Any)
        field_range(name, annotation, default).check(value, f"{group}{name}")


def _closest(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3)
    if close:
        return f"did you mean {', '.join(close)}?"
    return f"valid: {', '.join(sorted(choices))}" if choices else "it takes none"


def parse_literal(text: str) -> Any:
    """'0.1' -> 0.1, '2e6' -> 2000000.0, '[64,64]' -> [64, 64], 'true' -> True,
    anything else the string itself.  Never evaluates code."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def coerce(value: Any, annotation: Any, where: str) -> Any:
    """`value` as the annotated type, or ConfigError."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any or annotation is inspect.Parameter.empty:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return coerce(value, option, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{where}: bad value {value!r}")
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where} must be an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where} must be a number, got {value!r}")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where} must be a string, got {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            value = [value]
        item = args[0] if args else Any
        return tuple(coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    return value


def field_docs(cls) -> dict[str, str]:
    """The comment after each field of a dataclass (and of the classes it
    extends), with the comment lines that continue it: what `--help` shows."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            lines = inspect.getsource(klass).splitlines()
        except (OSError, TypeError):
            continue
        name = None
        for line in lines:
            field = re.match(r"\s{4}(\w+)\s*:[^#]*?(?:#\s?(.*))?$", line)
            more = re.match(r"\s{4}#\s+(.*)$", line)
            if field and not line.lstrip().startswith("#"):
                name = field.group(1)
                docs[name] = (field.group(2) or "").strip()
            elif more and name:
                docs[name] = f"{docs[name]} {more.group(1).strip()}".strip()
            else:
                name = None
    return docs


def field_types(cls) -> dict[str, Any]:
    """Annotated types of a dataclass's fields (strings resolved)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def apply_overrides(instance, overrides: dict[str, str], group: str):
    """A copy of the dataclass `instance` with `field=text` overrides applied."""
    types = field_types(type(instance))
    changes = {}
    for key, text in overrides.items():
        if key not in types:
            raise ConfigError(f"unknown key {group}{key}; {_closest(key, types)}")
        changes[key] = parse_value(text, types[key], f"{group}{key}")
    return dataclasses.replace(instance, **changes)


def parse_value(text: str, annotation: Any, where: str) -> Any:
    """The override text as the annotated type; a `str` field keeps its text."""
    if annotation is str:
        return text
    return coerce(parse_literal(text), annotation, where)


def coerce_kwargs(fn, overrides: dict[str, str], group: str) -> dict[str, Any]:
    """Keyword arguments for `fn` from `key=text` overrides, typed by its
    signature (annotations, else the default's type)."""
    sig = inspect.signature(fn)
    params = {k: p for k, p in sig.parameters.items() if p.kind is not p.VAR_KEYWORD}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    hints = typing.get_type_hints(fn)
    kwargs = {}
    for key, text in overrides.items():
        if key not in params:
            if not takes_any:
                raise ConfigError(f"unknown key {group}{key}; {_closest(key, params)}")
            kwargs[key] = parse_literal(text)
            continue
        default = params[key].default
        annotation = hints.get(key, type(default) if default is not inspect.Parameter.empty else Any)
        kwargs[key] = parse_value(text, annotation, f"{group}{key}")
    return kwargs


def split_overrides(argv: list[str]) -> tuple[dict[str, str], dict[str, str], dict[str, str], dict[str, str]]:
    """`key=value` words into (run fields, agent.* fields, env.* kwargs,
    sweep.agent.* lists)."""
    run, agent, env, sweep = {}, {}, {}, {}
    for word in argv:
        if "=" not in word:
            raise ConfigError(f"expected key=value, got {word!r}")
        key, text = word.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"expected key=value, got {word!r}")
        if key.startswith("sweep."):
            if not key.startswith("sweep.agent.") or key == "sweep.agent.":
                raise ConfigError(f"only agent fields can be swept: sweep.agent.<field>=[...], got {key!r}")
            sweep[key[len("sweep.agent."):]] = text
        elif key.startswith("agent."):
            agent[key[len("agent."):]] = text
        elif key.startswith("env."):
            env[key[len("env."):]] = text
        else:
            if key in run:
                raise ConfigError(f"{key} is given twice")
            run[key] = text
    for name in sweep.keys() & agent.keys():
        raise ConfigError(f"agent.{name} is both set and swept; give one")
    return run, agent, env, sweep


def parse_sweep(instance, sweep: dict[str, str]) -> dict[str, list]:
    """`field=[v1,v2,…]` texts into {field: values} for the traced numeric
    fields of the config dataclass `instance`; several fields make a grid."""
    types = field_types(type(instance))
    fields = {f.name: f for f in dataclasses.fields(instance)}
    grid = {}
    for name, text in sweep.items():
        where = f"sweep.agent.{name}"
        if name not in types:
            raise ConfigError(f"unknown key {where}; {_closest(name, types)}")
        if not fields[name].metadata.get("pytree_node", True):
            raise ConfigError(f"{where}: agent.{name} shapes the program (static) and cannot be swept; run one job a value")
        values = parse_literal(text)
        if not isinstance(values, (list, tuple)) or not values:
            raise ConfigError(f"{where} must be a non-empty list like [0.01,0.1], got {text!r}")
        annotation = types[name]
        numeric = {int, float} & ({annotation} | set(typing.get_args(annotation)))
        if not numeric:
            raise ConfigError(f"{where}: only numeric fields can be swept, agent.{name} is {annotation}")
        grid[name] = [coerce(v, annotation, f"{where}[{i}]") for i, v in enumerate(values)]
        for i, v in enumerate(grid[name]):
            field_range(name, annotation, fields[name].default).check(v, f"{where}[{i}]")
        if any(v is None for v in grid[name]):
            raise ConfigError(f"{where}: values must be numbers, got None")
        twice = next((v for i, v in enumerate(grid[name]) if v in grid[name][:i]), None)
        if twice is not None:
            raise ConfigError(f"{where} lists {twice!r} twice (its runs would be copies of each other)")
    return grid


def to_dict(instance) -> dict[str, Any]:
    """A config dataclass as JSON-ready data (tuples as lists, arrays as numbers)."""
    out = {}
    for f in dataclasses.fields(instance):
        v = getattr(instance, f.name)
        if hasattr(v, "tolist"):
            v = v.tolist()
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out
