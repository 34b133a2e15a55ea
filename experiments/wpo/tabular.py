"""[WIP, issue 6] Tabular WPO and SPO against a KL trust region and vanilla
policy gradient, sampled advantages, seeds vmapped.

    python experiments/wpo/tabular.py                  # nchain, cliffwalking, taxi; 5 seeds
    python experiments/wpo/tabular.py --envs nchain --seeds 3 --iterations 50

Every method samples N episodes an iteration from its current policy; the
table gives the exact J of the final policy (rlx.exact, mean ± s.e. over
seeds) against the optimum, and the plot the sampled episode return against
env steps.  Writes experiments/wpo/results/tabular.{md,json,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from rlx import agents, exact
from rlx.agents import gpomdp, wpo
from rlx.envs import make
from rlx.train import make_train

HERE = os.path.dirname(os.path.abspath(__file__))
ENVS = {"nchain": {}, "cliffwalking": {}, "taxi": {"horizon": 200, "discount": 0.9}}


def methods(num_envs: int) -> dict:
    sampled = dict(advantages="sampled", num_envs=num_envs)
    return {
        "WPO (dual β, δ=1)": (wpo, agents.config("wpo").replace(delta=1.0, **sampled)),
        "WPO (β/(k+1)²)": (wpo, agents.config("wpo").replace(beta_schedule="decay", beta=1.0, **sampled)),
        "SPO (dual β, λ=5)": (wpo, agents.config("spo").replace(delta=1.0, **sampled)),
        "KL (β=1)": (wpo, agents.config("wpo").replace(method="kl", beta_schedule="fixed", beta=1.0, **sampled)),
        "vanilla PG": (gpomdp, agents.config("gpomdp").replace(num_envs=num_envs, lr=0.5, lr_schedule="constant")),
    }


def final_probs(agent, env, config, state):
    if agent is wpo:
        return state.probs
    mdp = env.default_params
    return agent.policy(env, config).probs_table(state.params, mdp.num_states)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=list(ENVS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--num-envs", type=int, default=10)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rows, curves = [], {}
    for env_name in args.envs:
        env = make(env_name, **ENVS.get(env_name, {}))
        mdp = env.default_params
        optimum = float(exact.optimal_J(mdp, horizon=None))
        for label, (agent, config) in methods(args.num_envs).items():
            if agent is gpomdp:
                config = config.replace(horizon=mdp.horizon, discount=float(mdp.discount))
            train = make_train(agent, env, config, args.iterations)
            t0 = time.perf_counter()
            states, metrics = jax.jit(jax.vmap(train))(jax.random.split(jax.random.key(0), args.seeds))
            seconds = time.perf_counter() - t0
            J = np.asarray(jax.vmap(lambda s: exact.J(mdp, final_probs(agent, env, config, s), horizon=None))(states))
            steps = agent.env_steps_per_update(env, config)
            curves[(env_name, label)] = (steps, np.asarray(metrics["episode_return"]))
            rows.append({"env": env_name, "method": label, "J_mean": float(J.mean()),
                         "J_se": float(J.std(ddof=1) / np.sqrt(len(J))), "optimum": optimum,
                         "env_steps": steps * args.iterations, "seconds": seconds})
            print(f"{env_name:12s} {label:20s} J = {J.mean():9.2f} ± {rows[-1]['J_se']:.2f}  (optimum {optimum:.2f}, "
                  f"{seconds:.0f} s)", flush=True)

    lines = [f"# Tabular WPO/SPO, {time.strftime('%Y-%m-%d')}", "",
             f"{args.seeds} seeds, {args.iterations} iterations of {args.num_envs} sampled episodes; exact J of the "
             "final policy, mean ± s.e.", "", "| env | method | J | optimum |", "|---|---|---|---|"]
    lines += [f"| {r['env']} | {r['method']} | {r['J_mean']:.2f} ± {r['J_se']:.2f} | {r['optimum']:.2f} |" for r in rows]
    with open(os.path.join(args.out, "tabular.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(args.out, "tabular.json"), "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d"), "args": vars(args), "rows": rows}, f, indent=1)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(args.envs), figsize=(5 * len(args.envs), 4), squeeze=False)
    for ax, env_name in zip(axes[0], args.envs):
        for (name, label), (steps, returns) in curves.items():
            if name != env_name:
                continue
            x = steps * np.arange(1, returns.shape[1] + 1)
            mean = returns.mean(0)
            se = returns.std(0, ddof=1) / np.sqrt(returns.shape[0])
            ax.plot(x, mean, label=label)
            ax.fill_between(x, mean - 2 * se, mean + 2 * se, alpha=0.2)
        ax.set_title(env_name)
        ax.set_xlabel("env steps")
        ax.set_ylabel("episode return")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "tabular.png"), dpi=100)
    print(f"wrote {args.out}/tabular.md, .json, .png")


if __name__ == "__main__":
    main()
