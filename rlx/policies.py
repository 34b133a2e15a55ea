"""Flax policies: tabular softmax, categorical MLP and Gaussian MLP.

A `Policy` is a static description (hashable, closed over by jitted code); its
parameters are a plain pytree.  Every method broadcasts over leading batch and
time axes of `obs`, so `log_prob(params, traj.obs, traj.action)` of a whole
[N, H] batch of trajectories is one call.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import flax.linen as nn
import gymnasium
import jax
import jax.numpy as jnp


def orthogonal(scale: float = 1.0):
    """Flax's orthogonal initializer (a Haar-random orthogonal matrix times
    `scale`; Saxe et al. 2014), with the QR done by Gram–Schmidt in plain jnp.

    Equal to `jax.nn.initializers.orthogonal(scale)` for the same key: Q of the
    same Gaussian matrix with R's diagonal positive is unique, and classical
    Gram–Schmidt applied twice (CGS2) is as accurate as Householder QR.  Why not
    LAPACK: under jaxlib 0.10 on a 2-core CPU, two batched QRs in one program
    (the policy's and the value's init, vmapped over seeds) each wait for the
    same 2-thread pool and deadlock.
    """

    def init(key, shape, dtype=jnp.float32):
        rows, cols = math.prod(shape[:-1]), shape[-1]
        z = jax.random.normal(key, (max(rows, cols), min(rows, cols)), dtype)
        k = z.shape[1]

        def column(q, j):
            v = z[:, j]
            earlier = (jnp.arange(k) < j).astype(dtype)
            for _ in range(2):
                v = v - q @ ((q.T @ v) * earlier)
            return q.at[:, j].set(v / jnp.linalg.norm(v)), None

        q, _ = jax.lax.scan(column, jnp.zeros_like(z), jnp.arange(k))
        q = q.T if rows < cols else q
        return scale * q.reshape(shape)

    return init


class TabularLogits(nn.Module):
    """logits[s, a] = θ[s, a], initialised to zero (the uniform policy)."""

    num_states: int
    num_actions: int

    @nn.compact
    def __call__(self, obs):
        table = self.param("logits", nn.initializers.zeros, (self.num_states, self.num_actions))
        return table[obs]


def encode_obs(obs, num_states: int = 0, obs_ndim: int = 1) -> jax.Array:
    """Network input [..., features]: integer observations one-hot encoded
    (num_states > 0), otherwise float observations with their trailing
    `obs_ndim` axes (an image's) flattened."""
    if num_states:
        return jax.nn.one_hot(obs, num_states)
    x = jnp.asarray(obs, jnp.float32)
    return jnp.reshape(x, x.shape[: x.ndim - obs_ndim] + (-1,))


class MLP(nn.Module):
    """obs -> hidden layers -> `out` units.  The last layer starts small so the
    first policy is close to uniform (categorical) or zero-mean (Gaussian)."""

    hidden: Sequence[int]
    out: int
    activation: str = "tanh"
    num_states: int = 0  # > 0: integer observations are one-hot encoded first
    obs_ndim: int = 1  # trailing axes of one observation, flattened (images)
    out_scale: float = 0.01  # orthogonal gain of the last layer (1.0 for a value head)
    weight_init: str = "orthogonal"  # "orthogonal" (gains √2, out_scale: PPO's), "xavier" (Xavier-uniform, every
    #   layer, zero biases) or "torch" (torch.nn.Linear's default: weights and biases U(±1/√fan_in))

    @nn.compact
    def __call__(self, obs):
        x = encode_obs(obs, self.num_states, self.obs_ndim)
        act = getattr(jax.nn, self.activation)
        widths = (*self.hidden, self.out)
        for i, width in enumerate(widths):
            last = i == len(widths) - 1
            x = nn.Dense(width, **self._init(x.shape[-1], last))(x)
            if not last:
                x = act(x)
        return x

    def _init(self, fan_in: int, last: bool) -> dict:
        """The Dense layer's kernel_init and bias_init under `weight_init`."""
        if self.weight_init == "xavier":
            return {"kernel_init": nn.initializers.xavier_uniform()}
        if self.weight_init == "orthogonal":
            return {"kernel_init": orthogonal(self.out_scale if last else math.sqrt(2))}
        if self.weight_init == "torch":
            bound = 1.0 / math.sqrt(fan_in)
            return {"kernel_init": nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform"),
                    "bias_init": lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)}
        raise ValueError(f"weight_init must be 'orthogonal', 'xavier' or 'torch', got {self.weight_init!r}")


