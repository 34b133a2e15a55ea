"""Deep WPO / SPO for discrete actions: a policy network fitted to the closed-
form trust-region target, advantages from a learned Q critic.
[WORK IN PROGRESS, issue 6: discrete actions only; not yet tuned or tested
for learning.]

Song, He, Ding, Zhao, TMLR 2023 (the practical on-policy algorithm); the
closed forms are in `rlx.trust`.  One update:

  1. N envs × T steps with π_θ (auto-reset, as PPO).
  2. Q_φ(s, a) regressed on the TD(λ) return of the taken action: GAE with
     V(s) = Σ_a π_θ(a|s) Q_φ(s, a) (a truncation bootstraps from the final
     observation), E epochs × M minibatches.
  3. A(s, ·) = Q_φ(s, ·) − V(s) at every sampled state, divided by its batch
     standard deviation (the authors' code normalises advantages per batch).
  4. The target π*(·|s) = WPO/SPO(π_θ(·|s), A(s, ·)) with β from the dual over
     the batch's states (each weighted 1/(N T)), or fixed / decaying.
  5. π_θ fitted to stop_gradient(π*) for E epochs × M minibatches: squared
     error between the probability vectors (the authors' code) or KL(π*‖π_θ).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import struct

from rlx import trust
from rlx.agents.ppo import gae
from rlx.config import static
from rlx.policies import MLP, make_policy
from rlx.rollout import collect_steps, episode_discount


@struct.dataclass
class Config:
    method: str = static("wpo")  # "wpo" or "spo"
    cost: str = static("zero_one")  # "zero_one" or "index"
    beta_schedule: str = static("dual")  # "dual" (δ), "fixed" (β) or "decay" (β/(k+1)²)
    fit: str = static("mse")  # "mse" [authors' code] or "kl": KL(π*‖π_θ)
    num_envs: int = static(8)
    num_steps: int = static(64)
    epochs: int = static(4)
    minibatches: int = static(4)
    hidden: tuple[int, ...] = static((64, 64))
    delta: float = 0.05
    beta: float = 1.0
    lam: float = 5.0
    lr: float = 1e-3
    max_grad_norm: float = 0.5
    discount: float | None = None
    gae_lambda: float = 0.95


@struct.dataclass
class State:
    params: dict  # {"policy": …, "q": …}
    opt_state: optax.OptState
    env_state: object
    obs: jax.Array
    episode_return: jax.Array
    last_return: jax.Array
    t: jax.Array


def env_steps_per_update(env, config: Config) -> int:
    return config.num_envs * config.num_steps


def policy(env, config: Config):
    pi = make_policy(env, "mlp", config.hidden)
    if not pi.discrete:
        raise ValueError("deep WPO/SPO needs discrete actions (continuous: discretise per dimension, not yet built)")
    return pi


def _q_net(env, config: Config):
    pi = policy(env, config)
    return MLP(config.hidden, int(env.action_space(env.default_params).n), obs_ndim=len(pi.obs_shape),
               out_scale=1.0)


def _optimizer(config: Config):
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(config.lr))


def init(key, env, config: Config) -> State:
    pi = policy(env, config)
    k_pi, k_q, k_env = jax.random.split(key, 3)
    dummy = jnp.zeros(pi.obs_shape, pi.obs_dtype)
    params = {"policy": pi.init(k_pi), "q": _q_net(env, config).init(k_q, dummy)}
    obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_env, config.num_envs),
                                                           env.default_params)
    zeros = jnp.zeros((config.num_envs,))
    opt = _optimizer(config)
    opt_state = {name: opt.init(p) for name, p in params.items()}  # one Adam a network: no momentum leaks across
    return State(params, opt_state, env_state, obs, zeros, zeros, jnp.zeros((), jnp.int32))


def act(key, state: State, obs, env, config: Config, deterministic: bool = True):
    pi = policy(env, config)
    return pi.mode(state.params["policy"], obs) if deterministic else pi.sample(state.params["policy"], obs, key)


def _minibatch_epochs(key, params, opt_state, name, data, loss, config: Config):
    """E epochs of M shuffled minibatches of `data` (leading axis = samples),
    training params[name] with its own optimiser state opt_state[name]."""
    size = jax.tree.leaves(data)[0].shape[0]
    opt = _optimizer(config)

    def epoch(carry, k):
        order = jax.random.permutation(k, size).reshape(config.minibatches, -1)

        def step(carry, idx):
            sub, sub_state = carry
            batch = jax.tree.map(lambda a: a[idx], data)
            value, grads = jax.value_and_grad(lambda p: loss({**params, name: p}, batch))(sub)
            updates, sub_state = opt.update(grads, sub_state, sub)
            return (optax.apply_updates(sub, updates), sub_state), value

        return jax.lax.scan(step, carry, order)

    (sub, sub_state), losses = jax.lax.scan(epoch, (params[name], opt_state[name]),
                                            jax.random.split(key, config.epochs))
    return {**params, name: sub}, {**opt_state, name: sub_state}, jnp.mean(losses)


def update(key, state: State, env, config: Config):
    pi, q_net = policy(env, config), _q_net(env, config)
    discount = episode_discount(env, config.discount)
    k_roll, k_q, k_pi = jax.random.split(key, 3)

    def sample(obs, k):
        return pi.sample(state.params["policy"], obs, k)

    tr, env_state, obs = collect_steps(k_roll, env, env.default_params, sample, state.env_state, state.obs,
                                       config.num_steps)
    probs_of = lambda p, o: jax.nn.softmax(pi.module.apply(p["policy"], o))  # noqa: E731
    value_of = lambda p, o: jnp.sum(probs_of(p, o) * q_net.apply(p["q"], o), -1)  # noqa: E731

    # 2. the critic: Q(s_t, a_t) on the TD(λ) return
    _, returns = gae(tr.reward, value_of(state.params, tr.obs), value_of(state.params, tr.next_obs),
                     tr.terminated.astype(jnp.float32), tr.truncated, discount, config.gae_lambda)
    flat = lambda a: a.reshape(-1, *a.shape[2:])  # noqa: E731
    x, action, returns = flat(tr.obs), flat(tr.action), flat(returns)

    def q_loss(params, batch):
        o, a, y = batch
        q = jnp.take_along_axis(q_net.apply(params["q"], o), a[:, None].astype(jnp.int32), -1)[:, 0]
        return 0.5 * jnp.mean((q - y) ** 2)

    params, opt_state, critic_loss = _minibatch_epochs(k_q, state.params, state.opt_state, "q",
                                                       (x, action, returns), q_loss, config)

    # 3–4. advantages of every action and the closed-form target
    probs = probs_of(state.params, x)
    q = q_net.apply(params["q"], x)
    adv = q - jnp.sum(probs * q, -1, keepdims=True)
    adv = adv / (jnp.std(adv) + 1e-8)
    n_actions = probs.shape[-1]
    cost = trust.zero_one_cost(n_actions) if config.cost == "zero_one" else trust.index_cost(n_actions)
    weights = jnp.full((probs.shape[0],), 1.0 / probs.shape[0])
    if config.beta_schedule == "dual":
        if config.method == "wpo":
            target, beta = trust.wpo_step(probs, adv, cost, weights, config.delta)
        else:
            beta = trust.spo_beta(probs, adv, cost, weights, config.delta, config.lam)
            target = trust.spo_update(probs, adv, cost, beta, config.lam)
    else:
        beta = config.beta if config.beta_schedule == "fixed" else config.beta / (state.t + 1.0) ** 2
        beta = jnp.asarray(beta, jnp.float32)
        target = (trust.wpo_update(probs, adv, cost, beta) if config.method == "wpo"
                  else trust.spo_update(probs, adv, cost, beta, config.lam))
    target = jax.lax.stop_gradient(target)

    # 5. fit π_θ to the target
    def pi_loss(params, batch):
        o, goal = batch
        p = probs_of(params, o)
        if config.fit == "mse":
            return jnp.mean(jnp.sum((p - goal) ** 2, -1))
        return -jnp.mean(jnp.sum(goal * jnp.log(p + 1e-8), -1))

    params, opt_state, actor_loss = _minibatch_epochs(k_pi, params, opt_state, "policy", (x, target), pi_loss,
                                                      config)

    def track(carry, step):
        running, last = carry
        reward, done = step
        running = running + reward
        return (jnp.where(done, 0.0, running), jnp.where(done, running, last)), None

    (running, last), _ = jax.lax.scan(track, (state.episode_return, state.last_return),
                                      (tr.reward, jnp.logical_or(tr.terminated, tr.truncated)))
    metrics = {"episode_return": jnp.mean(last), "beta": beta, "critic_loss": critic_loss,
               "actor_loss": actor_loss, "transitions": jnp.asarray(x.shape[0], jnp.float32)}
    return State(params, opt_state, env_state, obs, running, last, state.t + 1), metrics
