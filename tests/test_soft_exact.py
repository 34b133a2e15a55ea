"""Entropy-regularised oracle (for NAC): soft Q of a policy,
soft value iteration's optimum, and their consistency."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rlx import exact
from rlx.envs import tabular


def test_soft_oracle_is_consistent():
    mdp = tabular.random_mdp(jax.random.key(3), num_states=5, num_actions=3, discount=0.8)
    lam = 0.3
    probs = jax.nn.softmax(jax.random.normal(jax.random.key(4), (5, 3)), -1)
    # λ = 0 is the plain Q
    np.testing.assert_allclose(exact.soft_q_values(mdp, probs, 0.0), exact.q_values(mdp, probs), rtol=1e-5)
    # the optimum is a fixed point of soft policy iteration: softmax(Q_λ^{π*}/λ) = π*
    star = exact.soft_optimal_policy(mdp, lam, iterations=500)
    again = jax.nn.softmax(exact.soft_q_values(mdp, star, lam) / lam, -1)
    np.testing.assert_allclose(again, star, atol=1e-5)
    # and it beats random policies on the regularised value, not on the plain one necessarily
    best = float(exact.soft_J(mdp, star, lam))
    for seed in range(5):
        other = jax.nn.softmax(jax.random.normal(jax.random.key(10 + seed), (5, 3)), -1)
        assert float(exact.soft_J(mdp, other, lam)) < best
    # a planted error (the entropy's sign) breaks the fixed point
    wrong = jax.nn.softmax(exact.soft_q_values(mdp, star, -lam) / lam, -1)
    assert float(jnp.abs(wrong - star).max()) > 1e-2
