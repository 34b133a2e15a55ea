"""The gymnasium bridge: the same trajectory as gymnasium itself (auto-reset
included), one host call per step under nested vmaps, rollouts equal to the
unbatched ones, continuous actions, the runner, and stale states refused."""

from __future__ import annotations

import json

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlx.envs import gymnasium_env, make
from rlx.envs.gymnasium_env import GymnasiumEnv, key_seed
from rlx.policies import make_policy
from rlx.rollout import collect_episodes


def _bridge_run(env, key, actions):
    """Steps one (unbatched, jitted) bridge env through `actions`."""
    obs, state = jax.jit(env.reset)(key)
    step = jax.jit(env.step)
    first, out = np.asarray(obs), []
    for a in actions:
        obs, state, reward, term, trunc, info = step(key, state, a)
        out.append((obs, reward, term, trunc, info["final_obs"]))
    return first, [np.stack(x) for x in zip(*out)]


def _gymnasium_run(env_id, seed, actions, **make_kwargs):
    """The same through gymnasium itself, auto-resetting by hand."""
    env = gymnasium.make(env_id, **make_kwargs)
    obs, _ = env.reset(seed=seed)
    first, out = obs, []
    for a in actions:
        final, reward, term, trunc, _ = env.step(a)
        obs = env.reset()[0] if term or trunc else final
        out.append((obs, reward, term, trunc, final))
    return first, [np.stack(x) for x in zip(*out)]


def _assert_same(bridge, plain):
    (b0, (b_obs, b_r, b_term, b_trunc, b_final)), (p0, (p_obs, p_r, p_term, p_trunc, p_final)) = bridge, plain
    np.testing.assert_array_equal(b0, p0)
    np.testing.assert_array_equal(b_obs, p_obs.astype(np.float32))
    np.testing.assert_array_equal(b_final, p_final.astype(np.float32))
    np.testing.assert_array_equal(b_r, p_r.astype(np.float32))
    np.testing.assert_array_equal(b_term, p_term)
    np.testing.assert_array_equal(b_trunc, p_trunc)


def test_cartpole_equals_gymnasium_through_auto_reset():
    env = make("gymnasium:CartPole-v1")
    key = jax.random.key(3)
    # Always pushing left ends an episode in about ten steps; then mixed pushes.
    actions = [0] * 14 + [1, 0, 1, 1, 0, 0, 1, 0] + [0] * 14
    bridge = _bridge_run(env, key, actions)
    plain = _gymnasium_run("CartPole-v1", key_seed(key), actions)
    terminated = plain[1][2]
    assert terminated.sum() >= 2  # the auto-reset was exercised
    _assert_same(bridge, plain)
    b_obs, b_final = bridge[1][0], bridge[1][4]
    ends = np.flatnonzero(terminated)
    assert not np.allclose(b_obs[ends], b_final[ends])  # the next episode's first obs
    np.testing.assert_array_equal(np.delete(b_obs, ends, 0), np.delete(b_final, ends, 0))


def test_pendulum_with_a_time_limit_equals_gymnasium():
    # max_steps=6 truncates twice in 15 steps; out-of-box actions are passed as given.
    env = make("gymnasium:Pendulum-v1", max_steps=6)
    assert env.max_steps() == 6
    key = jax.random.key(5)
    actions = np.linspace(-3.0, 3.0, 15, dtype=np.float32)[:, None]
    bridge = _bridge_run(env, key, actions)
    plain = _gymnasium_run("Pendulum-v1", key_seed(key), actions, max_episode_steps=6)
    np.testing.assert_array_equal(plain[1][3], np.arange(1, 16) % 6 == 0)
    _assert_same(bridge, plain)


def _count_host_calls(monkeypatch):
    calls = []
    reset, step = GymnasiumEnv._host_reset, GymnasiumEnv._host_step

    def counted_reset(self, data, key_ndim):
        calls.append(("reset", data.shape[: data.ndim - key_ndim]))
        return reset(self, data, key_ndim)

    def counted_step(self, packed_state, action):
        calls.append(("step", action.shape))
        return step(self, packed_state, action)

    monkeypatch.setattr(GymnasiumEnv, "_host_reset", counted_reset)
    monkeypatch.setattr(GymnasiumEnv, "_host_step", counted_step)
    return calls


def test_nested_vmap_rollout_is_one_host_call_a_step_and_equals_unbatched(monkeypatch):
    env = make("gymnasium:CartPole-v1")
    policy = make_policy(env, hidden=(8,))
    params = policy.init(jax.random.key(0))
    num_envs, horizon = 3, 30
    collect = lambda k: collect_episodes(k, env, env.default_params, policy.actor(params), num_envs, horizon)
    keys = jax.random.split(jax.random.key(1), 4).reshape(2, 2)
    calls = _count_host_calls(monkeypatch)
    traj = jax.device_get(jax.jit(jax.vmap(jax.vmap(collect)))(keys))
    # Three nested vmaps (2 × 2 × 3 envs): the host saw one call a step, with all 12.
    assert calls == [("reset", (2, 2, 3))] + [("step", (2, 2, 3))] * horizon
    assert traj.reward.shape == traj.mask.shape == (2, 2, num_envs, horizon)
    assert traj.obs.shape == (2, 2, num_envs, horizon, 4)
    done = np.asarray(traj.terminated | traj.truncated)
    assert done.any() and not done.all(axis=-1).all()
    first_done = np.where(done.any(-1), done.argmax(-1) + 1, horizon)
    np.testing.assert_array_equal(traj.episode_length, first_done)  # mask: 1 through the first end
    np.testing.assert_array_equal(np.diff(traj.mask, axis=-1) <= 0, True)

    single = jax.jit(collect)
    for i in range(2):
        for j in range(2):
            alone = jax.device_get(single(keys[i, j]))
            np.testing.assert_allclose(alone.obs, traj.obs[i, j], rtol=1e-6)
            np.testing.assert_array_equal(alone.action, traj.action[i, j])
            np.testing.assert_array_equal(alone.mask, traj.mask[i, j])
            np.testing.assert_array_equal(alone.episode_return, traj.episode_return[i, j])


