"""Byte-identity of a fixed list of runs across a refactor.

    python experiments/bench/identity.py --record results/identity.json   # before the change
    python experiments/bench/identity.py --check results/identity.json    # after it: same bytes?

Each entry of RUNS is one `python -m rlx.run` job (at least one per
registered agent name, every env kind: gymnax, Brax, tabular, DeepSea, the
constrained envs, the gymnasium bridge, and one sweep), on one CPU device and
without the compile cache, small enough that the list runs in minutes.  The
record holds the SHA-256 of each run's metrics.jsonl; `--check` reruns the
list and names every run whose bytes differ.  The digests are this machine's:
another CPU may round differently, so record and check on one machine.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

RUNS = {  # name -> overrides of `python -m rlx.run`
    "gpomdp-cartpole": "agent=gpomdp env=cartpole total_steps=5000 log_every=2 eval_every=2",
    "gpomdp-cartpole-sweep": "agent=gpomdp env=cartpole total_steps=3000 sweep.agent.lr=[0.1,0.5]",
    "gpomdp-gridworld": "agent=gpomdp env=gridworld total_steps=3000",
    "gpomdp-gymnasium": "agent=gpomdp env=gymnasium:CartPole-v1 env.max_steps=100 total_steps=3000 "
                        "agent.batch_steps=500",
    "npg_igt-cartpole": "agent=npg_igt env=cartpole total_steps=5000 eval_every=2",
    "harpg-acrobot": "agent=harpg env=acrobot total_steps=4000",
    "n_harpg-pendulum": "agent=n_harpg env=pendulum total_steps=4000",
    "sharp-random_mdp": "agent=sharp env=random_mdp total_steps=4000",
    "ppo-cartpole": "agent=ppo env=cartpole total_steps=4096 eval_every=2",
    "ppo-hopper": "agent=ppo env=hopper total_steps=8192 log_every=2",
    "wpo-random_mdp": "agent=wpo env=random_mdp total_steps=2000",
    "spo-random_mdp-exact": "agent=spo env=random_mdp total_steps=2000 agent.advantages=exact",
    "nac-random_mdp": "agent=nac env=random_mdp total_steps=2000 agent.width=64 agent.critic_steps=20 "
                      "agent.natural_steps=20",
    "nac-cartpole": "agent=nac env=cartpole total_steps=2048",
    "hyperagent-deepsea": "agent=hyperagent env=deepsea env.size=5 total_steps=600",
    "dqn-cartpole": "agent=dqn env=cartpole total_steps=600",
    "pgp-constrained_gridworld": "agent=pgp env=constrained_gridworld total_steps=4000",
    "pdpg-constrained_gridworld": "agent=pdpg env=constrained_gridworld total_steps=4000",
    "pgp_deep-point_mass": "agent=pgp_deep env=point_mass total_steps=12288",
    "wpo_deep-cartpole": "agent=wpo_deep env=cartpole total_steps=4096 eval_every=2",
    "spo_deep-pendulum": "agent=spo_deep env=pendulum total_steps=4096",
}
COMMON = "seeds=2 devices=1 compile_cache="


def run_one(name: str, folder: str) -> tuple[str, str, float]:
    out = os.path.join(folder, name)
    argv = [sys.executable, "-m", "rlx.run", *RUNS[name].split(), *COMMON.split(), f"out={out}"]
    start = time.time()
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        return name, f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}", time.time() - start
    with open(os.path.join(out, "metrics.jsonl"), "rb") as f:
        return name, hashlib.sha256(f.read()).hexdigest(), time.time() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--record", metavar="JSON")
    mode.add_argument("--check", metavar="JSON")
    parser.add_argument("--keep", metavar="DIR", help="keep the run folders here (default: a temporary folder)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    folder = args.keep or tempfile.mkdtemp(prefix="rlx-identity-")
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        results = {n: (d, s) for n, d, s in pool.map(lambda n: run_one(n, folder), RUNS)}
    for name, (digest, seconds) in results.items():
        print(f"{name:28s} {seconds:6.1f} s  {digest}")
    digests = {name: digest for name, (digest, _) in results.items()}
    if args.record:
        with open(args.record, "w") as f:
            json.dump({"machine": f"{platform.machine()} {os.cpu_count()} cores", "runs": RUNS, "common": COMMON,
                       "sha256": digests}, f, indent=1)
        return 0
    with open(args.check) as f:
        recorded = json.load(f)["sha256"]
    differ = [n for n in RUNS if digests[n] != recorded.get(n)]
    print("identical: all" if not differ else f"differ: {', '.join(differ)}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
