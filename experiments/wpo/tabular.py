"""Tabular WPO and SPO against a KL trust region and vanilla policy gradient,
sampled advantages, seeds vmapped (Song, He, Ding, Zhao, TMLR 2023, §tabular).

    python experiments/wpo/tabular.py                 # main table + sample-size sweep, 5 seeds (≈ 15 min, 2 cores)
    python experiments/wpo/tabular.py --quick         # 2 seeds, a tenth of the iterations

Settings follow the authors' code (experiments/wpo/REFERENCE.md A3–A4): the
policy is a table started uniform; each iteration samples N episodes (Taxi 60,
NChain 1, CliffWalking 3), A = Monte Carlo return − the state's mean return,
scaled to std 1 over the batch, 0 for unvisited pairs; WPO, SPO (λ = 5.5, the
Taxi run) and KL take β from their duals at the same trust region δ = 0.1;
vanilla PG is GPOMDP on a softmax table.

Part 1 (`main`): exact discounted J of the final policy (rlx.exact), and the
undiscounted episode return over the last 10% of iterations, mean ± s.e.
over seeds, with learning curves against env steps.
Part 2 (`samples`): NChain with the advantages of one episode of 100, 250 or
1000 steps (the paper's "sample insufficiency" runs), final J.

Writes experiments/wpo/results/tabular.{md,json,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import numpy as np

from rlx import agents, exact
from rlx.agents import gpomdp, wpo
from rlx.envs import make
from rlx.train import make_train

HERE = os.path.dirname(os.path.abspath(__file__))
# env: (make kwargs, episodes an iteration, iterations)
ENVS = {
    "taxi": ({"horizon": 200, "discount": 0.9}, 60, 80),
    "nchain": ({}, 1, 300),
    "cliffwalking": ({}, 3, 300),
}
SAMPLE_SIZES = (100, 250, 1000)


def methods(num_envs: int) -> dict:
    trust = dict(num_envs=num_envs)  # the defaults: sampled A scaled to std 1, δ = 0.1
    return {
        "WPO": (wpo, agents.config("wpo").replace(**trust)),
        "SPO (λ=5.5)": (wpo, agents.config("spo").replace(lam=5.5, **trust)),
        "KL": (wpo, agents.config("wpo").replace(method="kl", **trust)),
        # a constant step of 0.5 on the episode mean (γ0 = 0.5·H on rlx's per-step scale: `run`),
        # whole episodes until ≥ num_envs·H steps
        "vanilla PG": (gpomdp, agents.config("gpomdp").replace(batch_steps=num_envs, lr=0.5, lr_schedule="constant")),
    }


def final_probs(agent, env, config, state):
    if agent is wpo:
        return state.probs
    return agent.policy(env, config).probs_table(state.params, env.default_params.num_states)


def run(agent, env, config, iterations, seeds):
    """(exact J of each seed's final policy, metrics [seeds, iterations], seconds)."""
    mdp = env.default_params
    if agent is gpomdp:  # batch_steps held the number of episodes
        config = config.replace(horizon=mdp.horizon, discount=float(mdp.discount), batch_steps=config.batch_steps * mdp.horizon,
                                lr=config.lr * mdp.horizon)
    train = make_train(agent, env, config, iterations)
    t0 = time.perf_counter()
    states, metrics = jax.jit(jax.vmap(train))(jax.random.split(jax.random.key(0), seeds))
    J = jax.vmap(lambda s: exact.J(mdp, final_probs(agent, env, config, s), horizon=None))(states)
    return np.asarray(J), jax.tree.map(np.asarray, metrics), time.perf_counter() - t0


def mean_se(x) -> tuple[float, float]:
    x = np.asarray(x, np.float64)
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=list(ENVS), choices=list(ENVS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 seeds, a tenth of the iterations")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()
    seeds = 2 if args.quick else args.seeds
    scale = 0.1 if args.quick else 1.0
    os.makedirs(args.out, exist_ok=True)
    rows, curves, sample_rows = [], {}, []
    for env_name in args.envs:
        kwargs, num_envs, iterations = ENVS[env_name]
        iterations = max(int(iterations * scale), 2)
        env = make(env_name, **kwargs)
        optimum = float(exact.optimal_J(env.default_params, horizon=None))
        for label, (agent, config) in methods(num_envs).items():
            J, metrics, seconds = run(agent, env, config, iterations, seeds)
            tail = max(iterations // 10, 1)
            steps = np.cumsum(metrics["transitions"], axis=1)
            curves[(env_name, label)] = (steps.mean(0), metrics["episode_return"])
            ret = metrics["episode_return"][:, -tail:].mean(1)
            rows.append({"env": env_name, "method": label, "J": mean_se(J), "return": mean_se(ret),
                         "optimum": optimum, "iterations": iterations, "episodes_per_iteration": num_envs,
                         "env_steps": float(steps[:, -1].mean()), "seconds": seconds})
            print(f"{env_name:12s} {label:12s} J = {J.mean():8.2f} ± {rows[-1]['J'][1]:.2f} (optimum {optimum:.2f}), "
                  f"return {ret.mean():8.1f}, {steps[:, -1].mean():.3g} steps, {seconds:.0f} s", flush=True)
    if "nchain" in args.envs:
        for size in SAMPLE_SIZES:
            env = make("nchain", horizon=size)
            optimum = float(exact.optimal_J(env.default_params, horizon=None))
            for label, (agent, config) in methods(1).items():
                if agent is gpomdp:
                    continue
                iterations = max(int(ENVS["nchain"][2] * scale), 2)
                J, _, seconds = run(agent, env, config, iterations, seeds)
                sample_rows.append({"samples": size, "method": label, "J": mean_se(J), "optimum": optimum})
                print(f"nchain {size:5d} samples {label:12s} J = {J.mean():7.2f} ± {sample_rows[-1]['J'][1]:.2f}",
                      flush=True)
    write(args, seeds, rows, sample_rows, curves)


def write(args, seeds, rows, sample_rows, curves) -> None:
    date = time.strftime("%Y-%m-%d")
    lines = [f"# Tabular WPO/SPO, {date}", "", f"{seeds} seeds; `python experiments/wpo/tabular.py"
             f"{' --quick' if args.quick else ''}`. J: exact discounted value of the final policy; return: "
             "undiscounted episode return over the last 10% of iterations; mean ± s.e. over seeds.", "",
             "| env | method | J | optimum J | return | env steps |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['env']} | {r['method']} | {r['J'][0]:.2f} ± {r['J'][1]:.2f} | {r['optimum']:.2f} | "
              f"{r['return'][0]:.1f} ± {r['return'][1]:.1f} | {r['env_steps']:.3g} |" for r in rows]
    if sample_rows:
        lines += ["", "NChain, advantages from one episode of N steps an iteration (final exact J):", "",
                  "| N | " + " | ".join(dict.fromkeys(r["method"] for r in sample_rows)) + " | optimum |",
                  "|---|" + "---|" * (len(dict.fromkeys(r["method"] for r in sample_rows)) + 1)]
        for size in SAMPLE_SIZES:
            sel = [r for r in sample_rows if r["samples"] == size]
            if sel:
                lines.append(f"| {size} | " + " | ".join(f"{r['J'][0]:.2f} ± {r['J'][1]:.2f}" for r in sel)
                             + f" | {sel[0]['optimum']:.2f} |")
    with open(os.path.join(args.out, "tabular.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(args.out, "tabular.json"), "w") as f:
        json.dump({"date": date, "seeds": seeds, "quick": args.quick, "rows": rows, "samples": sample_rows}, f,
                  indent=1)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(args.envs), figsize=(5 * len(args.envs), 4), squeeze=False)
    for ax, env_name in zip(axes[0], args.envs):
        for (name, label), (steps, returns) in curves.items():
            if name == env_name:
                mean = returns.mean(0)
                se = returns.std(0, ddof=1) / np.sqrt(returns.shape[0])
                ax.plot(steps, mean, label=label)
                ax.fill_between(steps, mean - 2 * se, mean + 2 * se, alpha=0.2)
        ax.set_title(env_name)
        ax.set_xlabel("env steps")
        ax.set_ylabel("episode return")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "tabular.png"), dpi=100)
    print(f"wrote {args.out}/tabular.md, .json, .png")


if __name__ == "__main__":
    main()
