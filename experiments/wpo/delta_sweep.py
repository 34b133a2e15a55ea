"""Deep WPO's trust region on halfcheetah: the score and the transport each
update spends, for δ from the earlier default 0.02 up.

    python experiments/wpo/delta_sweep.py                     # δ ∈ {0.02, 0.12, 0.5}, 2 seeds, 10⁶ steps (≈ 40 min, 2 cores)
    python experiments/wpo/delta_sweep.py --deltas 0.02 --steps 100000   # a smoke run

Why (issue 21): `wpo_deep` at its earlier locomotion default (δ = 0.02 for the sum
over halfcheetah's 6 action dimensions, 244 updates of 4,096 steps) scored
0.1 ± 19 where SPO scored 754 and PPO 1,504 (results/deep_halfcheetah.md).
The trust region bounds the mean over states of the transport Σ_d W(π_d,
π_{k,d}) in bin units; 244 updates of 0.02 move at most ≈ 4.9 bin units per
state in the whole run, while a uniform 11-bin policy needs ≈ 2.7 a dimension
(16 over 6) to become deterministic at a bin centre — up to 5 a dimension (30)
to reach an edge.  So δ = 0.02 could not reach a deterministic policy if the
fit followed the target exactly (it does not: the transport column); 0.12
(0.02 a dimension, `delta_per_dimension`) allows ≈ 29.  Each δ runs at
the locomotion defaults otherwise; the table logs the transport the fitted
policy actually moved per update (metric `transport`) and its sum over the run.

    python experiments/wpo/delta_sweep.py --env hopper --deltas 0.5   # the same on another env

Writes experiments/wpo/results/delta_sweep_<env>.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import numpy as np

from rlx import agents
from rlx.agents import wpo_deep
from rlx.envs import make
from rlx.train import make_train

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="halfcheetah")
    parser.add_argument("--deltas", type=float, nargs="+", default=[0.02, 0.12, 0.5])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()
    env = make(args.env)
    rows = []
    for delta in args.deltas:
        config = agents.config("wpo_deep", env).replace(delta=delta)
        per_update = wpo_deep.env_steps_per_update(env, config)
        updates = max(args.steps // per_update, 10)
        t0 = time.perf_counter()
        _, m = jax.jit(jax.vmap(make_train(wpo_deep, env, config, updates)))(
            jax.random.split(jax.random.key(0), args.seeds))
        returns, moved = np.asarray(m["episode_return"]), np.asarray(m["transport"])
        tail = max(updates // 10, 1)
        score = returns[:, -tail:].mean(1)
        rows.append({"delta": delta, "updates": updates, "env_steps": updates * per_update,
                     "score": [float(score.mean()), float(score.std(ddof=1) / np.sqrt(len(score)))],
                     "per_seed": score.round(1).tolist(), "transport_per_update": float(moved.mean()),
                     "transport_total": float(moved.sum(1).mean()), "entropy_end": float(np.asarray(m["entropy"])[:, -1].mean()),
                     "seconds": time.perf_counter() - t0})
        r = rows[-1]
        print(f"δ = {delta:5.3f}: score {r['score'][0]:8.1f} ± {r['score'][1]:.1f}, transport {r['transport_per_update']:.4f} "
              f"an update, {r['transport_total']:.1f} in all, entropy {r['entropy_end']:.2f} ({r['seconds']:.0f} s)",
              flush=True)
    date = time.strftime("%Y-%m-%d")
    lines = [f"# Deep WPO on {args.env}: the trust region δ, {date}", "",
             f"`python experiments/wpo/delta_sweep.py --env {args.env} --deltas {' '.join(map(str, args.deltas))} "
             f"--seeds {args.seeds} --steps {args.steps}` "
             f"({jax.default_backend()}); locomotion defaults except δ; score: training episode return over the last "
             "10% of updates, mean ± s.e. over seeds. Transport: Σ_d W(π_d, π_{k,d}) the fitted policy moved, "
             "batch mean over states, in bins (per update, and summed over the run). Entropy: the mean "
             "per-dimension entropy at the end (uniform over 11 bins: 2.40).", "",
             "| δ | score | per seed | transport an update | transport in all | entropy at the end | env steps |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['delta']} | {r['score'][0]:.1f} ± {r['score'][1]:.1f} | {', '.join(f'{v:.0f}' for v in r['per_seed'])} "
              f"| {r['transport_per_update']:.4f} | {r['transport_total']:.1f} | {r['entropy_end']:.2f} | "
              f"{r['env_steps']:.3g} |" for r in rows]
    stem = os.path.join(args.out, f"delta_sweep_{args.env}")
    with open(stem + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(stem + ".json", "w") as f:
        json.dump({"date": date, "env": args.env, "seeds": args.seeds, "rows": rows}, f, indent=1)
    print(f"wrote {stem}.md, .json")


if __name__ == "__main__":
    main()
