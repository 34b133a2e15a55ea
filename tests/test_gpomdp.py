"""gpomdp learns: cartpole past a return threshold, and a tabular MDP toward
its optimum by the exact oracle."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rlx import exact
from rlx.agents import gpomdp
from rlx.envs import make
from rlx.envs.tabular import TabularEnv, random_mdp
from rlx.train import make_train


def test_gpomdp_learns_cartpole():
    # CartPole-v1 caps the return at 500; a uniform random policy gets ≈22.
    # 400 (80% of the cap, 18× random) in 100 iterations × 5,000 steps can only
    # be reached by a policy that balances for most of the episode.
    env = make("cartpole")
    config = gpomdp.Config()  # the defaults: N=10, H=500, γ0=0.01, the PG schedule
    train = make_train(gpomdp, env, config, num_iterations=100)
    _, metrics = jax.jit(jax.vmap(train))(jax.random.split(jax.random.key(0), 2))
    returns = np.asarray(metrics["episode_return"])
    assert returns[:, :3].mean() < 60  # it starts near random ...
    final = returns[:, -5:].mean(1)
    assert np.all(final > 400), final  # ... and every seed ends balancing


def test_gpomdp_climbs_toward_the_exact_optimum():
    mdp = random_mdp(jax.random.key(11), 4, 3, 0.9, 10)
    env = TabularEnv(mdp)
    config = gpomdp.Config(num_envs=32, lr=1.0, lr_schedule="constant")  # γ: the MDP's own
    train = make_train(gpomdp, env, config, num_iterations=300)
    state, _ = jax.jit(train)(jax.random.key(0))
    probs_fn = lambda p: gpomdp.policy(env, config).probs_table(p, 4)
    J_uniform = exact.J(mdp, jnp.full((4, 3), 1 / 3))
    J_final = exact.J(mdp, probs_fn(state.params))
    J_star = exact.optimal_J(mdp)  # time-dependent optimum: an upper bound
    gap_closed = (J_final - J_uniform) / (J_star - J_uniform)
    assert gap_closed > 0.9, float(gap_closed)
