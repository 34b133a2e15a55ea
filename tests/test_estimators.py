"""GPOMDP, REINFORCE and B·v against the exact oracle (rlx.exact).

Each estimator is sampled M times (batches of N episodes) on small random
tabular MDPs; the mean must lie within 4 standard errors of the exact value on
every coordinate.  Each test also plants a known bug and requires the same
check to reject it, which proves the test has the power to fail.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import flat, hvp_terms, z_scores

from rlx import exact
from rlx.envs.tabular import TabularEnv, gridworld, random_mdp
from rlx.estimators import (
    hessian_vector_product,
    official_hessian_vector_product,
    official_policy_gradient,
    policy_gradient,
    rewards_to_go,
    score_weights,
)
from rlx.policies import make_policy
from rlx.rollout import collect_episodes

NUM_STATES, NUM_ACTIONS, HORIZON, DISCOUNT = 4, 3, 6, 0.9
MDP_SEEDS = (0, 1, 2, "grid")
BATCHES, EPISODES = 20_000, 4  # M estimates, each the mean of N episodes
Z_MAX = 4.0


# A gridworld with slip, a hole and a goal (terminal states), time limit 5,
# sampled with a rollout horizon of 8: episodes end inside the batch, by
# termination or by the time limit, and the masks must account for both.
GRID = ["S.H", ".#.", "..G"]
GRID_ROLLOUT_HORIZON = 8


def _problem(seed: int):
    if seed == "grid":
        mdp = gridworld(GRID, slip=0.3, goal_reward=5.0, discount=0.9, horizon=5)
    else:
        mdp = random_mdp(jax.random.key(seed), NUM_STATES, NUM_ACTIONS, DISCOUNT, HORIZON)
    env = TabularEnv(mdp)
    policy = make_policy(env)
    k1, k2 = jax.random.split(jax.random.key(100 + (7 if seed == "grid" else seed)))
    params = jax.tree.map(lambda x: jax.random.normal(k1, x.shape), policy.init(k1))
    v = jax.tree.map(lambda x: jax.random.normal(k2, x.shape), params)
    return mdp, env, policy, params, v


def _planted_gpomdp(logp_fn, params, traj, discount):
    """Bug: rewards-to-go discounted from h (γ^{t−h}) instead of from 0 (γ^t)."""
    horizon = traj.reward.shape[-1]
    t = jnp.arange(horizon)
    weights = discount ** jnp.maximum(t[None, :] - t[:, None], 0) * (t[None, :] >= t[:, None])
    G = jnp.einsum("ht,nt->nh", weights, traj.reward * traj.mask)
    return jax.grad(lambda p: jnp.mean(jnp.sum(jax.lax.stop_gradient(G) * logp_fn(p), -1)))(params)


def _of_batch_means(logp_fn, params, traj, discount, v):
    """The bug's cross term: (mean_n ∇Φ_n)(mean_n ⟨∇log p(τ_n), v⟩)."""
    G = rewards_to_go(traj.reward, traj.mask, discount)
    _, c = jax.jvp(lambda p: jnp.sum(traj.mask * logp_fn(p), -1), (params,), (v,))
    grad_phi = jax.grad(lambda p: jnp.mean(jnp.sum(G * logp_fn(p), -1)))(params)
    return jax.tree.map(lambda g: g * jnp.mean(c), grad_phi)


def _hvp_own_baseline(logp_fn, params, traj, discount, v):
    """B·v with Φ built from G_h − mean_n G_h, a mean that includes episode n."""
    G = rewards_to_go(traj.reward, traj.mask, discount)
    G = (G - jnp.mean(G, axis=0, keepdims=True)) * traj.mask
    return jax.tree.map(jnp.add, *hvp_terms(logp_fn, params, traj, G, v))


