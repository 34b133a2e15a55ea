"""Walker and Reacher (Brax): vanilla PG, N-PG-IGT, HARPG, N-HARPG and SHARP
at the protocol of Fatkhullin et al. (ICML 2023, Fig. 1) and its official code.

    python experiments/vr_pg/reproduce.py                       # CPU: 2·10^6 probes, 5 seeds, both envs
    python experiments/vr_pg/reproduce.py --budget 2e7 --seeds 10   # the paper's budget (GPU)
    python experiments/vr_pg/reproduce.py --gradient official   # the official code's estimator
    python experiments/vr_pg/reproduce.py --report              # tables and plots from the runs so far

Every (env, agent, gradient) is one `python -m rlx.run` job in
<runs>/<env>-<agent>-<gradient>: seeds vmapped, checkpointed, resumable.  A
rerun of the same command continues each unfinished job from its latest
checkpoint and skips the finished ones, so the experiment can be run in
pieces: `timeout -s TERM 590 python experiments/vr_pg/reproduce.py ...` stops
the job in flight at its next chunk (SIGTERM: the runner checkpoints, then
exits), and the next call picks it up.  A piece needs the rlx install and the
<runs> folder of the previous pieces (carry it to a GPU machine).

The protocol (official code: run_experiment/run_PG.py, torch/algos,
torch/optimizers; docs/algorithms.md):
- reported return: 20 episodes with the MEAN action at θ_t, not counted as
  samples (the runner's `eval_episodes=20`, every `eval_every` iterations);
- x-axis and budget: valid transitions of the training and Hessian batches
  ("system probes"), the runner's `samples`;
- batches: whole episodes until ≥ 1,000 valid steps; Hessian batch ≥ 32 steps
  (one episode), none at t = 0 (the agents' defaults);
- horizon: Walker 1,000 (Brax's and Walker2d-v2's time limit), Reacher 50;
- γ0 the paper's per-step-mean tunings (below), η0 = 1;
- policy: Gaussian MLP 64×64 tanh, Xavier-uniform weights, zero biases,
  σ0 = 1 learned and state-independent (the agents' default on locomotion);
- baseline: the linear feature baseline fitted on the previous batch.
Deviations, each with its reason, are written at the top of the results.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
LABELS = {"gpomdp": "vanilla PG", "npg_igt": "N-PG-IGT", "harpg": "HARPG", "n_harpg": "N-HARPG", "sharp": "SHARP"}
# The paper's tuned γ0 (docs/algorithms.md), on the official code's per-step-mean scale, which rlx's estimates
# share (rlx.agents.shared.pg.step_divisor); SHARP, which the paper did not run, gets N-HARPG's.
TUNED_LR = {
    "walker2d": {"gpomdp": 0.02, "npg_igt": 0.75, "harpg": 0.002, "n_harpg": 0.1, "sharp": 0.1},
    "reacher": {"gpomdp": 0.02, "npg_igt": 0.2, "harpg": 0.002, "n_harpg": 0.1, "sharp": 0.1},
}
# Read off the authors' ICML poster (mean-action evaluation against probes).  At 1.5·10^5 probes only Walker's
# values are given there; Reacher's curves are only read at the end.
PAPER = {
    "walker2d": {"150k": {"npg_igt": 180, "gpomdp": 170, "n_harpg": 90, "harpg": 0},
                 "2e7": {"npg_igt": 470, "gpomdp": 280, "n_harpg": 255, "harpg": 240}},
    "reacher": {"150k": {},
                "2e7": {"npg_igt": -7.6, "gpomdp": -10.4, "n_harpg": -10.3, "harpg": -12.3}},
}
CHECKPOINT = 150_000  # the poster's early checkpoint, in probes
# Iterations between evaluations (Reacher ≈ 10^4 probes, Walker ≈ 2·10^4; the protocol asks for at least every
# 10^5).  An evaluation of Walker's 20 × 1,000 steps costs about one iteration, hence the sparser one there.
EVAL_EVERY = {"walker2d": 20, "reacher": 10}


def job_folder(runs: str, env: str, agent: str, gradient: str) -> str:
    return os.path.join(runs, f"{env}-{agent}-{gradient}")


def runner_argv(env: str, agent: str, budget: int, seeds: int, folder: str, *agent_args: str) -> list[str]:
    """The runner's command line for one job at this protocol: fresh, or
    resumed (and extended to `budget`) when `folder` already holds the job."""
    if os.path.exists(os.path.join(folder, "config.json")):
        return [f"resume={folder}", f"total_steps={budget}"]
    return [f"agent={agent}", f"env={env}", f"seeds={seeds}", f"total_steps={budget}", f"out={folder}",
            f"eval_every={EVAL_EVERY[env]}", "eval_episodes=20", f"log_every={EVAL_EVERY[env]}", "checkpoint_every=60",
            "tensorboard=false", *agent_args]


def run_job(argv: list[str]) -> None:
    """One `python -m rlx.run` job; a non-zero exit (SIGTERM from a time
    limit, or a failure) stops the script, and a rerun continues."""
    print("python -m rlx.run " + " ".join(argv), flush=True)
    code = subprocess.call([sys.executable, "-m", "rlx.run", *argv])
    if code != 0:
        sys.exit(code)


def samples_done(folder: str) -> float:
    """The fewest samples any live seed of a job has reached: 0 if it has not
    started, inf if every run was dropped (on_nonfinite=drop): nothing is left to run."""
    path = os.path.join(folder, "summary.json")
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        summary = json.load(f)
    dropped = {d["run"] for d in summary.get("dropped", [])}
    live = [s for r, s in enumerate(summary.get("samples_per_seed") or [0]) if r not in dropped]
    return min(live, default=float("inf"))


def run_jobs(args) -> None:
    for env in args.envs:
        for agent in args.agents:
            for gradient in args.gradient:
                folder = job_folder(args.runs, env, agent, gradient)
                if samples_done(folder) >= args.budget:
                    continue
                backend = [f"env.backend={args.backend}"] if args.backend else []
                run_job(runner_argv(env, agent, int(args.budget), args.seeds, folder, f"agent.lr={TUNED_LR[env][agent]}",
                                    f"agent.gradient={gradient}", *backend))


def eval_curves(folder: str):
    """(samples [seeds, evals], eval returns [seeds, evals]) of a job, read
    from its metrics.jsonl: one row per seed at every evaluation."""
    by_seed: dict[int, list] = {}
    with open(os.path.join(folder, "metrics.jsonl")) as f:
        for line in f:
            row = json.loads(line)
            if "eval_return" in row:
                by_seed.setdefault(row["seed"], []).append((row["samples"], row["eval_return"]))
    n = min(len(v) for v in by_seed.values())
    curves = np.array([v[:n] for _, v in sorted(by_seed.items())], dtype=np.float64)  # [seeds, evals, 2]
    return curves[..., 0], curves[..., 1]


def at_samples(samples: np.ndarray, returns: np.ndarray, where: float) -> np.ndarray:
    """Each seed's return at its first evaluation with ≥ `where` samples (NaN if none)."""
    out = np.full(samples.shape[0], np.nan)
    for s in range(samples.shape[0]):
        hit = np.nonzero(samples[s] >= where)[0]
        if hit.size:
            out[s] = returns[s, hit[0]]
    return out


