"""PGP, PDPG and VR-PDPG on the PGP paper's gridworld, at its official code's settings
(Wolf, Fatkhullin, He 2026; github Flo-Wo/penalty-based-constrained-exploration,
code/gridworld: Penalty_run.py, PDPG_run.py, Norm_constr_run.py and the
experiment JSONs 1–6), against the exact finite-horizon optimum.

    python experiments/pgp/gridworld.py reference                    # the exact references (≈ 5 min)
    python experiments/pgp/gridworld.py run --iterations 1500        # every experiment, 10 seeds; CPU budget
    python experiments/pgp/gridworld.py run --iterations 15000       # the official budget (a GPU), in pieces
    python experiments/pgp/gridworld.py run --experiments penalty --episodes 24
    python experiments/pgp/gridworld.py report                       # results/gridworld.{md,json,png}

The official protocol, row by row:
- env: `pgp_gridworld` (the official map, holes that do not end the episode,
  the goal terminal, horizon 25, γ 0.99), the hole cost 50 (2 in the cost
  ablation) on the moves into a hole and a credit of 0.1 on every other move,
  the constraint sign-corrected (envs/tabular.py: as published it never binds);
- policy: a linear layer on the one-hot state (a logit table plus a bias shared
  by the states), torch's default init (`policy=mlp hidden=() weight_init=torch`);
- update: λ̂ of N episodes (unnormalised, Σ_t γ^t), the pseudo-reward of
  H(λ) − (ρ/2)[g]₊² with log(λ̂ + 1e-18), REINFORCE reward-to-go (Σ_{k≥t} γ^k r_k)
  without a baseline averaged over the episodes, plain SGD; rlx's `penalty` is
  ρ·[g]₊², so it is set to ρ_official / 2;
- PDPG: the same step on H − μ g, μ ← max(0, μ + η_μ g) (the official clip at
  10^7 never binds once the sign is right);
- grids (experiment JSONs): N ∈ {8, 24, 72}; "penalty": lr {1e-3, 1e-2, 1e-1} ×
  ρ {5e-4, 1e-3, 5e-3, 1e-2}; "cost" (hole cost 2): ρ {0.0125, 0.025, 0.125, 0.25};
  "unconstrained": ρ = 0; "pdpg": lr × η_μ ∈ {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1}²;
  "vr_pdpg" (agents/vr_pdpg.py, the official VRPDPG with its bugs fixed): N 24 only, lr {0.01, 0.05, 0.1, 0.5}
  × η_μ {0.001, 0.01, 0.1} × α {0.01, 0.1, 1}, a corner of the official 7 × 7 × 7 grid;
  "norm": the empty map, ‖λ − λ_path‖₂ ≤ shift, λ_path one discounted walk right ×5
  then down ×5 into the goal, shift {0, 0.2, 0.5, 1} × ρ {0.1, 1, 2, 5, 10}, lr 0.01;
- 10 seeds (keys 0 … 9), 15,000 iterations, scored every 100 iterations.

Scored here by the EXACT entropy and constraint of each checkpoint's
occupancy (rlx.exact at horizon 25), not the official plug-in estimate from 8
fresh trajectories (a noisy, downward-biased estimate of the same numbers).
The references: H*_Markov, the certified optimum over time-dependent policies
(`rlx.exact.max_entropy_occupancy_finite`, an upper bound for any policy), and
H_stationary, the best stationary policy found by exact-gradient ascent from
several starts (what a tabular softmax can reach, a lower bound on its optimum).
The norm experiment's reference is H*_Markov in the ball ‖λ − λ_path‖₂ ≤ shift,
certified the same way (`max_entropy_occupancy_finite(..., ball=(λ_path, shift))`).
Each (experiment, N) is one program, seeds and grid vmapped, written to
results/raw/gridworld/ when it ends; a rerun skips the jobs written.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from rlx import agents, exact
from rlx.agents import pgp
from rlx.agents.shared import convex_utility
from rlx.envs import make
from rlx.train import make_train

HERE = os.path.dirname(os.path.abspath(__file__))
RAW = os.path.join(HERE, "results", "raw", "gridworld")
EPISODES = (8, 24, 72)
LRS = (1e-3, 1e-2, 1e-1)
PDPG_RATES = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0)
EMPTY_MAP = "S...../....../....../....../....../.....G"
EVERY = 100  # checkpoint spacing, iterations [official: checkpoint_step=100]
# experiment -> agent, env kwargs, fixed agent fields, the grid {field: official values}, how a value maps to rlx's
EXPERIMENTS = {
    "penalty": ("pgp", {}, {}, {"lr": LRS, "penalty": (5e-4, 1e-3, 5e-3, 1e-2)}),
    "cost": ("pgp", {"hole_cost": 2.0}, {}, {"lr": LRS, "penalty": (0.0125, 0.025, 0.125, 0.25)}),
    "unconstrained": ("pgp", {}, {"constraint": "none"}, {"lr": LRS}),
    "pdpg": ("pdpg", {}, {}, {"lr": PDPG_RATES, "dual_lr": PDPG_RATES}),
    # VR-PDPG: a corner of the official 7 × 7 × 7 grid (lr, η_μ, α), for CPU time
    "vr_pdpg": ("vr_pdpg", {}, {}, {"lr": (0.01, 0.05, 0.1, 0.5), "dual_lr": (0.001, 0.01, 0.1),
                                    "alpha": (0.01, 0.1, 1.0)}),
    "norm": ("pgp", {"rows": EMPTY_MAP}, {"constraint": "path", "path": "RRRRRDDDDD", "lr": 0.01},
             {"penalty": (0.1, 1.0, 2.0, 5.0, 10.0), "shift": (0.0, 0.2, 0.5, 1.0)}),
}


def rlx_value(field: str, official: float) -> float:
    """The official ρ multiplies [g]₊²/2; rlx's `penalty` multiplies [g]₊²."""
    return official / 2 if field == "penalty" else official


