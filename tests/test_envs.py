"""The env contract: jit/vmap equal the plain step, auto-reset keeps the final
observation, terminated vs truncated, imported tables match gymnasium."""

from __future__ import annotations

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlx import exact
from rlx.envs import REGISTRY, factory, make
from rlx.envs.tabular import RIGHT, UP, TabularEnv, cliff_walking, from_gymnasium, gridworld

STEPS = 12


def _rollout(env, key, actions, step_fn, reset_fn):
    """Steps through `actions` with the given (maybe jitted) reset and step."""
    k0, key = jax.random.split(key)
    obs, state = reset_fn(k0, env.default_params)
    out = []
    for a in actions:
        key, k = jax.random.split(key)
        obs, state, reward, term, trunc, info = step_fn(k, state, a, env.default_params)
        out.append((obs, reward, term, trunc, info["final_obs"]))
    return jax.tree.map(lambda *x: np.stack(x), *out)


@pytest.mark.parametrize("name", ["cliffwalking", "cartpole", "pendulum"])
def test_step_under_jit_and_vmap_equals_plain_step(name):
    env = make(name)
    space = env.action_space()
    if isinstance(space, gymnasium.spaces.Discrete):
        actions = jax.random.randint(jax.random.key(1), (STEPS,), 0, space.n)
    else:
        actions = jax.random.uniform(jax.random.key(1), (STEPS,) + space.shape, minval=-2.0, maxval=2.0)
    key = jax.random.key(0)
    plain = _rollout(env, key, actions, env.step, env.reset)
    jitted = _rollout(env, key, actions, jax.jit(env.step), jax.jit(env.reset))
    vstep = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    vreset = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))
    batched = _rollout(
        env,
        key,
        actions[:, None],
        lambda k, s, a, p: vstep(k[None], s, a, p),
        lambda k, p: vreset(k[None], p),
    )
    for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(jitted)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(batched)):
        np.testing.assert_allclose(a, b[:, 0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["cartpole", "deepsea"])
def test_step_batch_equals_vmapped_step_bit_for_bit(name):
    """step_batch computes only the resets it keeps, in chunks of N/16 in a
    while_loop: steps with 0, 1 and several ended episodes (so 0, 1 and more
    chunks) give exactly vmap(step)'s outputs, also under an outer vmap."""
    env, n, steps = make(name), 16, 60
    params, space = env.default_params, env.action_space()

    def run(step, key):
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, n), params)

        def body(state, k):
            action = jax.random.randint(k, (n,), 0, space.n)
            obs, state, reward, term, trunc, info = step(jax.random.split(k, n), state, action, params)
            return state, (obs, reward, term, trunc, info["final_obs"])

        return jax.lax.scan(body, state, jax.random.split(jax.random.fold_in(key, 1), steps))

    vmapped = lambda *a: jax.vmap(env.step, in_axes=(0, 0, 0, None))(*a)
    keys = jax.random.split(jax.random.key(0), 2)
    want = jax.jit(jax.vmap(lambda k: run(vmapped, k)))(keys)
    got = jax.jit(jax.vmap(lambda k: run(env.step_batch, k)))(keys)
    one = jax.jit(lambda k: run(env.step_batch, k))(keys[0])
    for w, g, o in zip(jax.tree.leaves(want), jax.tree.leaves(got), jax.tree.leaves(one)):
        np.testing.assert_array_equal(np.asarray(w), np.asarray(g))
        np.testing.assert_array_equal(np.asarray(w)[0], np.asarray(o))
    ended = np.asarray(want[1][2] | want[1][3]).sum(-1)
    seen = {0, 1, 2} if name == "cartpole" else {0, n}  # deepsea's episodes all end together
    assert seen <= set(np.minimum(ended, 2 if name == "cartpole" else n).ravel().tolist()), np.bincount(ended.ravel())


