"""How a config declares its fields, and what values they may take: the
core every agent's `Config` is written with (the runner's parser,
`rlx.runner.config`, reads these declarations; agents never import it).

An agent's `Config` is a `flax.struct.dataclass`: numeric fields are pytree
leaves (traced, so a sweep can vmap them); fields declared with `static(...)`
shape the program and live in the treedef.  A field annotated
`Literal["a", "b"]` takes one of those choices, checked by `validate` (at
parse time in the runner, at `make_train` in your own code).  Every numeric
field's valid values come from one table, `RANGES`, by field name.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import typing
from typing import Any

from flax import struct


class ConfigError(ValueError):
    """A bad setting: an override, a field outside its range, or an agent and
    env that do not go together.  The one error type an agent raises for bad
    settings; its message is one line meant for the user (the runner prints it
    and exits 2)."""


def static(default):
    """A config field that shapes the program (not traced, not sweepable)."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("static defaults must be immutable (use a tuple)")
    return struct.field(pytree_node=False, default=default)


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
    "alpha": Range(0.0, 1.0, True),  # VR-PDPG's recursion weight: 1 = no variance reduction
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


def choices(annotation: Any) -> tuple | None:
    """The values a `Literal[...]` annotation allows (also inside `X | None`), else None."""
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)
    for option in typing.get_args(annotation):
        if typing.get_origin(option) is typing.Literal:
            return typing.get_args(option)
    return None


def check_choice(value: Any, annotation: Any, where: str) -> None:
    """ConfigError unless `value` is one of a Literal field's choices."""
    allowed = choices(annotation)
    if allowed is None or value in allowed or (value is None and type(None) in typing.get_args(annotation)):
        return
    named = [repr(a) for a in allowed]
    listed = named[0] if len(named) == 1 else f"{', '.join(named[:-1])} or {named[-1]}"
    raise ConfigError(f"{where} must be {listed}, got {value!r}")


def validate(instance, group: str = "") -> None:
    """ConfigError naming the first field of the dataclass `instance` outside
    its declaration: a Literal field's choices, a numeric field's Range
    (RANGES): one place for every config."""
    defaults = {f.name: f.default for f in dataclasses.fields(instance)}
    for name, annotation in field_types(type(instance)).items():
        value = getattr(instance, name)
        check_choice(value, annotation, f"{group}{name}")
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


def field_types(cls) -> dict[str, Any]:
    """Annotated types of a dataclass's fields (strings resolved)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}
