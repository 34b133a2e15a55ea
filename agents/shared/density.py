"""A diagonal Gaussian mixture fitted by weighted EM, pure JAX: the state
density d̂(s) of PGP's continuous tasks (log λ̂(s, a) = log d̂(s) + log π(a|s)).

Samples carry weights (γ^t for a discounted occupancy); `fit` runs a fixed
number of EM steps from `init` or from the last fit (warm start).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

MIN_VARIANCE = 1e-4


@struct.dataclass
class Mixture:
    log_weights: jax.Array  # [K]
    means: jax.Array  # [K, D]
    variances: jax.Array  # [K, D]


def init(key: jax.Array, x: jax.Array, components: int = 16) -> Mixture:
    """Means at K random samples, every variance the data's, equal weights."""
    means = x[jax.random.choice(key, x.shape[0], (components,), replace=x.shape[0] < components)]
    variances = jnp.broadcast_to(jnp.var(x, axis=0) + MIN_VARIANCE, means.shape)
    return Mixture(log_weights=jnp.full((components,), -jnp.log(components)), means=means, variances=variances)


def _component_log_densities(mixture: Mixture, x: jax.Array) -> jax.Array:
    """log w_k + log N(x; μ_k, diag σ²_k), shape [N, K]."""
    z = (x[:, None, :] - mixture.means[None]) ** 2 / mixture.variances[None]
    log_norm = -0.5 * jnp.sum(jnp.log(2 * jnp.pi * mixture.variances), -1)
    return mixture.log_weights[None] + log_norm[None] - 0.5 * jnp.sum(z, -1)


def log_density(mixture: Mixture, x: jax.Array) -> jax.Array:
    """log d̂(x) for x [N, D]."""
    return jax.nn.logsumexp(_component_log_densities(mixture, x), axis=-1)


def fit(mixture: Mixture, x: jax.Array, weights: jax.Array | None = None, iterations: int = 10) -> Mixture:
    """`iterations` weighted EM steps; weights [N] ≥ 0 (None: all 1)."""
    weights = jnp.ones(x.shape[:1]) if weights is None else weights

    def step(m, _):
        resp = jax.nn.softmax(_component_log_densities(m, x), axis=-1) * weights[:, None]  # [N, K]
        mass = jnp.sum(resp, 0) + 1e-8
        means = resp.T @ x / mass[:, None]
        variances = resp.T @ x**2 / mass[:, None] - means**2 + MIN_VARIANCE
        return Mixture(log_weights=jnp.log(mass / jnp.sum(mass)), means=means,
                       variances=jnp.maximum(variances, MIN_VARIANCE)), None

    mixture, _ = jax.lax.scan(step, mixture, None, length=iterations)
    return mixture
