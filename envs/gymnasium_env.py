"""Any gymnasium env behind the rlx env contract, stepped on the host.

    env = make("gymnasium:CartPole-v1")
    env = make("gymnasium:Pendulum-v1", max_steps=100, g=9.81)   # kwargs go to gymnasium.make

The agent's update stays one jitted program; only the env transitions leave
it.  `reset` and `step` are `jax.pure_callback`s with
`vmap_method="broadcast_all"`: however many vmaps wrap them (envs of a batch,
seeds of a run), the host sees ONE call holding the whole batch of B elements
and answers it with one `gymnasium.vector.SyncVectorEnv` of B sub-envs in
`AutoresetMode.SAME_STEP` (it resets a finished sub-env inside the same
`step` and keeps the last observation in `info["final_obs"]`, which is the
contract's auto-reset).

The jax-side state is a `HostState` of int32 scalars per element: which host
vector env (`handle`), which reset of it (`generation`), which sub-env
(`index`) and how many steps since that reset (`t`).  Host vector envs live
in a module-level pool, a ring of `RING_SIZE` per (env, B), created lazily
and reused, so memory does not grow over iterations.  Each reset takes the
next env of its ring and reseeds all its sub-envs from the JAX keys
(`key_seed`), so the same keys and actions give the same trajectory; the
step keys are not used (an auto-reset draws from the sub-env's own generator,
seeded at the reset).  A state is usable once: stepping one whose vector env
was reset again since (more rollouts of one batch size alive at once than
the ring holds) or stepped already raises a RuntimeError.

Why `pure_callback` is acceptable although the host env is stateful: jax may
drop a pure callback whose outputs are unused, run it again, or reorder it
where data dependence allows.  Here every step consumes the state returned by
the call before it (its `t` is computed on the host), so XLA can neither
reorder steps nor hoist one out of a `lax.scan`, and the rewards and next
state are always consumed.  A call that did run twice, or was hoisted, shows
up as a stale `t` or `generation`: a RuntimeError, never a silent wrong
trajectory.  (Exceptions inside a pure callback reach the caller wrapped in
jax's runtime error, with this module's message in its text.)  `io_callback`
cannot be used: it has no batched form that gives the host one call.
Gradients do not flow through the env (the callbacks have no JVP), as in
every policy-gradient use of rlx.

Types: Box observations as float32, Discrete observations as int32 from 0;
Discrete actions as int32 from 0 (the space's `start` is added on the host),
Box actions as float32 and passed to the env as given, not clipped (most
gymnasium envs, Pendulum among them, clip themselves).  `host_stepped = True`
tells the runner this env cannot be sharded across devices.
"""

from __future__ import annotations

import difflib
import itertools
import math
import threading

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rlx.envs.base import Env

RING_SIZE = 4  # host vector envs per (env, batch size): rollouts of one size alive at once


@struct.dataclass
class HostState:
    """One element's handle on its host sub-env; every field an int32 scalar."""

    handle: jax.Array  # which host vector env
    generation: jax.Array  # which reset of it
    index: jax.Array  # which of its sub-envs
    t: jax.Array  # steps since that reset


