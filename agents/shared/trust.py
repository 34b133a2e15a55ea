"""Closed-form metric-aware trust-region updates over discrete actions:
Wasserstein (WPO), Sinkhorn (SPO) and, for comparison, KL.

Song, He, Ding, Zhao, "Provably Convergent Policy Optimization via
Metric-aware Trust Region Methods", TMLR 2023.  The equations below were
re-derived from the trust-region problem and checked against the authors'
code (experiments/wpo/REFERENCE.md A1–A3, labels (W2), (W3), (S2), (S3));
docs/algorithms.md, "WPO and SPO (tabular)", says what of the paper was checked.

Every function works on one batch of states: `probs` π_k[s, j], advantages
A[s, i], a cost matrix M[j, i] = d(a_j, a_i) (M[j, j] = 0) from an old action j
to a new action i, and state weights w[s] (the discounted visitation of π_k).

    WPO:  π_{k+1}(i|s) = Σ_j π_k(j|s) 1[i = argmax_l A(s,l) − β M[j,l]]
    SPO:  π_{k+1}(i|s) = Σ_j π_k(j|s) softmax_i((λ/β) A(s,i) − λ M[j,i])
    KL:   π_{k+1}(i|s) ∝ π_k(i|s) exp(A(s,i)/β)

β is the multiplier of the trust region E_w[d(π(·|s), π_k(·|s))] ≤ δ, the
minimiser of the one-dimensional convex dual

    WPO:  F(β) = βδ + Σ_s w_s Σ_j π_k(j|s) max_i [A(s,i) − β M[j,i]]
    SPO:  F(β) = βδ + Σ_s w_s Σ_j π_k(j|s) (β/λ) [logsumexp_i((λ/β)A(s,i) − λM[j,i]) − log π_k(j|s)]
    KL:   F(β) = βδ + Σ_s w_s β log Σ_i π_k(i|s) exp(A(s,i)/β)

found by bisection on its (sub)gradient inside JAX.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

BISECTION_STEPS = 40  # the bracket shrinks 2^40 ≈ 10^12 times: below float32 resolution
MAX_DOUBLINGS = 64


def zero_one_cost(num_actions: int) -> jax.Array:
    """d(a_i, a_j) = 1[i ≠ j]."""
    return 1.0 - jnp.eye(num_actions)


def index_cost(num_actions: int) -> jax.Array:
    """d(a_i, a_j) = |i − j|, for actions that are ordered bins."""
    idx = jnp.arange(num_actions, dtype=jnp.float32)
    return jnp.abs(idx[:, None] - idx[None, :])


def _check(probs, adv, cost=None, weights=None) -> None:
    """Shapes at the entries: probs and adv [S, A], cost [A, A], weights [S]."""
    chex.assert_rank(probs, 2)
    chex.assert_equal_shape([probs, adv])
    if cost is not None:
        chex.assert_shape(cost, (probs.shape[1], probs.shape[1]))
    if weights is not None:
        chex.assert_shape(weights, probs.shape[:1])


def _destinations(adv, cost, beta):
    """κ[s, j] = argmax_i A(s, i) − β M[j, i], the action old action j moves to.

    A tie with staying keeps the mass where it is; other ties go to the lowest
    index.  (The authors' code sends every tie to the lowest index, which at
    β = 0 moves all the mass of a state with A ≡ 0 — every unvisited state of
    a sampled batch — onto action 0.)"""
    scores = adv[:, None, :] - beta * cost[None, :, :]  # [s, j, i]
    stay = jnp.diagonal(scores, axis1=1, axis2=2)  # [s, j]
    best = jnp.argmax(scores, axis=-1)
    return jnp.where(stay >= jnp.max(scores, axis=-1), jnp.arange(adv.shape[-1]), best)


def wpo_update(probs, adv, cost, beta):
    """π_{k+1}: each old action's mass moves to its best action after paying β·cost."""
    _check(probs, adv, cost)
    moves = jax.nn.one_hot(_destinations(adv, cost, beta), adv.shape[-1], dtype=probs.dtype)
    return jnp.einsum("sj,sji->si", probs, moves)