# σ never falls below 1e-6 (garage's GaussianMLPPolicy min_std, the official code of Fatkhullin et al.): the
# clamp is the identity above it, so it changes no run that stays there.
MIN_LOG_STD = math.log(1e-6)


class GaussianMLP(nn.Module):
    """Mean from an MLP, a state-independent log standard deviation (≥ MIN_LOG_STD)."""

    hidden: Sequence[int]
    action_dim: int
    activation: str = "tanh"
    init_log_std: float = 0.0
    obs_ndim: int = 1
    weight_init: str = "orthogonal"

    @nn.compact
    def __call__(self, obs):
        mean = MLP(self.hidden, self.action_dim, self.activation, obs_ndim=self.obs_ndim, weight_init=self.weight_init)(obs)
        log_std = self.param(
            "log_std", nn.initializers.constant(self.init_log_std), (self.action_dim,)
        )
        return mean, jnp.broadcast_to(jnp.maximum(log_std, MIN_LOG_STD), mean.shape)


class StateStdGaussianMLP(nn.Module):
    """Mean and log σ from two MLPs of the state, log σ clipped to
    `log_std_range` (the pre-squash Gaussian of a tanh policy: SAC's, and PGP's
    official continuous code's)."""

    hidden: Sequence[int]
    action_dim: int
    activation: str = "relu"
    obs_ndim: int = 1
    weight_init: str = "torch"
    log_std_range: tuple[float, float] = (-5.0, 2.0)

    @nn.compact
    def __call__(self, obs):
        mean = MLP(self.hidden, self.action_dim, self.activation, obs_ndim=self.obs_ndim, out_scale=1.0,
                   weight_init=self.weight_init)(obs)
        log_std = MLP(self.hidden, self.action_dim, self.activation, obs_ndim=self.obs_ndim, out_scale=1.0,
                      weight_init=self.weight_init)(obs)
        return mean, jnp.clip(log_std, *self.log_std_range)


def tanh_log_det(u: jax.Array) -> jax.Array:
    """Σ log(1 − tanh(u)²) over the last axis, computed from u (stable where
    tanh(u) rounds to ±1): log π(a|s) of the executed a = tanh(u) is
    log N(u) − tanh_log_det(u).  Compute it from the pre-squash u, never from a
    rounded a (atanh of a clamped ±1 puts the density orders of magnitude off)."""
    return jnp.sum(2.0 * (math.log(2.0) - u - jax.nn.softplus(-2.0 * u)), axis=-1)


@dataclasses.dataclass(frozen=True)
class Policy:
    """π_θ(a|s) around a Flax module; `discrete` picks categorical or Gaussian."""

    module: nn.Module
    discrete: bool
    obs_shape: tuple[int, ...]
    obs_dtype: str

    def init(self, key: jax.Array):
        return self.module.init(key, jnp.zeros(self.obs_shape, self.obs_dtype))

    def log_prob(self, params, obs, action) -> jax.Array:
        return self._log_prob(self.module.apply(params, obs), action)

    def _log_prob(self, out, action) -> jax.Array:
        """log π(a|s) from the module's output (logits, or Gaussian mean and log σ)."""
        if self.discrete:
            logp = jax.nn.log_softmax(out)
            return jnp.take_along_axis(logp, action[..., None].astype(jnp.int32), -1)[..., 0]
        mean, log_std = out
        z = (action - mean) * jnp.exp(-log_std)
        return jnp.sum(-0.5 * z**2 - log_std - 0.5 * math.log(2 * math.pi), axis=-1)

    def sample(self, key: jax.Array, params, obs) -> jax.Array:
        if self.discrete:
            return jax.random.categorical(key, self.module.apply(params, obs)).astype(jnp.int32)
        mean, log_std = self.module.apply(params, obs)
        return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)

    def entropy(self, params, obs) -> jax.Array:
        """H(π(·|s)): of the categorical, or of the diagonal Gaussian."""
        return self._entropy(self.module.apply(params, obs))

    def _entropy(self, out) -> jax.Array:
        if self.discrete:
            logp = jax.nn.log_softmax(out)
            return -jnp.sum(jnp.exp(logp) * logp, axis=-1)
        _, log_std = out
        return jnp.sum(log_std + 0.5 * math.log(2 * math.pi * math.e), axis=-1)

    def log_prob_entropy(self, params, obs, action) -> tuple[jax.Array, jax.Array]:
        """(log π(a|s), H(π(·|s))) from one forward pass.  A loss that needs
        both should take them from here: with `log_prob` and `entropy` called
        apart, XLA merges the two forward passes but not the two backward ones,
        so the policy's backward pass ran twice (issue 22's profile)."""
        out = self.module.apply(params, obs)
        return self._log_prob(out, action), self._entropy(out)

    def mode(self, params, obs) -> jax.Array:
        """The greedy (categorical) or mean (Gaussian) action, for evaluation."""
        if self.discrete:
            return jnp.argmax(self.module.apply(params, obs), axis=-1).astype(jnp.int32)
        return self.module.apply(params, obs)[0]

    def actor(self, params, deterministic: bool = False):
        """`act(key, obs) -> action` of π_params, what `rlx.rollout` samples
        from: sampled, or the mode with `deterministic`."""
        if deterministic:
            return lambda key, obs: self.mode(params, obs)
        return lambda key, obs: self.sample(key, params, obs)

    def probs_table(self, params, num_states: int) -> jax.Array:
        """π[s, a] for integer observations 0..S-1, what `rlx.exact` takes."""
        return jax.nn.softmax(self.module.apply(params, jnp.arange(num_states)))


