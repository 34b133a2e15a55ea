"""WPO/SPO/KL closed forms (rlx.agents.shared.trust): the dual's β against a brute-force grid,
SPO → WPO as λ grows, and exact-advantage WPO improving J at every step."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from rlx.envs import tabular

from rlx import exact
from rlx.agents.shared import trust


def _problem(seed, num_states=4, num_actions=5):
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    probs = jax.nn.softmax(jax.random.normal(k1, (num_states, num_actions)), -1)
    adv = jax.random.normal(k2, (num_states, num_actions))
    weights = jax.random.dirichlet(k3, jnp.ones(num_states))
    return probs, adv, weights


@pytest.mark.parametrize("cost_name", ["zero_one", "index"])
def test_wpo_beta_is_the_grid_minimum_of_the_dual(cost_name):
    for seed in range(3):
        probs, adv, weights = _problem(seed)
        cost = trust.zero_one_cost(5) if cost_name == "zero_one" else trust.index_cost(5)
        delta = 0.1
        beta = trust.wpo_beta(probs, adv, cost, weights, delta)
        grid = jnp.linspace(0.0, float(trust._beta_max(adv, cost)), 40001)
        values = jax.vmap(lambda b: trust.wpo_dual(b, probs, adv, cost, weights, delta))(grid)
        best = float(jnp.min(values))
        found = float(trust.wpo_dual(beta, probs, adv, cost, weights, delta))
        assert found <= best + 1e-5, (found, best)
        assert abs(float(beta) - float(grid[jnp.argmin(values)])) < 1e-3
        # power: the dual without δ (a planted slip) has another minimiser, worse for the true dual
        wrong = trust.wpo_beta(probs, adv, cost, weights, 0.0)
        assert float(trust.wpo_dual(wrong, probs, adv, cost, weights, delta)) > best + 1e-5


def test_spo_beta_is_the_grid_minimum_of_the_dual():
    probs, adv, weights = _problem(4)
    cost, delta, lam = trust.zero_one_cost(5), 0.1, 5.0
    beta = trust.spo_beta(probs, adv, cost, weights, delta, lam)
    grid = jnp.linspace(1e-3, 4 * float(beta), 40001)
    values = jax.vmap(lambda b: trust.spo_dual(b, probs, adv, cost, weights, delta, lam))(grid)
    assert float(trust.spo_dual(beta, probs, adv, cost, weights, delta, lam)) <= float(jnp.min(values)) + 1e-5
    assert abs(float(beta) - float(grid[jnp.argmin(values)])) < 1e-3 * float(beta) * 4
    # warm starts (deep SPO's: WARM_STEPS log-bisections from the last β) find the same β from near, far and
    # on the wrong side, to the search's 1e-4; a warm search with 2 steps (planted) does not
    for start in (1.1 * float(beta), 0.01 * float(beta), 300.0 * float(beta)):
        warm = trust.spo_beta(probs, adv, cost, weights, delta, lam, jnp.asarray(start), trust.WARM_STEPS)
        assert abs(float(warm) / float(beta) - 1.0) < 1e-4, (start, float(warm), float(beta))
    rough = trust.spo_beta(probs, adv, cost, weights, delta, lam, jnp.asarray(1.1 * float(beta)), 2)
    assert abs(float(rough) / float(beta) - 1.0) > 1e-3


def test_kl_beta_is_the_grid_minimum_and_spends_delta():
    probs, adv, weights = _problem(6)
    delta = 0.05
    beta = trust.kl_beta(probs, adv, weights, delta)
    grid = jnp.linspace(1e-2, 4 * float(beta), 40001)
    values = jax.vmap(lambda b: trust.kl_dual(b, probs, adv, weights, delta))(grid)
    assert float(trust.kl_dual(beta, probs, adv, weights, delta)) <= float(jnp.min(values)) + 1e-5
    assert abs(float(beta) - float(grid[jnp.argmin(values)])) < 1e-3 * float(beta) * 4
    # the constraint is active at β*: E_w KL(π_{k+1} ‖ π_k) = δ; β twice as large spends less
    def spent(b):
        new = trust.kl_update(probs, adv, b)
        return float(jnp.sum(weights * jnp.sum(new * (jnp.log(new) - jnp.log(probs)), -1)))
    assert abs(spent(beta) - delta) < 1e-4 * delta * 10, spent(beta)
    assert spent(2 * beta) < 0.5 * delta


def test_wpo_ties_keep_the_mass_in_place():
    """At β = 0 a state with equal advantages (an unvisited state of a sampled
    batch) keeps its policy; strict improvements still move."""
    probs = jnp.asarray([[0.2, 0.3, 0.5], [0.2, 0.3, 0.5]])
    adv = jnp.asarray([[0.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    new = trust.wpo_update(probs, adv, trust.zero_one_cost(3), 0.0)
    np.testing.assert_allclose(new, [[0.2, 0.3, 0.5], [0.0, 0.5, 0.5]], atol=1e-7)


def test_spo_approaches_wpo_as_lambda_grows():
    probs, adv, _ = _problem(5)
    cost, beta = trust.index_cost(5), 0.3
    target = trust.wpo_update(probs, adv, cost, beta)
    distance = [float(jnp.abs(trust.spo_update(probs, adv, cost, beta, lam) - target).sum())
                for lam in (1.0, 10.0, 100.0, 1000.0)]
    assert all(a > b for a, b in zip(distance, distance[1:])), distance
    assert distance[-1] < 1e-3 and distance[0] > 0.1, distance
    np.testing.assert_allclose(target.sum(-1), 1.0, rtol=1e-6)


def _wpo_run(mdp, sign=1.0, iterations=20):
    """J of exact-advantage WPO iterates; sign = −1 plants a flipped advantage."""
    cost = trust.zero_one_cost(4)
    probs = jnp.full((6, 4), 0.25)
    values = [float(exact.J(mdp, probs, horizon=None))]
    for _ in range(iterations):
        q = exact.q_values(mdp, probs)
        adv = sign * (q - jnp.sum(probs * q, -1, keepdims=True))
        weights = exact.occupancy(mdp, probs, horizon=None).sum(-1)
        probs, _ = trust.wpo_step(probs, adv, cost, weights, 1.0)
        values.append(float(exact.J(mdp, probs, horizon=None)))
    return values


@pytest.mark.parametrize("seed", range(4))
def test_wpo_with_exact_advantages_improves_every_iteration(seed):
    mdp = tabular.random_mdp(jax.random.key(seed), num_states=6, num_actions=4, discount=0.9)
    values = _wpo_run(mdp)
    steps = np.diff(values)
    assert np.all(steps >= -1e-6), values
    if seed == 0:  # power: a flipped advantage makes J fall
        assert np.any(np.diff(_wpo_run(mdp, sign=-1.0, iterations=3)) < -1e-3)
    optimum = float(exact.optimal_J(mdp, horizon=None))
    assert values[-1] > values[0] + 0.5 * (optimum - values[0]), (values, optimum)