def spo_update(probs, adv, cost, beta, lam):
    """π_{k+1}: each old action's mass spread by a softmax at temperature β/λ."""
    _check(probs, adv, cost)
    plan = jax.nn.softmax((lam / beta) * adv[:, None, :] - lam * cost[None, :, :], axis=-1)
    return jnp.einsum("sj,sji->si", probs, plan)


def kl_update(probs, adv, beta):
    """π_{k+1} ∝ π_k exp(A/β), the KL trust region's closed form."""
    _check(probs, adv)
    return jax.nn.softmax(jnp.log(probs) + adv / beta, axis=-1)


def wpo_dual(beta, probs, adv, cost, weights, delta):
    best = jnp.max(adv[:, None, :] - beta * cost[None, :, :], axis=-1)  # [s, j]
    return beta * delta + jnp.sum(weights[:, None] * probs * best)


def spo_dual(beta, probs, adv, cost, weights, delta, lam):
    soft = jax.nn.logsumexp((lam / beta) * adv[:, None, :] - lam * cost[None, :, :], axis=-1)
    entropy_term = jnp.where(probs > 0, (beta / lam) * (soft - jnp.log(jnp.where(probs > 0, probs, 1.0))), 0.0)
    return beta * delta + jnp.sum(weights[:, None] * probs * entropy_term)


def kl_dual(beta, probs, adv, weights, delta):
    logits = jnp.where(probs > 0, jnp.log(jnp.where(probs > 0, probs, 1.0)), -jnp.inf) + adv / beta
    return beta * delta + jnp.sum(weights * beta * jax.nn.logsumexp(logits, axis=-1))


def _wpo_slope(beta, probs, adv, cost, weights, delta):
    """F's derivative where the argmax is unique: δ − E[M[j, κ(j)]]."""
    kappa = _destinations(adv, cost, beta)
    moved = jnp.take_along_axis(jnp.broadcast_to(cost, probs.shape + cost.shape[-1:]), kappa[..., None], -1)[..., 0]
    return delta - jnp.sum(weights[:, None] * probs * moved)