def mean_se(x: np.ndarray) -> tuple[float, float]:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.nan, np.nan
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else np.nan


def _apart(stats: dict, a: str, b: str) -> bool:
    """Whether a's mean exceeds b's by more than 2 combined s.e."""
    se = np.hypot(np.nan_to_num(stats[a][1]), np.nan_to_num(stats[b][1]))
    return stats[a][0] - stats[b][0] > 2 * se


def ordering(stats: dict) -> str:
    """Agents by mean, `>` where neighbours' gap exceeds 2 combined s.e., `≈`
    where not; then every pair so separated, since a chain of `≈` can hide a
    gap between non-neighbours."""
    names = sorted((n for n in stats if np.isfinite(stats[n][0])), key=lambda n: -stats[n][0])
    text = LABELS[names[0]] if names else ""
    for a, b in zip(names, names[1:]):
        text += (" > " if _apart(stats, a, b) else " ≈ ") + LABELS[b]
    pairs = [f"{LABELS[a]} > {LABELS[b]}" for i, a in enumerate(names) for b in names[i + 1:] if _apart(stats, a, b)]
    return text + f" (pairs apart: {', '.join(pairs) or 'none'})"


PROTOCOL = """\
Protocol (Fatkhullin et al., ICML 2023, Fig. 1, and its official code; this script's docstring):
mean-action evaluation, 20 episodes at θ_t, not counted as samples; x-axis and budget in system probes
(valid transitions of training and Hessian batches); batches of whole episodes until ≥ 1,000 valid steps,
Hessian batch ≥ 32 steps and none at t = 0; horizon Walker 1,000, Reacher 50; γ0 the paper's (column γ0),
η0 = 1; Gaussian MLP 64×64 tanh, Xavier-uniform weights, zero biases, σ0 = 1 learned, σ ≥ 1e-6; linear
feature baseline fitted on the previous batch; γ = 0.99.

Deviations, each with its reason:
- physics: Brax `spring`, not MuJoCo (mujoco-py), for CPU time: `generalized`, the closest to MuJoCo here, is 3.3×
  slower on Walker (backends.py: npg_igt, 2 seeds, median of 3 alternating pairs, 3.2–3.7; results/backends.json),
  which would make the five Walker agents at 2·10^6 probes about 4.5 h of this CPU; the ordering on generalized
  is not measured.  Brax's reward scales differ from Gym's
  (Brax walker2d's healthy reward starts an untrained policy at 200–400), so returns compare in ordering and
  shape, not in value.
- budget and seeds: {budget} (the paper: 2·10^7), for CPU time; seeds as in the seeds column (the paper's are
  unpublished).{missing}
- gradient "paper" (rlx's default): the paper's estimators, unbiased for ∇J_H (discount from the episode's
  start, γ^h b(s_h) subtracted, divided by D = max(1000, L̄_{{t−1}}) fixed before the batch); "official": what
  the official code computes (discount restarted at each step, divided by the realised steps, HARPG's cross
  term with the opposite sign and 1/M, IGT's extrapolation by η_{{t−1}}).
- evaluation every {every} iterations, not every iteration (an evaluation of Walker costs about an iteration).
- SHARP is not in the paper; it runs at N-HARPG's γ0 (its own paper's constants are unread, rlx.agents.sharp).
"""


