"""rlx agents: one module an algorithm, each with `Config`, `init`, `update`,
`act` and `env_steps_per_update` (see DESIGN.md, "Agent contract").

    from rlx.agents import gpomdp
"""

from __future__ import annotations

import difflib
import importlib
from types import ModuleType

# name -> module under rlx.agents; imported on first use.
AGENTS = {
    "gpomdp": "gpomdp",
}


def get(name: str) -> ModuleType:
    """The agent module registered under `name`; ValueError naming close choices."""
    if name not in AGENTS:
        close = difflib.get_close_matches(name, list(AGENTS), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"choose from {', '.join(sorted(AGENTS))}"
        raise ValueError(f"unknown agent {name!r}; {hint}")
    return importlib.import_module(f"rlx.agents.{AGENTS[name]}")


def names() -> list[str]:
    return sorted(AGENTS)
