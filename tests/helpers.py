"""Shared test helpers: z-scores of Monte Carlo estimates against exact values."""

from __future__ import annotations

import numpy as np
from jax.flatten_util import ravel_pytree


def flat(tree) -> np.ndarray:
    """A pytree as one flat vector."""
    return np.asarray(ravel_pytree(tree)[0])


def z_scores(samples: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """(mean − exact) / standard error, per coordinate; samples are [M, d]."""
    samples = np.asarray(samples, np.float64)
    mean = samples.mean(0)
    se = samples.std(0, ddof=1) / np.sqrt(samples.shape[0])
    assert np.all(se > 0), "a coordinate has no variance: the test would prove nothing"
    return (mean - np.asarray(exact, np.float64)) / se