def job_config(experiment: str, episodes: int):
    name, env_kwargs, fixed, grid = EXPERIMENTS[experiment]
    env = make("pgp_gridworld", **env_kwargs)
    config = agents.config(name, env).replace(**fixed, num_envs=episodes)  # the official protocol: pgp_gridworld's
    #   defaults (agents.pgp.OFFICIAL_GRIDWORLD); the grid sets lr, ρ and η_μ
    return name, env, config, grid


def run_job(experiment: str, episodes: int, iterations: int, seeds: int) -> dict:
    """Exact entropy and violation every EVERY iterations, [setting, seed, checkpoint]."""
    name, env, config, grid = job_config(experiment, episodes)
    fields = list(grid)
    settings = list(itertools.product(*grid.values()))
    columns = [jnp.asarray([rlx_value(f, s[i]) for s in settings], jnp.float32) for i, f in enumerate(fields)]

    def one(values, key):
        c = config.replace(**dict(zip(fields, values)))
        metrics = make_train(agents.get(name), env, c, iterations)(key)[1]
        return {k: metrics[k][EVERY - 1::EVERY] for k in ("exact_entropy", "exact_violation")}

    keys = jax.random.split(jax.random.key(0), seeds)
    t0 = time.perf_counter()
    out = jax.jit(jax.vmap(jax.vmap(one, (None, 0)), (0, None)))(columns, keys)
    out = {k: np.asarray(v).tolist() for k, v in out.items()}
    return {"experiment": experiment, "agent": name, "episodes": episodes, "iterations": iterations, "seeds": seeds,
            "fields": fields, "settings": [list(s) for s in settings], "every": EVERY,
            "seconds": time.perf_counter() - t0, **out}


