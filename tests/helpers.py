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


def hvp_terms(logp_fn, params, traj, weights, v):
    """The two batch-mean terms of B·v for Φ_n = Σ_h w[n, h] log π(a_h|s_h):
    the cross term mean_n ∇Φ_n ⟨∇log p(τ_n), v⟩ and the second-order term
    ∇⟨∇ mean_n Φ_n, v⟩.  Their sum is what rlx.estimators computes."""
    phi = lambda p: jnp.sum(weights * logp_fn(p), -1)
    _, c = jax.jvp(lambda p: jnp.sum(traj.mask * logp_fn(p), -1), (params,), (v,))
    cross = jax.grad(lambda p: jnp.mean(c * phi(p)))(params)
    _, second = jax.jvp(jax.grad(lambda p: jnp.mean(phi(p))), (params,), (v,))
    return cross, second
