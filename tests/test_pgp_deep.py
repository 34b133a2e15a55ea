"""Continuous PGP: the Gaussian-mixture density, the Playground tasks, the
tanh-squashed policy's density, the self-normalised pseudo-reward against
autodiff, the state buffer, and the KL penalty at work on the point mass."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlx import agents
from rlx.agents.shared import density
from rlx.agents import pgp_deep
from rlx.envs import make
from rlx.envs.base import TanhActions
from rlx.train import make_train


def test_mixture_fits_a_known_density():
    """EM on 4000 draws of a two-component mixture: the fitted mean
    log-likelihood on fresh draws is within 0.05 of the true density's, and
    a one-component fit (a planted misfit) is far worse."""
    def draw(key, n):
        k1, k2 = jax.random.split(key)
        which = jax.random.bernoulli(k1, 0.3, (n, 1))
        z = jax.random.normal(k2, (n, 2))
        return jnp.where(which, jnp.asarray([-2.0, 1.0]) + 0.5 * z, jnp.asarray([1.5, -1.0]) + z)

    def true_log_density(x):
        a = jnp.log(0.3) + jnp.sum(jax.scipy.stats.norm.logpdf(x, jnp.asarray([-2.0, 1.0]), 0.5), -1)
        b = jnp.log(0.7) + jnp.sum(jax.scipy.stats.norm.logpdf(x, jnp.asarray([1.5, -1.0]), 1.0), -1)
        return jnp.logaddexp(a, b)

    x, fresh = draw(jax.random.key(0), 4000), draw(jax.random.key(1), 4000)
    truth = float(jnp.mean(true_log_density(fresh)))
    fitted = density.fit(density.init(jax.random.key(2), x, 4), x, iterations=100)
    assert abs(float(jnp.mean(density.log_density(fitted, fresh))) - truth) < 0.05
    single = density.fit(density.init(jax.random.key(2), x, 1), x, iterations=100)
    assert float(jnp.mean(density.log_density(single, fresh))) < truth - 0.2
    # weights: a sample weighted twice counts as two copies
    doubled = density.fit(density.init(jax.random.key(3), x[:500], 2), jnp.concatenate([x[:500], x[:100]]),
                          iterations=30)
    weighted = density.fit(density.init(jax.random.key(3), x[:500], 2), x[:500],
                           jnp.where(jnp.arange(500) < 100, 2.0, 1.0), iterations=30)
    np.testing.assert_allclose(doubled.means, weighted.means, atol=1e-4)


def test_playground_tasks():
    """cartpole_swingup is dm_control's swing-up (the pole hangs down at the
    start, the slider stops the cart near 1.8 m) with reward −(|x| − 1.5) at
    every step; point_mass is point_mass/easy (4 observations, 2 actions)."""
    env = make("cartpole_swingup")
    assert env.max_steps() == 1000 and abs(env.dt - 0.01) < 1e-9
    obs, state = env.reset(jax.random.key(0))
    assert float(obs[1]) < -0.99  # cos θ: hanging down
    def push(state, key):  # full force to the right
        obs, state, reward, *_ = env.step(key, state, jnp.ones((1,)))
        return state, (obs[0], reward)

    _, (positions, rewards) = jax.jit(lambda s: jax.lax.scan(push, s, jax.random.split(jax.random.key(1), 300)))(state)
    positions, rewards = np.asarray(positions), np.asarray(rewards)
    np.testing.assert_allclose(rewards, -(np.abs(positions) - 1.5), atol=1e-6)
    assert 1.75 < positions[-1] < 1.9 and rewards[0] > 1.4  # at the slider's end, −0.3 or so; near +1.5 at the start
    point = make("point_mass")
    assert point.observation_space().shape == (4,) and point.num_actions == 2 and point.max_steps() == 1000


def test_unknown_playground_task_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown Playground dm_control task 'Nope'"):
        make("playground:Nope")


def test_tanh_squashed_density_from_the_pre_squash_action():
    """log π(a|s) of the executed a = tanh(u) is log N(u) − tanh_log_det(u):
    it integrates to 1 over a ∈ (−1, 1) (1e-3), where the Gaussian alone
    (planted: no Jacobian) does not; tanh_log_det matches log(1 − tanh²u) and
    stays finite at u = 20, where tanh(u) rounds to 1 in float32."""
    from rlx.policies import tanh_log_det

    env = make("cartpole_swingup")
    pi = pgp_deep.policy(env, pgp_deep.Config(hidden=(8,)))
    params = pi.init(jax.random.key(0))
    obs = jnp.asarray([0.3, -1.0, 0.0, 0.5, -0.2])
    a = np.linspace(-1.0, 1.0, 400_001)[1:-1]
    u = jnp.asarray(np.arctanh(a), jnp.float32)[:, None]
    executed = np.asarray(jnp.exp(pi.log_prob(params, obs, u) - tanh_log_det(u)))
    assert abs(np.trapezoid(executed, a) - 1.0) < 1e-3
    assert abs(np.trapezoid(np.asarray(jnp.exp(pi.log_prob(params, obs, u))), a) - 1.0) > 0.05
    np.testing.assert_allclose(tanh_log_det(jnp.asarray([[0.5, -2.0]])), np.log(1 - np.tanh([0.5, -2.0]) ** 2).sum(),
                               rtol=1e-5)
    assert float(jnp.tanh(20.0)) == 1.0 and np.isfinite(float(tanh_log_det(jnp.asarray([20.0]))))
    # the env wrapper executes tanh(u)
    squashed = TanhActions(env)
    _, state = env.reset(jax.random.key(1))
    stepped = squashed.step(jax.random.key(2), state, jnp.asarray([3.0]))[0]
    np.testing.assert_allclose(stepped, env.step(jax.random.key(2), state, jnp.tanh(jnp.asarray([3.0])))[0])
    pendulum = TanhActions(make("pendulum"))  # a Box of [−2, 2]: a = 2 tanh(u), log-det + log 2
    np.testing.assert_allclose(pendulum.executed(jnp.asarray([0.5])), 2 * np.tanh([0.5]), rtol=1e-6)
    np.testing.assert_allclose(pendulum.log_det(jnp.asarray([0.5])), np.log(2 * (1 - np.tanh(0.5) ** 2)), rtol=1e-5)


@pytest.mark.parametrize("kl", [False, True])
def test_pseudo_reward_is_the_self_normalised_objectives_derivative(kl):
    """r_t = (T / w_t) ∂F̂/∂ℓ_t for F̂ = Ĥ − ρ[ĉ]₊², Ĥ = −mean(w ℓ), ĉ = mean(w g),
    w = λ̂ / mean λ̂ (g = ℓ − log λ_ref − κ for the KL ball): the closed form
    against autodiff to 1e-4; a reward without the self-normalisation's
    centring (planted) is off by more than 0.1."""
    k1, k2 = jax.random.split(jax.random.key(0))
    ell = -3.0 + jax.random.normal(k1, (64, 4))
    other = jax.random.normal(k2, (64, 4))
    penalty = 10.0

    def g_of(ell):
        return ell - (other - 6.0) - 0.5 if kl else other + 0.3

    def objective(ell):
        w = ell.size * jax.nn.softmax(ell.ravel()).reshape(ell.shape)
        entropy, c = -jnp.mean(w * ell), jnp.mean(w * g_of(ell))
        return entropy - penalty * jnp.maximum(c, 0.0) ** 2

    w = ell.size * jax.nn.softmax(ell.ravel()).reshape(ell.shape)
    expected = jax.grad(objective)(ell) * ell.size / w
    reward, entropy, c = pgp_deep.pseudo_reward(ell, g_of(ell), 1.0 if kl else 0.0, penalty)
    assert float(c) > 0.0  # the penalty is active
    np.testing.assert_allclose(reward, expected, rtol=1e-4, atol=1e-4)
    uncentred = -(ell + 1.0) - 2.0 * penalty * c * (g_of(ell) + (1.0 if kl else 0.0))
    assert float(jnp.max(jnp.abs(uncentred - expected))) > 0.1


def test_state_buffer_is_a_ring():
    buffer = jnp.zeros((5, 1))
    buffer, stored = pgp_deep._store(buffer, jnp.asarray(3), jnp.arange(4.0)[:, None])
    assert int(stored) == 7
    np.testing.assert_array_equal(buffer[:, 0], [2.0, 3.0, 0.0, 0.0, 1.0])  # slots 3, 4, 0, 1


def test_the_kl_penalty_pulls_the_point_mass_towards_the_expert():
    """point_mass with KL(λ ‖ λ_expert) ≤ 1 (the scripted expert of
    experiments/pgp/continuous.py), 64 × 64 networks, 40 iterations × 4096
    steps, 2 seeds.  ĉ (the KL's excess, ≈ 175 at the start) falls by more
    than 8 on each seed with ρ = 10 (measured 21.4 and 17.1 from the first 5
    iterations to the last 10) and by 10 more than without the penalty on
    average (planted: ρ = 0, measured −10.6 and +0.9)."""
    env = make("point_mass")
    expert = os.path.join(os.path.dirname(__file__), "..", "experiments", "pgp", "results", "point_mass_expert.msgpack")
    drops = {}
    for penalty in (10.0, 0.0):
        config = agents.config("pgp_deep").replace(constraint="kl", reference=expert, hidden=(64, 64), penalty=penalty)
        _, metrics = jax.jit(jax.vmap(make_train(pgp_deep, env, config, 40)))(jax.random.split(jax.random.key(0), 2))
        c = np.asarray(metrics["constraint"])
        drops[penalty] = c[:, :5].mean(1) - c[:, -10:].mean(1)
    assert np.all(drops[10.0] > 8.0), drops
    assert drops[10.0].mean() - drops[0.0].mean() > 10.0, drops