def run(args) -> None:
    os.makedirs(RAW, exist_ok=True)
    for experiment in args.experiments:
        for episodes in args.episodes:
            path = os.path.join(RAW, f"{experiment}-N{episodes}.json")
            if os.path.exists(path):
                with open(path) as f:
                    if json.load(f)["iterations"] >= args.iterations:
                        continue
            row = run_job(experiment, episodes, args.iterations, args.seeds)
            with open(path + ".tmp", "w") as f:
                json.dump(row, f)
            os.replace(path + ".tmp", path)
            print(f"{experiment} N={episodes}: {len(row['settings'])} settings × {args.seeds} seeds, "
                  f"{args.iterations} iterations, {row['seconds']:.0f} s", flush=True)


def best_stationary(env, cost, budget: float, weights=(1.0, 1e1, 1e2, 1e3), starts: int = 6, steps: int = 2000):
    """The best stationary tabular policy found by Adam on the logits (gradients
    clipped to norm 1) from `starts` random starts, for the exact objective
    H(λ) − w·max(0, g(λ))², w stepping through `weights`.  With the default,
    growing weights (the penalty optimum's violation is about μ/(2·10³)) it is
    the constrained problem: (entropy, violation) of the best start that meets
    the constraint to 1e-3.  With one weight w = ρ it is PGP's own penalised
    problem at that ρ: (entropy, violation) of the start with the highest
    penalised objective.  Also returns every start's (entropy, violation)."""
    import optax

    mdp, horizon = env.mdp, env.mdp.horizon
    constraint = convex_utility.cost_constraint(jnp.asarray(cost, jnp.float32), budget) if cost is not None else None

    def occupancy(logits):
        return exact.occupancy(mdp, jax.nn.softmax(logits, -1), horizon)

    def violation(lam):
        return jnp.maximum(constraint(lam), 0.0) if constraint is not None else jnp.zeros(())

    def loss(logits, weight):  # (the goal's λ is 0: +1e-20 keeps its entropy gradient finite)
        lam = occupancy(logits)
        return -convex_utility.entropy(lam + 1e-20) + weight * violation(lam) ** 2

    optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(0.03))

    @jax.jit
    def solve(key):
        logits = 0.5 * jax.random.normal(key, (mdp.num_states, mdp.num_actions))

        def stage(carry, weight):
            def step(c, _):
                logits, opt = c
                updates, opt = optimizer.update(jax.grad(loss)(logits, weight), opt)
                return (optax.apply_updates(logits, updates), opt), None

            return jax.lax.scan(step, carry, None, length=steps)[0], None

        (logits, _), _ = jax.lax.scan(stage, (logits, optimizer.init(logits)), jnp.asarray(weights, jnp.float32))
        lam = occupancy(logits)
        return convex_utility.entropy(lam), violation(lam)

    found = [tuple(float(v) for v in solve(k)) for k in jax.random.split(jax.random.key(1), starts)]
    found = [f for f in found if np.isfinite(f).all()]
    if not found:
        return float("nan"), float("nan"), found
    if len(weights) == 1:
        best = max(found, key=lambda f: f[0] - weights[0] * f[1] ** 2)
    else:
        best = max([f for f in found if f[1] <= 1e-3] or found)
    return (*best, found)


def norm_reference() -> dict:
    """The norm experiment's H*_Markov at each shift: the certified optimum in
    the ball ‖λ − λ_path‖₂ ≤ shift (`rlx.exact.max_entropy_occupancy_finite`, `ball=`)."""
    _, env, config, grid = job_config("norm", 8)
    center = np.asarray(exact.occupancy(env.mdp, pgp.path_policy(env.mdp, config.path), env.max_steps()), np.float64)
    out = {"path_entropy": float(convex_utility.entropy(jnp.asarray(center))), "shifts": {}}
    for shift in grid["shift"]:
        t0 = time.perf_counter()
        x, _, upper, violation = exact.max_entropy_occupancy_finite(env.mdp, ball=(center, shift))
        out["shifts"][str(shift)] = {"markov_lower": float(convex_utility.entropy(jnp.asarray(x))), "markov_upper": upper,
                                     "distance": float(np.linalg.norm(x - center)), "violation": violation,
                                     "seconds": time.perf_counter() - t0}
        print("norm", shift, json.dumps(out["shifts"][str(shift)]), flush=True)
    return out


