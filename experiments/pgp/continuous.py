"""PGP's continuous experiments at the official settings (Wolf, Fatkhullin, He
2026; their code/continuous), each run a resumable `rlx.run` job.

    python experiments/pgp/continuous.py expert            # the point mass's expert and its state mixture (≈ 1 min)
    python experiments/pgp/continuous.py run [--seeds 2]   # every setting at the official budget (hours on 2 cores)
    python experiments/pgp/continuous.py run --only cartpole-rho10 --iterations 200   # one setting, shorter
    python experiments/pgp/continuous.py report            # results/continuous.{md,json,png}

A killed `run` resumes each setting from its last checkpoint (runs/pgp_continuous/<setting>).

Protocol (the official code, as agents/pgp_deep.py reads it):
- cart-pole: dm_control `cartpole/swingup` in MuJoCo Playground's MJX port
  (`cartpole_swingup`: 1,000 steps of 0.01 s, slider ±1.8 m), the constraint
  mean_w(|x| − 1.5) ≤ 0, ρ = β = 10 (their README's command), 2,000
  iterations × 4,096 steps = 8.2·10⁶ steps; beside it ρ = 0 (the same
  estimates, no penalty);
- point mass: dm_control `point_mass/easy` (`point_mass`: 1,000 steps of
  0.02 s), the KL ball KL(λ ‖ λ_ref) ≤ κ for κ ∈ {1, 2, 5}, ρ = 10,
  1,000 iterations × 4,096 = 4.1·10⁶ steps;
- metric: the self-normalised entropy estimate Ĥ and constraint ĉ the update
  penalises, and the plain Monte-Carlo −mean log λ̂ and mean g, per iteration
  (the x-axis of the official plots); "start" is the mean of iterations 10–19
  (the mixture has seen ten batches by then), "end" the mean of the last 10%.

The expert (`expert`): the official one is Stable-Baselines3 SAC; rlx's PPO
is the issue's suggested stand-in, but at 10⁶ steps it reaches a return of
3 of 1,000 on point_mass/easy (`python -m rlx.run agent=ppo env=point_mass
seeds=2 total_steps=1e6`: 2.97 ± 0.07), no expert.  rlx uses a scripted one: the
PD controller a = clip(−20 p − 2 v) (return 888 of 1,000), with a Gaussian of
σ = 0.089 around it as π_ref, the σ at which a Gaussian's entropy is the
official SAC's target entropy −dim(A) = −2.  The reference state mixture is
fitted (16 components, 200 EM steps) to the states of 64 of its deterministic
episodes (the official: 5,000).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RESULTS = os.path.join(HERE, "results")
EXPERT = os.path.join(RESULTS, "point_mass_expert.msgpack")
RUNS = os.path.join(ROOT, "runs", "pgp_continuous")
STEPS = 4096  # an iteration
# setting -> (env, iterations at the official budget, agent fields)
SETTINGS = {
    "cartpole-rho10": ("cartpole_swingup", 2000, {"penalty": 10.0}),
    "cartpole-rho0": ("cartpole_swingup", 2000, {"penalty": 0.0}),
    "pointmass-kappa1": ("point_mass", 1000, {"constraint": "kl", "kl_radius": 1.0, "reference": EXPERT}),
    "pointmass-kappa2": ("point_mass", 1000, {"constraint": "kl", "kl_radius": 2.0, "reference": EXPERT}),
    "pointmass-kappa5": ("point_mass", 1000, {"constraint": "kl", "kl_radius": 5.0, "reference": EXPERT}),
    "pointmass-rho0": ("point_mass", 1000, {"constraint": "kl", "kl_radius": 1.0, "reference": EXPERT, "penalty": 0.0}),
}
GAINS = (20.0, 2.0)  # the expert's PD gains on position and velocity
EXPERT_STD = float(np.exp(-1.0 - 0.5 * np.log(2 * np.pi * np.e)))  # a Gaussian of entropy −1 a dimension: 0.089


def expert(args) -> None:
    import jax
    import jax.numpy as jnp
    from flax import serialization

    from rlx.agents.shared import density
    from rlx.envs import make
    from rlx.rollout import collect_steps

    env = make("point_mass")
    kp, kd = GAINS
    # the PD controller as the linear Gaussian policy rlx.policies.GaussianMLP(hidden=()) applies: mean = obs W + b
    kernel = np.zeros((4, 2), np.float32)
    kernel[0, 0] = kernel[1, 1] = -kp
    kernel[2, 0] = kernel[3, 1] = -kd
    policy = {"params": {"MLP_0": {"Dense_0": {"kernel": kernel, "bias": np.zeros(2, np.float32)}},
                         "log_std": np.full(2, np.log(EXPERT_STD), np.float32)}}

    def mean_action(key, obs):
        return jnp.clip(obs @ kernel, -1.0, 1.0)

    obs, state = jax.vmap(env.reset)(jax.random.split(jax.random.key(0), args.episodes))
    tr, _, _ = jax.jit(lambda k, s, o: collect_steps(k, env, None, mean_action, s, o, env.max_steps()))(
        jax.random.key(1), state, obs)
    states = np.asarray(tr.obs).reshape(-1, 4)
    mixture = density.fit(density.init(jax.random.key(2), jnp.asarray(states), 16), jnp.asarray(states), iterations=200)
    episode_return = float(np.asarray(tr.reward).sum(0).mean())
    saved = {"hidden": np.zeros(0, np.int32), "activation": "tanh", "policy": policy,
             "mixture": {k: np.asarray(v) for k, v in vars(mixture).items()},
             "return": episode_return, "gains": np.asarray(GAINS), "std": EXPERT_STD, "episodes": args.episodes}
    os.makedirs(RESULTS, exist_ok=True)
    with open(EXPERT, "wb") as f:
        f.write(serialization.msgpack_serialize(saved))
    print(f"expert: PD gains {GAINS}, return {episode_return:.1f} over {args.episodes} episodes, "
          f"σ_ref {EXPERT_STD:.3f}, mixture of {len(states)} states -> {EXPERT}")


def run(args) -> None:
    for name in args.only or list(SETTINGS):
        env, iterations, fields = SETTINGS[name]
        iterations = args.iterations or iterations
        folder = os.path.join(RUNS, name)
        budget = [f"total_steps={iterations * STEPS}"]
        if os.path.exists(os.path.join(folder, "config.json")):
            command = [f"resume={folder}", *budget]
        else:
            command = ["agent=pgp_deep", f"env={env}", f"seeds={args.seeds}", f"out={folder}", "eval_every=0",
                       "checkpoint_every=100", *budget, *[f"agent.{k}={v}" for k, v in fields.items()]]
        print(name, " ".join(command), flush=True)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "rlx.run", *command], check=True, cwd=ROOT)
        print(f"{name}: {time.perf_counter() - t0:.0f} s", flush=True)


METRICS = ("entropy", "constraint", "entropy_mc", "g_mean", "episode_return")


def read(folder: str) -> dict:
    """Per seed, each metric's curve over iterations."""
    rows = [json.loads(line) for line in open(os.path.join(folder, "metrics.jsonl"))]
    seeds = sorted({r["seed"] for r in rows})
    if not seeds:  # a run that has not logged yet
        return {}
    out = {}
    for m in METRICS:
        curves = [[r[m] for r in sorted((r for r in rows if r["seed"] == s and m in r), key=lambda r: r["iteration"])]
                  for s in seeds]
        length = min(len(c) for c in curves)
        out[m] = np.asarray([c[:length] for c in curves])
    return out


