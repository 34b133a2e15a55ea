"""Step-size robustness (Fatkhullin et al., ICML 2023, second experiment):
env steps needed to reach a return threshold against the initial step size
γ0 ∈ [1e-3, 4] (log grid), normalized against unnormalized methods.  Every γ0
and seed of an agent is one vmapped program.

    python experiments/vr_pg/robustness.py                  # cartpole, threshold 150, 5 seeds
    python experiments/vr_pg/robustness.py --env acrobot --threshold -150

Set-up: the official code's CartPole (horizon 200, [32, 32] softmax policy,
whole episodes until ≥ 1,000 steps for g and ≥ 32 for the Hessian batch).  A run "reaches" the
threshold at the first iteration whose batch-mean return is ≥ threshold; a
run that never does counts as the budget (shown as "—" in the table).
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from common import LABELS, cartpole_config, machine, train_grid, write_json

from rlx import agents
from rlx.envs import make

AGENTS = {name: LABELS[name] for name in ["gpomdp", "harpg", "npg_igt", "n_harpg", "sharp"]}  # table order
NORMALIZED = {"npg_igt", "n_harpg", "sharp"}


def steps_to_threshold(returns: np.ndarray, env_steps: np.ndarray, threshold: float) -> np.ndarray:
    """[..., iterations] returns -> env steps at the first crossing (inf if none)."""
    hit = returns >= threshold
    first = np.argmax(hit, axis=-1)
    return np.where(hit.any(-1), env_steps[first], np.inf)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="cartpole")
    parser.add_argument("--threshold", type=float, default=150.0)
    parser.add_argument("--total-steps", type=float, default=3e5)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--grid", type=int, default=9, help="γ0 values, log-spaced over [1e-3, 4]")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    env = make(args.env)
    lrs = np.geomspace(1e-3, 4.0, args.grid)
    results = {}
    for name in AGENTS:
        config = cartpole_config(name, env)
        iterations = int(args.total_steps) // agents.get(name).env_steps_per_update(env, config)
        out = train_grid(name, env, config, iterations, lrs, args.seeds)
        reach = steps_to_threshold(out["episode_return"], out["env_steps"], args.threshold)  # [grid, seeds]
        results[name] = dict(median_steps=np.median(reach, axis=1), reached=np.isfinite(reach).mean(1))
        print(f"{AGENTS[name]:10s} reached: {np.round(results[name]['reached'], 1)} "
              f"(compile {out['compile_s']:.0f}s, run {out['run_s']:.0f}s)", flush=True)

    lines = [f"### {args.env}: median env steps to a return of {args.threshold:g} ({args.seeds} seeds; — = not within "
             f"{args.total_steps:.0e})", "", "| γ0 | " + " | ".join(AGENTS.values()) + " |",
             "|---" * (len(AGENTS) + 1) + "|"]
    for i, lr in enumerate(lrs):
        cells = [f"{results[n]['median_steps'][i]:.0f}" if np.isfinite(results[n]["median_steps"][i]) else "—"
                 for n in AGENTS]
        lines.append(f"| {lr:.3g} | " + " | ".join(cells) + " |")
    for n in AGENTS:
        ok = lrs[results[n]["reached"] >= 0.5]
        span = f"{ok.min():.3g}–{ok.max():.3g} ({np.log10(ok.max() / ok.min()):.1f} decades)" if len(ok) else "none"
        lines.append(f"\n{AGENTS[n]}: γ0 where most seeds reach it: {span}")
    md = "\n".join(lines)
    print(md)
    with open(os.path.join(args.out, f"robustness-{args.env}.md"), "w") as f:
        f.write(md + "\n")
    write_json(os.path.join(args.out, f"robustness-{args.env}.json"),
               dict(machine=machine(), args=vars(args), lrs=lrs, results=results))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for n in AGENTS:
        steps = np.where(np.isfinite(results[n]["median_steps"]), results[n]["median_steps"], np.nan)
        ax.plot(lrs, steps, "o-" if n in NORMALIZED else "s--", label=AGENTS[n])
    ax.set_xscale("log")
    ax.set_xlabel("initial step size γ0")
    ax.set_ylabel(f"env steps to return {args.threshold:g} (median)")
    ax.set_title(f"{args.env}: step-size robustness (missing = not reached)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, f"robustness-{args.env}.png"), dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
