"""The minibatch order of the on-policy agents (`onpolicy.random_order`): a
permutation for every size, and uniform — its position counts pass a
chi-square test that a one-round Feistel network, planted, fails."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from rlx.agents.shared import onpolicy

DRAWS = 20_000


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 16, 17, 100, 2048])
def test_random_order_is_a_permutation(n):
    for seed in range(3):
        order = np.asarray(onpolicy.random_order(jax.random.key(seed), n))
        assert order.dtype == np.int32 and sorted(order.tolist()) == list(range(n))


def _position_chi_square(n: int, rounds: int) -> tuple[float, int]:
    """Chi-square of the counts of (element, position) over DRAWS orders, and its
    degrees of freedom (n − 1)²: a uniform permutation puts each element at each
    position with probability 1/n."""
    keys = jax.random.split(jax.random.key(7), DRAWS)
    orders = np.asarray(jax.jit(jax.vmap(lambda k: onpolicy.random_order(k, n, rounds)))(keys))
    counts = np.zeros((n, n))
    np.add.at(counts, (orders, np.broadcast_to(np.arange(n), orders.shape)), 1)
    expected = DRAWS / n
    return float(((counts - expected) ** 2 / expected).sum()), (n - 1) ** 2


@pytest.mark.parametrize("n", [6, 16])  # the compaction path (6 of 16) and a power of four
def test_random_order_is_uniform_and_a_planted_weak_order_is_caught(n):
    chi2, dof = _position_chi_square(n, onpolicy.FEISTEL_ROUNDS)
    bound = dof + 4 * np.sqrt(2 * dof)  # mean + 4 s.d. of the chi-square law
    assert chi2 < bound, (chi2, bound)
    weak, _ = _position_chi_square(n, rounds=1)  # one round leaves half the bits in place
    assert weak > 10 * bound, (weak, bound)