def test_terminated_auto_reset_keeps_final_obs():
    # S G: one step right reaches the goal.
    env = TabularEnv(gridworld(["SG"], horizon=5))
    step = jax.jit(env.step)
    obs, state = env.reset(jax.random.key(0))
    assert int(obs) == 0
    obs, state, reward, term, trunc, info = step(jax.random.key(1), state, RIGHT, env.default_params)
    assert bool(term) and not bool(trunc)
    assert int(info["final_obs"]) == 1  # the goal cell
    assert int(obs) == 0 and int(state.t) == 0  # already the next episode
    assert float(reward) == -1.0


def test_truncation_at_the_time_limit():
    env = TabularEnv(gridworld(["S.G"], horizon=3))
    step = jax.jit(env.step)
    obs, state = env.reset(jax.random.key(0))
    flags = []
    for i in range(3):
        obs, state, _, term, trunc, info = step(jax.random.key(i), state, UP, env.default_params)
        flags.append((bool(term), bool(trunc)))
    assert flags == [(False, False), (False, False), (False, True)]
    assert int(info["final_obs"]) == 0 and int(state.t) == 0


def test_cartpole_termination_resets_to_a_fresh_start():
    env = make("cartpole")
    step = jax.jit(env.step)
    obs, state = env.reset(jax.random.key(0))
    for i in range(100):
        obs, state, _, term, trunc, info = step(jax.random.key(i), state, 1, env.default_params)
        if bool(term):
            break
    assert bool(term) and not bool(trunc)
    final = np.asarray(info["final_obs"])
    assert abs(final[2]) > 0.2 or abs(final[0]) > 2.4  # the pole fell
    assert np.all(np.abs(np.asarray(obs)) <= 0.05)  # the reset distribution


def test_frozenlake_import_matches_gymnasium_deterministic():
    mdp = from_gymnasium("FrozenLake-v1", is_slippery=False)
    ours = TabularEnv(mdp)
    gym_env = gymnasium.make("FrozenLake-v1", is_slippery=False)
    gym_env.reset(seed=0)
    base = gym_env.unwrapped
    terminal = np.asarray(mdp.terminal)
    checked = 0
    for s in range(16):
        if terminal[s]:
            continue
        for a in range(4):
            base.s = s
            s_next, r, term, _, _ = base.step(a)
            state = ours.reset(jax.random.key(0))[1].replace(s=jnp.int32(s))
            obs2, _, r2, term2 = ours.step_env(jax.random.key(1), state, a, mdp)
            assert (int(obs2), float(r2), bool(term2)) == (int(s_next), float(r), bool(term)), (s, a)
            checked += 1
    assert checked == 4 * int((~terminal).sum())
    assert mdp.horizon == gym_env.spec.max_episode_steps


def test_frozenlake_slippery_frequencies_match_gymnasium():
    mdp = from_gymnasium("FrozenLake-v1", is_slippery=True)
    gym_env = gymnasium.make("FrozenLake-v1", is_slippery=True)
    gym_env.reset(seed=0)
    base = gym_env.unwrapped
    n = 3000
    for s, a in [(0, 1), (6, 2), (9, 3)]:
        counts = np.zeros(16)
        for _ in range(n):
            base.s = s
            counts[base.step(a)[0]] += 1
        p = np.asarray(mdp.P[s, a], np.float64)
        se = np.sqrt(np.maximum(p * (1 - p), 1e-12) / n)
        z = (counts / n - p) / se
        assert np.max(np.abs(z[p > 0])) < 4.0 and counts[p == 0].sum() == 0, (s, a)


def test_native_cliff_walking_equals_gymnasium_table():
    native = cliff_walking(horizon=50)
    imported = from_gymnasium("CliffWalking-v1", horizon=50)
    for seed in range(3):
        probs = jax.nn.softmax(jax.random.normal(jax.random.key(seed), (48, 4)))
        np.testing.assert_allclose(exact.J(native, probs), exact.J(imported, probs), rtol=1e-5)
    # Rows of cells the agent can stand on agree exactly.
    standable = np.array([s for s in range(48) if not (37 <= s <= 47)])
    np.testing.assert_allclose(native.P[standable], imported.P[standable])
    np.testing.assert_allclose(exact.expected_reward(native)[standable], exact.expected_reward(imported)[standable])


