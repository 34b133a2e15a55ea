"""The exact tabular oracle: J(θ), occupancy measures, ∇J(θ) and ∇²J(θ)·v.

Every estimator and every tabular claim in rlx is tested against this module.
A `TabularMDP` carries its arrays; a policy enters as its table of action
probabilities π[s, a], so any differentiable policy works: write
`probs_fn(params) -> π` and autodiff through `J` gives the exact gradient and
Hessian-vector product.

Conventions (those of docs/algorithms.md, "Notation"; the objective is maximised):
    J_H(θ) = E[Σ_{t<H} γ^t r_t],   s_0 ~ ρ,  a_t ~ π_θ(·|s_t),  s_{t+1} ~ P(·|s_t, a_t)
with r_t = R[s_t, a_t, s_{t+1}].  Entering a terminal state ends the episode:
the reward of that transition counts, nothing after it does.  `horizon=None`
gives the infinite-horizon discounted objective (γ < 1).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from flax import struct

_MDP_HORIZON = object()  # sentinel: use mdp.horizon


@struct.dataclass
class TabularMDP:
    """A finite MDP as arrays; a pytree, so a batch of MDPs can be vmapped.

    P[s, a, s']  transition probabilities (rows sum to one)
    R[s, a, s']  reward of the transition s -a-> s'
    init[s]      initial state distribution ρ
    terminal[s]  entering s ends the episode (terminated=True)
    discount     γ
    horizon      H, the episode's time limit (static)
    """

    P: jax.Array
    R: jax.Array
    init: jax.Array
    terminal: jax.Array
    discount: jax.Array
    horizon: int = struct.field(pytree_node=False)

    @property
    def num_states(self) -> int:
        return self.P.shape[0]

    @property
    def num_actions(self) -> int:
        return self.P.shape[1]


def expected_reward(mdp: TabularMDP) -> jax.Array:
    """r[s, a] = Σ_s' P[s, a, s'] R[s, a, s']."""
    return jnp.sum(mdp.P * mdp.R, axis=-1)


def _policy_kernel(mdp: TabularMDP, probs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """State-to-state kernel under π with the terminal states' mass removed,
    and the expected one-step reward r_π[s]."""
    alive = 1.0 - mdp.terminal.astype(probs.dtype)
    P_pi = jnp.einsum("sa,sat->st", probs, mdp.P) * alive[None, :]
    r_pi = jnp.sum(probs * expected_reward(mdp), axis=-1)
    return P_pi, r_pi


def state_distributions(mdp: TabularMDP, probs: jax.Array, horizon: int) -> jax.Array:
    """d[t, s] = Pr(s_t = s, episode still running), t < H."""
    P_pi, _ = _policy_kernel(mdp, probs)
    d0 = mdp.init.astype(probs.dtype)

    def step(d, _):
        return d @ P_pi, d

    _, ds = jax.lax.scan(step, d0, None, length=horizon)
    return ds


def solve(a: jax.Array, b: jax.Array) -> jax.Array:
    """x with a x = b by Gauss–Jordan elimination without pivoting in plain
    jnp, for a = I − γP_π or its transpose (here) or a symmetric positive
    definite matrix (rlx.agents.shared.baselines): no pivot is needed for either, and the
    elimination is stable (I − γP_π is diagonally dominant, Σ_j γP_π[s, j] ≤ γ ≤ 1).  No LAPACK: two LAPACK calls that
    XLA's CPU runtime runs at once (a vmapped solve beside another) wait on
    each other's threads and deadlock a 2-core machine (see
    rlx.policies.orthogonal).
    """

    def eliminate(k, ab):
        a, b = ab
        row_a, row_b = a[k] / a[k, k], b[k] / a[k, k]
        factor = a[:, k].at[k].set(0.0)
        a = (a - factor[:, None] * row_a[None, :]).at[k].set(row_a)
        b = (b - factor * row_b).at[k].set(row_b)
        return a, b

    return jax.lax.fori_loop(0, a.shape[-1], eliminate, (a, b))[1]


def occupancy(mdp: TabularMDP, probs: jax.Array, horizon=_MDP_HORIZON) -> jax.Array:
    """Discounted state-action occupancy λ[s, a] = Σ_t γ^t Pr(s_t=s, a_t=a).

    Unnormalised, so that J = Σ_{s,a} λ[s, a] r[s, a].  Sums over t < H, or
    over all t when `horizon=None`.
    """
    horizon = mdp.horizon if horizon is _MDP_HORIZON else horizon
    gamma = jnp.asarray(mdp.discount, probs.dtype)
    if horizon is None:
        P_pi, _ = _policy_kernel(mdp, probs)
        eye = jnp.eye(mdp.num_states, dtype=probs.dtype)
        d = solve((eye - gamma * P_pi).T, mdp.init.astype(probs.dtype))
    else:
        ds = state_distributions(mdp, probs, horizon)
        d = jnp.sum(ds * (gamma ** jnp.arange(horizon, dtype=probs.dtype))[:, None], axis=0)
    return d[:, None] * probs


def J(mdp: TabularMDP, probs: jax.Array, horizon=_MDP_HORIZON) -> jax.Array:
    """The exact expected discounted return of the policy table π[s, a]."""
    return jnp.sum(occupancy(mdp, probs, horizon) * expected_reward(mdp))


def grad_J(mdp: TabularMDP, probs_fn: Callable, params, horizon=_MDP_HORIZON):
    """Exact ∇_θ J(π_θ), a pytree like `params`."""
    return jax.grad(lambda p: J(mdp, probs_fn(p), horizon))(params)


def hvp_J(mdp: TabularMDP, probs_fn: Callable, params, v, horizon=_MDP_HORIZON):
    """Exact ∇²_θ J(π_θ) · v (forward-over-reverse, no dense Hessian)."""
    g = lambda p: grad_J(mdp, probs_fn, p, horizon)
    return jax.jvp(g, (params,), (v,))[1]


def q_values(mdp: TabularMDP, probs: jax.Array) -> jax.Array:
    """Infinite-horizon discounted Q^π[s, a], whatever mdp.horizon says.

    Entering a terminal state ends the episode, so it contributes no value;
    Q at a terminal state itself is 0 (the episode is already over).
    """
    P_pi, r_pi = _policy_kernel(mdp, probs)
    eye = jnp.eye(mdp.num_states, dtype=probs.dtype)
    v = solve(eye - mdp.discount * P_pi, r_pi)
    alive = 1.0 - mdp.terminal.astype(probs.dtype)
    q = expected_reward(mdp) + mdp.discount * jnp.einsum("sat,t->sa", mdp.P, v * alive)
    return q * alive[:, None]


def optimal_J(mdp: TabularMDP, horizon=_MDP_HORIZON) -> jax.Array:
    """max_π J(π) by backward induction (finite H) or value iteration (H=None).

    A finite horizon's optimal policy is time-dependent, so for H < ∞ this is an
    upper bound on what a stationary policy reaches.
    """
    horizon = mdp.horizon if horizon is _MDP_HORIZON else horizon
    r = expected_reward(mdp)
    alive = 1.0 - mdp.terminal.astype(r.dtype)

    def backup(v, _):
        q = r + mdp.discount * jnp.einsum("sat,t->sa", mdp.P, v * alive)
        return jnp.max(q, axis=-1), None

    n = 10_000 if horizon is None else horizon
    v, _ = jax.lax.scan(backup, jnp.zeros(mdp.num_states, r.dtype), None, length=n)
    return jnp.dot(mdp.init, v)


def soft_q_values(mdp: TabularMDP, probs: jax.Array, temperature) -> jax.Array:
    """Entropy-regularised Q_λ^π[s, a] = r(s, a) + γ Σ_s' P(s'|s, a) V_λ^π(s'),
    V_λ^π(s) = Σ_a π(a|s) (Q_λ^π(s, a) − λ log π(a|s)); infinite horizon, λ =
    `temperature`.  λ = 0 gives `q_values`."""
    P_pi, r_pi = _policy_kernel(mdp, probs)
    entropy = -jnp.sum(jnp.where(probs > 0, probs * jnp.log(jnp.where(probs > 0, probs, 1.0)), 0.0), -1)
    eye = jnp.eye(mdp.num_states, dtype=probs.dtype)
    v = solve(eye - mdp.discount * P_pi, r_pi + temperature * entropy)
    alive = 1.0 - mdp.terminal.astype(probs.dtype)
    q = expected_reward(mdp) + mdp.discount * jnp.einsum("sat,t->sa", mdp.P, v * alive)
    return q * alive[:, None]


def soft_J(mdp: TabularMDP, probs: jax.Array, temperature) -> jax.Array:
    """V_λ^π at the start distribution: E[Σ_t γ^t (r_t + λ H(π(·|s_t)))]."""
    q = soft_q_values(mdp, probs, temperature)
    logp = jnp.log(jnp.where(probs > 0, probs, 1.0))
    v = jnp.sum(probs * (q - temperature * logp), -1)
    return jnp.dot(mdp.init, v)


def soft_optimal_policy(mdp: TabularMDP, temperature, iterations: int = 10_000) -> jax.Array:
    """π*_λ = softmax(Q*_λ / λ) by soft value iteration:
    Q(s, a) ← r(s, a) + γ Σ_s' P(s'|s, a) λ log Σ_a' exp(Q(s', a') / λ)."""
    r = expected_reward(mdp)
    alive = 1.0 - mdp.terminal.astype(r.dtype)

    def backup(q, _):
        v = temperature * jax.nn.logsumexp(q / temperature, axis=-1)
        return r + mdp.discount * jnp.einsum("sat,t->sa", mdp.P, v * alive), None

    q, _ = jax.lax.scan(backup, jnp.zeros_like(r), None, length=iterations)
    return jax.nn.softmax(q / temperature, axis=-1)


def max_entropy_occupancy(mdp: TabularMDP, cost=None, budget=None):
    """The constrained optimum of occupancy-measure exploration, exactly:

        max_λ  H(λ) = −Σ λ log λ
        s.t.   Σ_a λ(s', a) = ρ(s') + γ Σ_{s,a} P(s'|s, a) alive(s') λ(s, a),   λ ≥ 0
               Σ λ c ≤ budget                       (when `cost` is given)

    over the infinite-horizon discounted occupancies (`horizon=None`; every
    one is the occupancy of the stationary policy λ(s, ·)/Σ_a λ(s, a)).  The
    programme is solved through its smooth convex dual in (v, μ ≥ 0),

        D(v, μ) = ρ·v + Σ_{s,a} λ(s, a) + μ·budget,
        λ(s, a) = exp(−1 − μ c(s, a) + γ Σ_s' P(s'|s, a) alive(s') v(s') − v(s)),

    by L-BFGS-B in float64 (scipy).  Returns (λ*, μ*, flow residual); the
    residual (max |flow violation|) certifies the answer.
    """
    import numpy as np
    from scipy.optimize import minimize

    P = np.asarray(mdp.P, np.float64) * (1.0 - np.asarray(mdp.terminal, np.float64))[None, None, :]
    rho, gamma = np.asarray(mdp.init, np.float64), float(mdp.discount)
    num_states = P.shape[0]
    c = np.zeros(P.shape[:2]) if cost is None else np.asarray(cost, np.float64)
    b = 0.0 if budget is None else float(budget)

    def occupancy_of(x):
        v, mu = x[:num_states], x[num_states]
        return np.exp(np.minimum(-1.0 - mu * c + gamma * P @ v - v[:, None], 700.0))

    def dual(x):
        lam = occupancy_of(x)
        value = rho @ x[:num_states] + lam.sum() + x[num_states] * b
        grad_v = rho + gamma * np.einsum("sa,sat->t", lam, P) - lam.sum(1)
        grad_mu = b - np.sum(lam * c)
        return value, np.append(grad_v, grad_mu)

    bounds = [(None, None)] * num_states + [(0.0, 0.0 if cost is None else None)]
    result = minimize(dual, np.zeros(num_states + 1), jac=True, method="L-BFGS-B", bounds=bounds,
                      options={"maxiter": 100_000, "maxfun": 100_000, "ftol": 1e-15, "gtol": 1e-11})
    lam = occupancy_of(result.x)
    residual = rho + gamma * np.einsum("sa,sat->t", lam, P) - lam.sum(1)
    return lam, float(result.x[num_states]), float(np.max(np.abs(residual)))


def max_entropy_occupancy_finite(mdp: TabularMDP, horizon=_MDP_HORIZON, cost=None, budget=None,
                                 temperatures=(1e-2, 1e-3, 1e-4, 1e-5), ball=None):
    """The finite-horizon version of `max_entropy_occupancy`, with a certificate:

        max_x  H(x) = −Σ x log x,   x = Σ_{t<H} γ^t λ_t,
        λ_t(s, a) ≥ 0 the time-t occupancies of a (time-dependent) Markov policy,
        Σ x c ≤ budget                               (when `cost` is given).

    The feasible x form a polytope, so this is a concave programme; its dual in
    (w[s, a], μ ≥ 0) is

        D(w, μ) = Σ exp(−1 − μ c − w) + V*(w) + μ·budget ≥ H*,

    V*(w) the optimal H-step value of the reward γ^t w (the Lagrangian's
    maximum over x, then over the policies).  V* is piecewise linear, so it is
    replaced by the soft value V_τ ≥ V* (log-sum-exp backups at temperature
    τ), which keeps D an upper bound and makes it smooth; L-BFGS-B minimises it
    in float64 for each τ in turn (warm-started).  At the minimum the soft-greedy
    policy's occupancy x is a point of the polytope, so H(x) is a lower bound
    where x meets the constraint.

    `ball=(center, radius)` adds the norm constraint ‖x − center‖₂ ≤ radius
    (PGP's imitation experiment), with its own multiplier ν ≥ 0: the term
    Σ exp(−1 − μc − w) becomes max_y Σ [−y log y − (w + μc) y − ν (y − center)²]
    + ν radius², each y solving −log y − 1 − w − μc − 2ν(y − center) = 0 (by
    bisection in log y: the left side decreases in it).  `center` must itself be an occupancy of the
    polytope (a path's, say): the returned x is then the soft-greedy occupancy
    moved along the segment to the center until it is inside the ball, still a
    point of the polytope, so H(x) stays a lower bound.

    Returns (x, μ, upper, violation): x the soft-greedy occupancy [S, A],
    upper = D ≥ H* at the last τ, violation = max(0, Σ x c − budget) (plus the
    ball's excess, 0 by construction).  H* lies in [H(x), upper] when violation
    is 0 (to rounding).  Time-dependent policies can do more than the
    stationary ones a tabular softmax represents, so H* bounds those from above.
    """
    import numpy as np
    from scipy.optimize import minimize

    horizon = mdp.horizon if horizon is _MDP_HORIZON else horizon
    alive = 1.0 - np.asarray(mdp.terminal, np.float64)
    P = np.asarray(mdp.P, np.float64) * alive[None, None, :]
    rho, gamma = np.asarray(mdp.init, np.float64), float(mdp.discount)
    S, A = P.shape[:2]
    c = np.zeros((S, A)) if cost is None else np.asarray(cost, np.float64)
    b = 0.0 if budget is None else float(budget)
    discounts = gamma ** np.arange(horizon)

    def soft_value(w, tau):
        """V_τ(w) and its gradient, the soft-greedy policy's occupancy x."""
        v, policies = np.zeros(S), []
        for t in reversed(range(horizon)):
            q = discounts[t] * w + P @ v
            top = q.max(1, keepdims=True)
            e = np.exp((q - top) / tau)
            v = top[:, 0] + tau * np.log(e.sum(1))
            policies.append(e / e.sum(1, keepdims=True))
        d, x = rho, np.zeros((S, A))
        for t, pi in enumerate(reversed(policies)):
            lam = d[:, None] * pi
            x += discounts[t] * lam
            d = np.einsum("sa,sat->t", lam, P)
        return rho @ v, x

    center, radius = (np.zeros((S, A)), 0.0) if ball is None else (np.asarray(ball[0], np.float64), float(ball[1]))

    def entropy_term(a, nu):
        """y maximising −y log y − a y − ν (y − center)², per entry: the root
        in u = log y of the decreasing −u − 1 − a − 2ν(e^u − center), by
        bisection on [−800, 50] (closed form when ν = 0)."""
        if nu == 0:
            u = np.clip(-1.0 - a, -800.0, 50.0)
        else:
            low, high = np.full_like(a, -800.0), np.full_like(a, 50.0)
            for _ in range(100):
                mid = 0.5 * (low + high)
                positive = -mid - 1.0 - a - 2.0 * nu * (np.exp(mid) - center) > 0
                low, high = np.where(positive, mid, low), np.where(positive, high, mid)
            u = 0.5 * (low + high)
        y = np.exp(u)
        return y, np.sum(-y * u - a * y - nu * (y - center) ** 2)

    def dual(z, tau):
        w, mu, nu = z[:-2].reshape(S, A), z[-2], z[-1]
        y, value_y = entropy_term(w + mu * c, nu)
        value, x = soft_value(w, tau)
        grad = np.concatenate([(x - y).ravel(), [b - np.sum(c * y), radius**2 - np.sum((y - center) ** 2)]])
        return value_y + value + mu * b + nu * radius**2, grad

    bounds = [(None, None)] * (S * A) + [(0.0, 0.0 if cost is None else None), (0.0, 0.0 if ball is None else None)]
    z = np.zeros(S * A + 2)
    for tau in temperatures:
        result = minimize(dual, z, args=(tau,), jac=True, method="L-BFGS-B", bounds=bounds,
                          options={"maxiter": 20_000, "maxfun": 40_000, "ftol": 1e-15, "gtol": 1e-10})
        z = result.x
    upper = dual(z, temperatures[-1])[0]
    _, x = soft_value(z[:-2].reshape(S, A), temperatures[-1])
    distance = np.sqrt(np.sum((x - center) ** 2))
    if ball is not None and distance > radius:
        x = center + (radius / distance) * (x - center)
    return x, float(z[-2]), float(upper), float(max(0.0, np.sum(x * c) - b))
