"""Step-size and momentum schedules of the papers' official code (t from 0)."""

from __future__ import annotations

import jax.numpy as jnp


def harmonic_power(base, t, power):
    """base · (2 / (t + 2))^power: the schedules of Fatkhullin et al.'s code,
    e.g. γ_t = γ0·(2/(t+2))^{2/3} for vanilla PG, η_t = η0·2/(t+2) for HARPG."""
    return base * (2.0 / (jnp.asarray(t, jnp.float32) + 2.0)) ** power


def inverse_power(base, t, power):
    """base · (t + 1)^(−power): e.g. SHARP's η_t and α_t ∝ (t+1)^{−2/3}."""
    return base * (jnp.asarray(t, jnp.float32) + 1.0) ** (-power)
