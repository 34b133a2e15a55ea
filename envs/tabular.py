"""Native JAX tabular MDPs: from arrays, random, gridworlds from a text map, and
gymnasium's toy-text tables (FrozenLake, CliffWalking, Taxi).

The env's params are the `rlx.exact.TabularMDP` itself, so `rlx.exact` computes
J, ∇J, ∇²J·v and occupancies of exactly the process the env samples from, and
a batch of MDPs can be vmapped like any env params.  Observations are state
indices (int32).
"""

from __future__ import annotations

from typing import Sequence

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rlx.exact import TabularMDP
from rlx.envs.base import Env


@struct.dataclass
class TabularState:
    s: jax.Array  # current state index
    t: jax.Array  # steps taken in this episode


class TabularEnv(Env):
    """Samples the process `rlx.exact` describes; `default_params` is the MDP."""

    family = "tabular"

    def __init__(self, mdp: TabularMDP, name: str = "tabular"):
        self.mdp = mdp
        self.name = name

    @property
    def default_params(self) -> TabularMDP:
        return self.mdp

    def observation_space(self, params=None):
        return gymnasium.spaces.Discrete(self.mdp.num_states)

    def action_space(self, params=None):
        return gymnasium.spaces.Discrete(self.mdp.num_actions)

    def max_steps(self, params=None) -> int:
        return (self.mdp if params is None else params).horizon

    def tabular_mdp(self, params=None) -> TabularMDP:
        return self.mdp if params is None else params

    def discount(self, params=None):
        return (self.mdp if params is None else params).discount

    def reset_env(self, key, params: TabularMDP):
        s = jax.random.categorical(key, jnp.log(params.init)).astype(jnp.int32)
        return s, TabularState(s=s, t=jnp.zeros((), jnp.int32))

    def step_env(self, key, state: TabularState, action, params: TabularMDP):
        p_next = params.P[state.s, action]
        s_next = jax.random.categorical(key, jnp.log(p_next)).astype(jnp.int32)
        reward = params.R[state.s, action, s_next]
        terminated = params.terminal[s_next]
        return s_next, TabularState(s=s_next, t=state.t + 1), reward, terminated

    def is_truncated(self, state: TabularState, params: TabularMDP):
        return state.t >= params.horizon


def from_arrays(P, R, init, discount: float, horizon: int, terminal=None) -> TabularMDP:
    """Checks and packs arrays into a `TabularMDP`.

    R may be R[s, a] (reward of the action) or R[s, a, s'] (of the transition).
    """
    P = np.asarray(P, np.float32)
    S, A, S2 = P.shape
    if S != S2:
        raise ValueError(f"P must have shape [S, A, S], got {P.shape}")
    if not np.allclose(P.sum(-1), 1.0, atol=1e-5) or (P < 0).any():
        raise ValueError("each row P[s, a, :] must be a probability distribution")
    R = np.asarray(R, np.float32)
    if R.shape == (S, A):
        R = np.broadcast_to(R[:, :, None], (S, A, S)).copy()
    if R.shape != (S, A, S):
        raise ValueError(f"R must have shape [S, A] or [S, A, S], got {R.shape}")
    init = np.asarray(init, np.float32)
    if init.shape != (S,) or not np.isclose(init.sum(), 1.0, atol=1e-5):
        raise ValueError("init must be a distribution over the S states")
    terminal = np.zeros(S, bool) if terminal is None else np.asarray(terminal, bool)
    if (init[terminal] > 0).any():
        raise ValueError("an episode cannot start in a terminal state")
    if not 0.0 <= discount <= 1.0:
        raise ValueError(f"discount must lie in [0, 1], got {discount}")
    if int(horizon) < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon}")
    return TabularMDP(
        P=jnp.asarray(P),
        R=jnp.asarray(R),
        init=jnp.asarray(init),
        terminal=jnp.asarray(terminal),
        discount=jnp.asarray(discount, jnp.float32),
        horizon=int(horizon),
    )


def random_mdp(
    key: jax.Array,
    num_states: int = 5,
    num_actions: int = 3,
    discount: float = 0.9,
    horizon: int = 10,
    concentration: float = 1.0,
) -> TabularMDP:
    """P[s, a] ~ Dirichlet(concentration), R[s, a] ~ U[0, 1], ρ ~ Dirichlet(1)."""
    kp, kr, ki = jax.random.split(key, 3)
    alpha = jnp.full((num_states,), concentration)
    P = jax.random.dirichlet(kp, alpha, (num_states, num_actions))
    R = jax.random.uniform(kr, (num_states, num_actions))
    init = jax.random.dirichlet(ki, jnp.ones(num_states))
    # Dirichlet draws in float32 can miss 1 by a few ulps; renormalise.
    P = np.asarray(P, np.float64)
    init = np.asarray(init, np.float64)
    return from_arrays(P / P.sum(-1, keepdims=True), R, init / init.sum(), discount, horizon)


