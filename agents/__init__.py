"""rlx agents: one module an algorithm, each with `Config`, `init`, `update`,
`act` and `env_steps_per_update` (see DESIGN.md, "Agent contract").

    from rlx.agents import harpg
    config = rlx.agents.config("n_harpg")  # harpg.Config(normalized=True, lr=0.1)
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
    "nac": ("nac", {}),  # tabular, generative-model sampler
    # NAC on other discrete-action envs (rollouts): a narrower network, short SGD loops, λ 0.05, η 10 (tuned on cartpole)
    "nac_rollouts": ("nac", {"width": 256, "critic_steps": 200, "natural_steps": 200, "num_envs": 8, "num_steps": 64,
                             "actor_lr": 10.0, "temperature": 0.05, "critic_lr": 1.0}),
    "hyperagent": ("hyperagent", {}),
    "dqn": ("hyperagent", {"exploration": "epsilon"}),  # ε-greedy double DQN
    "pgp": ("pgp", {}),  # tabular: constrained occupancy-entropy exploration
    "pdpg": ("pdpg", {}),  # its primal-dual baseline
    "pgp_deep": ("pgp_deep", {}),  # continuous: Gaussian-mixture occupancy density
    "wpo_deep": ("wpo_deep", {}),  # networks; continuous actions discretised per dimension
    "spo_deep": ("wpo_deep", {"method": "spo", "delta": 0.05}),
    # Brax's PPO for locomotion (brax/training/agents/ppo with its published hopper settings: γ 0.97, lr 3e-4,
    # reward × 10, obs normalisation, 4 epochs), with 128 envs × 32 steps in 8 minibatches for a CPU
    "ppo_brax": ("ppo", {"num_envs": 128, "num_steps": 32, "minibatches": 8, "lr": 3e-4, "discount": 0.97,
                         "reward_scale": 10.0, "normalize_obs": True}),
    # deep WPO/SPO on locomotion: ppo_brax's batch, discount and observation normalisation, 11 bins an action dimension
    "wpo_brax": ("wpo_deep", {"num_envs": 128, "num_steps": 32, "minibatches": 8, "lr": 3e-4, "discount": 0.97,
                              "normalize_obs": True}),
    "spo_brax": ("wpo_deep", {"method": "spo", "delta": 0.05, "num_envs": 128, "num_steps": 32, "minibatches": 8,
                              "lr": 3e-4, "discount": 0.97, "normalize_obs": True}),
}


def get(name: str) -> ModuleType:
    """The agent module registered under `name`; ValueError naming close choices."""
    if name not in AGENTS:
        close = difflib.get_close_matches(name, list(AGENTS), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"choose from {', '.join(sorted(AGENTS))}"
        raise ValueError(f"unknown agent {name!r}; {hint}")
    return importlib.import_module(f"rlx.agents.{AGENTS[name][0]}")


def config(name: str):
    """The default Config of agent `name`, with that name's presets."""
    return get(name).Config(**AGENTS[name][1])


def names() -> list[str]:
    return sorted(AGENTS)