@pytest.fixture(scope="module")
def estimates():
    """For each MDP: exact values and M sampled estimates of every variant."""
    samplers = {}

    def one_batch(env, policy, horizon, key, mdp, params, v):
        traj = collect_episodes(key, env, mdp, policy.actor(params), EPISODES, horizon)
        logp_fn = lambda p: policy.log_prob(p, traj.obs, traj.action)
        out = {
            "gpomdp": policy_gradient(logp_fn, params, traj, mdp.discount, "gpomdp", "none"),
            "gpomdp_loo": policy_gradient(logp_fn, params, traj, mdp.discount, "gpomdp", "loo"),
            "reinforce": policy_gradient(logp_fn, params, traj, mdp.discount, "reinforce", "none"),
            "reinforce_loo": policy_gradient(logp_fn, params, traj, mdp.discount, "reinforce", "loo"),
            "planted_gpomdp": _planted_gpomdp(logp_fn, params, traj, mdp.discount),
        }
        hvp = hessian_vector_product(logp_fn, params, traj, mdp.discount, v)
        outer, _ = hvp_terms(logp_fn, params, traj, rewards_to_go(traj.reward, traj.mask, mdp.discount), v)
        mean_outer = _of_batch_means(logp_fn, params, traj, mdp.discount, v)
        # The official code's estimates, put on the sum-over-episodes / N scale (× M/N) to compare with ∇J_H.
        scale = jnp.sum(traj.mask) / EPISODES
        out["official_gpomdp"] = jax.tree.map(lambda x: x * scale,
                                              official_policy_gradient(logp_fn, params, traj, mdp.discount))
        out["official_hvp"] = jax.tree.map(lambda x: x * scale,
                                           official_hessian_vector_product(logp_fn, params, traj, mdp.discount, v))
        out["hvp"] = hvp
        out["hvp_loo"] = hessian_vector_product(logp_fn, params, traj, mdp.discount, v, "loo")
        # Bug: a baseline that includes the episode's own return is not
        # independent of its actions, and biases B.
        out["planted_hvp_own_baseline"] = _hvp_own_baseline(logp_fn, params, traj, mdp.discount, v)
        # Bug noted in docs/algorithms.md ("HARPG and N-HARPG"): the cross term added with the opposite sign ...
        out["planted_hvp_sign"] = jax.tree.map(lambda h, o: h - 2 * o, hvp, outer)
        # ... and batch means multiplied instead of per-episode terms.
        out["planted_hvp_batch_means"] = jax.tree.map(lambda h, o, m: h - o + m, hvp, outer, mean_outer)
        return {name: jax.flatten_util.ravel_pytree(x)[0] for name, x in out.items()}

    def sampler(env, policy, horizon):
        # One compiled sampler per shape of problem; the MDP is an argument.
        key = (env.mdp.num_states, env.mdp.num_actions, horizon)
        if key not in samplers:
            batch = lambda *args: one_batch(env, policy, horizon, *args)
            samplers[key] = jax.jit(
                lambda k, mdp, params, v: jax.vmap(batch, in_axes=(0, None, None, None))(
                    jax.random.split(k, BATCHES), mdp, params, v
                )
            )
        return samplers[key]

    results = []
    for i, seed in enumerate(MDP_SEEDS):
        mdp, env, policy, params, v = _problem(seed)
        horizon = GRID_ROLLOUT_HORIZON if seed == "grid" else HORIZON
        probs_fn = lambda p: policy.probs_table(p, mdp.num_states)
        exact_values = {
            "grad": flat(exact.grad_J(mdp, probs_fn, params)),
            "hvp": flat(exact.hvp_J(mdp, probs_fn, params, v)),
        }
        samples = jax.device_get(sampler(env, policy, horizon)(jax.random.key(i), mdp, params, v))
        results.append((exact_values, samples))
    return results


@pytest.mark.parametrize("name", ["gpomdp", "gpomdp_loo", "reinforce", "reinforce_loo"])
def test_policy_gradient_is_unbiased(estimates, name):
    for exact_values, samples in estimates:
        z = z_scores(samples[name], exact_values["grad"])
        assert np.max(np.abs(z)) < Z_MAX, f"{name}: max |z| = {np.max(np.abs(z)):.2f}"


def test_planted_discount_bug_is_caught(estimates):
    worst = [np.max(np.abs(z_scores(s["planted_gpomdp"], e["grad"]))) for e, s in estimates]
    assert min(worst) > Z_MAX, f"the planted γ^(t-h) bug went unnoticed: max |z| = {worst}"