# Gridworld moves, in gymnasium CliffWalking's action order.
UP, RIGHT, DOWN, LEFT = 0, 1, 2, 3
_MOVES = {UP: (-1, 0), RIGHT: (0, 1), DOWN: (1, 0), LEFT: (0, -1)}


DEFAULT_GRIDWORLD = "S...#/.#.../...#G"


def map_rows(rows: Sequence[str] | str):
    """A text map's rows: given as a list, or one string with rows separated by newlines or '/'."""
    if isinstance(rows, str):
        return [r.strip() for r in rows.replace("/", "\n").splitlines() if r.strip()]
    return rows


def gridworld(
    rows: Sequence[str] | str = DEFAULT_GRIDWORLD,
    *,
    step_reward: float = -1.0,
    goal_reward: float = 0.0,
    cliff_reward: float = -100.0,
    hole_reward: float = 0.0,
    slip: float = 0.0,
    discount: float = 0.99,
    horizon: int = 100,
) -> TabularMDP:
    """A gridworld from a text map: a list of rows, or one string with rows
    separated by newlines or '/'.

    '.' floor, 'S' start (uniform over several), '#' wall (a move into it, or
    off the map, stays put), 'G' goal (entering it ends the episode, reward
    step_reward + goal_reward), 'H' hole (entering it ends the episode with
    hole_reward), 'C' cliff (entering it costs cliff_reward and sends the agent
    back to a start cell, without ending the episode).  Actions: 0 up, 1 right,
    2 down, 3 left.  With `slip` > 0 the move goes to each perpendicular
    direction with probability slip/2.
    """
    rows = map_rows(rows)
    if not isinstance(rows, (list, tuple)) or not rows or not all(isinstance(r, str) and r for r in rows):
        raise ValueError(f"a gridworld map is rows of text like 'S..../.#.G', got {rows!r}")
    height, width = len(rows), len(rows[0])
    if any(len(r) != width for r in rows):
        raise ValueError("every row of a gridworld map must have the same length")
    if any(c not in ".SG#HC" for r in rows for c in r):
        raise ValueError("gridworld maps use only the characters . S G # H C")
    cells = [(i, j) for i in range(height) for j in range(width)]
    index = {c: k for k, c in enumerate(cells)}
    kind = {c: rows[c[0]][c[1]] for c in cells}
    starts = [index[c] for c in cells if kind[c] == "S"]
    if not starts:
        raise ValueError("a gridworld map needs at least one start cell 'S'")
    n = len(cells)
    init = np.zeros(n)
    init[starts] = 1.0 / len(starts)
    terminal = np.array([kind[c] in "GH" for c in cells])

    P = np.zeros((n, 4, n))
    R_weighted = np.zeros((n, 4, n))  # Σ prob·reward; two routes to one s' average
    for c in cells:
        s = index[c]
        if kind[c] in "GH#C":  # never occupied, or terminal: absorbing, no reward
            P[s, :, s] = 1.0
            continue
        for a in range(4):
            perpendicular = [(a + 1) % 4, (a + 3) % 4]
            for move, prob in [(a, 1.0 - slip)] + [(p, slip / 2) for p in perpendicular]:
                if prob == 0.0:
                    continue
                di, dj = _MOVES[move]
                nxt = (c[0] + di, c[1] + dj)
                if not (0 <= nxt[0] < height and 0 <= nxt[1] < width) or kind[nxt] == "#":
                    nxt = c
                if kind[nxt] == "C":
                    for s0 in starts:
                        P[s, a, s0] += prob / len(starts)
                        R_weighted[s, a, s0] += prob / len(starts) * cliff_reward
                    continue
                reward = step_reward
                if kind[nxt] == "G":
                    reward += goal_reward
                elif kind[nxt] == "H":
                    reward = hole_reward
                P[s, a, index[nxt]] += prob
                R_weighted[s, a, index[nxt]] += prob * reward
    R = np.divide(R_weighted, P, out=np.zeros_like(P), where=P > 0)
    return from_arrays(P, R, init, discount, horizon, terminal)


CLIFF_WALKING_MAP = (
    "............",
    "............",
    "............",
    "SCCCCCCCCCCG",
)


def cliff_walking(discount: float = 0.99, horizon: int = 100) -> TabularMDP:
    """gymnasium's CliffWalking (−1 a step, −100 and back to start at the
    cliff, the goal ends the episode) as a native gridworld."""
    return gridworld(CLIFF_WALKING_MAP, discount=discount, horizon=horizon)


