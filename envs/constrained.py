"""Continuous constrained-exploration tasks of PGP (Wolf, Fatkhullin, He 2026),
native JAX.  As on `constrained_gridworld`, the env's reward is minus the
constraint's cost, so an agent reads the cost from the env it is given.

- `cartpole_swingup`: the pole starts hanging down; a continuous force moves
  the cart on a track with walls at |x| = 3; the cost is 1 for every step
  with |x| > 2 (the constraint |x| ≤ 2 of the paper's task).
- `point_mass`: a damped point pushed by a bounded force in the square
  arena |p_i| ≤ 2 (walls stop it); no cost (its constraint, KL to a
  reference occupancy, is the agent's).
"""

from __future__ import annotations

import gymnasium
import jax
import jax.numpy as jnp
from flax import struct

from rlx.envs.base import Env


@struct.dataclass
class ControlState:
    q: jax.Array  # the physical state
    t: jax.Array


class _ControlEnv(Env):
    """What both tasks share: params held by the env, a Box observation, a
    time limit and no termination."""

    family = "control"

    params: object
    obs_dim: int
    action_dim: int

    @property
    def default_params(self):
        return self.params

    def observation_space(self, params=None):
        return gymnasium.spaces.Box(-jnp.inf, jnp.inf, (self.obs_dim,), "float32")

    def action_space(self, params=None):
        return gymnasium.spaces.Box(-1.0, 1.0, (self.action_dim,), "float32")

    def max_steps(self, params=None) -> int:
        return (params or self.params).horizon

    def is_truncated(self, state: ControlState, params):
        return state.t >= params.horizon


@struct.dataclass
class SwingUpParams:
    gravity: float = 9.8
    cart_mass: float = 1.0
    pole_mass: float = 0.1
    half_length: float = 0.5
    force: float = 10.0
    dt: float = 0.02
    wall: float = 3.0  # the track's end: the cart stops there
    limit: float = 2.0  # cost 1 while |x| > limit
    horizon: int = struct.field(pytree_node=False, default=500)


class CartPoleSwingUp(_ControlEnv):
    """State q = (x, ẋ, θ, θ̇), θ = 0 upright; observation
    (x, ẋ, cos θ, sin θ, θ̇); action a ∈ [−1, 1], force a·force.  The
    classic cart-pole equations (Barto, Sutton, Anderson 1983, as gym's
    CartPole) with semi-implicit Euler steps; no termination."""

    name = "cartpole_swingup"
    obs_dim, action_dim = 5, 1

    def __init__(self, horizon: int = 500, limit: float = 2.0):
        self.params = SwingUpParams(limit=limit, horizon=horizon)

    @staticmethod
    def _obs(q):
        x, x_dot, theta, theta_dot = q
        return jnp.stack([x, x_dot, jnp.cos(theta), jnp.sin(theta), theta_dot]).astype(jnp.float32)

    def reset_env(self, key, params: SwingUpParams):
        q = jnp.asarray([0.0, 0.0, jnp.pi, 0.0]) + 0.05 * jax.random.normal(key, (4,))
        return self._obs(q), ControlState(q=q, t=jnp.zeros((), jnp.int32))

    def step_env(self, key, state: ControlState, action, params: SwingUpParams):
        x, x_dot, theta, theta_dot = state.q
        force = params.force * jnp.clip(jnp.reshape(action, ()), -1.0, 1.0)
        total = params.cart_mass + params.pole_mass
        sin, cos = jnp.sin(theta), jnp.cos(theta)
        temp = (force + params.pole_mass * params.half_length * theta_dot**2 * sin) / total
        theta_acc = (params.gravity * sin - cos * temp) / (
            params.half_length * (4.0 / 3.0 - params.pole_mass * cos**2 / total))
        x_acc = temp - params.pole_mass * params.half_length * theta_acc * cos / total
        x_dot = x_dot + params.dt * x_acc
        theta_dot = theta_dot + params.dt * theta_acc
        x = x + params.dt * x_dot
        theta = theta + params.dt * theta_dot
        hit = jnp.abs(x) > params.wall  # the wall stops the cart
        x, x_dot = jnp.clip(x, -params.wall, params.wall), jnp.where(hit, 0.0, x_dot)
        q = jnp.stack([x, x_dot, theta, theta_dot])
        cost = (jnp.abs(x) > params.limit).astype(jnp.float32)
        return self._obs(q), ControlState(q=q, t=state.t + 1), -cost, False



@struct.dataclass


class PointMassParams:
    dt: float = 0.1
    damping: float = 0.5
    arena: float = 2.0  # walls at |p_i| = arena
    horizon: int = struct.field(pytree_node=False, default=100)


class PointMass(_ControlEnv):
    """q = (position ∈ R², velocity ∈ R²), starting at rest at the origin;
    action a ∈ [−1, 1]² is the force; v ← (1 − damping·dt) v + dt a,
    p ← p + dt v, and a wall stops the motion across it.  Reward 0 (no cost)."""

    name = "point_mass"
    obs_dim, action_dim = 4, 2

    def __init__(self, horizon: int = 100):
        self.params = PointMassParams(horizon=horizon)

    def reset_env(self, key, params: PointMassParams):
        q = jnp.zeros((4,), jnp.float32)
        return q, ControlState(q=q, t=jnp.zeros((), jnp.int32))

    def step_env(self, key, state: ControlState, action, params: PointMassParams):
        position, velocity = state.q[:2], state.q[2:]
        velocity = (1.0 - params.damping * params.dt) * velocity + params.dt * jnp.clip(action, -1.0, 1.0)
        position = position + params.dt * velocity
        hit = jnp.abs(position) > params.arena
        position, velocity = jnp.clip(position, -params.arena, params.arena), jnp.where(hit, 0.0, velocity)
        q = jnp.concatenate([position, velocity]).astype(jnp.float32)
        return q, ControlState(q=q, t=state.t + 1), jnp.zeros(()), False