def test_taxi_import_matches_gymnasium_everywhere():
    """Taxi is deterministic: every (s, a) of the import steps like gymnasium."""
    env = make("taxi")
    mdp = env.mdp
    gym_env = gymnasium.make("Taxi-v4")
    gym_env.reset(seed=0)
    base = gym_env.unwrapped
    states = jnp.repeat(jnp.arange(500), 6)
    actions = jnp.tile(jnp.arange(6), 500)
    step_one = lambda s, a: env.step_env(jax.random.key(0), env.reset(jax.random.key(0))[1].replace(s=s), a, mdp)
    obs, _, reward, term = jax.jit(jax.vmap(step_one))(states, actions)
    obs, reward, term = np.asarray(obs), np.asarray(reward), np.asarray(term)
    for i, (s, a) in enumerate(zip(np.asarray(states), np.asarray(actions))):
        base.s = int(s)
        s_next, r, done, _, _ = base.step(int(a))
        # a drop-off ends in the extra terminal state 500
        assert (int(obs[i]) if not done else int(s_next), float(reward[i]), bool(term[i])) == (int(s_next), float(r), done)
        assert (int(obs[i]) == 500) == done


def test_taxi_imports():
    env = make("taxi")
    # Drop-off ends the episode on a transition, not in a state: one extra
    # absorbing terminal state (index 500) takes those transitions.
    assert env.observation_space().n == 501 and env.action_space().n == 6
    assert bool(env.mdp.terminal[500]) and not bool(env.mdp.terminal[:500].any())
    assert env.max_steps() == 200


def test_registry_errors_name_close_choices():
    with pytest.raises(ValueError, match="cartpole"):
        factory("cartpol")
    with pytest.raises(ValueError, match="horizon"):
        make("cliffwalking", horizn=3)


def test_gridworld_rejects_bad_maps():
    with pytest.raises(ValueError, match="start"):
        gridworld(["..G"])
    with pytest.raises(ValueError, match="same length"):
        gridworld(["S..", "G"])


@pytest.mark.parametrize("name", ["pendulum", "cartpole", "cliffwalking"])
def test_jitted_step_compiles_once(name):
    """Reset's state and step's state have one type (weak-type flags too)."""
    env = make(name)
    obs, state = jax.jit(env.reset)(jax.random.key(0))
    step = jax.jit(env.step)
    action = env.action_space().sample() if name != "pendulum" else jnp.zeros((1,))
    _, state2, *_ = step(jax.random.key(1), state, action, env.default_params)
    step(jax.random.key(2), state2, action, env.default_params)
    assert step._cache_size() == 1


def test_brax_reset_and_step_hand_out_one_state_type():
    env = make("hopper", backend="spring", episode_length=5)
    obs, state = jax.jit(env.reset)(jax.random.key(0))
    step = jax.jit(env.step)
    aval = lambda tree: jax.tree.map(lambda x: (x.shape, x.dtype, x.weak_type), tree)
    action = jnp.zeros(env.action_space().shape)
    obs2, state2, *_ = step(jax.random.key(1), state, action, None)
    assert aval(state) == aval(state2)
    assert step._cache_size() == 1  # the second call did not recompile
    flags = []
    for i in range(4):
        obs2, state2, r, term, trunc, info = step(jax.random.key(i), state2, action, None)
        flags.append(bool(trunc) or bool(term))
    assert step._cache_size() == 1
    assert flags[-1]  # the 5-step limit (or a fall) ended the episode
    assert obs2.shape == env.observation_space().shape and np.all(np.isfinite(obs2))


