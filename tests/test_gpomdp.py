"""gpomdp learns: cartpole past a return threshold, and a tabular MDP toward
its optimum by the exact oracle."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rlx import agents, exact
from rlx.agents import gpomdp
from rlx.envs import make
from rlx.envs.tabular import TabularEnv, random_mdp
from rlx.train import make_train


def test_gpomdp_learns_cartpole_with_its_defaults():
    # CartPole-v1 caps the return at 500; a uniform random policy gets ≈22.
    # The defaults for classic control (the agent's FAMILY_DEFAULTS), 300 iterations
    # of ≥ 1,000 steps, 4 seeds.  Measured: the seeds' last 30 iterations
    # average 453, 490, 477, 463 (γ0 grid in experiments/vr_pg/tune_defaults.py).  Asserted with a margin float rounding cannot cross: the
    # mean over seeds above 300 (14× random) and three of four seeds above 250.
    env = make("cartpole")
    config = agents.config("gpomdp", env)
    train = make_train(gpomdp, env, config, num_iterations=300)
    _, metrics = jax.jit(jax.vmap(train))(jax.random.split(jax.random.key(0), 4))
    returns = np.asarray(metrics["episode_return"])
    assert returns[:, :3].mean() < 60  # it starts near random ...
    final = returns[:, -30:].mean(1)
    assert final.mean() > 300 and np.sum(final > 250) >= 3, final  # ... and balances


def test_gpomdp_climbs_toward_the_exact_optimum():
    mdp = random_mdp(jax.random.key(11), 4, 3, 0.9, 10)
    env = TabularEnv(mdp)
    # 32 episodes of H = 10 an iteration; γ0 on the per-step scale (rlx.agents.shared.pg.step_divisor:
    # the sum over 32 episodes / 320 steps), so 10 here is a step of 1 on the episode mean.
    config = gpomdp.Config(batch_steps=320, lr=10.0, lr_schedule="constant")  # γ: the MDP's own
    train = make_train(gpomdp, env, config, num_iterations=300)
    state, _ = jax.jit(train)(jax.random.key(0))
    probs_fn = lambda p: gpomdp.policy(env, config).probs_table(p, 4)
    J_uniform = exact.J(mdp, jnp.full((4, 3), 1 / 3))
    J_final = exact.J(mdp, probs_fn(state.params))
    J_star = exact.optimal_J(mdp)  # time-dependent optimum: an upper bound
    gap_closed = (J_final - J_uniform) / (J_star - J_uniform)
    assert gap_closed > 0.9, float(gap_closed)