def test_pendulum_rollouts_through_collect_episodes():
    env = make("gymnasium:Pendulum-v1")
    policy = make_policy(env, hidden=(8,))
    params = policy.init(jax.random.key(0))
    collect = jax.jit(
        jax.vmap(lambda k: collect_episodes(k, env, env.default_params, policy.actor(params), 2, 20))
    )
    traj = collect(jax.random.split(jax.random.key(2), 3))
    assert traj.reward.shape == (3, 2, 20) and traj.action.shape == (3, 2, 20, 1)
    assert np.all(np.isfinite(traj.reward)) and np.all(traj.reward <= 0)
    assert np.all(traj.mask == 1)  # Pendulum's 200-step limit is beyond the horizon
    again = collect(jax.random.split(jax.random.key(2), 3))
    np.testing.assert_array_equal(traj.reward, again.reward)  # same keys, same rollouts


def test_stale_states_are_refused():
    env = make("gymnasium:CartPole-v1")
    reset = jax.jit(jax.vmap(env.reset))
    step = jax.jit(jax.vmap(env.step))
    keys = jax.random.split(jax.random.key(0), 7)  # a batch size no other test uses
    actions = jnp.zeros(7, jnp.int32)
    _, first = reset(keys)
    _, fresh = reset(keys)
    jax.block_until_ready(step(keys, fresh, actions))
    with pytest.raises(Exception, match="stepped already"):
        jax.block_until_ready(step(keys, fresh, actions))
    for _ in range(gymnasium_env.RING_SIZE - 1):
        reset(keys)  # the ring comes round to `first`'s host env again
    with pytest.raises(Exception, match=r"more rollouts of batch size 7 were alive at once than the ring holds"):
        jax.block_until_ready(step(keys, first, actions))
    with pytest.raises(Exception, match="whole batch"):
        jax.block_until_ready(jax.jit(jax.vmap(env.step))(keys[:3], jax.tree.map(lambda x: x[:3], fresh), actions[:3]))


def test_registry_and_errors():
    env = make("gymnasium:CartPole-v1", max_steps=40)
    assert env.host_stepped and env.max_steps() == 40 and env.default_params is None
    assert env.action_space() == gymnasium.spaces.Discrete(2)
    with pytest.raises(ValueError, match="max_steps must be at least 1"):
        make("gymnasium:CartPole-v1", max_steps=0)
    with pytest.raises(ValueError, match="not a registered gymnasium id; did you mean CartPole-v1"):
        make("gymnasium:CartPole-v9")
    with pytest.raises(ValueError, match="not a registered gymnasium id"):  # gymnasium would import `this`
        make("gymnasium:this:Foo-v0")
    with pytest.raises(ValueError, match="registers no time limit"):
        make("gymnasium:CliffWalking-v1").max_steps()


def test_discrete_observations_and_a_time_limit_given():
    env = make("gymnasium:CliffWalking-v1", max_steps=3)  # registered without a time limit
    assert env.max_steps() == 3 and env.observation_space() == gymnasium.spaces.Discrete(48)
    obs, state = env.reset(jax.random.key(0))
    assert obs.dtype == jnp.int32 and int(obs) == 36  # the start cell
    flags = []
    for _ in range(3):
        obs, state, reward, term, trunc, info = env.step(jax.random.key(1), state, 0)  # up
        flags.append((bool(term), bool(trunc), int(info["final_obs"]), int(obs)))
    assert flags == [(False, False, 24, 24), (False, False, 12, 12), (False, True, 0, 36)]


def test_runner_trains_gpomdp_on_a_gymnasium_env(tmp_path):
    # The runner compiles the agent's update with the host env inside; 20
    # iterations of whole episodes until ≥ 800 steps (H = 100) after compiling.
    from rlx.runner.main import main

    out = tmp_path / "r"
    argv = ["agent=gpomdp", "env=gymnasium:CartPole-v1", "seeds=2", "total_steps=16000", "env.max_steps=100",
            "agent.batch_steps=800", "agent.optimizer=adam", "agent.lr=0.02", "agent.lr_schedule=constant", f"out={out}"]
    assert main(argv) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 20 and {r["seed"] for r in rows} == {0, 1}
    returns = np.array([[r["episode_return"] for r in rows if r["seed"] == s] for s in (0, 1)])
    assert np.all(np.isfinite(returns))
    # A uniform random policy balances ≈22 steps; both seeds reach the cap of H = 100.
    assert returns[:, :2].mean() < 50, returns
    assert np.all(returns[:, -3:].mean(1) > 90), returns


@pytest.mark.parametrize("env_id", ["InvertedPendulum-v5", "HalfCheetah-v5"])
def test_gymnasium_mujoco_envs_work_with_the_readme_install(env_id):
    """gymnasium's MuJoCo envs import mujoco and imageio: both are dependencies."""
    env = make(f"gymnasium:{env_id}")
    params = env.default_params
    obs, state = env.reset(jax.random.key(0), params)
    action = jnp.zeros(env.action_space(params).shape)
    obs2, state, reward, terminated, truncated, info = env.step(jax.random.key(1), state, action, params)
    assert obs2.shape == obs.shape == env.observation_space(params).shape and np.isfinite(float(reward))