def _bisect(slope, lo, hi):
    """(lo, hi) bracketing, to float precision, the point in [lo, hi] where a
    nondecreasing `slope` crosses 0."""

    def step(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        up = slope(mid) >= 0
        return jnp.where(up, lo, mid), jnp.where(up, mid, hi)

    return jax.lax.fori_loop(0, BISECTION_STEPS, step, (lo, hi))


def _beta_max(adv, cost):
    """Above this β every action stays where it is (the dual's slope is δ > 0)."""
    off_diagonal = jnp.where(cost > 0, cost, jnp.inf)
    return (jnp.max(adv) - jnp.min(adv)) / jnp.min(off_diagonal) + 1.0


def wpo_beta(probs, adv, cost, weights, delta):
    """argmin_{β ≥ 0} of the WPO dual (piecewise linear and convex)."""
    return _wpo_bracket(probs, adv, cost, weights, delta)[1]


def _wpo_bracket(probs, adv, cost, weights, delta):
    slope = lambda b: _wpo_slope(b, probs, adv, cost, weights, delta)
    lo, hi = _bisect(slope, 0.0, _beta_max(adv, cost))
    at_zero = slope(0.0) >= 0
    return jnp.where(at_zero, 0.0, lo), jnp.where(at_zero, 0.0, hi)


def wpo_step(probs, adv, cost, weights, delta):
    """The exact solution of the WPO trust-region problem, and its β*.

    β* is almost always a breakpoint of the dual, where the argmax of some old
    action jumps: just above β* the moves cost less than δ, just below more.
    Both move sets maximise the Lagrangian at β*, and so does any mixture of
    them; the mixture that spends exactly δ is the optimum (complementary
    slackness).  Without the split, a trust region smaller than one action's
    mass would never move the policy.
    """
    _check(probs, adv, cost, weights)
    lo, hi = _wpo_bracket(probs, adv, cost, weights, delta)
    under, over = wpo_update(probs, adv, cost, hi), wpo_update(probs, adv, cost, lo)
    spent_under = delta - _wpo_slope(hi, probs, adv, cost, weights, delta)
    spent_over = delta - _wpo_slope(lo, probs, adv, cost, weights, delta)
    share = jnp.clip((delta - spent_under) / jnp.maximum(spent_over - spent_under, 1e-12), 0.0, 1.0)
    share = jnp.where(spent_over > spent_under, share, 0.0)
    return (1.0 - share) * under + share * over, hi


WARM_STEPS = 16  # log-bisection steps from a warm start: the bracket's log-width 2 log 16 shrinks to 8·10⁻⁵


def _smooth_argmin(dual, start, steps: int = BISECTION_STEPS):
    """argmin_{β > 0} of a smooth convex dual: from the bracket
    [start/16, 16·start], widen each end 16-fold while the slope there has the
    wrong sign (at most MAX_DOUBLINGS times), then bisect log β `steps` times.
    A `start` near the answer (last iteration's β) needs no widening and few
    steps: what deep SPO does (`WARM_STEPS`)."""
    slope = jax.grad(dual)

    def widen(c):
        i, lo, hi = c
        return i + 1, jnp.where(slope(lo) > 0, lo / 16.0, lo), jnp.where(slope(hi) < 0, hi * 16.0, hi)

    _, lo, hi = jax.lax.while_loop(lambda c: (c[0] < MAX_DOUBLINGS) & ((slope(c[1]) > 0) | (slope(c[2]) < 0)), widen,
                                   (0, start / 16.0, start * 16.0))

    def halve(_, bounds):
        lo, hi = bounds
        mid = jnp.sqrt(lo * hi)
        up = slope(mid) >= 0
        return jnp.where(up, lo, mid), jnp.where(up, mid, hi)

    return jax.lax.fori_loop(0, steps, halve, (lo, hi))[1]


def spo_beta(probs, adv, cost, weights, delta, lam, start=None, steps: int = BISECTION_STEPS):
    """argmin_{β > 0} of the SPO dual (smooth and convex: a perspective),
    searched from `start` (None: the β above which nothing moves)."""
    _check(probs, adv, cost, weights)
    start = _beta_max(adv, cost) if start is None else start
    return _smooth_argmin(lambda b: spo_dual(b, probs, adv, cost, weights, delta, lam), start, steps)


def kl_beta(probs, adv, weights, delta):
    """argmin_{β > 0} of the KL dual: the multiplier of E_w[KL(π‖π_k)] ≤ δ."""
    _check(probs, adv, weights=weights)
    return _smooth_argmin(lambda b: kl_dual(b, probs, adv, weights, delta), jnp.max(adv) - jnp.min(adv) + 1.0)


def cost_matrix(kind: str, num_actions: int) -> jax.Array:
    """M for `kind` "zero_one" (unordered actions) or "index" (ordered bins)."""
    return zero_one_cost(num_actions) if kind == "zero_one" else index_cost(num_actions)


def step(probs, adv, cost, weights, config, t, warm_beta=None):
    """(π_{k+1}, β): the closed form of `config.method` ("wpo", "spo" or
    "kl") with β by `config.beta_schedule`: "dual" (the dual's minimiser for
    radius `config.delta`), "fixed" (`config.beta`) or "decay" (β/(k+1)²,
    k = t).  SPO's λ is `config.lam`.  What WPO/SPO on a table and on
    networks share.  `warm_beta` > 0 (the last iteration's β): SPO's dual is
    searched from it with WARM_STEPS bisections."""
    _check(probs, adv, cost, weights)
    if config.beta_schedule == "dual":
        if config.method == "wpo":
            return wpo_step(probs, adv, cost, weights, config.delta)
        if config.method == "spo" and warm_beta is not None:
            start = jnp.where(warm_beta > 0, warm_beta, _beta_max(adv, cost))
            beta = spo_beta(probs, adv, cost, weights, config.delta, config.lam, start, WARM_STEPS)
        elif config.method == "spo":
            beta = spo_beta(probs, adv, cost, weights, config.delta, config.lam)
        else:
            beta = kl_beta(probs, adv, weights, config.delta)
    else:
        beta = config.beta if config.beta_schedule == "fixed" else config.beta / (t + 1.0) ** 2
        beta = jnp.asarray(beta, jnp.float32)
    if config.method == "wpo":
        return wpo_update(probs, adv, cost, beta), beta
    if config.method == "spo":
        return spo_update(probs, adv, cost, beta, config.lam), beta
    return kl_update(probs, adv, beta), beta
