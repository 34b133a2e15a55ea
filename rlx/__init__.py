"""rlx: theory-driven policy optimisation in pure JAX.

Core modules: `rlx.exact` (the tabular oracle), `rlx.estimators`,
`rlx.rollout`, `rlx.policies`, `rlx.train`, `rlx.run`.  Algorithms live in
`rlx.agents`, environments in `rlx.envs`.
"""

__version__ = "0.1.0"
