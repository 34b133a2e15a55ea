"""Shared test helpers: z-scores of Monte Carlo estimates against exact values,
and the two terms of B·v written out, from which tests build planted bugs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree


def flat(tree) -> np.ndarray:
    """A pytree as one flat vector."""
    return np.asarray(ravel_pytree(tree)[0])


def z_scores(samples: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """(mean − exact) / standard error, per coordinate; samples are [M, d].

    A coordinate the estimator never moves (a state no episode acts in) has no
    standard error: there the estimate must equal the exact value outright,
    and its z-score is reported as 0.
    """
    samples = np.asarray(samples, np.float64)
    exact = np.asarray(exact, np.float64)
    mean = samples.mean(0)
    se = samples.std(0, ddof=1) / np.sqrt(samples.shape[0])
    constant = se == 0
    assert not np.all(constant), "no coordinate has variance: the test would prove nothing"
    np.testing.assert_allclose(mean[constant], exact[constant], atol=1e-6)
    return np.where(constant, 0.0, (mean - exact) / np.where(constant, 1.0, se))


def hvp_terms(logp_fn, params, traj, weights, v, divisor=None):
    """The two terms of B·v summed over the batch's episodes / divisor, for
    Φ_k = Σ_{h ∈ k} w_h log π(a_h|s_h): the cross term Σ_k ∇Φ_k ⟨∇log p(τ_k), v⟩
    and the second-order term ∇⟨∇ Σ_k Φ_k, v⟩.  Their sum is what
    rlx.estimators computes.  Episodes are found from `time` (a step with
    time 0 starts one); divisor None = the number of rows."""
    divisor = traj.mask.shape[0] if divisor is None else divisor
    starts = (traj.step_time == 0).reshape(-1)
    episode = jnp.cumsum(starts) - 1  # the episode index of each step, in reading order
    per_episode = lambda x: jax.ops.segment_sum((x * traj.mask).reshape(-1), episode, starts.shape[0])
    phi = lambda p: per_episode(weights * logp_fn(p))
    _, c = jax.jvp(lambda p: per_episode(logp_fn(p)), (params,), (v,))
    cross = jax.grad(lambda p: jnp.sum(c * phi(p)) / divisor)(params)
    _, second = jax.jvp(jax.grad(lambda p: jnp.sum(phi(p)) / divisor), (params,), (v,))
    return cross, second
