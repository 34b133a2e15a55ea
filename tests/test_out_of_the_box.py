"""Every agent runs with its defaults: the env-family defaults are valid
Config fields and are applied and recorded by the runner, and the headline
command `agent=harpg env=hopper` stays finite at its defaults (its learning
is a slow test)."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from rlx import agents
from rlx.envs import make
from rlx.run import main
from rlx.train import evaluate, init_carry, make_train

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


@pytest.mark.slow
def test_harpg_on_hopper_learns_at_its_defaults():
    """2·10⁵ env steps, 4 seeds: the deterministic (mean-action) evaluation
    return rises by more than 4 standard errors of the per-seed differences."""
    env = make("hopper")
    harpg, config = agents.get("harpg"), agents.config("harpg", env)
    iterations = 200_000 // harpg.env_steps_per_update(env, config)

    def before_and_after(key):
        start = init_carry(harpg, env, config, key).state
        final, _ = make_train(harpg, env, config, iterations)(key)
        eval_key = jax.random.fold_in(key, 1)
        return [evaluate(harpg, env, config, s, eval_key, 5, 1000)["eval_return"] for s in (start, final)]

    before, after = np.asarray(jax.jit(jax.vmap(before_and_after))(jax.random.split(jax.random.key(0), 4)))
    diff = after - before
    assert diff.mean() > 4 * diff.std(ddof=1) / 2, (before, after)
