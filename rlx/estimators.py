"""Policy-gradient and Hessian-vector estimators, as pure functions.

Notation of docs/algorithms.md ("Notation"), for one episode τ of horizon H (J is maximised):
    REINFORCE  g(τ, θ) = Σ_h (Σ_t γ^t r_t) ∇log π_θ(a_h|s_h)
    GPOMDP     g(τ, θ) = Σ_h (Σ_{t≥h} γ^t r_t) ∇log π_θ(a_h|s_h)
    Φ(τ, θ)    = Σ_h (Σ_{t≥h} γ^t r_t) log π_θ(a_h|s_h),  so g_GPOMDP = ∇Φ
    B(τ, θ)    = ∇Φ(τ, θ) ∇log p(τ|θ)ᵀ + ∇²Φ(τ, θ),  ∇log p(τ|θ) = Σ_h ∇log π_θ(a_h|s_h)
B is the unbiased Hessian estimate of J_H of Shen et al. (ICML 2019, eq. 8);
rlx never forms it, only B·v.  Note the discount γ^t counts from the start of
the episode, not from h: that is what makes g unbiased for ∇J_H.

`logp_fn(params) -> [N, T]` gives log π_θ(a_h|s_h) of a fixed batch.  A
batch's estimate is Σ over its episodes divided by `divisor`: by default the
number of rows N, which for an episode-major batch (one episode a row,
`rlx.rollout.collect_episodes`) is the mean over its N episodes.  A stream
batch (`rlx.rollout.collect_batch`, whole episodes until ≥ B steps) passes a
divisor in steps (`rlx.agents.shared.pg`: the official code's per-step mean), and then
E[Σ_{k≤K} g(τ_k)] = E[K]·∇J_H by Wald's identity: the estimate points along
∇J_H exactly and only its length carries the factor E[K]/divisor.
"""

from __future__ import annotations

from typing import Callable

import chex
import jax
import jax.numpy as jnp

from rlx.rollout import Trajectories


def _ids(traj: Trajectories) -> jax.Array:
    """[N, T] the flat index of the first step of each step's episode, so
    that episodes can be summed with `segment_sum`."""
    n, t = traj.mask.shape
    return jnp.arange(n)[:, None] * t + jnp.arange(t)[None, :] - traj.step_time


def episode_sums(traj: Trajectories, x: jax.Array) -> jax.Array:
    """Σ_{s ∈ episode} x_s of every step's episode, broadcast back to its steps [N, T]."""
    ids = _ids(traj).reshape(-1)
    sums = jax.ops.segment_sum((x * traj.mask).reshape(-1), ids, num_segments=ids.shape[0])
    return sums[ids].reshape(traj.mask.shape)


def discounted_rewards(reward: jax.Array, mask: jax.Array, discount, time=None) -> jax.Array:
    """γ^h r_h over the episode, [..., T]; h counts from the episode's start
    (`time`, by default the column index of an episode-major batch)."""
    if time is None:
        time = jnp.arange(reward.shape[-1])
    return reward * mask * jnp.asarray(discount, reward.dtype) ** time.astype(reward.dtype)


def _within_episodes_reverse_cumsum(x: jax.Array, last: jax.Array, discount=1.0) -> jax.Array:
    """y_s = x_s + discount·y_{s+1}·(1 − last_s) along the last axis: the
    (discounted) sum from each step to its episode's end."""

    def back(acc, xs):
        x_t, last_t = xs
        acc = x_t + discount * acc * (1.0 - last_t)
        return acc, acc

    xs = (jnp.moveaxis(x, -1, 0), jnp.moveaxis(last, -1, 0))
    _, y = jax.lax.scan(back, jnp.zeros_like(xs[0][0]), xs, reverse=True)
    return jnp.moveaxis(y, 0, -1)


def rewards_to_go(reward: jax.Array, mask: jax.Array, discount, time=None, last=None) -> jax.Array:
    """G_h = Σ_{t≥h} γ^t r_t to the end of h's episode, [..., T] (t counted
    from the episode's start).  Without `time`/`last` the batch is
    episode-major: one episode a row."""
    disc_r = discounted_rewards(reward, mask, discount, time)
    if last is None:
        return jnp.flip(jnp.cumsum(jnp.flip(disc_r, -1), -1), -1)
    return _within_episodes_reverse_cumsum(disc_r, last)


