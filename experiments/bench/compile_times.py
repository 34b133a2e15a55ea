"""Compile time of one update of every agent that accepts an env, at its
defaults (family defaults included), each agent in its own process.

    python experiments/bench/compile_times.py                       # hopper, every agent that runs on it
    python experiments/bench/compile_times.py --env cartpole --agents ppo,harpg
    python experiments/bench/compile_times.py --out results/compile_hopper.json

One row an agent: `lower_s` (trace + lower one `run_updates` of one
update, what the runner compiles per chunk up to the scan length),
`compile_s` (XLA), and the HLO size.  Run it with another checkout's rlx first
on PYTHONPATH to compare two trees on one machine (the before/after table in
experiments/README.md was made so, alternating the trees agent by agent).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import warnings

HOPPER_AGENTS = ["gpomdp", "npg_igt", "harpg", "n_harpg", "sharp", "ppo", "wpo_deep", "spo_deep", "pgp_deep"]


def one(agent_name: str, env_name: str) -> dict:
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import jax

        from rlx import agents
        from rlx.envs import make
        from rlx.train import init_carry, run_updates

        env = make(env_name)
        agent, config = agents.get(agent_name), agents.config(agent_name, env)
        carry = init_carry(agent, env, config, jax.random.key(0))
        t0 = time.perf_counter()
        lowered = jax.jit(lambda c: run_updates(agent, env, config, c, 1)).lower(carry)
        t1 = time.perf_counter()
        compiled = lowered.compile()
        t2 = time.perf_counter()
        hlo_ops = compiled.as_text().count("\n  ")
    import rlx
    return {"agent": agent_name, "env": env_name, "lower_s": t1 - t0, "compile_s": t2 - t1,
            "total_s": t2 - t0, "hlo_lines": hlo_ops, "rlx": os.path.dirname(rlx.__file__)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="hopper")
    p.add_argument("--agents", default=",".join(HOPPER_AGENTS))
    p.add_argument("--one", help=argparse.SUPPRESS)  # the child process: measure this agent, print its row
    p.add_argument("--out", help="also write the rows to this JSON file")
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.env)), flush=True)
        return
    rows = []
    for name in args.agents.split(","):
        done = subprocess.run([sys.executable, __file__, "--env", args.env, "--one", name], capture_output=True, text=True)
        try:
            row = json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            row = {"agent": name, "env": args.env, "error": (done.stderr.strip().splitlines() or ["no output"])[-1][:300]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
