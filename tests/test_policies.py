"""Policies: log-probabilities against closed forms, batching over [N, H]."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from rlx.envs import make
from rlx.policies import make_policy, orthogonal


def test_gaussian_log_prob_is_the_normal_density():
    env = make("pendulum")
    policy = make_policy(env, init_log_std=-0.5)
    params = policy.init(jax.random.key(0))
    obs = jax.random.normal(jax.random.key(1), (5, 7, 3))  # [N, H, obs]
    action = jax.random.normal(jax.random.key(2), (5, 7, 1))
    mean, log_std = policy.module.apply(params, obs)
    assert mean.shape == (5, 7, 1) and np.allclose(log_std, -0.5)
    sigma = math.exp(-0.5)
    expected = -0.5 * ((action - mean) / sigma) ** 2 - math.log(sigma * math.sqrt(2 * math.pi))
    np.testing.assert_allclose(policy.log_prob(params, obs, action), expected[..., 0], rtol=1e-5, atol=1e-6)
    samples = policy.sample(jax.random.key(3), params, obs[0, 0])
    assert samples.shape == (1,)


def test_gaussian_sigma_is_clamped_at_the_official_minimum():
    """σ ≥ 1e-6 (garage's min_std): a log σ parameter far below is clamped,
    and one above passes unchanged."""
    from rlx.policies import MIN_LOG_STD

    policy = make_policy(make("pendulum"))
    params = policy.init(jax.random.key(0))
    obs = jnp.zeros((4, 3))
    for value, expected in ((-30.0, MIN_LOG_STD), (-2.0, -2.0)):
        moved = jax.tree_util.tree_map_with_path(
            lambda path, x: jnp.full_like(x, value) if "log_std" in jax.tree_util.keystr(path) else x, params)
        _, log_std = policy.module.apply(moved, obs)
        np.testing.assert_allclose(log_std, expected, rtol=1e-6)


def test_categorical_log_prob_and_greedy_action():
    env = make("cartpole")
    policy = make_policy(env)
    params = policy.init(jax.random.key(0))
    obs = jax.random.normal(jax.random.key(1), (4, 6, 4))
    logits = policy.module.apply(params, obs)
    for a in (0, 1):
        lp = policy.log_prob(params, obs, jnp.full((4, 6), a))
        np.testing.assert_allclose(lp, jax.nn.log_softmax(logits)[..., a], rtol=1e-6)
    np.testing.assert_array_equal(policy.mode(params, obs), jnp.argmax(logits, -1))
    # The first policy is close to uniform (small last layer).
    np.testing.assert_allclose(jnp.exp(policy.log_prob(params, obs, jnp.zeros((4, 6), int))), 0.5, atol=0.05)


def test_tabular_policy_starts_uniform_and_image_observations_flatten():
    env = make("cliffwalking")
    policy = make_policy(env)
    params = policy.init(jax.random.key(0))
    np.testing.assert_allclose(policy.probs_table(params, 48), 0.25)
    minatar = make("breakout")
    image_policy = make_policy(minatar)
    p = image_policy.init(jax.random.key(0))
    obs = jnp.zeros((3, 2) + minatar.observation_space().shape)
    assert image_policy.log_prob(p, obs, jnp.zeros((3, 2), int)).shape == (3, 2)


def test_orthogonal_init_equals_jax_without_lapack():
    """rlx's Gram–Schmidt orthogonal init draws the same matrix as jax's
    LAPACK-QR one, and its program holds no LAPACK call (whose batched form
    deadlocks two-at-a-time on a 2-core CPU)."""
    for shape in [(4, 64), (64, 64), (64, 2), (3, 5, 7)]:
        key = jax.random.key(sum(shape))
        ours = orthogonal(1.3)(key, shape)
        np.testing.assert_allclose(ours, jax.nn.initializers.orthogonal(1.3)(key, shape), atol=2e-5)
        flat = ours.reshape(-1, shape[-1]) / 1.3
        small = min(flat.shape)
        gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
        np.testing.assert_allclose(gram, np.eye(small), atol=2e-5)
    hlo = jax.jit(jax.vmap(lambda k: orthogonal()(k, (64, 64)))).lower(jax.random.split(jax.random.key(0), 2)).as_text()
    assert "lapack" not in hlo.lower() and "lapack" in jax.jit(jax.vmap(
        lambda k: jax.nn.initializers.orthogonal()(k, (64, 64)))).lower(jax.random.split(jax.random.key(0), 2)).as_text().lower()


def test_torch_init_is_uniform_within_one_over_root_fan_in():
    """weight_init="torch" (PGP's official one-hot linear policy): kernel and
    bias U(±1/√fan_in), as torch.nn.Linear; the bias is not zero (Xavier's is).
    On 400 one-hot inputs × 300 outputs the sample std is within 3% of
    bound/√3 (its s.e. is about 0.3%)."""
    from rlx.policies import MLP

    fan_in, out = 400, 300
    params = MLP((), out, num_states=fan_in, weight_init="torch").init(jax.random.key(0), jnp.zeros((), jnp.int32))
    kernel, bias = (np.asarray(params["params"]["Dense_0"][k]) for k in ("kernel", "bias"))
    bound = 1.0 / math.sqrt(fan_in)
    assert kernel.shape == (fan_in, out) and np.abs(kernel).max() <= bound and np.abs(bias).max() <= bound
    assert abs(kernel.std() / (bound / math.sqrt(3)) - 1.0) < 0.03
    assert abs(bias.std() / (bound / math.sqrt(3)) - 1.0) < 0.25 and np.abs(bias).max() > bound / 2
    env = make("pgp_gridworld")
    policy = make_policy(env, "mlp", (), weight_init="torch")
    probs = policy.probs_table(policy.init(jax.random.key(1)), 36)
    assert probs.shape == (36, 4) and float(jnp.abs(probs - 0.25).max()) < 0.1  # near uniform, not uniform
    assert float(jnp.abs(probs - 0.25).max()) > 0.01
