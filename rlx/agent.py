"""The agent contract: what every module in `rlx.agents` is, checked when it
is registered.

An agent is a module of pure functions over pytrees (optax's style: a value
of functions, here a module, so each one reads top to bottom in one file):

    Config                                   a flax.struct dataclass (rlx.fields: static fields shape the
                                             program, numeric fields are traced and sweepable)
    init(key, env, config) -> State
    update(key, state, env, config) -> (State, metrics)      metrics: a flat dict of scalars
    act(key, state, obs, env, config, deterministic) -> action   greedy/mean action when deterministic
    env_steps_per_update(env, config) -> int                 the nominal env steps one update simulates
    eval_horizon(env, config) -> int                         the length of an evaluation episode
    METRICS: tuple[str, ...]                                  the metrics `update` promises, episode_return first
    PRESETS: {name: {field: value}}                           the registry names it serves and what each sets
    FAMILY_DEFAULTS: {name: {env family or env name: {field: value}}}   where one default cannot serve every env

and, where the paper evaluates otherwise than by the greedy/mean action,

    eval_act(key, state, env, config, num_episodes) -> act(k, obs)   one evaluation's policy (rlx.train.evaluate)

The PRNG key comes first everywhere (here, in `rlx.policies.Policy.sample`
and in the `act(key, obs)` that `rlx.rollout` samples from).  Bad settings
(a field outside its declaration, an env the agent cannot take) raise
`rlx.fields.ConfigError`, which the runner prints as one line.  A
`transitions` metric, when promised, is the env transitions an update used
(the runner's cumulative `samples`).
"""

from __future__ import annotations

import dataclasses
import inspect
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

from rlx.fields import ConfigError
from rlx.rollout import episode_horizon

# function -> its leading parameters, in order (the contract's argument order)
SIGNATURES = {
    "init": ("key", "env", "config"),
    "update": ("key", "state", "env", "config"),
    "act": ("key", "state", "obs", "env", "config", "deterministic"),
    "env_steps_per_update": ("env", "config"),
    "eval_horizon": ("env", "config"),
}


@runtime_checkable
class Agent(Protocol):
    """What `rlx.agents.get` returns (a module satisfies it structurally)."""

    Config: type
    METRICS: tuple[str, ...]
    PRESETS: dict[str, dict[str, Any]]
    FAMILY_DEFAULTS: dict[str, dict[str, dict[str, Any]]]

    def init(self, key, env, config) -> Any: ...

    def update(self, key, state, env, config) -> tuple[Any, dict]: ...

    def act(self, key, state, obs, env, config, deterministic: bool = True) -> Any: ...

    def env_steps_per_update(self, env, config) -> int: ...

    def eval_horizon(self, env, config) -> int: ...


class ContractError(TypeError):
    """An agent module that does not keep the contract (a programming error,
    raised when it is registered)."""


def check(module: ModuleType, name: str) -> None:
    """ContractError naming the first thing `module` lacks to serve as agent `name`."""
    where = f"agent {name} ({getattr(module, '__name__', module)})"
    missing = [m for m in (*Agent.__annotations__, *SIGNATURES) if not hasattr(module, m)]
    if missing:
        raise ContractError(f"{where} lacks {', '.join(missing)} (rlx.agent: the agent contract)")
    if not dataclasses.is_dataclass(module.Config):
        raise ContractError(f"{where}: Config must be a flax.struct dataclass")
    for fn, leading in SIGNATURES.items():
        params = tuple(inspect.signature(getattr(module, fn)).parameters)[: len(leading)]
        if params != leading:
            raise ContractError(f"{where}: {fn} must take ({', '.join(leading)}, …), it takes ({', '.join(params)})")
    if not module.METRICS or module.METRICS[0] != "episode_return":
        raise ContractError(f"{where}: METRICS must start with 'episode_return', got {module.METRICS!r}")
    if name not in module.PRESETS:
        raise ContractError(f"{where}: PRESETS has no entry {name!r} (it serves {', '.join(module.PRESETS)})")


def check_metrics(name: str, module: ModuleType, shapes: dict[str, tuple]) -> None:
    """ContractError unless `shapes` (metric -> the shape of one update's
    value) holds every promised metric, each a scalar."""
    lacking = [m for m in module.METRICS if m not in shapes]
    if lacking:
        raise ContractError(f"update returns no {', '.join(lacking)} (promised in METRICS)")
    shaped = [k for k, v in shapes.items() if tuple(v) != ()]
    if shaped:
        raise ContractError(f"metrics must be scalars; {shaped[0]} has shape {tuple(shapes[shaped[0]])}")


def env_time_limit(env, config) -> int:
    """An `eval_horizon` for agents without a horizon field: the env's time limit."""
    return episode_horizon(env, 0)


__all__ = ["Agent", "ConfigError", "ContractError", "check", "check_metrics", "env_time_limit"]