def nchain(n: int = 5, slip: float = 0.2, small: float = 2.0, large: float = 10.0, discount: float = 0.9,
           horizon: int = 1000) -> TabularMDP:
    """NChain (Strens 2000; gym's NChain-v0): action 0 moves forward (reward 0,
    or `large` staying at the last state), action 1 returns to state 0 with
    reward `small`; with probability `slip` the other action happens."""
    if n < 2:
        raise ValueError(f"nchain needs n >= 2 states, got {n}")
    P = np.zeros((n, 2, n))
    R = np.zeros((n, 2, n))
    for s in range(n):
        forward = min(s + 1, n - 1)
        for a in (0, 1):
            p_forward = 1.0 - slip if a == 0 else slip
            P[s, a, forward] += p_forward
            P[s, a, 0] += 1.0 - p_forward
            R[s, a, forward] = large if s == n - 1 else 0.0
            R[s, a, 0] = small
    init = np.zeros(n)
    init[0] = 1.0
    return from_arrays(P, R, init, discount, horizon)


def deep_sea(size: int = 10, mapping_seed: int = 0, move_cost: float = 0.01, discount: float = 0.99) -> TabularMDP:
    """DeepSea with bsuite's semantics (Osband et al. 2020, `deep_sea`,
    deterministic): an N × N grid, start at the top-left, every step goes one
    row down and one column right or left (clipped at the edges); the episode
    ends after N steps.  Moving right costs move_cost/N; moving right in the
    last column pays +1, so the only rewarding episode moves right N times
    (return 1 − move_cost).  Which action index means "right" is drawn per
    cell from `mapping_seed`, as bsuite's randomised action mapping.

    States are row·N + column, plus one absorbing terminal state N²; an
    agent wanting bsuite's one-hot N × N observation one-hot encodes the index.
    """
    if size < 2:
        raise ValueError(f"deep_sea needs size >= 2, got {size}")
    n = size
    right_action = np.random.default_rng(mapping_seed).integers(0, 2, (n, n))
    end = n * n
    P = np.zeros((end + 1, 2, end + 1))
    R = np.zeros((end + 1, 2))
    P[end, :, end] = 1.0
    for row in range(n):
        for col in range(n):
            s = row * n + col
            for a in (0, 1):
                right = a == right_action[row, col]
                new_col = min(col + 1, n - 1) if right else max(col - 1, 0)
                P[s, a, end if row == n - 1 else (row + 1) * n + new_col] = 1.0
                R[s, a] = (1.0 if right and col == n - 1 else 0.0) - (move_cost / n if right else 0.0)
    init = np.zeros(end + 1)
    init[0] = 1.0
    terminal = np.zeros(end + 1, bool)
    terminal[end] = True
    return from_arrays(P, R, init, discount, n, terminal)


# rlx's own 6 × 6 map for constrained exploration (holes scattered, no goal);
# the PGP paper's map is `pgp_gridworld`'s.
CONSTRAINED_GRIDWORLD = "S...../.H..H./...H../.H..../...H.H/H....."
# The PGP paper's map (Wolf, Fatkhullin, He 2026; official code, code/gridworld/
# Penalty_run.py `env_map`): a 2 × 2 block of holes, the goal at the far corner.
PGP_GRIDWORLD = "S...../....../..HH../..HH../....../.....G"


def constrained_gridworld(rows: Sequence[str] | str = CONSTRAINED_GRIDWORLD, *, hole_cost: float = 1.0,
                          discount: float = 0.95, horizon: int = 25) -> TabularMDP:
    """rlx's own constrained-exploration gridworld, after Wolf, Fatkhullin, He
    (2026) (the paper's own map and cost are `pgp_gridworld`'s): deterministic moves (no slip) on a text map as `gridworld`'s, no goal and
    no terminal state, and hole cells 'H' that are ordinary cells whose
    occupation is the constraint's cost.  The reward is −hole_cost for every
    step taken from a hole, 0 elsewhere, so the cost table is
    c[s, a] = −r[s, a] and Σ λ c = −J (`rlx.exact`).
    """
    rows = map_rows(rows)
    if any("G" in r for r in rows):
        raise ValueError("the constrained gridworld has no goal: use '.', 'S', '#' and 'H'")
    mdp = gridworld([r.replace("H", ".") for r in rows], step_reward=0.0, goal_reward=0.0, discount=discount,
                    horizon=horizon)
    holes = np.array([c == "H" for r in rows for c in r])
    R = np.zeros(np.shape(mdp.R))
    R[holes] = -hole_cost
    return mdp.replace(R=jnp.asarray(R, mdp.R.dtype))