@pytest.mark.parametrize("name", ["hvp", "hvp_loo"])
def test_hessian_vector_estimate_is_unbiased(estimates, name):
    for exact_values, samples in estimates:
        z = z_scores(samples[name], exact_values["hvp"])
        assert np.max(np.abs(z)) < Z_MAX, f"{name}: max |z| = {np.max(np.abs(z)):.2f}"


@pytest.mark.parametrize("planted", ["planted_hvp_sign", "planted_hvp_batch_means", "planted_hvp_own_baseline"])
def test_planted_hessian_bugs_are_caught(estimates, planted):
    worst = [np.max(np.abs(z_scores(s[planted], e["hvp"]))) for e, s in estimates]
    assert min(worst) > Z_MAX, f"{planted} went unnoticed: max |z| = {worst}"


@pytest.mark.parametrize("name,exact_name", [("official_gpomdp", "grad"), ("official_hvp", "hvp")])
def test_official_variant_is_biased_for_grad_J(estimates, name, exact_name):
    """The official code's g and B·v (gradient="official") on every MDP: the
    same check that passes the paper's estimators rejects them."""
    worst = [np.max(np.abs(z_scores(s[name], e[exact_name]))) for e, s in estimates]
    assert min(worst) > Z_MAX, f"{name} is unbiased here after all: max |z| = {worst}"


