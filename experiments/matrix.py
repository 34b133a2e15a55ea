"""The agent × env matrix: every registered agent, with its defaults (and its
env family's, the agent's FAMILY_DEFAULTS), on every env it accepts.

    python experiments/matrix.py                        # everything, the budgets below, 3 seeds
    python experiments/matrix.py --agents harpg ppo --envs hopper cartpole
    python experiments/matrix.py --report               # the table from the JSON kept so far

For each pair: the deterministic evaluation return (greedy or mean action,
`rlx.train.evaluate`, 10 episodes a seed from a fixed key) of the initial and
of the final policy, mean and standard error over seeds; whether it improved
at 4 s.e. (the per-seed differences final − initial, their mean > 4 s.e.;
with 3 seeds a strict test); the first NaN/Inf (state or metric) if any;
compile time and env steps a second.  `gain vs PPO` is the agent's mean
improvement over PPO's on the same env at the same budget.  An agent "does
not accept" an env when its own init or config check refuses it (one line,
kept in the table).

Each finished pair is written to results/matrix/<agent>__<env>.json at once,
so an interrupted run loses one pair at most; pairs already there are skipped.
`--report` writes matrix.md and matrix.json beside them.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import platform
import time

import jax
import numpy as np

from rlx import agents
from rlx.envs import make
from rlx.rollout import episode_horizon
from rlx.train import evaluate, init_carry, run_updates

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "results", "matrix")
# env -> (make kwargs, env-step budget a seed).  A CPU budget: 2 cores, one session.
ENVS = {  # in the order they run
    "cartpole": ({}, 200_000),
    "acrobot": ({}, 200_000),
    "hopper": ({}, 200_000),
    "random_mdp": ({}, 50_000),
    "deepsea": ({"size": 10}, 50_000),
    "cliffwalking": ({}, 100_000),
    "pendulum": ({}, 200_000),
    "mountaincar_continuous": ({}, 200_000),
    "walker2d": ({}, 100_000),
    "reacher": ({}, 500_000),
    "halfcheetah": ({}, 100_000),
    "breakout": ({}, 100_000),
}
# Agents that make one gradient step an env step (replay) are far slower on a CPU: a smaller budget.
BUDGET_CAP = {"hyperagent": 50_000, "dqn": 50_000}
CHUNKS = 5  # compiled chunks a run (NaN checks between them)
# Why a row may read ✗ although nothing is broken: the reasons seen in this matrix's runs.
AGENT_NOTES = {
    "pgp": "maximises the occupancy's entropy under a constraint, not the return",
    "pdpg": "maximises the occupancy's entropy under a constraint, not the return",
    "vr_pdpg": "maximises the occupancy's entropy under a constraint, not the return",
    "pgp_deep": "maximises the occupancy's entropy under a constraint, not the return",
    "hyperagent": "budget capped (one gradient step an env step)",
    "dqn": "budget capped (one gradient step an env step)",
}
ENV_NOTES = {
    "acrobot": "sparse −1 reward: a seed that never reaches the goal gets no gradient signal",
    "hopper": "the initial policies' mean-action returns spread over seeds (19–250 with Xavier init; PPO's zero-mean "
              "start stands still for 670): 3 seeds rarely clear 4 s.e.",
    "walker2d": "the initial policies' mean-action returns spread over seeds: 3 seeds rarely clear 4 s.e.",
    "deepsea": "deep exploration: a dithering policy finds the treasure in 2^-10 of its episodes",
    "cliffwalking": "greedy evaluation loops for 100 steps (−100) until the goal is reached reliably",
    "mountaincar_continuous": "the +100 flag is never reached at this budget: standing still (0) is the best a "
                              "policy without it can do, and the energy it spends is paid for",
    "pendulum": "needs budgets beyond this CPU run (PPO's own rise is under 4 s.e.)",
    "halfcheetah": "10^5 steps are 100 PG batches; no return-seeking agent learns halfcheetah in them (PPO's own "
                   "evaluation falls)",
    "breakout": "10^5 steps are 100 PG batches of 1,000 with the γ0 tuned on cartpole/acrobot; PPO, wpo_deep and "
                "spo_deep (many small updates) learn at this budget",
    "reacher": "50-step episodes (gymnasium's Reacher-v5; Brax's own 1,000 made the PG agents diverge or fall). "
               "The mean action of a first policy already holds the arm still (≈ −12: the distance to the target); "
               "beating it means reaching the target, which the paper's curves do over 10^6–10^7 steps",
}
EVAL_EPISODES = 10
EVAL_STREAM = 0xE7A1


def improved(diff, start, nan_at) -> bool:
    """Up by more than 4 s.e. of the per-seed differences, and by more than 1%
    of the start's size (+0.01): with every seed alike (s.e. 0) a rounding-size
    rise would pass the first test alone."""
    diff, start = np.asarray(diff, np.float64), np.asarray(start, np.float64)
    if nan_at is not None or not np.all(np.isfinite(diff)):
        return False
    return bool(diff.mean() > 4 * _mean_se(diff)[1] and diff.mean() > 0.01 * abs(start.mean()) + 0.01)


def _mean_se(x) -> tuple[float, float]:
    x = np.asarray(x, np.float64)
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else 0.0


def run_pair(name: str, env_name: str, seeds: int) -> dict:
    kwargs, budget = ENVS[env_name]
    budget = min(budget, BUDGET_CAP.get(name, budget))
    env = make(env_name, **kwargs)
    agent = agents.get(name)
    row = {"agent": name, "env": env_name, "family": agents.family(env), "budget": budget, "seeds": seeds,
           "env_defaults": {k: list(v) if isinstance(v, tuple) else v for k, v in agents.env_defaults(name, env).items()}}
    try:
        config = agents.config(name, env)
        per_update = agent.env_steps_per_update(env, config)
        horizon = episode_horizon(env, getattr(config, "horizon", 0))
        keys = jax.random.split(jax.random.key(0), seeds)
        init = jax.jit(jax.vmap(lambda k: init_carry(agent, env, config, k)))
        carry_shape = jax.eval_shape(init, keys)  # an env the agent refuses fails here, before compiling
    except ValueError as err:
        row["refused"] = str(err).splitlines()[0]
        return row
    iterations = max(CHUNKS, math.ceil(budget / per_update))
    chunk = math.ceil(iterations / CHUNKS)
    updates = jax.jit(jax.vmap(lambda c: run_updates(agent, env, config, c, chunk, check_finite=True)))
    eval_keys = jax.vmap(lambda k: jax.random.fold_in(k, EVAL_STREAM))(keys)
    evaluation = jax.jit(jax.vmap(lambda s, k: evaluate(agent, env, config, s, k, EVAL_EPISODES, horizon)["eval_return"]))
    t0 = time.perf_counter()
    carry = init(keys)
    compiled = updates.lower(carry_shape).compile()
    compiled_eval = evaluation.lower(carry_shape.state, eval_keys).compile()
    compile_s = time.perf_counter() - t0
    start = np.asarray(compiled_eval(carry.state, eval_keys))
    t0, samples, nan_at, curve = time.perf_counter(), np.zeros(seeds), None, []
    for c in range(CHUNKS):
        carry, metrics = compiled(carry)
        metrics = jax.device_get(metrics)
        samples += np.asarray(metrics.get("transitions", np.full((seeds, chunk), per_update))).sum(1)
        curve.append(float(np.mean(metrics["episode_return"][:, -1])))
        bad = ~np.asarray(metrics.pop("state_finite"))
        for v in metrics.values():
            bad |= ~np.isfinite(np.asarray(v))
        if bad.any():
            nan_at = int(c * chunk + np.argwhere(bad.any(0))[0][0])
            break
    run_s = time.perf_counter() - t0
    final = np.asarray(compiled_eval(carry.state, eval_keys))
    diff = final - start
    row.update({
        "iterations": iterations, "samples_per_seed": float(samples.mean()),
        "eval_start": _mean_se(start), "eval_end": _mean_se(final), "eval_start_per_seed": start.round(2).tolist(),
        "eval_end_per_seed": final.round(2).tolist(), "improvement": _mean_se(diff),
        "improved": improved(diff, start, nan_at),
        "nan_at_iteration": nan_at, "train_return_curve": curve, "compile_s": compile_s,
        "steps_per_s": float(samples.sum() / max(run_s, 1e-9)),
    })
    return row


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "an unnamed CPU"


def note(row: dict) -> str:
    return "; ".join(n for n in (AGENT_NOTES.get(row["agent"]), ENV_NOTES.get(row["env"])) if n)


def report() -> None:
    rows = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(OUT, "*__*.json")))]
    for r in rows:  # the rule of `improved`, applied to what each run kept
        if "eval_start_per_seed" in r:
            diff = np.subtract(r["eval_end_per_seed"], r["eval_start_per_seed"])
            r["improved"] = improved(diff, r["eval_start_per_seed"], r["nan_at_iteration"])
    ppo = {r["env"]: r for r in rows if r["agent"] == "ppo" and "improvement" in r}
    lines = [
        "# The agent × env matrix", "",
        f"Written by `python experiments/matrix.py --report` on {time.strftime('%Y-%m-%d')}; runs on "
        f"{_cpu_name()} ({platform.machine()}, {os.cpu_count()} cores), jax {jax.__version__}, CPU.",
        "Every agent at its defaults (with its env family's, `the agent's FAMILY_DEFAULTS`); deterministic evaluation "
        f"({EVAL_EPISODES} episodes a seed, greedy or mean action) of the initial and the final policy, mean ± s.e. "
        "over seeds; ✓ = improved by more than 4 s.e. of the per-seed differences (and by more than 1% of the start + 0.01); gain vs PPO = the mean improvement "
        "as a fraction of PPO's on that env at the same budget, shown where PPO improved (env steps a seed, `budget`, which sets the iterations "
        "from an update's nominal steps; `samples` is what the agent used: more for agents whose batches are whole "
        "episodes, most for HARPG/SHARP when an episode outgrows the 32-step Hessian batch).", "",
        "| env | agent | seeds | budget | samples | eval start | eval end | improved | gain vs PPO | NaN at | compile s | steps/s | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = list(ENVS)
    for r in sorted(rows, key=lambda r: (order.index(r["env"]) if r["env"] in order else 99, r["agent"] != "ppo", r["agent"])):
        if "refused" in r:
            continue
        if "error" in r:
            lines.append(f"| {r['env']} | {r['agent']} | | | | | | ✗ crashed: {r['error']} | | | | | |")
            continue
        ref = ppo.get(r["env"])
        gain = "" if ref is None or r["agent"] == "ppo" or not ref["improved"] else \
            f"{r['improvement'][0] / ref['improvement'][0]:.2f}"  # only against a PPO that improved
        fmt = lambda m: f"{m[0]:.1f} ± {m[1]:.1f}"
        lines.append(f"| {r['env']} | {r['agent']} | {r['seeds']} | {r['budget']:.0e} | {r['samples_per_seed']:.3g} | {fmt(r['eval_start'])} | "
                     f"{fmt(r['eval_end'])} | {'✓' if r['improved'] else '✗'} | {gain} | "
                     f"{'' if r['nan_at_iteration'] is None else r['nan_at_iteration']} | {r['compile_s']:.0f} | "
                     f"{r['steps_per_s']:.3g} | {'' if r['improved'] else note(r)} |")
    missing = [(a, e) for e in ENVS for a in agents.names()
               if not os.path.exists(os.path.join(OUT, f"{a}__{e}.json"))]
    if missing:
        lines += ["", f"## Pairs not run yet ({len(missing)}; `python experiments/matrix.py` runs them)", ""]
        lines += [", ".join(f"{a} × {e}" for a, e in missing)]
    refused = [r for r in rows if "refused" in r]
    if refused:
        lines += ["", "## Pairs an agent does not accept (its own one-line refusal)", ""]
        lines += [f"- {r['agent']} × {r['env']}: {r['refused']}" for r in refused]
    with open(os.path.join(HERE, "matrix.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(HERE, "matrix.json"), "w") as f:
        json.dump(rows, f, indent=1)
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", nargs="*", default=agents.names())
    parser.add_argument("--envs", nargs="*", default=list(ENVS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--report", action="store_true", help="only write matrix.md/json from the kept results")
    parser.add_argument("--redo", action="store_true", help="run pairs that already have a result again")
    parser.add_argument("--skip", nargs="*", default=[], help="agents to leave out of this run")
    args = parser.parse_args()
    if args.report:
        return report()
    os.makedirs(OUT, exist_ok=True)
    for env_name in args.envs:
        for name in [a for a in args.agents if a not in args.skip]:
            path = os.path.join(OUT, f"{name}__{env_name}.json")
            if os.path.exists(path) and not args.redo:
                continue
            t0 = time.perf_counter()
            try:
                row = run_pair(name, env_name, args.seeds)
            except Exception as err:  # a crash is a result of the matrix too, not the end of it
                row = {"agent": name, "env": env_name, "error": f"{type(err).__name__}: {str(err).splitlines()[0]}"}
            with open(path, "w") as f:
                json.dump(row, f, indent=1)
            if "refused" in row or "error" in row:
                print(f"{env_name:24s} {name:12s} {row.get('refused') or row['error']}", flush=True)
            else:
                print(f"{env_name:24s} {name:12s} eval {row['eval_start'][0]:9.1f} -> {row['eval_end'][0]:9.1f} "
                      f"± {row['eval_end'][1]:.1f}  {'improved' if row['improved'] else 'NOT improved'}"
                      f"{'' if row['nan_at_iteration'] is None else ' NaN at ' + str(row['nan_at_iteration'])}  "
                      f"({time.perf_counter() - t0:.0f}s)", flush=True)
    report()


if __name__ == "__main__":
    main()