def _check_contract_shapes(name, **kwargs):
    """reset/step/gpomdp update trace for `name`, with the documented types."""
    from rlx.agents import gpomdp
    from rlx.train import init_carry, run_updates

    env = make(name, **kwargs)
    obs_space, act_space = env.observation_space(), env.action_space()
    obs, state = jax.eval_shape(env.reset, jax.random.key(0), env.default_params)
    action = jax.ShapeDtypeStruct(act_space.shape, jnp.int32 if isinstance(act_space, gymnasium.spaces.Discrete) else jnp.float32)
    obs2, state2, reward, term, trunc, info = jax.eval_shape(env.step, jax.random.key(0), state, action, env.default_params)
    assert obs.shape == obs2.shape == info["final_obs"].shape == obs_space.shape
    assert jax.tree.structure(state) == jax.tree.structure(state2)
    assert reward.shape == () and reward.dtype == jnp.float32
    assert term.dtype == trunc.dtype == jnp.bool_
    assert env.max_steps() >= 1
    config = gpomdp.Config(num_envs=2, batch_steps=6, horizon=3)
    carry = jax.eval_shape(lambda k: init_carry(gpomdp, env, config, k), jax.random.key(0))
    _, metrics = jax.eval_shape(lambda c: run_updates(gpomdp, env, config, c, 1), carry)
    assert metrics["episode_return"].shape == (1,)


_BRAX_NAMES = ["ant", "halfcheetah", "hopper", "humanoid", "humanoidstandup", "inverted_pendulum",
               "inverted_double_pendulum", "pusher", "reacher", "swimmer", "walker2d"]


@pytest.mark.parametrize("name", sorted(n for n in REGISTRY if n not in _BRAX_NAMES))
def test_every_registered_env_keeps_the_contract(name):
    _check_contract_shapes(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", _BRAX_NAMES)
def test_every_brax_env_keeps_the_contract(name):
    from rlx.envs.brax_env import BROKEN_ON_JAX_0_10, _jax_version

    if name in BROKEN_ON_JAX_0_10 and _jax_version() >= (0, 10):
        with pytest.raises(ValueError, match="jax 0.10"):
            make(name)
        return
    _check_contract_shapes(name)


def test_deep_sea_has_bsuite_semantics():
    """Only N right moves find the treasure (return 1 − 0.01); the uniform
    policy finds it with probability 2^−N; the action mapping depends on the
    seed; episodes last N steps."""
    from rlx import exact
    from rlx.envs import make

    n = 6
    env = make("deepsea", size=n, mapping_seed=3)
    mdp = env.default_params
    assert env.max_steps() == n
    # undiscounted: the all-right policy earns 1 − 0.01 exactly
    undiscounted = mdp.replace(discount=jnp.asarray(1.0))
    assert abs(float(exact.optimal_J(undiscounted, horizon=n)) - 0.99) < 1e-5
    uniform = np.full((n * n + 1, 2), 0.5, np.float32)
    # the uniform policy pays half the move cost in expectation and finds the treasure w.p. 2^-n
    assert abs(float(exact.J(undiscounted, uniform, horizon=n)) - (2.0**-n - 0.005)) < 1e-5
    other = make("deepsea", size=n, mapping_seed=4).default_params
    assert not np.array_equal(np.asarray(mdp.P), np.asarray(other.P))
    obs, state = env.reset(jax.random.key(0))
    for t in range(n):
        obs, state, reward, terminated, truncated, info = env.step(jax.random.key(t), state, 0)
    assert bool(terminated) and int(obs) == 0  # ended after n steps and reset to the start


def test_brax_reacher_is_a_50_step_reach_and_the_others_run_1000():
    """gymnasium's Reacher-v5 (the VR-PG papers' Reacher-v2) ends after 50 steps; Brax's own default is 1,000."""
    assert make("reacher").max_steps() == 50 and make("hopper").max_steps() == 1000
    assert make("reacher", episode_length=1000).max_steps() == 1000
    env = make("hopper")
    assert env.observation_space().shape == (11,) and env.observation_space().shape == (11,)  # the second is cached