def test_official_variant_by_hand():
    """The official estimates of a two-slot stream batch, written out: slot 0
    holds an episode of 2 steps then one of 1, slot 1 one of 3 steps (M = 6),
    with log π = a·θ + b‖θ‖²/2, so ∇log π = a + bθ and ∇²log π = b·I."""
    from rlx.rollout import Trajectories

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 3))
    theta, v = rng.normal(size=2), rng.normal(size=2)
    reward = rng.normal(size=(2, 3))
    base = rng.normal(size=(2, 3))  # b(s_h), the baseline's values
    time = np.array([[0, 1, 0], [0, 1, 2]])
    last = np.array([[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
    gamma = 0.9
    one = jnp.ones((2, 3))
    traj = Trajectories(obs=one, action=one, reward=jnp.asarray(reward), mask=one, terminated=one, truncated=one,
                        time=jnp.asarray(time, jnp.int32), last=jnp.asarray(last))
    logp_fn = lambda p: jnp.einsum("ntd,d->nt", jnp.asarray(a), p) + jnp.asarray(b) * jnp.sum(p**2) / 2

    R = np.zeros((2, 3))  # the discount restarted at every step, to the end of the step's episode
    R[0, 1], R[0, 0], R[0, 2] = reward[0, 1], reward[0, 0] + gamma * reward[0, 1], reward[0, 2]
    R[1, 2] = reward[1, 2]
    R[1, 1] = reward[1, 1] + gamma * R[1, 2]
    R[1, 0] = reward[1, 0] + gamma * R[1, 1]
    A = R - base
    score = a + b[..., None] * theta  # ∇log π at every step, [2, 3, 2]
    g = np.einsum("nt,ntd->d", A, score) / 6
    hvp = np.sum(A * b) / 6 * v - g * np.sum(score @ v) / 6
    np.testing.assert_allclose(official_policy_gradient(logp_fn, jnp.asarray(theta), traj, gamma, jnp.asarray(base)),
                               g, rtol=1e-5, atol=1e-6)  # float32 against float64
    np.testing.assert_allclose(official_hessian_vector_product(logp_fn, jnp.asarray(theta), traj, gamma,
                                                               jnp.asarray(v), jnp.asarray(base)), hvp, rtol=1e-5,
                               atol=1e-6)


class EstimatorsWithAndWithoutJit(chex.TestCase):
    """g and B·v of one batch agree under chex's variants (jitted or not)
    with their plain computation."""

    @chex.variants(with_jit=True, without_jit=True)
    def test_estimators_agree_with_and_without_jit(self):
        mdp, env, policy, params, v = _problem(0)
        traj = collect_episodes(jax.random.key(7), env, mdp, policy.actor(params), 5, HORIZON)
        logp_fn = lambda p: policy.log_prob(p, traj.obs, traj.action)
        gradient = lambda p: policy_gradient(logp_fn, p, traj, mdp.discount, "gpomdp", "loo")
        hvp = lambda p: hessian_vector_product(logp_fn, p, traj, mdp.discount, v)
        np.testing.assert_allclose(flat(self.variant(gradient)(params)), flat(gradient(params)), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(flat(self.variant(hvp)(params)), flat(hvp(params)), rtol=1e-4, atol=1e-5)


def test_estimators_check_their_shapes_at_the_entry():
    """chex asserts at the entries: a reward without its mask's shape, a
    direction v that is not a tree like θ."""
    mdp, env, policy, params, v = _problem(0)
    traj = collect_episodes(jax.random.key(7), env, mdp, policy.actor(params), 5, HORIZON)
    logp_fn = lambda p: policy.log_prob(p, traj.obs, traj.action)
    with pytest.raises(AssertionError):
        score_weights(traj.replace(mask=traj.mask[:, :-1]), mdp.discount)
    with pytest.raises(AssertionError):
        hessian_vector_product(logp_fn, params, traj, mdp.discount, jax.tree.map(lambda x: x[:1], v))


def test_rewards_to_go_by_hand():
    r = jnp.array([[1.0, 2.0, 3.0, 4.0]])
    mask = jnp.array([[1.0, 1.0, 1.0, 0.0]])  # the episode ended after three steps
    g = 0.5
    expected = [1 + g * 2 + g**2 * 3, g * 2 + g**2 * 3, g**2 * 3, 0.0]
    np.testing.assert_allclose(rewards_to_go(r, mask, g)[0], expected, rtol=1e-6)


def test_leave_one_out_baseline_by_hand():
    # Two episodes of one step: returns 1 and 3; each is centred on the other.
    from rlx.rollout import Trajectories

    one = jnp.ones((2, 1))
    traj = Trajectories(obs=one, action=one, reward=jnp.array([[1.0], [3.0]]), mask=one, terminated=one, truncated=one)
    np.testing.assert_allclose(score_weights(traj, 1.0, "gpomdp", "loo")[:, 0], [-2.0, 2.0])


# --- batches of whole episodes until ≥ B valid steps (rlx.rollout.collect_batch)
# By Wald's identity the sum over the batch's random number K of episodes has
# mean E[K]·(the one-episode expectation): each sample below is
# Σ_k f(τ_k) − K·(exact value), whose mean must be 0.  The gridworld's episodes
# end at random times, so K varies.  The planted rule keeps only the episodes
# that end within the first B steps: it decides on an episode after seeing its
# length, and is biased.

STREAM_BATCHES, STREAM_STEPS, STREAM_SLOTS = 20_000, 12, 2


def _drop_crossing_episode(traj, min_steps):
    """Bug: the batch cut at B steps, the episodes that do not fit dropped."""
    from rlx.estimators import episode_sums

    done_by = jnp.cumsum(traj.mask.reshape(-1)).reshape(traj.mask.shape)  # one slot: valid steps so far
    fits = episode_sums(traj, traj.step_last * done_by) <= min_steps
    return traj.replace(mask=traj.mask * fits)


@pytest.fixture(scope="module")
def stream_estimates():
    from rlx.agents.shared import baselines
    from rlx.rollout import collect_batch

    mdp, env, policy, params, v = _problem("grid")
    probs_fn = lambda p: policy.probs_table(p, mdp.num_states)
    grad, hvp_exact = flat(exact.grad_J(mdp, probs_fn, params)), flat(exact.hvp_J(mdp, probs_fn, params, v))
    coef = jax.random.normal(jax.random.key(5), (baselines.num_features(mdp.num_states, squares=False),))  # a fixed baseline
    ravel = lambda x: jax.flatten_util.ravel_pytree(x)[0]

    def one_batch(key):
        traj = collect_batch(key, env, mdp, policy.actor(params), STREAM_SLOTS, STREAM_STEPS, GRID_ROLLOUT_HORIZON)
        single = collect_batch(key, env, mdp, policy.actor(params), 1, STREAM_STEPS, GRID_ROLLOUT_HORIZON)
        dropped = _drop_crossing_episode(single, STREAM_STEPS)
        out = {}
        for name, batch in (("slots", traj), ("single", single), ("planted_dropped", dropped)):
            logp_fn = lambda p: policy.log_prob(p, batch.obs, batch.action)
            b = baselines.predict(coef, baselines.features(batch.obs, batch.step_time, mdp.num_states, 0))
            k = batch.num_episodes
            out[f"{name}_gpomdp"] = ravel(policy_gradient(logp_fn, params, batch, mdp.discount, "gpomdp", b, 1.0)) - k * grad
            out[f"{name}_hvp"] = ravel(hessian_vector_product(logp_fn, params, batch, mdp.discount, v, b, 1.0)) - k * hvp_exact
        out["slots_reinforce"] = ravel(policy_gradient(
            lambda p: policy.log_prob(p, traj.obs, traj.action), params, traj, mdp.discount, "reinforce", "none", 1.0)
        ) - traj.num_episodes * grad
        out["valid"] = jnp.stack([traj.num_steps, traj.num_episodes, jnp.sum(traj.step_last),
                                  jnp.sum(traj.mask * (traj.step_time == 0))])
        return out

    samples = jax.device_get(jax.jit(jax.vmap(one_batch))(jax.random.split(jax.random.key(9), STREAM_BATCHES)))
    return samples


def test_stream_batches_hold_whole_episodes_past_the_step_target(stream_estimates):
    steps, episodes, ends, starts = stream_estimates["valid"].T
    assert np.all(steps >= STREAM_STEPS)
    assert np.all(ends == episodes) and np.all(starts == episodes)  # every episode started and ended inside
    assert np.all(steps < STREAM_STEPS + STREAM_SLOTS * GRID_ROLLOUT_HORIZON)
    assert episodes.std() > 0  # the number of episodes varies: the test below is about a random K


@pytest.mark.parametrize("name", ["slots_gpomdp", "single_gpomdp", "slots_reinforce", "slots_hvp", "single_hvp"])
def test_stream_batch_sums_are_unbiased_by_walds_identity(stream_estimates, name):
    z = z_scores(stream_estimates[name], np.zeros(stream_estimates[name].shape[1]))
    assert np.max(np.abs(z)) < Z_MAX, f"{name}: max |z| = {np.max(np.abs(z)):.2f}"


def test_planted_inclusion_by_length_is_caught(stream_estimates):
    worst = max(np.max(np.abs(z_scores(stream_estimates[f"planted_dropped_{k}"], 0.0 * stream_estimates[
        f"planted_dropped_{k}"][0]))) for k in ("gpomdp", "hvp"))
    assert worst > Z_MAX, f"dropping the episodes that cross B went unnoticed: max |z| = {worst:.2f}"


def test_linear_baseline_recovers_a_linear_return():
    """With γ = 0 the restarted return is the reward; rewards that are a
    linear function of φ(s, h) are fitted back to their coefficients."""
    from rlx.agents.shared import baselines
    from rlx.rollout import Trajectories

    k1, k2, k3 = jax.random.split(jax.random.key(4), 3)
    obs = jax.random.uniform(k1, (2, 30, 3), minval=-2.0, maxval=2.0)
    time = jnp.broadcast_to(jnp.arange(30, dtype=jnp.int32) % 15, (2, 30))
    phi = baselines.features(obs, time)
    true = jax.random.normal(k2, (baselines.num_features(3),))
    mask = jnp.ones((2, 30)).at[1, 25:].set(0.0)  # padding steps are ignored
    reward = jnp.where(mask > 0, phi @ true, 1e3)
    last = (time == 14).astype(jnp.float32)
    traj = Trajectories(obs=obs, action=jnp.zeros((2, 30)), reward=reward, mask=mask, terminated=last > 0,
                        truncated=last < 0, time=time, last=last)
    coef = baselines.fit(phi, traj, 0.0)
    np.testing.assert_allclose(baselines.predict(coef, phi) * mask, reward * mask, atol=2e-3)
