"""rlx agents: one module an algorithm, each with `Config`, `init`, `update`,
`act` and `env_steps_per_update` (see DESIGN.md, "Agent contract").

    from rlx.agents import harpg
    config = rlx.agents.config("n_harpg")              # harpg.Config(normalized=True, lr=0.1)
    config = rlx.agents.config("harpg", env)           # and the defaults for env's family

Where one default cannot serve every env family (classic control,
locomotion, tabular, MinAtar), ENV_DEFAULTS below says what changes for a
family, in this one place: `config(name, env)` applies it after the name's
presets and before the user's overrides, and the runner writes what it
applied to config.json (`env_defaults`) and prints it.
"""

from __future__ import annotations

import difflib
import importlib
from types import ModuleType

# name -> (module under rlx.agents, the Config fields that name presets).
# Modules are imported on first use.
AGENTS = {
    "gpomdp": ("gpomdp", {}),
    "npg_igt": ("npg_igt", {}),
    "harpg": ("harpg", {}),
    "n_harpg": ("harpg", {"normalized": True, "lr": 0.1}),  # the paper's N-HARPG tuning
    "sharp": ("sharp", {}),
    "ppo": ("ppo", {}),
    "wpo": ("wpo", {}),  # tabular: exact or sampled advantages
    "spo": ("wpo", {"method": "spo"}),
    "nac": ("nac", {}),  # tabular: generative-model sampler; other discrete-action envs: rollouts
    "hyperagent": ("hyperagent", {}),
    "dqn": ("hyperagent", {"exploration": "epsilon"}),  # ε-greedy double DQN
    "pgp": ("pgp", {}),  # tabular: constrained occupancy-entropy exploration
    "pdpg": ("pdpg", {}),  # its primal-dual baseline
    "pgp_deep": ("pgp_deep", {}),  # continuous: Gaussian-mixture occupancy density
    "wpo_deep": ("wpo_deep", {}),  # networks; continuous actions discretised per dimension
    "spo_deep": ("wpo_deep", {"method": "spo", "delta": 0.05}),
}


# PPO on locomotion: Brax's own PPO trainer (brax/training/agents/ppo with its published hopper settings: γ 0.97,
# lr 3e-4, reward × 10, obs normalisation, 4 epochs), with 128 envs × 32 steps in 8 minibatches for a CPU.
_LOCOMOTION_PPO = {"num_envs": 128, "num_steps": 32, "minibatches": 8, "lr": 3e-4, "discount": 0.97,
                   "reward_scale": 10.0, "normalize_obs": True}
# Deep WPO/SPO on locomotion: that batch, discount and observation normalisation, 11 bins an action dimension.
_LOCOMOTION_WPO = {"num_envs": 128, "num_steps": 32, "minibatches": 8, "lr": 3e-4, "discount": 0.97,
                   "normalize_obs": True}
# NAC on rollouts (not a tabular MDP's generative model): a narrower network, short SGD loops, λ 0.05, η 10
# (tuned on cartpole).
_NAC_ROLLOUTS = {"width": 256, "critic_steps": 200, "natural_steps": 200, "num_envs": 8, "num_steps": 64,
                 "actor_lr": 10.0, "temperature": 0.05, "critic_lr": 1.0}
# The policy-gradient agents of Fatkhullin et al.'s family: γ0 on the official per-step scale.  Locomotion keeps
# the paper's Walker tuning and the official Xavier init (the agents' own defaults).  Classic control and MinAtar
# start from PPO's near-uniform policy (orthogonal init, last layer 0.01): acrobot's sparse reward needs the
# exploration (with Xavier weights no gpomdp seed of 3 reached acrobot's goal in 2·10^5 steps); γ0 from
# experiments/vr_pg/tune_defaults.py on cartpole and acrobot.  Continuous classic control ("control": pendulum,
# mountaincar_continuous) keeps the official init and the small steps: at the classic γ0 HARPG went NaN on
# pendulum by iteration 3; gpomdp 0.01 and HARPG 0.001 improved every seed's evaluation there in 10^5 steps
# without a NaN (HARPG 0.01 diverged).  Tabular: the softmax table starts uniform anyway.
_CLASSIC_PG = {"weight_init": "orthogonal"}
# agent name -> env family (rlx.envs: env.family) -> Config fields.  A field not
# named keeps the agent's own default (its module says its source).
ENV_DEFAULTS: dict[str, dict[str, dict]] = {
    "gpomdp": {"classic": {**_CLASSIC_PG, "lr": 0.5}, "control": {"lr": 0.01}, "tabular": {"lr": 10.0},
               "minatar": {**_CLASSIC_PG, "lr": 0.5}},
    "npg_igt": {"classic": {**_CLASSIC_PG, "lr": 0.5}, "tabular": {"lr": 2.0}, "minatar": {**_CLASSIC_PG, "lr": 0.5}},
    # HARPG on locomotion: half the paper's Walker γ0 (0.002): on hopper at 0.002, 2 of 3 seeds' mean-action
    # return fell to 3–58 by 2·10^5 steps; at 0.001 all three rose (training 137 → 221, evaluation 258–264).
    "harpg": {"classic": {**_CLASSIC_PG, "lr": 0.05}, "control": {"lr": 0.001}, "locomotion": {"lr": 0.001},
              "tabular": {"lr": 10.0}, "minatar": {**_CLASSIC_PG, "lr": 0.05}},
    "n_harpg": {"classic": {**_CLASSIC_PG, "lr": 0.2}, "tabular": {"lr": 1.0}, "minatar": {**_CLASSIC_PG, "lr": 0.2}},
    "sharp": {"classic": {**_CLASSIC_PG, "lr": 0.1}, "tabular": {"lr": 1.0}, "minatar": {**_CLASSIC_PG, "lr": 0.1}},
    "ppo": {"locomotion": _LOCOMOTION_PPO},
    "wpo_deep": {"locomotion": _LOCOMOTION_WPO},
    "spo_deep": {"locomotion": {**_LOCOMOTION_WPO, "delta": 0.05}},
    "nac": {"classic": _NAC_ROLLOUTS, "minatar": _NAC_ROLLOUTS},
}


def family(env) -> str:
    """The env's family: "classic", "control", "locomotion", "tabular" or "minatar"."""
    return getattr(env, "family", "classic")


def env_defaults(name: str, env) -> dict:
    """The Config fields ENV_DEFAULTS sets for agent `name` on `env`'s family."""
    get(name)
    return dict(ENV_DEFAULTS.get(name, {}).get(family(env), {}))


def get(name: str) -> ModuleType:
    """The agent module registered under `name`; ValueError naming close choices."""
    if name not in AGENTS:
        close = difflib.get_close_matches(name, list(AGENTS), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"choose from {', '.join(sorted(AGENTS))}"
        raise ValueError(f"unknown agent {name!r}; {hint}")
    return importlib.import_module(f"rlx.agents.{AGENTS[name][0]}")


def config(name: str, env=None):
    """The default Config of agent `name`, with that name's presets and, given
    an env, the defaults of its family (ENV_DEFAULTS)."""
    fields = dict(AGENTS[name][1]) if name in AGENTS else {}
    if env is not None:
        fields.update(env_defaults(name, env))
    return get(name).Config(**fields)


def names() -> list[str]:
    return sorted(AGENTS)
