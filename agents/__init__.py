"""rlx agents: one module an algorithm, each keeping the agent contract
(`rlx.agent`: Config, init, update, act, env_steps_per_update,
eval_horizon, METRICS, PRESETS, FAMILY_DEFAULTS), checked when it is first
used.  Helpers that one family of agents shares live in `rlx.agents.shared`.

    from rlx.agents import harpg
    config = rlx.agents.config("n_harpg")              # harpg.Config(normalized=True, lr=0.1)
    config = rlx.agents.config("harpg", env)           # and the defaults for env's family

A registry name is served by a module (AGENTS below, one line a name); the
module's PRESETS[name] says what the name sets, and FAMILY_DEFAULTS[name]
what changes on an env family (classic control, continuous control,
locomotion, tabular, MinAtar), or on one named env, where one default cannot
serve them all.
`config(name, env)` applies the presets, then the family's defaults; the
user's overrides come after, and the runner writes what the family set to
config.json (`env_defaults`) and prints it.  Adding an agent is one file
and one line here (or `register(name, module)` from your own code).
"""

from __future__ import annotations

import difflib
import importlib
from types import ModuleType

from rlx.agent import check
from rlx.fields import ConfigError

# registry name -> the module that implements it (under rlx.agents, or a full import path). Imported on first use.
AGENTS: dict[str, str | ModuleType] = {
    "gpomdp": "gpomdp",
    "npg_igt": "npg_igt",
    "harpg": "harpg",
    "n_harpg": "harpg",  # the paper's N-HARPG tuning
    "sharp": "sharp",
    "ppo": "ppo",
    "wpo": "wpo",  # tabular: exact or sampled advantages
    "spo": "wpo",
    "nac": "nac",  # tabular: generative-model sampler; other discrete-action envs: rollouts
    "hyperagent": "hyperagent",
    "dqn": "hyperagent",  # ε-greedy double DQN
    "pgp": "pgp",  # tabular: constrained occupancy-entropy exploration
    "pdpg": "pdpg",  # its primal-dual baseline
    "vr_pdpg": "vr_pdpg",  # its variance-reduced primal-dual baseline
    "pgp_deep": "pgp_deep",  # continuous: Gaussian-mixture occupancy density
    "wpo_deep": "wpo_deep",  # networks; continuous actions discretised per dimension
    "spo_deep": "wpo_deep",
}
_checked: set[str] = set()


def register(name: str, module: str | ModuleType) -> None:
    """Serve agent `name` with `module` (a module, or its import path); its
    contract is checked now (rlx.agent.ContractError if it is not kept)."""
    AGENTS[name] = module
    _checked.discard(name)
    get(name)


def get(name: str) -> ModuleType:
    """The agent module registered under `name`; ValueError naming close choices."""
    if name not in AGENTS:
        close = difflib.get_close_matches(name, list(AGENTS), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"choose from {', '.join(sorted(AGENTS))}"
        raise ConfigError(f"unknown agent {name!r}; {hint}")
    module = AGENTS[name]
    if isinstance(module, str):
        module = importlib.import_module(module if "." in module else f"rlx.agents.{module}")
    if name not in _checked:
        check(module, name)
        _checked.add(name)
    return module


def family(env) -> str:
    """The env's family: "classic", "control", "locomotion", "tabular" or "minatar"."""
    return env.family


def family_defaults(name: str) -> dict[str, dict]:
    """Env family -> the Config fields agent `name` changes there."""
    return {fam: dict(fields) for fam, fields in get(name).FAMILY_DEFAULTS.get(name, {}).items()}


def env_defaults(name: str, env) -> dict:
    """The Config fields agent `name` sets on `env`'s family, then those it
    sets on that one env (a FAMILY_DEFAULTS key may name an env, where an env
    carries its own settings: pgp on pgp_gridworld)."""
    defaults = family_defaults(name)
    return {**defaults.get(family(env), {}), **defaults.get(getattr(env, "name", None), {})}


def defaults_scope(name: str, env) -> str:
    """Where agent `name`'s defaults on `env` come from, for messages:
    "tabular", or "tabular and pgp_gridworld" where the env has its own."""
    own = getattr(env, "name", None)
    return family(env) + (f" and {own}" if own in family_defaults(name) else "")


def presets(name: str) -> dict:
    """The Config fields the registry name sets (n_harpg: normalized, lr)."""
    return dict(get(name).PRESETS[name])


def config(name: str, env=None):
    """The default Config of agent `name`, with that name's presets and, given
    an env, the defaults of its family."""
    fields = presets(name)
    if env is not None:
        fields.update(env_defaults(name, env))
    return get(name).Config(**fields)


def names() -> list[str]:
    return sorted(AGENTS)