def reference(args) -> None:
    """H*_Markov (certified) and H_stationary for the cost-constraint
    experiments, H*_Markov in the ball for the norm experiment; entries already
    in reference.json are kept."""
    path = os.path.join(RAW, "reference.json")
    out = json.load(open(path)) if os.path.exists(path) else {}
    if "norm_ball" not in out:
        out["norm_ball"] = norm_reference()
    for experiment in ("penalty", "cost", "unconstrained"):
        if experiment in out:
            continue
        _, env, config, _ = job_config(experiment, 8)
        cost = None if experiment == "unconstrained" else -np.asarray(exact.expected_reward(env.mdp))
        t0 = time.perf_counter()
        x, mu, upper, violation = exact.max_entropy_occupancy_finite(env.mdp, cost=cost, budget=0.0)
        lower = float(convex_utility.entropy(jnp.asarray(x)))
        stationary, stationary_violation, starts = best_stationary(env, cost, 0.0)
        out[experiment] = {"markov_upper": upper, "markov_lower": lower, "mu": mu, "markov_violation": violation,
                           "stationary": stationary, "stationary_violation": stationary_violation,
                           "stationary_starts": starts, "penalised": {}}
        for rho in EXPERIMENTS[experiment][3].get("penalty", ()) if cost is not None else ():
            h, v, _ = best_stationary(env, cost, 0.0, weights=(rlx_value("penalty", rho),))
            out[experiment]["penalised"][str(rho)] = {"entropy": h, "violation": v}
        out[experiment]["seconds"] = time.perf_counter() - t0
        print(experiment, json.dumps(out[experiment]), flush=True)
    os.makedirs(RAW, exist_ok=True)
    with open(path, "w") as f:
        json.dump(out, f, indent=1)


def mean_se(x) -> tuple[float, float]:
    x = np.asarray(x, np.float64)
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else float("nan")


PROTOCOL = __doc__.split("The official protocol, row by row:")[1].split("Each (experiment, N)")[0].strip()


