"""The GPU benchmark, in one process and under 8 minutes on one GPU.

    python experiments/bench/gpu.py                      # on the GPU machine: results/gpu.json and results/gpu.md
    python experiments/bench/gpu.py --quick --out /tmp/g # small sizes, on any machine (how CI-free checks run it)

Rows, each written to <out>/gpu.json as it comes (a run cut short keeps what
it measured), then <out>/gpu.md:

1. raw env throughput (`Env.step_batch`, random actions) at 1, 128, 1024 and
   4096 envs, cartpole (gymnax) and hopper (Brax spring);
2. PPO's training throughput at 128, 1024 and 4096 envs × 16 steps;
3. PPO seeds scaling on cartpole: 1, 16, 256 vmapped seeds of 128 envs;
4. rlx PPO against the peers at 4096 envs × 16 steps, 4 epochs × 4
   minibatches, 64×64 tanh: rejax (CartPole) and Brax's trainer (hopper), each
   peer run by its own script in its own process with `--peer-python`
   (default: this interpreter), alternating with rlx `--pairs` times.  A
   peer that does not import there is a row saying why (Brax 0.14.2's
   trainer calls jax.device_put_replicated, removed in jax 0.10; rejax 0.1.3
   needs gymnax 0.0.9, rlx gymnax >= 1.0.1, so it needs its own site dir:
   `--rejax-path DIR` is put on its PYTHONPATH).

Rows run in the order 1, 4, 2, 3; a row started past `--budget-s` seconds of
wall time (default 420, so that the script ends inside 8 minutes) is skipped
and listed as such.
Timing is measure.py's: compiled ahead of time, one warm-up call, the median
of 3 timed calls.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import measure  # noqa: E402  (the same timing as the CPU benchmark)


def sizes(quick: bool) -> dict:
    if quick:
        return dict(counts=[1, 8], train_counts=[8], seeds=[1, 2], peer_envs=16, iterations=2, horizon=32, pairs=1)
    return dict(counts=[1, 128, 1024, 4096], train_counts=[128, 1024, 4096], seeds=[1, 16, 256], peer_envs=4096,
                iterations=4, horizon=1000, pairs=3)


class Record:
    def __init__(self, out: str, budget_s: float):
        os.makedirs(out, exist_ok=True)
        self.path, self.t0, self.budget_s = os.path.join(out, "gpu.json"), time.perf_counter(), budget_s
        import jax
        self.data = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                     "device": f"{jax.default_backend()} ({jax.devices()[0].device_kind}) × {jax.device_count()}",
                     "python": platform.python_version(), "jax": jax.__version__, "rows": []}

    def add(self, section: str, fn, **labels) -> None:
        row = {"section": section, **labels}
        if time.perf_counter() - self.t0 > self.budget_s:
            row["skipped"] = f"past the {self.budget_s:.0f} s budget"
        else:
            t = time.perf_counter()
            try:
                row.update(fn())
            except Exception as e:  # a failed row is a row; the benchmark goes on
                row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
            row["wall_s"] = time.perf_counter() - t
        self.data["rows"].append(row)
        with open(self.path + ".tmp", "w") as f:
            json.dump(self.data, f, indent=1)
        os.replace(self.path + ".tmp", self.path)
        shown = row.get("error") or row.get("skipped") or f"{row['steps_per_s']:,.0f} steps/s"
        print(f"[{section}] {' '.join(f'{k}={v}' for k, v in labels.items())}: {shown}", flush=True)


def peer(python: str, script: str, args: list[str], path: str = "") -> dict:
    env = dict(os.environ, PYTHONPATH=path) if path else None
    done = subprocess.run([python, os.path.join(HERE, script), *args], capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError((done.stderr.strip().splitlines() or ["no output"])[-1])
    row = json.loads(done.stdout.strip().splitlines()[-1])
    return {k: row[k] for k in ("steps_per_s", "compile_s") if k in row}


def markdown(data: dict) -> str:
    lines = [f"# rlx GPU benchmark, {data['date']}", "", f"Device: {data['device']}; jax {data['jax']}, Python "
             f"{data['python']}.  Command: `python experiments/bench/gpu.py`.", "",
             "| section | run | steps/s | compile s | note |", "|---|---|---|---|---|"]
    for r in data["rows"]:
        run = ", ".join(f"{k}={v}" for k, v in r.items()
                        if k not in ("section", "steps_per_s", "compile_s", "iteration_s", "wall_s", "error",
                                     "skipped", "env_steps_per_iteration"))
        speed = f"{r['steps_per_s']:,.0f}" if "steps_per_s" in r else "—"
        comp = f"{r['compile_s']:.1f}" if "compile_s" in r else ""
        lines.append(f"| {r['section']} | {run} | {speed} | {comp} | {r.get('error') or r.get('skipped') or ''} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    p.add_argument("--quick", action="store_true", help="small sizes, to check the script on a CPU")
    p.add_argument("--budget-s", type=float, default=420.0, help="skip rows started after this much wall time")
    p.add_argument("--peer-python", default=sys.executable, help="the interpreter that runs the peers' scripts")
    p.add_argument("--rejax-path", default="", help="PYTHONPATH for rejax's script (its own gymnax 0.0.9)")
    args = p.parse_args()
    size = sizes(args.quick)

    import jax

    from rlx.agents import ppo
    from rlx.envs import make

    record = Record(args.out, args.budget_s)
    envs = {"cartpole": make("cartpole"), "hopper": make("hopper")}
    for name, env in envs.items():  # 1: raw env throughput
        for n in size["counts"]:
            record.add("raw", lambda: measure.raw(env, n, size["horizon"], 3), env=name, num_envs=n)
    n = size["peer_envs"]  # 4, before 2 and 3 so the budget cuts the cheaper rows
    flags = ["--num-envs", str(n), "--num-steps", "16", "--minibatches", "4", "--epochs", "4",
             "--iterations", str(size["iterations"])]
    peer_config = ppo.Config(num_envs=n, num_steps=16, minibatches=4, epochs=4, normalize_obs=True, discount=0.99)
    for name, peer_env, script, path in [("cartpole", "CartPole-v1", "peer_rejax_ppo.py", args.rejax_path),
                                         ("hopper", "hopper", "peer_brax_ppo.py", "")]:
        for pair in range(size["pairs"]):
            record.add("peers", lambda: measure.train(ppo, envs[name], peer_config, size["iterations"], 3),
                       env=name, framework="rlx", pair=pair, num_envs=n)
            record.add("peers", lambda: peer(args.peer_python, script, ["--env", peer_env, *flags], path),
                       env=name, framework=script.split("_")[1], pair=pair, num_envs=n)
    for name, env in envs.items():  # 2: PPO's training throughput (its defaults' batch shape, N envs × 16 steps)
        for n in size["train_counts"]:
            config = ppo.Config(num_envs=n, num_steps=16, minibatches=4, epochs=4)
            record.add("train", lambda: measure.train(ppo, env, config, size["iterations"], 3), env=name, num_envs=n,
                       agent="ppo")
    cartpole = envs["cartpole"]
    for seeds in size["seeds"]:  # 3
        config = ppo.Config(num_envs=128 if not args.quick else 4, num_steps=16)
        record.add("seeds", lambda: measure.train(ppo, cartpole, config, size["iterations"], 3, seeds),
                   env="cartpole", agent="ppo", seeds=seeds)
    with open(os.path.join(args.out, "gpu.md"), "w") as f:
        f.write(markdown(record.data))
    print(f"wrote {os.path.join(args.out, 'gpu.md')} ({jax.default_backend()})")


if __name__ == "__main__":
    main()
