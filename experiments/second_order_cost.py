"""Cost of one iteration of each variance-reduced agent ÷ one gpomdp iteration
at the same gradient batch, in one process on one machine.

    python experiments/second_order_cost.py                     # cartpole and hopper, N = 10
    python experiments/second_order_cost.py --envs cartpole --num-envs 32

HARPG and SHARP sample a second batch (`hessian_envs`, N by default, the
paper's two trajectories) and compute B·v on it, so their iteration also
simulates twice the env steps; the target is ≤ 2.5× gpomdp's time.  The
table also gives the ratio with a Hessian batch of 2 episodes.  Timing is
throughput.py's (best of `--repeats` runs of `--iterations` scanned updates).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
from throughput import training

from rlx import agents
from rlx.envs import make

AGENTS = ["gpomdp", "npg_igt", "harpg", "n_harpg", "sharp"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=["cartpole", "hopper"])
    parser.add_argument("--num-envs", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "second_order_cost.json"))
    args = parser.parse_args()

    rows = []
    for env_name in args.envs:
        env = make(env_name)
        base = None
        for name in AGENTS:
            default = agents.config(name).replace(num_envs=args.num_envs)
            hessian_batches = [args.num_envs, 2] if hasattr(default, "hessian_envs") else [None]
            for hessian_envs in hessian_batches:
                config = default if hessian_envs is None else default.replace(hessian_envs=hessian_envs)
                timing = training(agents.get(name), env, config, args.iterations, args.repeats)
                seconds = timing["iteration_s"]
                base = seconds if name == "gpomdp" else base
                rows.append(dict(env=env_name, agent=name, num_envs=args.num_envs, hessian_envs=hessian_envs,
                                 env_steps=agents.get(name).env_steps_per_update(env, config),
                                 iteration_s=seconds, ratio=seconds / base, compile_s=timing["compile_s"]))
                print(f"{env_name:10s} {name:8s} N={args.num_envs} hess={hessian_envs!s:4s} "
                      f"{seconds * 1e3:8.1f} ms/iter  ×{seconds / base:5.2f} gpomdp  compile {timing['compile_s']:5.1f}s",
                      flush=True)
    meta = dict(date=time.strftime("%Y-%m-%d"), machine=platform.processor() or platform.machine(),
                cpus=os.cpu_count(), jax=jax.__version__, backend=jax.default_backend())
    with open(args.out, "w") as f:
        json.dump(dict(meta=meta, rows=rows), f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