def report(args) -> None:
    with open(os.path.join(RAW, "reference.json")) as f:
        refs = json.load(f)
    jobs = {}
    for name in sorted(os.listdir(RAW)):
        if name.endswith(".json") and name != "reference.json":
            with open(os.path.join(RAW, name)) as f:
                row = json.load(f)
            jobs[(row["experiment"], row["episodes"])] = row
    iterations = sorted({r["iterations"] for r in jobs.values()})
    lines = ["### PGP's gridworld at the official settings: exact entropy and violation of the last iterate", "",
             "Protocol (the official code; experiments/pgp/gridworld.py's docstring):", "", PROTOCOL, "",
             "Deviations, each with its reason:",
             f"- iterations: {', '.join(map(str, iterations))} of the official 15,000, for CPU time (2 cores, no GPU "
             "lent); the same command with --iterations 15000 runs the official budget.",
             "- scoring: the exact occupancy of each checkpoint (rlx.exact), not the plug-in estimate from 8 "
             "trajectories: the same quantities without the sampling noise.",
             "- the hole-cost constraint is sign-corrected (as published it never binds, so the official hole-cost "
             "runs are unconstrained and PDPG's multiplier runs to its clip).",
             "- the paper's own numbers: its gridworld results are curves in the PDF, which could not be read "
             "here, so rlx's are set beside the exact references instead.", "",
             "References (`reference` subcommand, g in the constraint's own units, feasible where g ≤ 0):", "",
             "- H*_Markov: the certified optimum over time-dependent policies, [lower, upper] "
             "(`rlx.exact.max_entropy_occupancy_finite`), with its multiplier μ*;",
             "- H_stationary: the best stationary softmax policy found for the constrained problem (exact gradients, "
             "6 starts; every start's value in reference.json): what PGP's policy class can reach;",
             "- PGP's own target at each ρ: the best stationary policy for H − (ρ/2)[g]₊², its entropy and its g; "
             "PGP converges (at best) there, so a ρ whose target has g > 0 cannot give a feasible last iterate.", "",
             "| experiment | H*_Markov | μ* | H_stationary | PGP's target at each official ρ: H, g |", "|---|---|---|---|---|"]
    for e, r in ((e, r) for e, r in refs.items() if e != "norm_ball"):
        targets = "; ".join(f"ρ {rho}: {t['entropy']:.2f}, {t['violation']:.2f}" for rho, t in r["penalised"].items())
        lines.append(f"| {e} | {r['markov_lower']:.3f} … {r['markov_upper']:.3f} | {r['mu']:.3f} | "
                     f"{r['stationary']:.3f} | {targets or '—'} |")
    ball = refs.get("norm_ball")
    if ball:
        lines += ["", "The norm experiment's reference: H*_Markov in the ball ‖λ − λ_path‖₂ ≤ shift, certified "
                  f"[lower, upper] (`max_entropy_occupancy_finite(..., ball=)`); the path's own entropy is "
                  f"{ball['path_entropy']:.3f}.", "", "| shift | H*_Markov |", "|---|---|"]
        lines += [f"| {shift} | {r['markov_lower']:.3f} … {r['markov_upper']:.3f} |" for shift, r in ball["shifts"].items()]
    lines.append("")
    for experiment in EXPERIMENTS:
        rows = [jobs[k] for k in sorted(jobs) if k[0] == experiment]
        if not rows:
            lines += [f"#### {experiment}: not run", ""]
            continue
        ref = refs.get("penalty" if experiment in ("pdpg", "vr_pdpg") else experiment, {})
        fields = rows[0]["fields"]
        lines += [f"#### {experiment} ({rows[0]['agent']}, {rows[0]['seeds']} seeds, {rows[0]['iterations']} "
                  "iterations; the grid's official values)", "",
                  "| N | " + " | ".join(fields) + " | exact H, last iterate | H_stationary − H | g₊, last iterate "
                  "| seeds feasible (g ≤ 1e-3) | PGP's target at ρ: H, g |", "|---" * (len(fields) + 6) + "|"]
        for row in rows:
            entropy, violation = np.asarray(row["exact_entropy"]), np.asarray(row["exact_violation"])
            for i, setting in enumerate(row["settings"]):
                h, h_se = mean_se(entropy[i, :, -1])
                v, v_se = mean_se(violation[i, :, -1])
                gap = f"{ref['stationary'] - h:+.3f}" if "stationary" in ref else "—"
                if experiment == "norm" and ball:  # against the Markov optimum in the ball (no stationary one computed)
                    gap = f"{ball['shifts'][str(dict(zip(fields, setting))['shift'])]['markov_upper'] - h:+.3f} (H*_Markov)"
                feasible = int((violation[i, :, -1] <= 1e-3).sum())
                target = ref.get("penalised", {}).get(str(dict(zip(fields, setting)).get("penalty")))
                target = f"{target['entropy']:.2f}, {target['violation']:.2f}" if target and experiment not in ("pdpg", "vr_pdpg") else "—"
                lines.append(f"| {row['episodes']} | " + " | ".join(f"{x:g}" for x in setting) +
                             f" | {h:.3f} ± {h_se:.3f} | {gap} | {v:.4f} ± {v_se:.4f} | {feasible}/{row['seeds']} "
                             f"| {target} |")
        lines.append("")
    md = "\n".join(lines) + "\n"
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "gridworld.md"), "w") as f:
        f.write(md)
    summary = {f"{e}-N{n}": {"settings": r["settings"], "fields": r["fields"], "iterations": r["iterations"],
                             "entropy_last": np.asarray(r["exact_entropy"])[:, :, -1].mean(1).tolist(),
                             "violation_last": np.asarray(r["exact_violation"])[:, :, -1].mean(1).tolist()}
               for (e, n), r in jobs.items()}
    with open(os.path.join(HERE, "results", "gridworld.json"), "w") as f:
        json.dump({"references": refs, "jobs": summary}, f, indent=1)
    print(md)
    plot(jobs, refs)


