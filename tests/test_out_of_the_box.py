"""Every agent runs with its defaults: the env-family defaults are valid
Config fields and are applied and recorded by the runner, and the headline
command `agent=harpg env=hopper` stays finite at its defaults (its learning
is measured by experiments/matrix.py, not asserted: at 2·10⁵ steps and
3 seeds every seed's evaluation rose, by 2.7 standard errors only)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlx import agents
from rlx.envs import make
from rlx.run import main

FAMILIES = {"classic": "cartpole", "control": "pendulum", "locomotion": "hopper", "tabular": "random_mdp",
            "minatar": "breakout"}


def test_env_defaults_name_real_fields_of_real_agents():
    for name, by_family in agents.ENV_DEFAULTS.items():
        fields = set(agents.get(name).Config.__dataclass_fields__)
        for fam, values in by_family.items():
            assert fam in FAMILIES, (name, fam)
            assert set(values) <= fields, (name, fam, set(values) - fields)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_env_families(family):
    assert agents.family(make(FAMILIES[family])) == family


def test_user_overrides_win_over_env_defaults(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["agent=gpomdp", "env=cartpole", "seeds=1", "total_steps=400", "agent.batch_steps=200",
                 "agent.horizon=50", f"out={out}"]) == 0
    printed = capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    classic = agents.ENV_DEFAULTS["gpomdp"]["classic"]
    assert config["agent"]["lr"] == classic["lr"] and config["env_family"] == "classic"
    assert config["env_defaults"] == {f"agent.{k}": v for k, v in classic.items()}
    assert "defaults for classic envs: " + " ".join(f"agent.{k}={v}" for k, v in classic.items()) in printed
    out2 = tmp_path / "r2"
    assert main(["agent=gpomdp", "env=cartpole", "seeds=1", "total_steps=400", "agent.batch_steps=200",
                 "agent.horizon=50", "agent.lr=0.07", f"out={out2}"]) == 0
    config = json.loads((out2 / "config.json").read_text())
    assert config["agent"]["lr"] == 0.07 and "agent.lr" not in config["env_defaults"]


def test_harpg_on_hopper_at_its_defaults_stays_finite(tmp_path):
    # The README's headline command for a few iterations (whole episodes until
    # ≥ 1,000 steps, the Hessian batch from t = 1): no NaN, no exit 3.
    out = tmp_path / "h"
    assert main(["agent=harpg", "env=hopper", "seeds=2", "total_steps=4000", "log_every=2", "eval_every=0",
                 f"out={out}"]) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 4
    assert all(np.isfinite(v) for r in rows for v in r.values() if isinstance(v, float))
    assert all(r["transitions"] >= 1000 for r in rows)
    config = json.loads((out / "config.json").read_text())
    assert config["agent"]["lr"] == agents.ENV_DEFAULTS["harpg"]["locomotion"]["lr"]
    assert config["agent"]["batch_steps"] == 1000 and config["agent"]["weight_init"] == "xavier"  # the official code's
