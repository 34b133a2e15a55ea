"""Shared test helpers: z-scores of Monte Carlo estimates against exact values."""

from __future__ import annotations

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
