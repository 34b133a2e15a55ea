"""The linear feature baseline of Fatkhullin et al.'s official code (garage's
LinearFeatureBaseline), fitted on the PREVIOUS batch.

    b(s, h) = φ(s, h)ᵀ c,   φ(s, h) = [clip(s, ±10), clip(s, ±10)², h/100, (h/100)², (h/100)³, 1]

c is the ridge regression of the restarted returns R_h = Σ_l γ^l r_{h+l}
(`rlx.estimators.restarted_returns`) on φ over a batch's valid steps.  The
agent uses the c fitted on batch t−1 for batch t, so the baseline does not
depend on the batch it corrects and the estimators stay unbiased (any state
baseline that is independent of the batch does; see
`rlx.estimators.score_weights`).  That is why rlx takes it, rather than the
leave-one-out mean: in a batch of whole episodes until ≥ B steps, the other
episodes' number depends on each episode's length.

Two changes to garage's fit, both numerical: the features are scaled to unit
root-mean-square over the batch before the ridge (1e-5 then acts on
comparable columns, and float32 holds the solve; garage solves in float64),
and integer observations (tabular states) are one-hot encoded; for them and
for images (0/1 in MinAtar) φ leaves out s², which would repeat s.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rlx.estimators import restarted_returns
from rlx.exact import solve
from rlx.policies import encode_obs
from rlx.rollout import Trajectories

RIDGE = 1e-5  # the official code's reg_coeff


def num_features(obs_size: int, squares: bool = True) -> int:
    return (2 if squares else 1) * obs_size + 4


def features(obs, time, num_states: int = 0, obs_ndim: int = 1) -> jax.Array:
    """φ(s, h) for every step, [..., 2·obs + 4]; one-hot states and images
    (MinAtar's are 0/1) leave out s², which would repeat s."""
    x = jnp.clip(encode_obs(obs, num_states, obs_ndim), -10.0, 10.0)
    h = (time.astype(jnp.float32) / 100.0)[..., None]
    squares = [x**2] if obs_ndim == 1 and not num_states else []
    return jnp.concatenate([x, *squares, h, h**2, h**3, jnp.ones_like(h)], -1)


def fit(phi: jax.Array, traj: Trajectories, discount) -> jax.Array:
    """c, the ridge fit of the batch's restarted returns on φ [N, T, F].

    The sums over the batch's steps are dot products (the Gram matrix ΦᵀWΦ,
    the feature scales its diagonal): XLA's CPU reduce over the steps rounds
    differently at different vmap batch sizes, and the fit would then differ
    between a run and the same run inside a sweep, which rlx.run promises
    are equal (tests/test_runner.py checks it)."""
    target = restarted_returns(traj, discount)
    weighted = traj.mask[..., None] * phi
    gram = jnp.einsum("ntf,ntg->fg", weighted, phi)
    rhs = jnp.einsum("ntf,nt->f", weighted, target)
    count = jnp.maximum(jnp.sum(traj.mask), 1.0)
    scale = jnp.sqrt(jnp.diagonal(gram) / count) + 1e-6  # each feature's root mean square over the batch
    gram = gram / (count * scale[:, None] * scale[None, :])
    coef = solve(gram + RIDGE * jnp.eye(gram.shape[0]), rhs / (count * scale)) / scale
    return jnp.where(jnp.all(jnp.isfinite(coef)), coef, jnp.zeros_like(coef))


def predict(coef: jax.Array, phi: jax.Array) -> jax.Array:
    return phi @ coef