def pgp_gridworld(rows: Sequence[str] | str = PGP_GRIDWORLD, *, hole_cost: float = 50.0, step_credit: float = 0.1,
                  discount: float = 0.99, horizon: int = 25) -> TabularMDP:
    """The gridworld of PGP's experiments as the official code runs it
    (Penalty_run.py, frozenlake_utility.constraint_map): FrozenLake, no slip,
    the holes turned into floor (they do not end the episode), the goal
    terminal, horizon 25, γ 0.99.

    The constraint lives in the reward: r(s, a) = −hole_cost on the (s, a)
    pairs that move into a hole cell and +step_credit on every other pair, and
    the constraint is "expected discounted return ≥ 0", i.e. with c = −r and
    budget 0 (`agents.pgp`, constraint="cost"):

        g(λ) = hole_cost · Σ_{into a hole} λ − step_credit · Σ_{other} λ ≤ 0.

    This is the sign-corrected constraint: the official scripts pass
    hole_penalty = −50 to a map builder that negates it, so their
    g = −Σ λ·map = −(50 λ_into + 0.1 λ_other) is never positive and their
    hole-cost runs are unconstrained; the builder's own default (a positive
    penalty) gives the g above.  hole_cost 2 is the paper's cost ablation.
    Actions 0 up, 1 right, 2 down, 3 left (FrozenLake's order differs; the
    policy is tabular, so nothing depends on it).
    """
    rows = map_rows(rows)
    mdp = gridworld([r.replace("H", ".") for r in rows], step_reward=0.0, goal_reward=0.0, discount=discount,
                    horizon=horizon)
    hole = np.array([c == "H" for r in rows for c in r])
    P = np.asarray(mdp.P)
    into_hole = np.einsum("sat,t->sa", P, hole.astype(np.float64)) > 0.5  # deterministic moves
    into_hole &= ~np.asarray(mdp.terminal)[:, None]
    R = np.broadcast_to(np.where(into_hole, -hole_cost, step_credit)[:, :, None], P.shape)  # R[s, a, s']
    return mdp.replace(R=jnp.asarray(R, mdp.R.dtype))


def from_gymnasium(env_id: str, discount: float = 0.99, horizon: int | None = None, **make_kwargs):
    """Imports a gymnasium toy-text env's transition table `P[s][a]`.

    `P[s][a]` lists (prob, s', reward, terminated).  A state that every
    transition into ends the episode becomes terminal (FrozenLake's holes and
    goal, CliffWalking's goal).  Where termination belongs to the transition,
    not the state (Taxi's drop-off), those transitions lead to one extra
    absorbing terminal state, index S, so the observation space has S + 1
    states.  The horizon defaults to the env's registered time limit.
    """
    changes_step_only = {"fickle_passenger"} & set(make_kwargs)
    if changes_step_only:
        raise ValueError(
            f"{env_id}: {changes_step_only.pop()} changes gymnasium's step() but not its table P, "
            "so it cannot be imported"
        )
    env = gymnasium.make(env_id, **make_kwargs)
    base = env.unwrapped
    if not hasattr(base, "P") or not hasattr(base, "initial_state_distrib"):
        raise ValueError(f"{env_id} has no transition table P (only toy-text envs do)")
    S, A = base.observation_space.n, base.action_space.n
    entries = [(s, a, prob, s_next, reward, bool(done))
               for s in range(S) for a in range(A) for prob, s_next, reward, done in base.P[s][a] if prob > 0]
    ends, continues = np.zeros(S, bool), np.zeros(S, bool)
    for _, _, _, s_next, _, done in entries:
        ends[s_next] |= done
        continues[s_next] |= not done
    mixed = ends & continues  # reached both with and without termination
    n = S + 1 if mixed.any() else S
    P, R_weighted = np.zeros((n, A, n)), np.zeros((n, A, n))
    for s, a, prob, s_next, reward, done in entries:
        target = S if (done and mixed[s_next]) else s_next
        P[s, a, target] += prob
        R_weighted[s, a, target] += prob * reward
    R = np.divide(R_weighted, P, out=np.zeros_like(P), where=P > 0)
    terminal = np.zeros(n, bool)
    terminal[:S] = ends & ~mixed
    terminal[S:] = True
    for s in np.flatnonzero(terminal):  # absorbing, no reward
        P[s], R[s] = 0.0, 0.0
        P[s, :, s] = 1.0
    init = np.zeros(n)
    init[:S] = np.asarray(base.initial_state_distrib)
    horizon = horizon or (env.spec.max_episode_steps if env.spec else None)
    env.close()
    if horizon is None:
        raise ValueError(f"{env_id} has no time limit: pass horizon=")
    return from_arrays(P, R, init, discount, horizon, terminal)