def report(args) -> None:
    os.makedirs(args.out, exist_ok=True)
    for env in args.envs:
        jobs = {}
        for gradient in args.gradient:
            for agent in args.agents:
                folder = job_folder(args.runs, env, agent, gradient)
                if os.path.exists(os.path.join(folder, "metrics.jsonl")):
                    jobs[(agent, gradient)] = eval_curves(folder)
        if not jobs:
            continue
        tables, payload, budgets = [], {}, []
        for gradient in args.gradient:
            names = [a for a in args.agents if (a, gradient) in jobs]
            if not names:
                continue
            final = min(float(np.min(jobs[(a, gradient)][0][:, -1])) for a in names)  # what every job reached
            budgets.append(f"{final:.3g} probes a seed ({gradient})")
            early = {a: mean_se(at_samples(*jobs[(a, gradient)], CHECKPOINT)) for a in names}
            late = {a: mean_se(at_samples(*jobs[(a, gradient)], final)) for a in names}
            rows = [f"#### gradient={gradient}", "",
                    f"| agent | γ0 | seeds | at {CHECKPOINT:.2g} probes | paper at {CHECKPOINT:.2g} | at {final:.3g} "
                    "probes | paper at 2·10^7 |", "|---|---|---|---|---|---|---|"]
            for agent in names:
                samples, returns = jobs[(agent, gradient)]
                rows.append(f"| {LABELS[agent]} | {TUNED_LR[env][agent]:g} | {returns.shape[0]} | "
                            f"{early[agent][0]:.1f} ± {early[agent][1]:.1f} | {_paper(env, '150k', agent)} | "
                            f"{late[agent][0]:.1f} ± {late[agent][1]:.1f} | {_paper(env, '2e7', agent)} |")
                payload[f"{agent}-{gradient}"] = dict(samples=samples, eval_return=returns, at_150k=early[agent],
                                                      at_final=late[agent], final_probes=final)
            rows += ["", f"- order at {CHECKPOINT:.2g} probes: {ordering(early)}; paper: {_paper_order(env, '150k')}",
                     f"- order at {final:.3g} probes: {ordering(late)}; paper at 2·10^7: {_paper_order(env, '2e7')}",
                     "  (`>` a gap over 2 combined s.e., `≈` within)", ""]
            tables += rows
        ran = sorted({g for _, g in jobs})  # a gradient with no job at all is simply not reported
        absent = [f"{LABELS[a]} (gradient={g})" for g in ran for a in LABELS if (a, g) not in jobs]
        missing = f"\n- not run here (CPU time): {', '.join(absent)}." if absent else ""
        md = "\n".join([f"### {env}: mean-action evaluation return, mean ± s.e. over seeds", "",
                        PROTOCOL.format(budget="; ".join(budgets), every=EVAL_EVERY[env], missing=missing), *tables])
        print(md)
        with open(os.path.join(args.out, f"{env}.md"), "w") as f:
            f.write(md + "\n")
        with open(os.path.join(args.out, f"{env}.json"), "w") as f:
            json.dump({k: {n: np.asarray(x).tolist() for n, x in v.items()} for k, v in payload.items()}, f)
        plot(env, jobs, os.path.join(args.out, f"{env}.png"))


