"""HyperAgent: DeepSea 10 is solved by HyperAgent and not by
ε-greedy DQN on the same budget; Q depends on the index ξ and only on it; the
loss equals a numpy computation on a tiny batch."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlx import agents
from rlx.agents import hyperagent
from rlx.envs import make
from rlx.train import make_train

SIZE = 10


@pytest.fixture(scope="module")
def deepsea():
    return make("deepsea", size=SIZE)


@pytest.mark.parametrize("name", ["hyperagent", "dqn"])
def test_deep_sea_10(deepsea, name):
    """150 updates × 40 steps (600 episodes); the treasure pays 0.99.
    Measured: HyperAgent finds it in every episode after ≈ 50 updates, DQN never."""
    config = agents.config(name).replace(num_steps=4 * SIZE)
    _, metrics = jax.jit(jax.vmap(make_train(hyperagent, deepsea, config, 150)))(
        jax.random.split(jax.random.key(0), 2))
    found = np.asarray(metrics["episode_return"])[:, -30:] > 0.5
    if name == "hyperagent":
        assert np.all(found.mean(1) > 0.8), found.mean(1)
    else:
        assert np.all(found.mean(1) < 0.1), found.mean(1)


def _numpy_q(params, prior, obs, xi, config, num_states):
    def torso(p, o):
        x = np.eye(num_states)[o]
        for layer in sorted(p["params"]):
            x = np.maximum(x @ np.asarray(p["params"][layer]["kernel"]) + np.asarray(p["params"][layer]["bias"]), 0)
        return x

    def head(p, feats):
        w = np.einsum("afm,bm->baf", np.asarray(p["H"]), xi) + np.asarray(p["h"])
        return np.einsum("bf,baf->ba", feats, w)

    return (config.posterior_scale * head(params, torso(params["torso"], obs))
            + config.prior_scale * head(prior, torso(prior["torso"], obs)))


def test_index_sampling_and_loss(deepsea):
    config = agents.config("hyperagent").replace(hidden=(8,), noise_scale=0.3, prior_scale=1.0)
    state = hyperagent.init(jax.random.key(0), deepsea, config)
    torso = hyperagent._Torso(config.hidden, SIZE * SIZE + 1)
    obs = jnp.asarray([0, 11, 22], jnp.int32)
    xi = hyperagent._sphere(jax.random.key(1), (2, 3, 4))
    q = lambda p, i: hyperagent.q_values(p, state.prior, torso, obs, i, config)  # noqa: E731
    assert not np.allclose(q(state.params, xi[0]), q(state.params, xi[1]))  # different ξ, different Q
    np.testing.assert_array_equal(q(state.params, xi[0]), q(state.params, xi[0]))
    np.testing.assert_allclose(q(state.params, xi[0]),
                               _numpy_q(state.params, state.prior, np.asarray(obs), np.asarray(xi[0]), config, 101),
                               rtol=1e-4, atol=1e-5)

    # the loss on a tiny batch against numpy, target ≠ online so double DQN matters
    leaves, tree = jax.tree.flatten(state.params)
    noise = [0.5 * jax.random.normal(k, x.shape) for k, x in zip(jax.random.split(jax.random.key(9), len(leaves)), leaves)]
    target = jax.tree.unflatten(tree, [x + n for x, n in zip(leaves, noise)])
    k_obs, k_next, k_act, k_rew = jax.random.split(jax.random.key(2), 4)
    size = 8
    batch = {"obs": jax.random.randint(k_obs, (size,), 0, 100), "action": jax.random.randint(k_act, (size,), 0, 2),
             "reward": jax.random.normal(k_rew, (size,)), "next_obs": jax.random.randint(k_next, (size,), 0, 101),
             "terminated": (jnp.arange(size) == size - 1).astype(jnp.float32),
             "z": hyperagent._sphere(jax.random.key(5), (size, 4))}
    indices = hyperagent._sphere(jax.random.key(3), (5, 4))
    target_indices = hyperagent._sphere(jax.random.key(4), (size, 4))
    got = float(hyperagent.loss(state.params, target, state.prior, batch, indices, target_indices, torso, config))
    nb = {k: np.asarray(v) for k, v in batch.items()}
    xi_t = np.asarray(target_indices)
    q_target = _numpy_q(target, state.prior, nb["next_obs"], xi_t, config, 101)
    best = _numpy_q(state.params, state.prior, nb["next_obs"], xi_t, config, 101).argmax(-1)
    bootstrap = nb["reward"] + 0.99 * (1 - nb["terminated"]) * q_target[np.arange(size), best]
    errors, plain, shared = [], [], []
    for xi_k in np.asarray(indices):
        xi_b = np.broadcast_to(xi_k, (size, 4))
        q_sa = _numpy_q(state.params, state.prior, nb["obs"], xi_b, config, 101)[np.arange(size), nb["action"]]
        noise = 0.3 * np.sum(xi_b * nb["z"], -1)
        errors.append(np.mean((bootstrap + noise - q_sa) ** 2))
        # planted slips: plain DQN's target (the target net's own max), and ξ⁻ = ξ
        y_plain = nb["reward"] + noise + 0.99 * (1 - nb["terminated"]) * q_target.max(-1)
        plain.append(np.mean((y_plain - q_sa) ** 2))
        best_k = _numpy_q(state.params, state.prior, nb["next_obs"], xi_b, config, 101).argmax(-1)
        q_next_k = _numpy_q(target, state.prior, nb["next_obs"], xi_b, config, 101)[np.arange(size), best_k]
        shared.append(np.mean((nb["reward"] + noise + 0.99 * (1 - nb["terminated"]) * q_next_k - q_sa) ** 2))
    np.testing.assert_allclose(got, np.mean(errors), rtol=1e-4)
    for slip in (plain, shared):  # power: each slip gives another number here
        assert abs(float(np.mean(slip)) - got) > 1e-3 * abs(got), (np.mean(slip), got)


@pytest.mark.parametrize("env_name", ["cartpole", "breakout"])
def test_acting_on_vector_and_image_observations(env_name):
    """Evaluation (greedy on ξ = 0, or a fresh ξ per call) on a batch of vector
    or image observations: one action an observation (it once built ξ with the
    observation's own axes)."""
    from rlx.envs import make
    from rlx.train import evaluate, init_carry

    env = make(env_name)
    config = agents.config("hyperagent")
    state = init_carry(hyperagent, env, config, jax.random.key(0)).state
    for deterministic in (True, False):
        out = evaluate(hyperagent, env, config, state, jax.random.key(1), 3, 20, deterministic=deterministic)
        assert np.isfinite(float(out["eval_return"])) and 1 <= float(out["eval_length"]) <= 20