def restarted_returns(traj: Trajectories, discount) -> jax.Array:
    """R_h = Σ_{l≥0} γ^l r_{h+l} to the end of h's episode, the discount
    restarted at h: what a state baseline b(s_h, h) predicts.  [N, T]."""
    return _within_episodes_reverse_cumsum(traj.reward * traj.mask, traj.step_last, discount)


def leave_one_out_mean(x: jax.Array) -> jax.Array:
    """b_i = mean_{j≠i} x_j over the leading (episode) axis.

    A baseline built from the *other* episodes of the batch is independent of
    episode i, so subtracting it keeps the estimator unbiased.
    """
    n = x.shape[0]
    if n < 2:
        return jnp.zeros_like(x)
    return (jnp.sum(x, axis=0, keepdims=True) - x) / (n - 1)


def score_weights(traj: Trajectories, discount, estimator: str = "gpomdp", baseline="none"):
    """Per-step weights w[n, h] with Σ_episodes g = Σ_{n,h} w[n, h] ∇log π(a_h|s_h).

    estimator: "gpomdp" (reward-to-go) or "reinforce" (whole return), or
    "restarted", the official code of Fatkhullin et al. (ICML 2023): the
    restarted return R_h = Σ_l γ^l r_{h+l} − b(s_h), which drops the paper's
    γ^h and is biased for ∇J_H (`official_policy_gradient`).
    baseline: "none"; "loo", the leave-one-out batch mean of the same weight at
    the same time step (episode-major batches of a fixed N ≥ 2 only: in a
    batch of whole episodes until ≥ B steps the other episodes' number depends
    on this one's length, and the baseline would be biased); or an array
    b[n, h] of a state baseline's values b(s_h, h), which must not depend on
    the batch (rlx.agents.shared.baselines fits it on the previous one) and is subtracted
    as γ^h b(s_h, h), so Σ_t γ^t r_t − γ^h b estimates with the same
    restarted-return scale as the official code's A = R_h − b(s_h).
    """
    chex.assert_rank(traj.reward, 2)  # [rows, steps]
    chex.assert_equal_shape([traj.reward, traj.mask])
    time, last = traj.time, traj.last
    if estimator == "gpomdp":
        w = rewards_to_go(traj.reward, traj.mask, discount, time, last)
    elif estimator == "reinforce":
        disc_r = discounted_rewards(traj.reward, traj.mask, discount, time)
        w = episode_sums(traj, disc_r)
    elif estimator == "restarted":
        w = restarted_returns(traj, discount)
    else:
        raise ValueError(f"estimator must be 'gpomdp', 'reinforce' or 'restarted', got {estimator!r}")
    if isinstance(baseline, str):
        if baseline == "loo":
            if time is not None:
                raise ValueError("baseline 'loo' needs a batch of a fixed number of episodes, one a row")
            w = w - leave_one_out_mean(w)
        elif baseline != "none":
            raise ValueError(f"baseline must be 'none', 'loo' or an array of baseline values, got {baseline!r}")
    elif estimator == "restarted":
        w = w - baseline  # A_h = R_h − b(s_h), both on the restarted scale
    else:
        w = w - discounted_rewards(baseline, traj.mask, discount, traj.step_time)
    return jax.lax.stop_gradient(w * traj.mask)


def policy_gradient(
    logp_fn: Callable,
    params,
    traj: Trajectories,
    discount,
    estimator: str = "gpomdp",
    baseline="none",
    divisor=None,
):
    """The REINFORCE or GPOMDP estimate of ∇J_H(θ), a pytree: Σ over the
    batch's episodes / `divisor` (None: the number of rows, the mean over an
    episode-major batch's N episodes)."""
    w = score_weights(traj, discount, estimator, baseline)
    divisor = traj.mask.shape[0] if divisor is None else divisor
    surrogate = lambda p: jnp.sum(w * logp_fn(p)) / divisor
    return jax.grad(surrogate)(params)


