"""Tabular WPO/SPO agents: exact-advantage runs reach the
optimum of CliffWalking (WPO never getting worse); the default sampled
advantages reach near the optimum of NChain."""

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
    config = agents.config(name).replace(advantages="exact", **changes)
    _, metrics = jax.jit(make_train(wpo, env, config, num_iterations=30))(jax.random.key(0))
    J = np.asarray(metrics["J"])
    assert J[0] < optimum - 20  # far from the optimum after one step
    assert abs(J[-1] - optimum) < 0.05, (J[-1], optimum)
    if name == "wpo":  # WPO with exact advantages never gets worse
        assert np.all(np.diff(J) >= -1e-3), J


def test_sampled_advantages_reach_near_the_optimum_of_nchain():
    """The default agent with one episode an iteration as the authors' NChain
    run (sampled advantages of one 1000-step episode, δ = 0.1): within 1.0 of the optimum 25.50 after 100 iterations
    on every seed (measured 25.06–25.47), from the uniform policy's 12.05;
    vanilla PG on the same samples reaches 14.4 (experiments/wpo)."""
    env = make("nchain")
    optimum = float(exact.optimal_J(env.default_params, horizon=None))
    config = agents.config("wpo").replace(num_envs=1)
    _, metrics = jax.jit(jax.vmap(make_train(wpo, env, config, num_iterations=100)))(
        jax.random.split(jax.random.key(0), 4))
    J = np.asarray(metrics["J"])
    assert np.all(J[:, 0] < optimum - 5), J[:, 0]
    assert np.all(J[:, -1] > optimum - 1.0), (J[:, -1], optimum)
