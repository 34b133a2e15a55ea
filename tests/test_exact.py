"""The oracle checks itself: its J against the env's sampled returns, its
infinite horizon against a long finite one, its gradient against finite
differences, its optimum against every deterministic policy."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import z_scores

from rlx import exact
from rlx.envs import tabular
from rlx.envs.tabular import RIGHT, TabularEnv, cliff_walking, gridworld, random_mdp
from rlx.policies import make_policy
from rlx.rollout import collect_episodes

Z_MAX = 4.0


def _random_probs(key, S, A):
    return jax.nn.softmax(jax.random.normal(key, (S, A)))


@pytest.mark.parametrize(
    "mdp",
    [
        random_mdp(jax.random.key(3), 4, 3, 0.9, 8),
        gridworld(["S.C.", ".#.G", "..H."], slip=0.2, discount=0.95, horizon=12),
    ],
    ids=["random", "gridworld"],
)
def test_exact_J_matches_sampled_returns(mdp):
    env = TabularEnv(mdp)
    policy = make_policy(env)
    params = jax.tree.map(lambda x: jax.random.normal(jax.random.key(1), x.shape), policy.init(jax.random.key(0)))
    traj = jax.jit(lambda k: collect_episodes(k, env, mdp, policy.actor(params), 20_000, mdp.horizon))(jax.random.key(2))
    disc = mdp.discount ** jnp.arange(mdp.horizon)
    returns = np.asarray(jnp.sum(traj.reward * traj.mask * disc, -1))[:, None]
    probs = policy.probs_table(params, mdp.num_states)
    J = exact.J(mdp, probs)
    z = z_scores(returns, np.array([J]))
    assert abs(z[0]) < Z_MAX
    # The occupancy measure against discounted visit counts, per (s, a).
    visits = jax.nn.one_hot(traj.obs * mdp.num_actions + traj.action, mdp.num_states * mdp.num_actions)
    counts = np.asarray(jnp.sum(visits * (traj.mask * disc)[..., None], axis=1))
    lam = np.asarray(exact.occupancy(mdp, probs)).reshape(-1)
    assert np.max(np.abs(z_scores(counts, lam))) < Z_MAX
    # Power: the same check rejects the value of another policy.
    J_uniform = exact.J(mdp, jnp.full((mdp.num_states, mdp.num_actions), 1.0 / mdp.num_actions))
    assert abs(z_scores(returns, np.array([J_uniform]))[0]) > Z_MAX


def test_infinite_horizon_is_the_limit_of_finite_horizons():
    mdp = random_mdp(jax.random.key(0), 5, 2, 0.8, 10)
    probs = _random_probs(jax.random.key(1), 5, 2)
    J_inf = exact.J(mdp, probs, horizon=None)
    J_long = exact.J(mdp, probs, horizon=200)
    np.testing.assert_allclose(J_inf, J_long, rtol=1e-5)
    assert exact.J(mdp, probs, horizon=5) < J_inf  # rewards are positive
    # V = Σ_a π Q at the start distribution.
    q = exact.q_values(mdp, probs)
    np.testing.assert_allclose(jnp.dot(mdp.init, jnp.sum(probs * q, -1)), J_inf, rtol=1e-5)


def test_occupancy_of_a_deterministic_path():
    # S . G with 'right' always: visits (0, right) at t=0 and (1, right) at t=1.
    mdp = gridworld(["S.G"], discount=0.5, horizon=10)
    probs = jax.nn.one_hot(jnp.full(3, RIGHT), 4)
    lam = np.asarray(exact.occupancy(mdp, probs))
    expected = np.zeros((3, 4))
    expected[0, RIGHT], expected[1, RIGHT] = 1.0, 0.5
    np.testing.assert_allclose(lam, expected, atol=1e-7)
    np.testing.assert_allclose(exact.J(mdp, probs), -1.0 + 0.5 * -1.0, rtol=1e-6)


def test_occupancy_mass_and_terminal_states():
    mdp = cliff_walking(discount=1.0, horizon=30)
    probs = jnp.full((mdp.num_states, 4), 0.25)
    lam = exact.occupancy(mdp, probs)
    # Undiscounted occupancy sums to the expected episode length (≤ H) ...
    assert 0 < float(jnp.sum(lam)) <= 30 + 1e-4
    # ... and never visits the goal (terminal) or the cliff cells.
    assert float(jnp.sum(lam[jnp.asarray(mdp.terminal)])) == 0.0
    assert float(jnp.sum(lam[37:47])) == 0.0


def test_grad_and_hvp_match_finite_differences():
    mdp = random_mdp(jax.random.key(4), 3, 2, 0.9, 6)
    theta = jax.random.normal(jax.random.key(5), (3, 2))
    v = jax.random.normal(jax.random.key(6), (3, 2))
    probs_fn = jax.nn.softmax
    J = lambda th: exact.J(mdp, probs_fn(th))
    eps = 1e-2
    fd = (J(theta + eps * v) - J(theta - eps * v)) / (2 * eps)
    np.testing.assert_allclose(jnp.vdot(exact.grad_J(mdp, probs_fn, theta), v), fd, rtol=2e-3)
    g = lambda th: exact.grad_J(mdp, probs_fn, th)
    fd_hvp = (g(theta + eps * v) - g(theta - eps * v)) / (2 * eps)
    np.testing.assert_allclose(exact.hvp_J(mdp, probs_fn, theta, v), fd_hvp, rtol=2e-2, atol=2e-4)


def test_q_values_with_terminal_states():
    mdp = gridworld(["S.G", "..H"], slip=0.2, goal_reward=3.0, discount=0.9, horizon=50)
    probs = _random_probs(jax.random.key(2), mdp.num_states, 4)
    q = exact.q_values(mdp, probs)
    np.testing.assert_allclose(q[np.asarray(mdp.terminal)], 0.0)
    v = jnp.sum(probs * q, -1)
    np.testing.assert_allclose(jnp.dot(mdp.init, v), exact.J(mdp, probs, horizon=None), rtol=1e-5)
    # The Bellman equation, with no value after entering a terminal state.
    alive = 1.0 - mdp.terminal
    bellman = exact.expected_reward(mdp) + 0.9 * jnp.einsum("sat,t->sa", mdp.P, v * alive)
    np.testing.assert_allclose((q - bellman)[~np.asarray(mdp.terminal)], 0.0, atol=1e-4)


def test_optimal_J_is_exact_for_short_horizons():
    mdp = random_mdp(jax.random.key(8), 2, 2, 0.7, 1)
    # H = 1: the best first action in each start state.
    np.testing.assert_allclose(
        exact.optimal_J(mdp), jnp.dot(mdp.init, jnp.max(exact.expected_reward(mdp), -1)), rtol=1e-6
    )
    # H = 3: brute force over every time-dependent deterministic policy.
    r, P = np.asarray(exact.expected_reward(mdp)), np.asarray(mdp.P)
    best = -np.inf
    for plan in itertools.product(itertools.product(range(2), repeat=2), repeat=3):
        d, total = np.asarray(mdp.init, np.float64), 0.0
        for t, actions in enumerate(plan):
            pi = np.eye(2)[list(actions)]
            total += 0.7**t * np.sum(d[:, None] * pi * r)
            d = np.einsum("s,sa,sat->t", d, pi, P)
        best = max(best, total)
    np.testing.assert_allclose(exact.optimal_J(mdp, horizon=3), best, rtol=1e-5)


def test_optimal_J_bounds_every_deterministic_policy():
    mdp = random_mdp(jax.random.key(7), 3, 2, 0.9, 5)
    best = max(
        float(exact.J(mdp, jax.nn.one_hot(jnp.array(actions), 2)))
        for actions in itertools.product(range(2), repeat=3)
    )
    # Infinite horizon: a stationary deterministic policy is optimal.
    best_inf = max(
        float(exact.J(mdp, jax.nn.one_hot(jnp.array(actions), 2), horizon=None))
        for actions in itertools.product(range(2), repeat=3)
    )
    np.testing.assert_allclose(exact.optimal_J(mdp, horizon=None), best_inf, rtol=1e-4)
    assert float(exact.optimal_J(mdp)) >= best - 1e-5


def test_policy_evaluation_solve_equals_numpy_without_lapack():
    """rlx.exact solves (I − γP_π) v = r by elimination in jnp: equal to
    numpy's LAPACK solve, and its vmapped program holds no LAPACK call (two
    at once deadlock a 2-core CPU)."""
    mdp = tabular.random_mdp(jax.random.key(7), num_states=30, num_actions=4, discount=0.99)
    probs = jax.nn.softmax(jax.random.normal(jax.random.key(8), (30, 4)), -1)
    P_pi = np.einsum("sa,sat->st", np.asarray(probs, np.float64), np.asarray(mdp.P, np.float64))
    r_pi = np.sum(np.asarray(probs, np.float64) * np.asarray(exact.expected_reward(mdp), np.float64), -1)
    v = np.linalg.solve(np.eye(30) - 0.99 * P_pi, r_pi)
    q = np.asarray(exact.expected_reward(mdp), np.float64) + 0.99 * np.einsum("sat,t->sa", np.asarray(mdp.P), v)
    np.testing.assert_allclose(exact.q_values(mdp, probs), q, rtol=1e-4, atol=1e-3)
    d = np.linalg.solve((np.eye(30) - 0.99 * P_pi).T, np.asarray(mdp.init, np.float64))
    np.testing.assert_allclose(exact.occupancy(mdp, probs, horizon=None).sum(-1), d, rtol=1e-4, atol=1e-4)
    both = jax.vmap(lambda p: (exact.q_values(mdp, p), exact.occupancy(mdp, p, horizon=None)))
    assert "lapack" not in jax.jit(both).lower(jnp.stack([probs, probs])).as_text().lower()
