"""The agent contract (rlx.agent): every registered agent keeps it, a module
that breaks it is refused when registered, and a new agent is one file and
one registry line: the uniform-random toy agent (tests/uniform_agent.py)
runs through the runner, a sweep and a resume included."""

from __future__ import annotations

import json
import os
import types

import numpy as np
import pytest

import uniform_agent
from rlx import agents
from rlx.agent import Agent, ContractError, check
from rlx.runner.main import main


def _rows(folder):
    with open(os.path.join(folder, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def _broken(**changes) -> types.ModuleType:
    """uniform_agent with some members replaced (None: removed)."""
    module = types.ModuleType("broken_agent")
    module.__dict__.update({k: v for k, v in vars(uniform_agent).items() if not k.startswith("__")})
    for name, value in changes.items():
        if value is None:
            del module.__dict__[name]
        else:
            setattr(module, name, value)
    return module


@pytest.fixture
def uniform(monkeypatch):
    monkeypatch.setitem(agents.AGENTS, "uniform", uniform_agent)
    agents.register("uniform", uniform_agent)
    return uniform_agent


def test_every_registered_agent_keeps_the_contract():
    for name in agents.names():
        module = agents.get(name)  # checked on first use
        assert isinstance(module, Agent), name
        assert module.METRICS[0] == "episode_return", name
        assert name in module.PRESETS, name


@pytest.mark.parametrize("changes, message", [
    ({"act": None}, "lacks act"),
    ({"METRICS": ("transitions",)}, "METRICS must start with 'episode_return'"),
    ({"PRESETS": {"other": {}}}, "PRESETS has no entry 'uniform'"),
    ({"update": lambda state, key, env, config: None}, "update must take (key, state, env, config"),
    ({"act": lambda state, key, obs, env, config, deterministic=True: None}, "act must take (key, state, obs"),
    ({"Config": dict}, "Config must be a flax.struct dataclass"),
])
def test_a_module_that_breaks_the_contract_is_refused_at_registration(changes, message):
    with pytest.raises(ContractError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check(_broken(**changes), "uniform")


def test_an_update_without_a_promised_metric_is_one_line_before_compiling(monkeypatch, tmp_path, capsys):
    module = _broken(METRICS=("episode_return", "transitions", "scale", "never_returned"))
    monkeypatch.setitem(agents.AGENTS, "lying", module)
    module.PRESETS = {"lying": {}}
    out = tmp_path / "run"
    assert main(["agent=lying", "env=cartpole", "seeds=1", "total_steps=64", f"out={out}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "update returns no never_returned (promised in METRICS)" in err, err
    assert not out.exists()


def test_a_registered_toy_agent_runs_sweeps_and_resumes_through_the_runner(uniform, tmp_path):
    job = ["agent=uniform", "env=cartpole", "seeds=2", "log_every=2", "eval_every=0", "sweep.agent.scale=[1.0,2.0]"]
    whole, extended = tmp_path / "whole", tmp_path / "extended"
    assert main(job + ["total_steps=640", f"out={whole}"]) == 0
    rows = _rows(whole)
    # 640 steps / 64 an update = 10 iterations, logged for 2 sweep points × 2 seeds
    assert len(rows) == 10 * 2 * 2
    assert {r["iteration"] for r in rows} == set(range(10))
    assert all(r["scale"] == r["agent.scale"] for r in rows) and {r["agent.scale"] for r in rows} == {1.0, 2.0}
    # a uniform policy on cartpole lasts about 22 steps (constant actions: about 9)
    finished = [r["episode_return"] for r in rows if r["iteration"] >= 4]
    assert 15.0 < np.mean(finished) < 30.0, np.mean(finished)
    # a shorter run, resumed to the full budget, writes the same rows
    assert main(job + ["total_steps=320", f"out={extended}"]) == 0
    assert len(_rows(extended)) < len(rows)
    assert main([f"resume={extended}", "total_steps=640"]) == 0
    assert _rows(extended) == rows
