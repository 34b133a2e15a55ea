"""Tabular WPO/SPO agents [WIP, issue 6]: exact-advantage runs reach the
optimum of CliffWalking; sampled advantages improve J."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from rlx import agents, exact
from rlx.agents import wpo
from rlx.envs import make
from rlx.train import make_train


@pytest.fixture(scope="module")
def cliff():
    env = make("cliffwalking")
    return env, float(exact.optimal_J(env.default_params, horizon=None))


@pytest.mark.parametrize("name,changes", [
    ("wpo", {"beta_schedule": "decay", "beta": 1.0}),
    ("wpo", {"delta": 1.0}),
    ("spo", {}),
])
def test_exact_advantages_reach_the_optimum(cliff, name, changes):
    env, optimum = cliff
    config = agents.config(name).replace(**changes)
    _, metrics = jax.jit(make_train(wpo, env, config, num_iterations=30))(jax.random.key(0))
    J = np.asarray(metrics["J"])
    assert J[0] < optimum - 20  # far from the optimum after one step
    assert abs(J[-1] - optimum) < 0.05, (J[-1], optimum)
    if name == "wpo":  # WPO with exact advantages never gets worse
        assert np.all(np.diff(J) >= -1e-3), J


def test_sampled_advantages_improve(cliff):
    env, optimum = cliff
    config = agents.config("wpo").replace(advantages="sampled", beta_schedule="decay", beta=1.0)
    _, metrics = jax.jit(jax.vmap(make_train(wpo, env, config, num_iterations=30)))(
        jax.random.split(jax.random.key(0), 2))
    J = np.asarray(metrics["J"])
    mdp = env.default_params
    uniform = float(exact.J(mdp, np.full((mdp.num_states, mdp.num_actions), 0.25, np.float32), horizon=None))
    assert np.all(J[:, -1] > uniform + 100), (uniform, J[:, -1])
