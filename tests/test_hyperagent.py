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
    indices = hyperagent.update_indices(jax.random.key(3), config.replace(num_indices=5), size, 4)  # [K, B, M]
    target_indices = hyperagent._sphere(jax.random.key(4), (size, 4))
    got = float(hyperagent.loss(state.params, target, state.prior, batch, indices, target_indices, torso, config))
    nb = {k: np.asarray(v) for k, v in batch.items()}
    xi_t = np.asarray(target_indices)
    q_target = _numpy_q(target, state.prior, nb["next_obs"], xi_t, config, 101)
    best = _numpy_q(state.params, state.prior, nb["next_obs"], xi_t, config, 101).argmax(-1)
    bootstrap = nb["reward"] + 0.99 * (1 - nb["terminated"]) * q_target[np.arange(size), best]
    errors, plain, shared = [], [], []
    for xi_b in np.asarray(indices):
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
    config = agents.config("hyperagent", env)  # MinAtar's family default: a 10^5 replay, not 10^6 frames
    state = init_carry(hyperagent, env, config, jax.random.key(0)).state
    for deterministic in (True, False):
        out = evaluate(hyperagent, env, config, state, jax.random.key(1), 3, 20, deterministic=deterministic)
        assert np.isfinite(float(out["eval_return"])) and 1 <= float(out["eval_length"]) <= 20


@pytest.fixture(scope="module")
def inits(deepsea):
    """Params and prior of 64 seeds at the official and at rlx's earlier ("small") initialisation."""
    keys = jax.random.split(jax.random.key(11), 64)
    out = {}
    for scheme in ("official", "small"):
        config = agents.config("hyperagent").replace(init=scheme, capacity=8)  # the replay plays no part here
        state = jax.vmap(lambda k: hyperagent.init(k, deepsea, config))(keys)  # noqa: B023
        out[scheme] = (config, jax.device_get(state.params), jax.device_get(state.prior))
    return out


def _variance_check(x: np.ndarray, expected: float) -> float:
    """|sample variance − expected| in standard errors of the sample variance (x has mean 0)."""
    x = np.ravel(x).astype(np.float64)
    sq = x**2
    return abs(sq.mean() - expected) / (sq.std(ddof=1) / np.sqrt(sq.size))


