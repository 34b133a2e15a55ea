"""NAC [WIP, issue 6]: on a small tabular MDP with one-hot features the
policy approaches the optimal entropy-regularised policy (soft value
iteration, rlx.exact), closer for a wider network."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from rlx import agents, exact
from rlx.agents import nac
from rlx.envs import tabular
from rlx.train import make_train


@pytest.fixture(scope="module")
def distances():
    mdp = tabular.random_mdp(jax.random.key(1), num_states=4, num_actions=3, discount=0.8)
    env = tabular.TabularEnv(mdp)
    out = {}
    for width in (128, 2048):
        config = agents.config("nac").replace(width=width)
        star = exact.soft_optimal_policy(mdp, config.temperature, 1000)
        state, metrics = jax.jit(make_train(nac, env, config, 10))(jax.random.key(0))
        probs = nac.probs_table(state.theta, 4, 3)
        out[width] = (float(jnp.abs(probs - star).max()), metrics, float(exact.soft_J(mdp, star, config.temperature)))
    return out


def test_starts_uniform():
    state = nac.init(jax.random.key(0), tabular.TabularEnv(tabular.random_mdp(jax.random.key(1), 4, 3)),
                     agents.config("nac").replace(width=64))
    assert float(jnp.abs(nac.probs_table(state.theta, 4, 3) - 1 / 3).max()) < 1e-6


def test_approaches_the_soft_optimum_closer_when_wider(distances):
    wide, metrics, optimum = distances[2048]
    assert wide < 0.03, wide
    assert abs(float(metrics["soft_J"][-1]) - optimum) < 0.01
    assert float(metrics["critic_error"][-1]) < 0.05
    assert distances[128][0] > 1.5 * wide, (distances[128][0], wide)