def mean_se(x) -> tuple[float, float]:
    x = np.asarray(x, np.float64)
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")


def report(args) -> None:
    rows, curves = [], {}
    for name, (env, iterations, fields) in SETTINGS.items():
        folder = os.path.join(RUNS, name)
        if not os.path.exists(os.path.join(folder, "metrics.jsonl")):
            continue
        data = read(folder)
        if not data:
            continue
        done = data["entropy"].shape[1]
        tail = max(done // 10, 1)
        row = {"setting": name, "env": env, "fields": fields, "iterations": done, "official_iterations": iterations,
               "seeds": data["entropy"].shape[0]}
        for m in METRICS:
            row[m + "_start"] = float(data[m][:, 10:20].mean())  # once the mixture has seen ten batches
            row[m], row[m + "_se"] = mean_se(data[m][:, -tail:].mean(1))
        rows.append(row)
        curves[name] = {m: np.round(data[m].mean(0), 4).tolist() for m in METRICS}  # the seed mean per iteration
    with open(os.path.join(RESULTS, "continuous.json"), "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d"), "rows": rows, "curves": curves}, f)
    protocol = __doc__.split("Protocol", 1)[1].split("The expert", 1)[0]
    lines = ["### PGP's continuous experiments: the official estimator, tasks and budgets", "",
             "Protocol" + protocol.rstrip(), "",
             "Deviations, each with its reason:",
             "- the expert: a scripted PD controller instead of SAC (rlx's PPO, the issue's stand-in, does not solve "
             "point_mass/easy at 10⁶ steps: return 3 of 1,000); see `expert` in the script's docstring;",
             "- the pseudo-reward leaves out the official per-batch factor 1/Σλ̂ and the mixture is refitted by EM "
             "on the buffer, not by Adam steps (agents/pgp_deep.py, \"Deviations\");",
             "- seeds: the official scripts run one seed per command (default 0) and no aggregation; rlx vmaps "
             "the seeds listed in each row;",
             "- env return: the env's reward a 1,000-step episode (the batch's mean step reward × 1,000): on the "
             "cart-pole −1,000 × mean g, on the point mass point_mass/easy's own reward (the PD expert: 895), a "
             "measure of how close the policy came to the expert's behaviour;",
             "- iterations: where a row shows fewer than the official count, the CPU time ran out (the same "
             "command resumes it).",
             "",
             "The paper's numbers: its continuous results are figures in paper.pdf, which could not be read here, "
             "and its code aggregates nothing over seeds; rlx's rows are therefore set beside each other "
             "(penalised against ρ = 0) and against the constraint's bound 0, not beside paper numbers. What the "
             "rows say of the paper's claims: experiments/README.md, \"pgp continuous tasks at the official settings\".",
             "",
             "| setting | seeds | iterations (official) | Ĥ start → end | ĉ start → end (≤ 0 feasible) | "
             "−mean log λ̂ start → end | mean g start → end | env return start → end |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['setting']} | {r['seeds']} | {r['iterations']} ({r['official_iterations']}) | "
                     f"{r['entropy_start']:.2f} → {r['entropy']:.2f} ± {r['entropy_se']:.2f} | "
                     f"{r['constraint_start']:.3f} → {r['constraint']:.3f} ± {r['constraint_se']:.3f} | "
                     f"{r['entropy_mc_start']:.2f} → {r['entropy_mc']:.2f} ± {r['entropy_mc_se']:.2f} | "
                     f"{r['g_mean_start']:.3f} → {r['g_mean']:.3f} ± {r['g_mean_se']:.3f} | "
                     f"{r['episode_return_start']:.0f} → {r['episode_return']:.0f} ± {r['episode_return_se']:.0f} |")
    with open(os.path.join(RESULTS, "continuous.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    for col, task in enumerate(("cartpole", "pointmass")):
        for name, curve in curves.items():
            if name.startswith(task):
                axes[0, col].plot(curve["entropy"], label=name)
                axes[1, col].plot(curve["constraint"], label=name)
        axes[1, col].axhline(0.0, color="k", lw=0.8)
        axes[0, col].set_ylabel("Ĥ (self-normalised)")
        axes[1, col].set_ylabel("ĉ (≤ 0 feasible)")
        axes[1, col].set_xlabel("iteration (4,096 steps)")
        axes[0, col].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(RESULTS, "continuous.png"), dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("expert", "run", "report"))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=0, help="0: the official count of each setting")
    parser.add_argument("--only", nargs="+", choices=list(SETTINGS))
    parser.add_argument("--episodes", type=int, default=64, help="expert: deterministic episodes for its mixture")
    args = parser.parse_args()
    {"expert": expert, "run": run, "report": report}[args.command](args)


if __name__ == "__main__":
    main()