def obs_encoding(env) -> tuple[int, int]:
    """(num_states, obs_ndim) of an env's observations for `encode_obs`: a
    finite state space is one-hot encoded (obs_ndim 0), a box keeps its axes."""
    space = env.observation_space(env.default_params)
    if isinstance(space, gymnasium.spaces.Discrete):
        return int(space.n), 0
    return 0, len(space.shape)


def make_policy(
    env,
    kind: str = "auto",
    hidden: Sequence[int] = (64, 64),
    activation: str = "tanh",
    init_log_std: float = 0.0,
    weight_init: str = "orthogonal",
) -> Policy:
    """The policy that fits an env's spaces.

    kind="auto": a tabular softmax for a finite state space, else an MLP
    (categorical for discrete actions, Gaussian for boxes).  kind="tabular" or
    "mlp" forces one; kind="state_std": a Gaussian whose mean and log σ are
    both MLPs of the state (`StateStdGaussianMLP`; with `rlx.envs.base.TanhActions`
    and `tanh_log_det`, a tanh-squashed policy).  weight_init: the MLP's weights, "orthogonal" (gain √2, the last
    layer 0.01: a near-uniform or zero-mean first policy, PPO's) or "xavier"
    (Xavier-uniform everywhere, zero biases: Fatkhullin et al.'s official code).
    """
    params = env.default_params
    obs_space, act_space = env.observation_space(params), env.action_space(params)
    finite_states = isinstance(obs_space, gymnasium.spaces.Discrete)
    if kind not in ("auto", "tabular", "mlp", "state_std"):
        raise ValueError(f"policy kind must be auto, tabular, mlp or state_std, got {kind!r}")
    if kind == "tabular" and not finite_states:
        raise ValueError("a tabular policy needs a finite (Discrete) observation space")
    hidden = tuple(int(h) for h in hidden)
    obs_shape, obs_dtype = ((), "int32") if finite_states else (tuple(obs_space.shape), "float32")

    if isinstance(act_space, gymnasium.spaces.Discrete):
        n = int(act_space.n)
        if finite_states and kind != "mlp":
            module = TabularLogits(int(obs_space.n), n)
        else:
            module = MLP(hidden, n, activation, int(obs_space.n) if finite_states else 0, len(obs_shape), weight_init=weight_init)
        return Policy(module, True, obs_shape, obs_dtype)
    if isinstance(act_space, gymnasium.spaces.Box):
        if finite_states:
            raise ValueError("continuous actions on a finite state space are not supported")
        if kind == "state_std":
            module = StateStdGaussianMLP(hidden, int(math.prod(act_space.shape)), activation, len(obs_shape), weight_init)
            return Policy(module, False, obs_shape, obs_dtype)
        module = GaussianMLP(hidden, int(math.prod(act_space.shape)), activation, init_log_std, len(obs_shape), weight_init)
        return Policy(module, False, obs_shape, obs_dtype)
    raise ValueError(f"no policy for action space {act_space}")
