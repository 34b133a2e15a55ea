"""The on-device replay buffer (rlx.agents.shared.buffer): insertion order, wrap-around at
capacity, sampling only filled slots, and jit/vmap over seeds."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rlx.agents.shared import buffer


def _items(start, n):
    return {"obs": jnp.arange(start, start + n, dtype=jnp.float32)[:, None] * jnp.ones((1, 3)),
            "action": jnp.arange(start, start + n, dtype=jnp.int32)}


def test_keeps_insertion_order_and_wraps_at_capacity():
    buf = buffer.init({"obs": jnp.zeros(3), "action": jnp.zeros((), jnp.int32)}, capacity=5)
    buf = buffer.add(buf, _items(0, 3))
    np.testing.assert_array_equal(buffer.ordered(buf)["action"], [0, 1, 2])
    buf = buffer.add(buf, _items(3, 4))  # 7 items into 5 slots: 0 and 1 overwritten
    assert int(buf.size) == 5 and int(buf.position) == 2
    np.testing.assert_array_equal(buffer.ordered(buf)["action"], [2, 3, 4, 5, 6])
    np.testing.assert_array_equal(buf.data["action"], [5, 6, 2, 3, 4])  # the ring itself
    np.testing.assert_array_equal(buffer.ordered(buf)["obs"][:, 0], [2, 3, 4, 5, 6])
    with pytest.raises(ValueError, match="capacity"):
        buffer.add(buf, _items(0, 6))


def test_samples_only_filled_slots_uniformly():
    buf = buffer.init({"obs": jnp.zeros(3), "action": jnp.full((), -1, jnp.int32)}, capacity=100)
    buf = buffer.add(buf, _items(10, 7))  # slots 0..6 filled with 10..16, the rest zeros
    draws = np.asarray(buffer.sample(jax.random.key(0), buf, 7000)["action"])
    assert set(draws.tolist()) == set(range(10, 17))
    counts = np.bincount(draws - 10, minlength=7)
    # each count is Binomial(7000, 1/7): mean 1000, s.e. ≈ 29.3; 4 s.e.
    assert np.all(np.abs(counts - 1000) < 4 * np.sqrt(7000 * (1 / 7) * (6 / 7))), counts


def test_jits_and_vmaps_over_seeds():
    def fill(key):
        buf = buffer.init({"obs": jnp.zeros(3), "action": jnp.zeros((), jnp.int32)}, capacity=8)

        def step(buf, k):
            item = {"obs": jax.random.normal(k, (1, 3)), "action": jax.random.randint(k, (1,), 0, 100)}
            return buffer.add(buf, item), None

        buf, _ = jax.lax.scan(step, buf, jax.random.split(key, 11))
        return buf, buffer.sample(key, buf, 4)

    bufs, batches = jax.jit(jax.vmap(fill))(jax.random.split(jax.random.key(1), 3))
    np.testing.assert_array_equal(bufs.size, [8, 8, 8])
    np.testing.assert_array_equal(bufs.position, [3, 3, 3])
    assert batches["obs"].shape == (3, 4, 3)
    assert not np.allclose(bufs.data["obs"][0], bufs.data["obs"][1])  # seeds differ
