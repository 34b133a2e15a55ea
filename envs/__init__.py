"""rlx environments: one `make(name, **kwargs)` for every family.

    from rlx.envs import make
    env = make("cartpole")                       # gymnax
    env = make("hopper", backend="spring")       # Brax
    env = make("cliffwalking", horizon=100)      # native tabular MDP
    env = make("toytext:FrozenLake-v1", is_slippery=False)
    env = make("gymnasium:CartPole-v1")           # any gymnasium env, stepped on the host
    env = make("playground:CartpoleSwingup")      # a MuJoCo Playground dm_control task (MJX)

Every env keeps the contract of `rlx.envs.base.Env`.  `gymnasium:<id>` runs
`gymnasium.make(id, **kwargs)` (`max_steps` overrides its time limit) as a
host-side vector env behind `jax.pure_callback`s (rlx.envs.gymnasium_env).
"""

from __future__ import annotations

import difflib
import functools
import inspect
from typing import Callable

import jax

from rlx.envs.base import Env
from rlx.envs import tabular


def _gymnax(env_id: str) -> Callable[..., Env]:
    def factory(max_steps: int | None = None) -> Env:
        from rlx.envs.gymnax_env import GymnaxEnv

        return GymnaxEnv(env_id, max_steps=max_steps)

    return factory


# Brax's own default is 1,000 steps for every env; reacher's task is a 50-step
# reach (gymnasium's Reacher-v5 TimeLimit, the VR-PG papers' Reacher-v2).  At
# 1,000 steps the arm idles for 950 of them, paying control cost: the PG agents
# diverged or fell there at their defaults (experiments/matrix.md).
BRAX_EPISODE_LENGTH = {"reacher": 50}


def _brax(name: str) -> Callable[..., Env]:
    def factory(backend: str = "", episode_length: int = BRAX_EPISODE_LENGTH.get(name, 1000)) -> Env:
        """backend: spring (the default), positional, generalized or mjx."""
        from rlx.envs.brax_env import BraxEnv

        return BraxEnv(name, backend=backend, episode_length=episode_length)

    return factory


def _gymnasium(env_id: str) -> Callable[..., Env]:
    def factory(max_steps: int | None = None, **make_kwargs) -> Env:
        """Other keyword arguments go to gymnasium.make."""
        from rlx.envs.gymnasium_env import GymnasiumEnv

        return GymnasiumEnv(env_id, max_steps=max_steps, **make_kwargs)

    return factory


def _playground(task: str) -> Callable[..., Env]:
    def factory(episode_length: int = 1000) -> Env:
        """Any MuJoCo Playground dm_control-suite task (pip install -e '.[playground]')."""
        from rlx.envs.playground_env import PlaygroundEnv

        return PlaygroundEnv(task, episode_length=episode_length)

    return factory


def _cartpole_swingup(limit: float = 1.5, episode_length: int = 1000) -> Env:
    """limit: the slider margin's bound, g = |x| − limit (the reward is −g)."""
    from rlx.envs.playground_env import SliderConstrainedSwingUp

    return SliderConstrainedSwingUp(limit=limit, episode_length=episode_length)


def _random_mdp(
    seed: int = 0,
    num_states: int = 5,
    num_actions: int = 3,
    discount: float = 0.9,
    horizon: int = 10,
) -> Env:
    mdp = tabular.random_mdp(jax.random.key(seed), num_states, num_actions, discount, horizon)
    return tabular.TabularEnv(mdp, "random_mdp")


def _tabular(build: Callable[..., tabular.TabularMDP], name: str) -> Callable[..., Env]:
    """A registry entry from an MDP builder, keeping its signature (the runner
    reads it to type `env.<arg>` overrides)."""

    @functools.wraps(build)
    def factory(*args, **kwargs) -> Env:
        return tabular.TabularEnv(build(*args, **kwargs), name)

    return factory


def _toytext(env_id: str) -> Callable[..., Env]:
    def factory(discount: float = 0.99, horizon: int = 0, **make_kwargs) -> Env:
        mdp = tabular.from_gymnasium(env_id, discount, horizon or None, **make_kwargs)
        return tabular.TabularEnv(mdp, env_id)

    return factory


def _frozenlake(is_slippery: bool = True, map_name: str = "4x4", discount: float = 0.99, horizon: int = 0) -> Env:
    return _toytext("FrozenLake-v1")(discount, horizon, is_slippery=is_slippery, map_name=map_name)


