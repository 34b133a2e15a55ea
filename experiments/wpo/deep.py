"""Deep WPO and SPO against PPO on classic control and locomotion, seeds
vmapped (Song, He, Ding, Zhao, TMLR 2023, §classic control and §MuJoCo).

    python experiments/wpo/deep.py                          # cartpole, acrobot, hopper, walker2d, halfcheetah
    python experiments/wpo/deep.py --envs cartpole --seeds 4
    python experiments/wpo/deep.py --quick                  # a tenth of the steps, 2 seeds

Classic control: `wpo_deep`, `spo_deep` and `ppo` at their defaults for 5·10⁵
env steps (PureJaxRL's CartPole budget).  Locomotion (Brax): the same
three with their locomotion defaults (`the agent's FAMILY_DEFAULTS`: 11 bins an
action dimension, one batch, discount and observation normalisation), for 10⁶ env steps (the paper's
MuJoCo budget).  The score is the mean training episode return over the last
10% of updates, mean ± s.e. over seeds; the plot shows the curves.

Writes experiments/wpo/results/deep_<env>.{md,json,png}: one set per env, so
envs can be run one at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import numpy as np

from rlx import agents
from rlx.envs import make
from rlx.train import make_train

HERE = os.path.dirname(os.path.abspath(__file__))
CLASSIC = {"cartpole": 500_000, "acrobot": 500_000}
LOCOMOTION = {"hopper": 1_000_000, "walker2d": 1_000_000, "halfcheetah": 1_000_000}


def methods(env_name: str) -> dict:
    return {"WPO": "wpo_deep", "SPO": "spo_deep", "PPO": "ppo"}


def mean_se(x) -> tuple[float, float]:
    x = np.asarray(x, np.float64)
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else 0.0


def run_env(env_name: str, seeds: int, steps: int, out: str, quick: bool) -> None:
    env = make(env_name)
    rows, curves = [], {}
    for label, name in methods(env_name).items():
        module, config = agents.get(name), agents.config(name, env)
        per_update = module.env_steps_per_update(env, config)
        updates = max(steps // per_update, 10)
        train = jax.jit(jax.vmap(make_train(module, env, config, updates)))
        keys = jax.random.split(jax.random.key(0), seeds)
        t0 = time.perf_counter()
        compiled = train.lower(keys).compile()
        compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        _, metrics = compiled(keys)
        returns = np.asarray(jax.block_until_ready(metrics["episode_return"]))
        run_s = time.perf_counter() - t0
        tail = max(updates // 10, 1)
        score = returns[:, -tail:].mean(1)
        curves[label] = (per_update * np.arange(1, updates + 1), returns)
        rows.append({"method": label, "agent": name, "score": mean_se(score), "per_seed": score.round(1).tolist(),
                     "env_steps": per_update * updates, "compile_s": compile_s, "run_s": run_s})
        print(f"{env_name:12s} {label:4s} ({name}) {score.mean():9.1f} ± {rows[-1]['score'][1]:.1f}  per seed "
              f"{score.round(0).tolist()}  {per_update * updates:.3g} steps, compile {compile_s:.0f} s, "
              f"run {run_s:.0f} s", flush=True)
    write(env_name, seeds, rows, curves, out, quick)


def write(env_name, seeds, rows, curves, out, quick) -> None:
    date = time.strftime("%Y-%m-%d")
    command = f"python experiments/wpo/deep.py --envs {env_name} --seeds {seeds}{' --quick' if quick else ''}"
    lines = [f"# Deep WPO/SPO vs PPO on {env_name}, {date}", "", f"`{command}`; {jax.default_backend()}. Score: "
             "training episode return over the last 10% of updates, mean ± s.e. over seeds.", "",
             "| method | agent | score | per seed | env steps | compile s | run s |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['agent']} | {r['score'][0]:.1f} ± {r['score'][1]:.1f} | "
              f"{', '.join(f'{v:.0f}' for v in r['per_seed'])} | {r['env_steps']:.3g} | {r['compile_s']:.0f} | "
              f"{r['run_s']:.0f} |" for r in rows]
    stem = os.path.join(out, f"deep_{env_name}")
    with open(stem + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(stem + ".json", "w") as f:
        json.dump({"date": date, "env": env_name, "seeds": seeds, "quick": quick, "backend": jax.default_backend(),
                   "rows": rows}, f, indent=1)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (x, returns) in curves.items():
        mean = returns.mean(0)
        se = returns.std(0, ddof=1) / np.sqrt(returns.shape[0]) if returns.shape[0] > 1 else 0 * mean
        ax.plot(x, mean, label=label)
        ax.fill_between(x, mean - 2 * se, mean + 2 * se, alpha=0.2)
    ax.set_title(env_name)
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode return")
    ax.legend()
    fig.tight_layout()
    fig.savefig(stem + ".png", dpi=100)
    print(f"wrote {stem}.md, .json, .png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    budgets = {**CLASSIC, **LOCOMOTION}
    parser.add_argument("--envs", nargs="+", default=list(budgets), choices=list(budgets))
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="a tenth of the steps, 2 seeds")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for env_name in args.envs:
        steps = budgets[env_name] // (10 if args.quick else 1)
        run_env(env_name, 2 if args.quick else args.seeds, steps, args.out, args.quick)


if __name__ == "__main__":
    main()