def _array_spec(space, env_id: str, what: str) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) of one element of a space on the jax side: Box as
    float32, Discrete as an int32 scalar."""
    if isinstance(space, gymnasium.spaces.Box):
        return tuple(space.shape), np.dtype(np.float32)
    if isinstance(space, gymnasium.spaces.Discrete):
        return (), np.dtype(np.int32)
    raise ValueError(f"{env_id}: {what} space {space} is neither Box nor Discrete")


def _from_zero(space):
    """The space as the jax side sees it: a Discrete one starts at 0 (the
    host adds its `start` back)."""
    return gymnasium.spaces.Discrete(int(space.n)) if isinstance(space, gymnasium.spaces.Discrete) else space


def key_seed(key) -> int:
    """The gymnasium seed that a JAX key (or its `key_data`) resets a sub-env with."""
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    words = np.asarray(key, np.uint32).reshape(-1)
    return sum(int(w) << (32 * i) for i, w in enumerate(words))


class _HostVec:
    """One SyncVectorEnv of `size` sub-envs and the counters that states check."""

    def __init__(self, handle: int, spec_key: str, make_one, size: int):
        self.handle = handle
        self.spec_key = spec_key
        self.size = size
        self.vec = gymnasium.vector.SyncVectorEnv(
            [make_one] * size, autoreset_mode=gymnasium.vector.AutoresetMode.SAME_STEP
        )
        self.generation = 0
        self.t = 0


_LOCK = threading.Lock()  # XLA may run callbacks on threads of its own
_HANDLES = itertools.count()
_VECS: dict[int, _HostVec] = {}  # handle -> vector env
_RINGS: dict[tuple[str, int], list] = {}  # (env spec, B) -> [handles, next position]


def close_host_envs() -> None:
    """Closes every pooled host env; states made before can no longer be stepped."""
    with _LOCK:
        for vec in _VECS.values():
            vec.vec.close()
        _VECS.clear()
        _RINGS.clear()


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise RuntimeError(f"gymnasium bridge: {message}")


class GymnasiumEnv(Env):
    """`gymnasium.make(env_id, **make_kwargs)`, B at a time on the host.

    `max_steps` overrides the registered time limit (gymnasium's
    `max_episode_steps`).
    """

    host_stepped = True

    def __init__(self, env_id: str, max_steps: int | None = None, **make_kwargs):
        if max_steps is not None:
            if int(max_steps) < 1:
                raise ValueError(f"max_steps must be at least 1, got {max_steps}")
            make_kwargs["max_episode_steps"] = int(max_steps)
        if ":" in env_id or env_id not in gymnasium.registry:
            # gymnasium.make("module:Id") would import `module`: only registered ids, never code.
            close = difflib.get_close_matches(env_id, list(gymnasium.registry), n=3)
            hint = f"did you mean {', '.join(close)}?" if close else "see gymnasium.registry"
            raise ValueError(f"{env_id!r} is not a registered gymnasium id; {hint}")
        self.name = env_id
        self._make_kwargs = make_kwargs
        self._spec_key = repr((env_id, sorted(make_kwargs.items())))
        probe = gymnasium.make(env_id, **make_kwargs)
        try:
            self._observation_space = probe.observation_space
            self._action_space = probe.action_space
            self._time_limit = probe.spec.max_episode_steps if probe.spec is not None else None
            entry = str(probe.spec.entry_point) if probe.spec is not None else ""
            box = isinstance(probe.action_space, gymnasium.spaces.Box)
            self.family = "locomotion" if "mujoco" in entry else "control" if box else "classic"
        finally:
            probe.close()
        self._obs_shape, self._obs_dtype = _array_spec(self._observation_space, env_id, "observation")
        self._act_shape, self._act_dtype = _array_spec(self._action_space, env_id, "action")

    # -- spaces and limits ---------------------------------------------------
    @property
    def default_params(self):
        return None  # a gymnasium env's settings are fixed at make time

    def observation_space(self, params=None):
        return _from_zero(self._observation_space)

    def action_space(self, params=None):
        return _from_zero(self._action_space)

    def max_steps(self, params=None) -> int:
        if self._time_limit is None:
            raise ValueError(
                f"gymnasium env {self.name} registers no time limit; give env.max_steps=<int> "
                "(or a positive horizon to the agent)"
            )
        return int(self._time_limit)

    # -- the contract ----------------------------------------------------------
    def reset(self, key: jax.Array, params=None):
        data = _key_data(key)
        out_types = (jax.ShapeDtypeStruct(self._obs_shape, self._obs_dtype), _PACKED)
        host = lambda d: self._host_reset(np.asarray(d), data.ndim)
        obs, packed = jax.pure_callback(host, out_types, data, vmap_method="broadcast_all")
        return obs, _unpack(packed)

    def step(self, key: jax.Array, state: HostState, action, params=None):
        del key  # auto-resets draw from the sub-env's generator, seeded at reset
        obs = jax.ShapeDtypeStruct(self._obs_shape, self._obs_dtype)
        flag = jax.ShapeDtypeStruct((), np.bool_)
        out_types = (obs, _PACKED, jax.ShapeDtypeStruct((), np.float32), flag, flag, obs)
        action = jnp.asarray(action, self._act_dtype)
        obs_t, packed, reward, terminated, truncated, final_obs = jax.pure_callback(
            lambda s, a: self._host_step(np.asarray(s), np.asarray(a)),
            out_types,
            _pack(state),
            action,
            vmap_method="broadcast_all",
        )
        return obs_t, _unpack(packed), reward, terminated, truncated, {"final_obs": final_obs}

    # -- the host side ---------------------------------------------------------
    def _make_one(self):
        return gymnasium.make(self.name, **self._make_kwargs)

    def _next_vec(self, size: int) -> _HostVec:
        """The next vector env of the ring for batch size `size` (lock held)."""
        ring = _RINGS.setdefault((self._spec_key, size), [[], 0])
        handles, pos = ring
        if pos == len(handles) and len(handles) < RING_SIZE:
            handle = next(_HANDLES)
            _VECS[handle] = _HostVec(handle, self._spec_key, self._make_one, size)
            handles.append(handle)
        ring[1] = (pos + 1) % RING_SIZE
        return _VECS[handles[pos]]

    def _host_obs(self, obs) -> np.ndarray:
        obs = np.asarray(obs)
        if isinstance(self._observation_space, gymnasium.spaces.Discrete):
            obs = obs - int(self._observation_space.start)
        return obs.astype(self._obs_dtype)

    def _host_reset(self, data: np.ndarray, key_ndim: int):
        batch = data.shape[: data.ndim - key_ndim]
        size = math.prod(batch)
        seeds = [key_seed(row) for row in data.reshape(size, -1)]
        with _LOCK:
            vec = self._next_vec(size)
            vec.generation = (vec.generation + 1) % 2**31
            vec.t = 0
            obs, _ = vec.vec.reset(seed=seeds)
            handle, generation = vec.handle, vec.generation
        obs = self._host_obs(obs).reshape(batch + self._obs_shape)
        state = np.zeros((size, 4), np.int32)  # packed: handle, generation, index, t
        state[:, 0], state[:, 1], state[:, 2] = handle, generation, np.arange(size)
        return obs, state.reshape(batch + (4,))

    def _host_step(self, packed: np.ndarray, action: np.ndarray):
        batch = packed.shape[:-1]
        size = math.prod(batch)
        handle, generation, index, t_in = packed.reshape(size, 4).T
        with _LOCK:
            vec = _VECS.get(int(handle[0]))
            _check(
                vec is not None and vec.spec_key == self._spec_key and vec.size == size
                and np.all(handle == handle[0])
                and np.array_equal(np.sort(index), np.arange(size)),
                f"{self.name}: step must get the whole batch of states one reset made, "
                "unchanged (or the host envs were closed)",
            )
            _check(
                np.all(generation == vec.generation),
                f"{self.name}: this state's host env was reset again since; more rollouts of batch "
                f"size {size} were alive at once than the ring holds ({RING_SIZE})",
            )
            _check(
                np.all(t_in == vec.t),
                f"{self.name}: this state was stepped already; a host env state can be stepped "
                "once (its env cannot branch)",
            )
            # Element i of the caller's batch drives sub-env index[i].
            actions = np.empty((size,) + self._act_shape, self._action_space.dtype)
            actions[index] = action.reshape((size,) + self._act_shape)
            if isinstance(self._action_space, gymnasium.spaces.Discrete):
                actions = actions + self._action_space.start
            obs, reward, terminated, truncated, info = vec.vec.step(actions)
            vec.t += 1
            t = vec.t
        obs = self._host_obs(obs)
        final_obs = obs.copy()
        if "final_obs" in info:
            for j in np.flatnonzero(info["_final_obs"]):
                final_obs[j] = self._host_obs(info["final_obs"][j])
        shape = lambda x: x[index].reshape(batch + x.shape[1:])
        packed = packed.copy()
        packed[..., 3] = t
        return (
            shape(obs),
            packed,
            shape(np.asarray(reward, np.float32)),
            shape(np.asarray(terminated, np.bool_)),
            shape(np.asarray(truncated, np.bool_)),
            shape(final_obs),
        )

    def __repr__(self) -> str:
        return f"<rlx env gymnasium:{self.name} (host)>"


def _key_data(key: jax.Array) -> jax.Array:
    """A typed key's raw uint32 data; a legacy uint32 key is its own data."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    return jnp.asarray(key, jnp.uint32)


# A HostState crosses to the host as one int32[4] (each argument of a callback
# costs a device_put, about 40 µs), and is named again on the jax side.
_PACKED = jax.ShapeDtypeStruct((4,), np.int32)


def _pack(state: HostState) -> jax.Array:
    return jnp.stack([state.handle, state.generation, state.index, state.t], axis=-1).astype(jnp.int32)


def _unpack(packed: jax.Array) -> HostState:
    return HostState(handle=packed[..., 0], generation=packed[..., 1], index=packed[..., 2], t=packed[..., 3])
