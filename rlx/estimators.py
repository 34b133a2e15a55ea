"""Policy-gradient and Hessian-vector estimators, as pure functions.

Notation of ALGORITHMS.md, for one episode τ of horizon H (J is maximised):
    REINFORCE  g(τ, θ) = Σ_h (Σ_t γ^t r_t) ∇log π_θ(a_h|s_h)
    GPOMDP     g(τ, θ) = Σ_h (Σ_{t≥h} γ^t r_t) ∇log π_θ(a_h|s_h)
    Φ(τ, θ)    = Σ_h (Σ_{t≥h} γ^t r_t) log π_θ(a_h|s_h),  so g_GPOMDP = ∇Φ
    B(τ, θ)    = ∇Φ(τ, θ) ∇log p(τ|θ)ᵀ + ∇²Φ(τ, θ),  ∇log p(τ|θ) = Σ_h ∇log π_θ(a_h|s_h)
B is the unbiased Hessian estimate of J_H of Shen et al. (ICML 2019, eq. 8);
rlx never forms it, only B·v.  Note the discount γ^t counts from the start of
the episode, not from h: that is what makes g unbiased for ∇J_H.

`logp_fn(params) -> [N, H]` gives log π_θ(a_h|s_h) of a fixed batch; a batch's
estimate is the mean over its N episodes.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from rlx.rollout import Trajectories


def discounted_rewards(reward: jax.Array, mask: jax.Array, discount) -> jax.Array:
    """γ^t r_t over the episode, [..., H]; t counts from the episode's start."""
    horizon = reward.shape[-1]
    return reward * mask * discount ** jnp.arange(horizon, dtype=reward.dtype)


def rewards_to_go(reward: jax.Array, mask: jax.Array, discount) -> jax.Array:
    """G_h = Σ_{t≥h} γ^t r_t, [..., H] (a reverse cumulative sum)."""
    disc_r = discounted_rewards(reward, mask, discount)
    return jnp.flip(jnp.cumsum(jnp.flip(disc_r, -1), -1), -1)


def leave_one_out_mean(x: jax.Array) -> jax.Array:
    """b_i = mean_{j≠i} x_j over the leading (episode) axis.

    A baseline built from the *other* episodes of the batch is independent of
    episode i, so subtracting it keeps the estimator unbiased.
    """
    n = x.shape[0]
    if n < 2:
        return jnp.zeros_like(x)
    return (jnp.sum(x, axis=0, keepdims=True) - x) / (n - 1)


def score_weights(traj: Trajectories, discount, estimator: str = "gpomdp", baseline: str = "none"):
    """Per-step weights w[n, h] with g = mean_n Σ_h w[n, h] ∇log π(a_h|s_h).

    estimator: "gpomdp" (reward-to-go) or "reinforce" (whole return).
    baseline: "none", or "loo" (the leave-one-out batch mean of the same weight
    at the same time step; needs N ≥ 2).
    """
    if estimator == "gpomdp":
        w = rewards_to_go(traj.reward, traj.mask, discount)
    elif estimator == "reinforce":
        ret = jnp.sum(discounted_rewards(traj.reward, traj.mask, discount), -1, keepdims=True)
        w = jnp.broadcast_to(ret, traj.reward.shape)
    else:
        raise ValueError(f"estimator must be 'gpomdp' or 'reinforce', got {estimator!r}")
    if baseline == "loo":
        w = w - leave_one_out_mean(w)
    elif baseline != "none":
        raise ValueError(f"baseline must be 'none' or 'loo', got {baseline!r}")
    return jax.lax.stop_gradient(w * traj.mask)


def policy_gradient(
    logp_fn: Callable,
    params,
    traj: Trajectories,
    discount,
    estimator: str = "gpomdp",
    baseline: str = "none",
):
    """The batch-mean REINFORCE or GPOMDP estimate of ∇J_H(θ), a pytree."""
    w = score_weights(traj, discount, estimator, baseline)
    surrogate = lambda p: jnp.mean(jnp.sum(w * logp_fn(p), axis=-1))
    return jax.grad(surrogate)(params)


def hessian_vector_product(logp_fn: Callable, params, traj: Trajectories, discount, v, baseline: str = "none"):
    """The batch mean of B(τ, θ)·v, without a dense Hessian.

        B·v = ∇Φ ⟨∇log p(τ|θ), v⟩ + ∇⟨∇Φ, v⟩
    ⟨∇log p, v⟩ of every episode comes from one jvp; the first term is then one
    gradient of Σ_n c_n Φ_n; the second a forward-over-reverse product.

    baseline="loo" puts G_h − b_h in Φ, b_h the leave-one-out batch mean.  B
    stays unbiased: for a b_h independent of the episode's actions from h on,
    E[b_h(∇log π_h ∇log p(τ)ᵀ + ∇²log π_h)] = 0 — the terms of ∇log p after h
    and before h vanish by the score identity, and the h-th term is
    b_h ∇²Σ_a π(a|s_h) = 0.  It removes the large common part of the returns
    from the cross term, as a baseline does for g.
    """
    G = score_weights(traj, discount, "gpomdp", baseline)
    mask = traj.mask
    log_p = lambda p: jnp.sum(mask * logp_fn(p), axis=-1)  # log p(τ_n|θ) + const, [N]
    phi = lambda p: jnp.sum(G * logp_fn(p), axis=-1)  # Φ(τ_n, θ), [N]

    _, c = jax.jvp(log_p, (params,), (v,))  # ⟨∇log p(τ_n|θ), v⟩, [N]
    c = jax.lax.stop_gradient(c)
    outer = jax.grad(lambda p: jnp.mean(c * phi(p)))(params)
    mean_phi_grad = jax.grad(lambda p: jnp.mean(phi(p)))
    _, second = jax.jvp(mean_phi_grad, (params,), (v,))
    return jax.tree.map(jnp.add, outer, second)