_GYMNAX = {
    "cartpole": "CartPole-v1",
    "acrobot": "Acrobot-v1",
    "mountaincar": "MountainCar-v0",
    "mountaincar_continuous": "MountainCarContinuous-v0",
    "pendulum": "Pendulum-v1",
    "breakout": "Breakout-MinAtar",
    "asterix": "Asterix-MinAtar",
    "freeway": "Freeway-MinAtar",
    "space_invaders": "SpaceInvaders-MinAtar",
    "catch": "Catch-bsuite",
}
_BRAX = [
    "ant",
    "halfcheetah",
    "hopper",
    "humanoid",
    "humanoidstandup",
    "inverted_pendulum",
    "inverted_double_pendulum",
    "pusher",
    "reacher",
    "swimmer",
    "walker2d",
]

REGISTRY: dict[str, Callable[..., Env]] = {
    **{name: _gymnax(env_id) for name, env_id in _GYMNAX.items()},
    **{name: _brax(name) for name in _BRAX},
    "random_mdp": _random_mdp,
    "gridworld": _tabular(tabular.gridworld, "gridworld"),
    "cliffwalking": _tabular(tabular.cliff_walking, "cliffwalking"),
    "nchain": _tabular(tabular.nchain, "nchain"),
    "deepsea": _tabular(tabular.deep_sea, "deepsea"),
    "constrained_gridworld": _tabular(tabular.constrained_gridworld, "constrained_gridworld"),
    "pgp_gridworld": _tabular(tabular.pgp_gridworld, "pgp_gridworld"),
    "cartpole_swingup": _cartpole_swingup,
    "point_mass": _playground("PointMass"),
    "frozenlake": _frozenlake,
    "taxi": _toytext("Taxi-v4"),
}
PREFIXES = {"gymnax:": _gymnax, "toytext:": _toytext, "gymnasium:": _gymnasium, "playground:": _playground}
# One line an env for `python -m rlx.run --help`.
ABOUT = {
    **{name: f"gymnax {env_id}" for name, env_id in _GYMNAX.items()},
    **{name: f"Brax {name}, {BRAX_EPISODE_LENGTH.get(name, 1000):,}-step episodes (locomotion)" for name in _BRAX},
    "random_mdp": "a random tabular MDP (5 states, 3 actions; exact values in rlx.exact)",
    "gridworld": "a tabular gridworld from a text map (env.rows='S.../.#.G')",
    "cliffwalking": "gymnasium's CliffWalking as a native tabular MDP",
    "nchain": "NChain (Strens 2000): a small reward near, a large one far (tabular)",
    "deepsea": "bsuite's DeepSea, N × N (tabular; deep exploration)",
    "constrained_gridworld": "rlx's 6 × 6 gridworld with hole cells as a cost constraint (tabular)",
    "pgp_gridworld": "the PGP paper's gridworld as its official code runs it (tabular; hole cost in the reward)",
    "cartpole_swingup": "dm_control cartpole/swingup (MuJoCo Playground), reward −(|x| − 1.5): PGP's slider constraint",
    "point_mass": "dm_control point_mass/easy (MuJoCo Playground), its own reward (PGP's KL task)",
    "frozenlake": "gymnasium's FrozenLake-v1 as a tabular MDP",
    "taxi": "gymnasium's Taxi-v4 as a tabular MDP",
}
PREFIX_ABOUT = {
    "gymnax:": "any gymnax id, e.g. gymnax:Catch-bsuite",
    "toytext:": "a gymnasium toy-text id as a tabular MDP, e.g. toytext:FrozenLake-v1",
    "gymnasium:": "any gymnasium id, stepped on the host, e.g. gymnasium:HalfCheetah-v5",
    "playground:": "any MuJoCo Playground dm_control task in MJX, e.g. playground:CartpoleSwingup",
}


def names() -> list[str]:
    return sorted(REGISTRY) + [p + "<id>" for p in PREFIXES]


def factory(name: str) -> Callable[..., Env]:
    """The constructor behind `make(name)`; ValueError naming close choices."""
    if name in REGISTRY:
        return REGISTRY[name]
    for prefix, build in PREFIXES.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            return build(name[len(prefix):])
    close = difflib.get_close_matches(name, list(REGISTRY), n=3)
    hint = f"did you mean {', '.join(close)}?" if close else f"choose from {', '.join(names())}"
    raise ValueError(f"unknown env {name!r}; {hint}")


def make(name: str, **kwargs) -> Env:
    """Builds the env registered under `name` with its keyword arguments."""
    build = factory(name)
    sig = inspect.signature(build)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    unknown = [k for k in kwargs if k not in sig.parameters] if not takes_any else []
    if unknown:
        valid = [k for k in sig.parameters if sig.parameters[k].kind is not inspect.Parameter.VAR_KEYWORD]
        raise ValueError(f"env {name!r} takes no argument {unknown[0]!r}; valid: {', '.join(valid)}")
    return build(**kwargs)


__all__ = ["Env", "make", "names", "factory", "REGISTRY", "ABOUT"]