def hessian_vector_product(logp_fn: Callable, params, traj: Trajectories, discount, v, baseline="none",
                           divisor=None):
    """Σ over the batch's episodes of B(τ, θ)·v / `divisor` (None: the number
    of rows), without a dense Hessian.

        B·v = ∇Φ ⟨∇log p(τ|θ), v⟩ + ∇⟨∇Φ, v⟩
    ⟨∇log p, v⟩ of every episode comes from one jvp summed over the episode's
    steps; the first term is then one gradient of Σ_k c_k Φ_k; the second a
    forward-over-reverse product.

    A baseline (see `score_weights`) puts G_h − b_h in Φ.  B stays unbiased:
    for a b_h independent of the episode's actions from h on,
    E[b_h(∇log π_h ∇log p(τ)ᵀ + ∇²log π_h)] = 0 — the terms of ∇log p after h
    and before h vanish by the score identity, and the h-th term is
    b_h ∇²Σ_a π(a|s_h) = 0.  It removes the large common part of the returns
    from the cross term, as a baseline does for g.
    """
    chex.assert_trees_all_equal_shapes(params, v)
    G = score_weights(traj, discount, "gpomdp", baseline)
    mask = traj.mask
    divisor = mask.shape[0] if divisor is None else divisor
    _, u = jax.jvp(lambda p: mask * logp_fn(p), (params,), (v,))  # ⟨∇log π(a_h|s_h), v⟩, [N, T]
    c = jax.lax.stop_gradient(episode_sums(traj, u))  # ⟨∇log p(τ_k|θ), v⟩ of each step's episode
    outer = jax.grad(lambda p: jnp.sum(c * G * logp_fn(p)) / divisor)(params)
    phi_grad = jax.grad(lambda p: jnp.sum(G * logp_fn(p)) / divisor)
    _, second = jax.jvp(phi_grad, (params,), (v,))
    return jax.tree.map(jnp.add, outer, second)


# --- What the official code of Fatkhullin et al. (ICML 2023) computes
# (github aabkn/Stochastic-Policy-Gradient-Methods: garage's VPG loss and
# torch/optimizers/STORMHess_optimizer.py), kept apart from the paper's
# estimators above so that a user can see what the estimator changes.  It
# minimises L = −(1/M) Σ_steps log π(a_h|s_h)·A_h over the batch's M valid
# steps, A_h = Σ_l γ^l r_{h+l} − b(s_h); on rlx's ascent scale that is
# ḡ = ∇Φ̄ with Φ̄ = (1/M) Σ A_h log π.  Both are biased for ∇J_H
# (tests/test_estimators.py measures it against rlx.exact).


def official_policy_gradient(logp_fn: Callable, params, traj: Trajectories, discount, baseline="none"):
    """ḡ = (1/M) Σ_steps A_h ∇log π(a_h|s_h): the restarted return minus the
    baseline, divided by the batch's realised valid steps M."""
    return policy_gradient(logp_fn, params, traj, discount, "restarted", baseline, jnp.maximum(traj.num_steps, 1.0))


def official_hessian_vector_product(logp_fn: Callable, params, traj: Trajectories, discount, v, baseline="none"):
    """The official code's Hessian-aided correction, on rlx's ascent scale:

        ∇²Φ̄·v − ∇Φ̄ · (1/M) Σ_steps ⟨∇log π(a_h|s_h), v⟩

    The code differentiates its loss −Φ̄ twice (giving −∇²Φ̄·v) and adds
    (−∇Φ̄)·(−(1/M)Σ⟨∇log π, v⟩): the cross term of Shen et al.'s B enters with
    the opposite sign, as a product of two batch means (so scaled 1/M) rather
    than a sum of per-episode products.  Compare `hessian_vector_product`."""
    chex.assert_trees_all_equal_shapes(params, v)
    A = score_weights(traj, discount, "restarted", baseline)
    mask, steps = traj.mask, jnp.maximum(traj.num_steps, 1.0)
    phi_grad = jax.grad(lambda p: jnp.sum(A * logp_fn(p)) / steps)
    grad, second = jax.jvp(phi_grad, (params,), (v,))
    _, u = jax.jvp(lambda p: jnp.sum(mask * logp_fn(p)), (params,), (v,))  # Σ_steps ⟨∇log π, v⟩
    return jax.tree.map(lambda s, g: s - g * u / steps, second, grad)