def test_official_init_against_closed_forms(inits):
    """The official DeepSea init (network/hyperagent.py, run_deepsea.py): H
    entries N(0, 2/(M + A·F)); h and h^P unit vectors × prior_std; H^P rows of
    length prior_std; torso kernels N(0, 2/(fan_in + fan_out)).  Power: rlx's
    earlier init fails the same checks."""
    A, F, M, S = 2, 64, 4, SIZE * SIZE + 1
    config, params, prior = inits["official"]
    assert config.prior_std == 1.0
    assert _variance_check(params["H"], 2.0 / (M + A * F)) < 4
    np.testing.assert_allclose(np.linalg.norm(params["h"].reshape(64, -1), axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(prior["h"].reshape(64, -1), axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(prior["H"], axis=-1), 1.0, rtol=1e-5)
    assert np.abs(params["h"] - prior["h"]).max() > 0.1  # independent draws
    kernels = [params["torso"]["params"][f"Dense_{i}"]["kernel"] for i in range(2)]
    for kernel, (fan_in, fan_out) in zip(kernels, [(S, F), (F, F)]):
        assert _variance_check(kernel, 2.0 / (fan_in + fan_out)) < 4
    for torso in (params["torso"], prior["torso"]):
        assert all(np.all(torso["params"][f"Dense_{i}"]["bias"] == 0) for i in range(2))
    _, small, small_prior = inits["small"]  # the planted slip: every check above rejects it
    assert _variance_check(small["H"], 2.0 / (M + A * F)) > 100
    assert np.all(small["h"] == 0) and np.all(small_prior["h"] == 0)
    assert _variance_check(small["torso"]["params"]["Dense_0"]["kernel"], 2.0 / (S + F)) > 4


def test_spread_of_q_over_the_index_matches_its_closed_form(deepsea, inits):
    """Q is linear in ξ: Q(s, a, ξ) = c + uᵀξ with u = σ_post H_aᵀφ(s) +
    σ_prior H^P_aᵀφ^P(s), and ξ uniform on the sphere of R^M has E[ξξᵀ] = I/M,
    so Var_ξ Q = ‖u‖²/M: the prior's spread, the only exploration signal at
    the start.  Checked on 4,096 sampled ξ within 4 s.e.; power: an
    unnormalised Gaussian ξ (variance ‖u‖²) is rejected."""
    config, params, prior = inits["official"]
    one = jax.tree.map(lambda x: jnp.asarray(x[0]), (params, prior))
    torso = hyperagent._torso(deepsea, config)
    obs = jnp.asarray([0, 11, 45], jnp.int32)
    xi = hyperagent._sphere(jax.random.key(5), (4096, 1, 4))
    q = np.asarray(jax.vmap(lambda x: hyperagent.q_values(*one, torso, obs, jnp.broadcast_to(x, (3, 4)), config))(xi))
    feats = np.asarray(torso.apply(one[0]["torso"], obs))
    prior_feats = np.asarray(torso.apply(one[1]["torso"], obs))
    u = (config.posterior_scale * np.einsum("afm,sf->sam", one[0]["H"], feats)
         + config.prior_scale * np.einsum("afm,sf->sam", one[1]["H"], prior_feats))  # [states, A, M]
    expected = np.sum(u**2, -1) / 4
    centred = q - q.mean(0)
    for s in range(3):
        for a in range(2):
            assert _variance_check(centred[:, s, a], expected[s, a]) < 4, (s, a)
    gaussian = np.einsum("sam,nm->nsa", u, np.asarray(jax.random.normal(jax.random.key(6), (4096, 4))))
    assert _variance_check(gaussian[:, 0, 0] - gaussian[:, 0, 0].mean(), expected[0, 0]) > 4


def test_update_indices_are_drawn_per_transition():
    config = agents.config("hyperagent")
    per_transition = np.asarray(hyperagent.update_indices(jax.random.key(0), config, 8, 4))
    assert per_transition.shape == (20, 8, 4)
    np.testing.assert_allclose(np.linalg.norm(per_transition, axis=-1), 1.0, rtol=1e-5)
    assert np.abs(per_transition[:, 0] - per_transition[:, 1]).min() > 0  # two transitions, different ξ
    shared = np.asarray(hyperagent.update_indices(jax.random.key(0), config.replace(index_draw="batch"), 8, 4))
    np.testing.assert_array_equal(shared[:, 0], shared[:, 1])


def test_evaluation_holds_one_sampled_index_an_episode(deepsea):
    """The official test: E episodes, episode e greedy on Q(s, ·, ξ_e) at every
    step with its own ξ_e (rlx.train.evaluate plays `eval_act`)."""
    from rlx.rollout import collect_episodes

    config = agents.config("hyperagent")
    state = hyperagent.init(jax.random.key(0), deepsea, config)
    key, episodes = jax.random.key(3), 100
    traj = collect_episodes(jax.random.key(4), deepsea, deepsea.default_params,
                            hyperagent.eval_act(key, state, deepsea, config, episodes), episodes, SIZE)
    assert traj.action.shape == (episodes, SIZE) and np.all(np.asarray(traj.mask) == 1)
    xi = hyperagent._sphere(key, (episodes, 4))  # ξ_e, as eval_act draws them
    torso = hyperagent._torso(deepsea, config)
    q = jax.vmap(lambda o, x: hyperagent.q_values(state.params, state.prior, torso, o,
                                                  jnp.broadcast_to(x, (SIZE, 4)), config))(traj.obs, xi)
    np.testing.assert_array_equal(np.asarray(traj.action), np.asarray(jnp.argmax(q, -1)))
    assert len({tuple(a) for a in np.asarray(traj.action)}) > 10  # the ξ_e differ: so do the episodes
    mean = hyperagent.eval_act(key, state, deepsea, config.replace(eval_index="mean"), episodes)
    traj0 = collect_episodes(jax.random.key(4), deepsea, deepsea.default_params, mean, episodes, SIZE)
    assert len({tuple(a) for a in np.asarray(traj0.action)}) == 1  # ξ = 0: one greedy path