PLOTTED = {"penalty": {"lr": 0.01, "penalty": 0.01}, "pdpg": {"lr": 0.05, "dual_lr": 0.001},
           "unconstrained": {"lr": 0.01}}  # the defaults on pgp_gridworld (agents.pgp, agents.pdpg), in official values


def plot(jobs: dict, refs: dict) -> None:
    """Exact entropy and violation against iterations at the defaults' settings (PLOTTED), a panel a N, with the
    references of the cost-50 problem and PGP's own target at its ρ."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(EPISODES), figsize=(5 * len(EPISODES), 7), squeeze=False)
    ref, target = refs.get("penalty", {}), refs.get("penalty", {}).get("penalised", {}).get("0.01")
    for col, episodes in enumerate(EPISODES):
        for experiment, style, color in (("penalty", "-", "C0"), ("pdpg", "--", "C1"), ("unconstrained", ":", "C2")):
            row = jobs.get((experiment, episodes))
            if row is None:
                continue
            wanted = [PLOTTED[experiment][f] for f in row["fields"]]
            i = next(k for k, setting in enumerate(row["settings"]) if np.allclose(setting, wanted))
            entropy, violation = np.asarray(row["exact_entropy"])[i], np.asarray(row["exact_violation"])[i]
            x = row["every"] * np.arange(1, entropy.shape[-1] + 1)
            label = f"{row['agent']} ({experiment}) " + ", ".join(f"{f}={v:g}" for f, v in zip(row["fields"], wanted))
            axes[0, col].plot(x, entropy.mean(0), style, color=color, label=label)
            axes[1, col].plot(x, violation.mean(0), style, color=color, label=label)
        if ref:
            axes[0, col].axhline(ref["markov_upper"], color="k", lw=0.8, label="H*_Markov (cost 50)")
            axes[0, col].axhline(ref["stationary"], color="k", ls="--", lw=0.8, label="H_stationary (cost 50)")
        if target:
            axes[0, col].axhline(target["entropy"], color="C3", ls="-.", lw=0.8, label="PGP's target at ρ 0.01")
            axes[1, col].axhline(target["violation"], color="C3", ls="-.", lw=0.8, label="PGP's target at ρ 0.01")
        axes[0, col].set_title(f"N = {episodes} episodes an iteration (mean of the seeds)")
        axes[0, col].set_ylabel("exact occupancy entropy")
        axes[1, col].set_ylabel("exact violation max(0, g)")
        axes[1, col].set_yscale("symlog", linthresh=0.1)
        axes[1, col].set_ylim(bottom=0)
        axes[1, col].set_xlabel("iteration")
        axes[0, col].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "results", "gridworld.png"), dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("reference", "run", "report"))
    parser.add_argument("--experiments", nargs="+", default=list(EXPERIMENTS), choices=list(EXPERIMENTS))
    parser.add_argument("--episodes", nargs="+", type=int, default=list(EPISODES))
    parser.add_argument("--iterations", type=int, default=15_000)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    if args.iterations % EVERY:
        parser.error(f"--iterations must be a multiple of {EVERY} (the checkpoint spacing)")
    {"reference": reference, "run": run, "report": report}[args.command](args)


if __name__ == "__main__":
    main()
