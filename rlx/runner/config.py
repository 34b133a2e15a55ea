"""The runner's own fields (`RunConfig`), and `key=value` overrides parsed as data
into any config declared with `rlx.fields`.

Overrides are parsed with `ast.literal_eval` (numbers, booleans, strings,
lists; never code) and checked against the field's annotated type, so a typo
or a wrong type is one clear line before anything compiles.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import re
import types
import typing
from typing import Any, Literal

from rlx.fields import ConfigError, check_choice, choices, field_range, field_types


def bookkeeping(default):
    """A run field that says how a run is kept, not what it computes: left out of
    a run's label (rlx.plot) and free to differ between runs that must agree."""
    return dataclasses.field(default=default, metadata={"role": "bookkeeping"})


def placement(default):
    """A bookkeeping field that says where a job runs (devices, processes, the
    compile cache): the only fields that may accompany resume= (besides
    total_steps=, which extends a run)."""
    return dataclasses.field(default=default, metadata={"role": "placement"})


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """The runner's own fields (`python -m rlx.run key=value ...`)."""

    agent: str = "gpomdp"  # agent name (rlx.agents)
    env: str = "cartpole"  # env name (rlx.envs)
    seed: int = bookkeeping(0)  # first seed; seed i of the run uses jax.random.key(seed + i)
    seeds: int = bookkeeping(8)  # how many seeds, vmapped in one program
    total_steps: int = 500_000  # env-step budget per seed (rounded up to whole chunks)
    out: str = bookkeeping("")  # run folder; "" = runs/<agent>-<env>-<time>
    log_every: int = bookkeeping(10)  # iterations per compiled chunk (one progress line a chunk)
    checkpoint_every: int = bookkeeping(100)  # iterations between Orbax checkpoints (rounded up to whole chunks); 0 = only at the end
    keep_checkpoints: int = bookkeeping(3)  # how many of the latest checkpoints to keep (at least 1)
    eval_every: int = bookkeeping(100)  # iterations between deterministic evaluations (rounded up to chunks); 0 = never
    eval_episodes: int = bookkeeping(10)  # episodes a seed in each evaluation (greedy or mean action)
    on_nonfinite: Literal["stop", "drop"] = bookkeeping("stop")  # a NaN or Inf in a run: "stop" the job (exit 3, the default);
    #   "drop" that run at its first non-finite iteration (its rows end there, summary.json lists it) and go on with
    #   the others, as a step-size sweep expects of its diverging points
    resume: str = bookkeeping("")  # a run folder to continue from its latest checkpoint (the job is read back from its
    #   config.json; beside it only total_steps=, to extend the run, devices= and the multi-host keys)
    tensorboard: bool = bookkeeping(True)  # TensorBoard event files in <out>/tb
    wandb: str = bookkeeping("")  # a Weights & Biases project to log to ("" = off; needs `pip install wandb`)
    devices: int = placement(0)  # CPU only: XLA devices to split the host into; 0 = one a core
    compile_cache: str = placement("~/.cache/rlx/jax")  # JAX's persistent compilation cache (a rerun skips most of its
    #   compile); "" = off.  The environment variable RLX_COMPILE_CACHE sets the default
    coordinator: str = placement("")  # multi-host: the jax.distributed coordinator, host:port
    num_processes: int = placement(1)  # multi-host: how many processes run this job
    process_id: int = placement(0)  # multi-host: this process's index


def run_fields(*roles: str) -> tuple[str, ...]:
    """The RunConfig fields with one of `roles` ("bookkeeping", "placement"; a
    placement field is bookkeeping too)."""
    wanted = set(roles) | ({"placement"} if "bookkeeping" in roles else set())
    return tuple(f.name for f in dataclasses.fields(RunConfig) if f.metadata.get("role") in wanted)


BOOKKEEPING = run_fields("bookkeeping")
PLACEMENT_KEYS = run_fields("placement")


def one_line(err: Exception) -> str:
    """An exception's message as one line (its first), for the user."""
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]


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
    """The override text as the annotated type; a `str` field keeps its text,
    a Literal field's text must be one of its choices."""
    if annotation is str:
        return text
    if choices(annotation) is not None:
        check_choice(text, annotation, where)
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
