"""Entropy-regularised neural natural actor-critic (NAC) on tabular MDPs, with
the generative-model sampler of the paper.

Cayci, He, Srikant, "Finite-Time Analysis of Entropy-Regularized Neural
Natural Actor-Critic", TMLR 2024: Algorithm 2 (the actor-critic), Algorithm 1
(`sym_init`), Algorithm 3 (max-norm neural TD for the critic) and Algorithm 4
(sampling from d^π ⊗ π).  The paper has no code and its full text was not
reachable here; the steps below are the reconstruction of ALGORITHMS.md,
checked item by item in experiments/wpo/REFERENCE.md part B.

    f(x; θ) = (1/√m) Σ_i c_i ReLU(θ_iᵀ x),  x = φ(s, a) (one-hot of the pair)
    c_i = +1 for i < m/2 and −1 after, θ_{0,i+m/2} = θ_{0,i}, so f(·; θ_0) = 0
    π_θ(a|s) = softmax_a f(φ(s, a); θ)                       (uniform at θ_0)

Each iteration t, with samples (s, a) ~ d^{π_t} ⊗ π_t from the normalised
discounted visitation (exact, as the generative-model sampler), s' ~ P(·|s, a),
a' ~ π_t(·|s'):

  critic   w ← Proj(w + α (r + γ (Q_w(s', a') − λ log π_t(a'|s')) − Q_w(s, a)) ∇_w Q_w(s, a)),
           Proj onto ‖w_i − w_{0,i}‖ ≤ R/√m for every neuron; Q̂ = Q at the average of the iterates
  natural  u ← Proj_{‖u‖ ≤ ρ}(u − α_u (∇_θ f(x; θ_t)ᵀ u − Q̂(s, a)) ∇_θ f(x; θ_t)); û the average
  actor    θ_{t+1} − θ_0 = (1 − ηλ)(θ_t − θ_0) + η û,   i.e. π_{t+1} ∝ π_t^{1−ηλ} exp(η Q̂) (linearised)

Decisions where the reconstruction is silent: SGD steps use minibatches of
`batch` samples (the single-sample SGD with a smaller variance), and only the
last half of the iterates is averaged (`average_tail`; averaging from the
start biased Q̂ towards its zero initialisation).  The default step is
ηλ = 1/2: at η = 1/λ (soft policy iteration) the ReLU activation pattern
moves between θ_0 and θ_t, the step is not the linearised one, and the
regularised value oscillates with period 2 (5.4515 / 5.4587 at m = 2048,
optimum 5.4589); at ηλ = 1/2 it rises to within 5·10⁻⁴ and stays there
(tests/test_nac.py, random 4 × 3 MDP, γ 0.8, λ 0.5).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import struct

from rlx import exact
from rlx.config import static
from rlx.rollout import collect_episodes, episode_horizon


@struct.dataclass
class Config:
    width: int = static(2048)  # m (even); the policy's distance to π*_λ shrinks with m (NTK regime)
    temperature: float = 0.5  # λ, the entropy weight
    actor_lr: float = 1.0  # η; ηλ = 1/2 damps the step (η = 1/λ, soft policy iteration, oscillates: docstring)
    critic_steps: int = static(1000)
    critic_lr: float = 4.0
    critic_radius: float = 100.0  # R: ‖w_i − w_{0,i}‖ ≤ R/√m (R = 20 at m = 512 biased Q̂ by ~0.65 of ~5)
    natural_steps: int = static(1000)
    natural_lr: float = 0.5
    natural_radius: float = 100.0  # ρ
    batch: int = static(64)
    average_tail: float = static(0.5)  # average the iterates after this fraction of the SGD steps (1 − tail: all of them)
    num_envs: int = static(4)  # episodes sampled an iteration, only for the logged return
    horizon: int = static(0)


@struct.dataclass
class State:
    theta: jax.Array  # [m, d] actor
    theta0: jax.Array
    w0: jax.Array  # [m, d] critic's initial weights (the projection's centre)
    t: jax.Array


def _features(num_states: int, num_actions: int) -> jax.Array:
    """φ[s, a] = one-hot of the pair, [S, A, S·A]."""
    return jnp.eye(num_states * num_actions).reshape(num_states, num_actions, -1)


def _signs(m: int) -> jax.Array:
    return jnp.concatenate([jnp.ones(m // 2), -jnp.ones(m // 2)])


def network(theta, x):
    """f(x; θ) = (1/√m) Σ_i c_i ReLU(θ_iᵀ x)."""
    m = theta.shape[0]
    return jnp.sum(_signs(m) * jax.nn.relu(x @ theta.T), -1) / math.sqrt(m)


def probs_table(theta, num_states: int, num_actions: int) -> jax.Array:
    return jax.nn.softmax(network(theta, _features(num_states, num_actions)), -1)


def env_steps_per_update(env, config: Config) -> int:
    return config.num_envs * episode_horizon(env, config.horizon)


def _symmetric(key, m: int, d: int) -> jax.Array:
    half = jax.random.normal(key, (m // 2, d))
    return jnp.concatenate([half, half])


def init(key, env, config: Config) -> State:
    if config.width % 2:
        raise ValueError(f"width must be even (symmetric pairs), got {config.width}")
    mdp = env.default_params
    d = mdp.num_states * mdp.num_actions
    k_actor, k_critic = jax.random.split(key)
    theta0 = _symmetric(k_actor, config.width, d)
    return State(theta0, theta0, _symmetric(k_critic, config.width, d), jnp.zeros((), jnp.int32))


@struct.dataclass
class _TablePolicy:
    num_states: int = struct.field(pytree_node=False)
    num_actions: int = struct.field(pytree_node=False)

    def sample(self, theta, obs, key):
        return jax.random.categorical(key, jnp.log(probs_table(theta, self.num_states, self.num_actions)[obs]))


def act(key, state: State, obs, env, config: Config, deterministic: bool = True):
    mdp = env.default_params
    probs = probs_table(state.theta, mdp.num_states, mdp.num_actions)[obs]
    return jnp.argmax(probs, -1) if deterministic else jax.random.categorical(key, jnp.log(probs))


def _project_rows(w, centre, radius):
    """Each row back into the ball ‖w_i − centre_i‖ ≤ radius."""
    diff = w - centre
    norm = jnp.linalg.norm(diff, axis=-1, keepdims=True)
    return centre + diff * jnp.minimum(1.0, radius / jnp.maximum(norm, 1e-12))


def _samples(key, mdp, probs, n):
    """(s, a, s', a') with (s, a) ~ normalised discounted occupancy of π."""
    k1, k2, k3 = jax.random.split(key, 3)
    occ = exact.occupancy(mdp, probs, horizon=None)
    flat = jax.random.categorical(k1, jnp.log(occ.reshape(-1) / occ.sum() + 1e-30), shape=(n,))
    s, a = flat // mdp.num_actions, flat % mdp.num_actions
    s_next = jax.random.categorical(k2, jnp.log(mdp.P[s, a] + 1e-30))
    a_next = jax.random.categorical(k3, jnp.log(probs[s_next] + 1e-30))
    return s, a, s_next, a_next


def update(key, state: State, env, config: Config):
    mdp = env.default_params
    S, A = mdp.num_states, mdp.num_actions
    phi = _features(S, A)
    probs = probs_table(state.theta, S, A)
    logp = jnp.log(probs + 1e-30)
    r = exact.expected_reward(mdp)
    gamma = mdp.discount
    alive = 1.0 - mdp.terminal.astype(jnp.float32)
    k_critic, k_natural, k_log = jax.random.split(key, 3)
    radius = config.critic_radius / math.sqrt(config.width)

    # critic: projected neural TD(0) on the soft Q, iterates averaged
    def weight(i, steps):  # tail averaging: iterates before the tail get weight 0
        return (i >= int(config.average_tail * steps)).astype(jnp.float32)

    def td(carry, x):
        k, i = x
        w, w_sum = carry
        s, a, s2, a2 = _samples(k, mdp, probs, config.batch)
        target = r[s, a] + gamma * alive[s2] * (network(w, phi[s2, a2]) - config.temperature * logp[s2, a2])
        target = jax.lax.stop_gradient(target)
        grad = jax.grad(lambda w: 0.5 * jnp.mean((network(w, phi[s, a]) - target) ** 2))(w)
        w = _project_rows(w - config.critic_lr * grad, state.w0, radius)
        return (w, w_sum + weight(i, config.critic_steps) * w), None

    steps = jnp.arange(config.critic_steps)
    (_, w_sum), _ = jax.lax.scan(td, (state.w0, jnp.zeros_like(state.w0)),
                                 (jax.random.split(k_critic, config.critic_steps), steps))
    q_hat = network(w_sum / jnp.sum(weight(steps, config.critic_steps)), phi)  # [S, A]

    # natural gradient: compatible function approximation by projected SGD, averaged
    def features_grad(x):
        return jax.grad(lambda th: network(th, x))(state.theta)

    def sgd(carry, x):
        k, i = x
        u, u_sum = carry
        s, a, _, _ = _samples(k, mdp, probs, config.batch)
        grads = jax.vmap(features_grad)(phi[s, a])  # [B, m, d]
        residual = jnp.einsum("bmd,md->b", grads, u) - q_hat[s, a]
        u = u - config.natural_lr * jnp.einsum("b,bmd->md", residual, grads) / config.batch
        norm = jnp.linalg.norm(u)
        u = u * jnp.minimum(1.0, config.natural_radius / jnp.maximum(norm, 1e-12))
        return (u, u_sum + weight(i, config.natural_steps) * u), None

    zeros = jnp.zeros_like(state.theta)
    steps = jnp.arange(config.natural_steps)
    (_, u_sum), _ = jax.lax.scan(sgd, (zeros, zeros), (jax.random.split(k_natural, config.natural_steps), steps))
    u = u_sum / jnp.sum(weight(steps, config.natural_steps))

    eta, lam = config.actor_lr, config.temperature
    theta = state.theta0 + (1.0 - eta * lam) * (state.theta - state.theta0) + eta * u
    new_probs = probs_table(theta, S, A)
    traj = collect_episodes(k_log, env, mdp, _TablePolicy(S, A), theta, config.num_envs,
                            episode_horizon(env, config.horizon))
    metrics = {
        "episode_return": jnp.mean(traj.episode_return),
        "transitions": jnp.sum(traj.mask),
        "soft_J": exact.soft_J(mdp, new_probs, lam),
        # occupancy-weighted |Q̂ − Q_λ^{π_t}|: what the natural-gradient step sees
        "critic_error": jnp.sum(exact.occupancy(mdp, probs, horizon=None) * (1.0 - gamma)
                                * jnp.abs(q_hat - exact.soft_q_values(mdp, probs, lam))),
    }
    return State(theta, state.theta0, state.w0, state.t + 1), metrics
