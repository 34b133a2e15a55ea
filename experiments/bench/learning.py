"""The learning half of the PPO speed comparison: rlx and the peer trained for
the same env steps with the same settings, seed by seed, alternating.

    python experiments/bench/learning.py                 # CartPole vs rejax, hopper vs Brax; 3 seeds each
    python experiments/bench/learning.py --seeds 1 --cartpole-steps 20000 --hopper-steps 0   # a quick check

Settings are the speed comparison's (measure.py ppo, peer_rejax_ppo.py,
peer_brax_ppo.py): 128 envs × 16 steps, 4 epochs × 4 minibatches, 64×64
tanh, lr 2.5e-4, γ 0.99, λ 0.95, ε 0.2, observation normalisation.  Each
framework scores its final policy its own default way, which is the same
in all three: the mean return of 128 fresh episodes of the stochastic
policy.  Writes <out>/learning.json and <out>/learning.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FLAGS = ["--num-envs", "128", "--num-steps", "16", "--minibatches", "4", "--epochs", "4"]


def run(python: str, script: str, args: list[str]) -> dict:
    done = subprocess.run([python, os.path.join(HERE, script), *args], capture_output=True, text=True, cwd=REPO)
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": f"exit {done.returncode}: " + (done.stderr.strip().splitlines() or ["no output"])[-1][:300]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--peers", default=os.path.join(REPO, ".bench"), help="the peers' virtualenvs (setup_peers.sh)")
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--cartpole-steps", type=int, default=300_000)
    p.add_argument("--hopper-steps", type=int, default=300_000)
    args = p.parse_args()
    brax_py, rejax_py = (os.path.join(args.peers, v, "bin", "python") for v in ("brax", "rejax"))
    rows = []
    for env, peer_env, peer_py, script, steps in [("cartpole", "CartPole-v1", rejax_py, "peer_rejax_ppo.py",
                                                   args.cartpole_steps),
                                                  ("hopper", "hopper", brax_py, "peer_brax_ppo.py", args.hopper_steps)]:
        if not steps:
            continue
        for seed in range(args.seeds):
            common = [*FLAGS, "--learn-steps", str(steps), "--seed", str(seed)]
            for framework, python, target, extra in [("rlx", brax_py, "measure.py", ["learn", "--env", env]),
                                                     (script.split("_")[1], peer_py, script, ["--env", peer_env])]:
                row = {**run(python, target, [*extra, *common]),  # the benchmark's labels win over a peer's own
                       "env": env, "framework": framework, "seed": seed, "steps": steps}
                rows.append(row)
                print(json.dumps({k: row.get(k) for k in ("env", "framework", "seed", "final_return", "error")}),
                      flush=True)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "learning.json"), "w") as f:
        json.dump(rows, f, indent=1)
    write_markdown(rows, args.out)


def write_markdown(rows: list[dict], out: str) -> None:
    lines = ["# PPO learning at the speed comparison's settings, rlx against the peers", "",
             "Command: `python experiments/bench/learning.py`.  Final return: mean of 128 fresh episodes of the "
             "stochastic policy after the budget, per seed; mean ± s.e. over seeds.", "",
             "| env | env steps | framework | per seed | mean ± s.e. |", "|---|---|---|---|---|"]
    for env in dict.fromkeys(r["env"] for r in rows):
        for framework in dict.fromkeys(r["framework"] for r in rows if r["env"] == env):
            mine = [r for r in rows if r["env"] == env and r["framework"] == framework]
            finals = [r["final_return"] for r in mine if "final_return" in r]
            se = statistics.stdev(finals) / len(finals) ** 0.5 if len(finals) > 1 else float("nan")
            cell = f"{statistics.mean(finals):.1f} ± {se:.1f}" if finals else mine[0].get("error", "—")
            lines.append(f"| {env} | {mine[0]['steps']:,} | {framework} | "
                         f"{', '.join(f'{x:.1f}' for x in finals)} | {cell} |")
    with open(os.path.join(out, "learning.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {os.path.join(out, 'learning.md')}")


if __name__ == "__main__":
    main()