def _paper(env: str, at: str, agent: str) -> str:
    value = PAPER[env][at].get(agent)
    return "—" if value is None else f"{value:g}"


def _paper_order(env: str, at: str) -> str:
    values = PAPER[env][at]
    return " > ".join(LABELS[n] for n in sorted(values, key=lambda n: -values[n])) or "—"


def plot(env: str, jobs: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    colors = {agent: f"C{i}" for i, agent in enumerate(LABELS)}
    right = max(float(samples.max()) for samples, _ in jobs.values())
    for (agent, gradient), (samples, returns) in jobs.items():
        x = samples.mean(0)
        mean, se = returns.mean(0), returns.std(0, ddof=1) / np.sqrt(returns.shape[0])
        style = "-" if gradient == "paper" else "--"
        ax.plot(x, mean, style, color=colors[agent], label=f"{LABELS[agent]} ({gradient})")
        ax.fill_between(x, mean - se, mean + se, color=colors[agent], alpha=0.2)
    for agent, value in PAPER[env]["2e7"].items():  # the paper's final values, drawn at the right edge
        ax.hlines(value, 1.01 * right, 1.06 * right, color=colors[agent], linewidth=3)
    ax.text(1.035 * right, ax.get_ylim()[1], "paper\nat 2·10^7", ha="center", va="top", fontsize=7)
    ax.set_xlabel("system probes (valid transitions of training and Hessian batches)")
    ax.set_ylabel("mean-action evaluation return")
    ax.set_title(f"brax {env}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=["walker2d", "reacher"], choices=list(TUNED_LR))
    parser.add_argument("--agents", nargs="+", default=list(LABELS), choices=list(LABELS))
    parser.add_argument("--gradient", nargs="+", default=["paper"], choices=["paper", "official"])
    parser.add_argument("--budget", type=float, default=2e6, help="valid transitions (probes) a seed")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--backend", default="", help="Brax physics backend ('' = spring)")
    parser.add_argument("--runs", default=os.path.join("runs", "vr_pg"))
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--report", action="store_true", help="only write the tables and plots")
    args = parser.parse_args()
    if not args.report:
        run_jobs(args)
    report(args)


if __name__ == "__main__":
    main()
