"""The rlx benchmark: one command, one machine, one run.

    python experiments/bench/run.py                 # everything; peers' virtualenvs made on first use
    python experiments/bench/run.py --no-peers      # rlx only
    python experiments/bench/run.py --quick         # small sizes, a smoke test of the pipeline

Writes <out>/bench.json (rows as they come, so a crash loses nothing) and
<out>/bench.md (the tables), with the date, machine and versions:

1. raw env throughput: random actions, scanned, vmapped, at 1/128/1024 envs,
   cartpole (gymnax) and hopper (Brax);
2. training throughput of every rlx agent at the same env and env count, and
   its ratio to (1) — target ≥ 0.8 for the policy-gradient agents at 1024;
3. rlx PPO against Brax's PPO trainer (hopper) and rejax's PPO (CartPole) at
   the same env count, network and batch — rlx and Brax in one virtualenv on
   jax 0.9.2, rejax in its own on the same jax (setup_peers.sh) — as `--pairs`
   alternating rlx/peer runs: the median ratio of steps/s and of compile time
   over pairs, with its range; target rlx ≥ 1.2× and ≤ 0.9×;
4. seeds scaling: 1/4/16/64 vmapped seeds, total steps/s;
5. second-order cost: each variance-reduced agent's iteration time ÷ GPOMDP's
   at an equal batch of N = 10 episodes — target ≤ 2.5;
6. peak RSS of each (every row is its own process: measure.py or a peer).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PG_AGENTS = ["gpomdp", "npg_igt", "harpg", "n_harpg", "sharp"]
ITERATIONS = {1: 40, 128: 16, 1024: 2}  # scanned updates a timed call: 2·10^4, 10^6, 10^6 steps of H = 500
SECTIONS = ["throughput", "peers", "seeds", "second_order"]
PEER_FLAGS = ["--num-envs", "128", "--num-steps", "16", "--minibatches", "4", "--epochs", "4"]


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        memory_gb = None
    gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                         text=True).stdout.strip() if shutil.which("nvidia-smi") else ""
    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "memory_gb": memory_gb, "gpu": gpu or None,
            "python": platform.python_version(), "system": platform.platform()}


class Bench:
    def __init__(self, out: str, keep: set[str] = frozenset()):
        """keep: sections whose rows in an existing <out>/bench.json stay (the ones not rerun)."""
        os.makedirs(out, exist_ok=True)
        self.path = os.path.join(out, "bench.json")
        self.record = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(), "rows": []}
        if keep and os.path.exists(self.path):
            with open(self.path) as f:
                old = json.load(f)
            section_of = {"raw": "throughput", "train": "throughput"}
            self.record["rows"] = [r for r in old["rows"] if section_of.get(r["section"], r["section"]) in keep]
            self.record["earlier"] = old.get("earlier") or old["date"]  # when the kept rows were measured

    def measure(self, section: str, python: str, script: str, args: list[str], **labels) -> dict:
        """Run one measurement in its own process; its JSON line becomes a row
        (or an `error` row, and the benchmark goes on)."""
        command = [python, os.path.join(HERE, script), *args]
        t0 = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
        row = {"section": section, "wall_s": time.perf_counter() - t0}
        lines = done.stdout.strip().splitlines()
        try:
            if done.returncode:
                raise ValueError
            row.update(json.loads(lines[-1]))
        except (ValueError, IndexError):
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            row["error"] = f"exit {done.returncode}: {tail[:300]}"
        row.update(labels)  # the benchmark's names win over a peer's own (CartPole-v1 is cartpole)
        self.record["rows"].append(row)
        with open(self.path + ".tmp", "w") as f:
            json.dump(self.record, f, indent=1)
        os.replace(self.path + ".tmp", self.path)
        shown = row.get("error") or f"{row['steps_per_s']:,.0f} steps/s, compile {row['compile_s']:.1f} s, " \
                                    f"{row['peak_rss_mb']:,.0f} MB"
        print(f"[{section}] {' '.join(f'{k}={v}' for k, v in labels.items())}: {shown}  ({row['wall_s']:.0f} s)",
              flush=True)
        return row


def sizes(quick: bool) -> dict:
    if quick:
        return dict(envs=["cartpole"], counts=[1, 16], seeds=[1, 4], horizon="64", second_order_envs=["cartpole"],
                    second_order_horizon="64", peer_iterations=("3", "5"))
    return dict(envs=["cartpole", "hopper"], counts=[1, 128, 1024], seeds=[1, 4, 16, 64], horizon="500",
                second_order_envs=["cartpole", "hopper"], second_order_horizon="1000", peer_iterations=("10", "20"))


def run(args) -> dict:
    bench = Bench(args.out, keep=set(SECTIONS) - set(args.only) if args.only else frozenset())
    size = sizes(args.quick)
    py = sys.executable
    horizon = size["horizon"]

    wanted = set(args.only or SECTIONS)
    for env in size["envs"] if "throughput" in wanted else []:  # 1 and 2: raw env, then every agent at the same env count
        for n in size["counts"]:
            iterations = str(ITERATIONS.get(n, 2)) if not args.quick else "2"
            bench.measure("raw", py, "measure.py", ["raw", "--env", env, "--num-envs", str(n), "--horizon", horizon],
                          env=env, num_envs=n)
            for agent in PG_AGENTS + ["ppo"]:
                bench.measure("train", py, "measure.py", ["train", "--agent", agent, "--env", env, "--num-envs", str(n),
                                                          "--horizon", horizon, "--iterations", iterations],
                              env=env, num_envs=n, agent=agent)

    if not args.no_peers and "peers" in wanted:  # 3: side by side on jax 0.9.2
        setup = subprocess.run(["bash", os.path.join(HERE, "setup_peers.sh"), args.peers], text=True,
                               capture_output=True)
        print(setup.stdout.strip() or setup.stderr.strip(), flush=True)
        if setup.returncode == 0:
            brax_py, rejax_py = (os.path.join(args.peers, name, "bin", "python") for name in ("brax", "rejax"))
            hopper_k, cartpole_k = size["peer_iterations"]
            for env, peer_env, peer_py, peer_script, k in [
                ("hopper", "hopper", brax_py, "peer_brax_ppo.py", hopper_k),
                ("cartpole", "CartPole-v1", rejax_py, "peer_rejax_ppo.py", cartpole_k),
            ]:
                peer = "brax" if "brax" in peer_script else "rejax"
                for pair in range(args.pairs):  # rlx and the peer alternate, so drifting load hits both
                    bench.measure("peers", brax_py, "measure.py",
                                  ["ppo", "--env", env, *PEER_FLAGS, "--iterations", k, "--repeats", "3"],
                                  env=env, framework="rlx", pair=pair)
                    bench.measure("peers", peer_py, peer_script,
                                  ["--env", peer_env, *PEER_FLAGS, "--iterations", k,
                                   *(["--hidden", "64,64"] if peer == "rejax" else [])],
                                  env=env, framework=peer, pair=pair)

    for agent in ("ppo", "gpomdp") if "seeds" in wanted else []:  # 4: seeds
        for seeds in size["seeds"]:
            bench.measure("seeds", py, "measure.py", ["seeds", "--agent", agent, "--env", "cartpole", "--num-envs",
                                                      "4" if agent == "ppo" else "10", "--seeds", str(seeds),
                                                      "--iterations", "5", "--horizon", horizon],
                          agent=agent, env="cartpole", seeds=seeds)

    for env in size["second_order_envs"] if "second_order" in wanted else []:  # 5: one iteration's cost ÷ gpomdp's
        for agent in PG_AGENTS:
            bench.measure("second_order", py, "measure.py",
                          ["train", "--agent", agent, "--env", env, "--num-envs", "10",
                           "--horizon", size["second_order_horizon"],
                           "--iterations", "10" if env == "cartpole" else "3", "--repeats", "3"],
                          env=env, agent=agent)
    return bench.record


def _find(rows, **match):
    for row in rows:
        if all(row.get(k) == v for k, v in match.items()) and "error" not in row:
            return row
    return None


def _fmt(row, key="steps_per_s", digits=0):
    if row is None or "error" in row:
        return "—"
    return f"{row[key]:,.{digits}f}"


def markdown(record: dict) -> str:
    rows, m = record["rows"], record["machine"]
    lines = [f"# rlx benchmark, {record['date']}", "",
             *([f"Sections not rerun on that date keep their rows from {record['earlier']}.", ""]
               if record.get("earlier") else []),
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb'] or 0:.0f} GiB"
             f"{', GPU ' + m['gpu'] if m['gpu'] else ', no GPU'}; Python {m['python']}.",
             "Command: `python experiments/bench/run.py`.  Every row is its own process; "
             "steps/s after compiling, best of the timed calls; RSS is that process's peak.", ""]
    versions = {json.dumps(r["versions"], sort_keys=True) for r in rows if "versions" in r}
    lines += ["Versions: " + "; ".join(sorted(versions)), ""]

    lines += ["## 1–2. Raw env and training throughput (env steps/s), ratio to raw", "",
              "| env | envs | raw | " + " | ".join(PG_AGENTS + ["ppo"]) + " | raw RSS MB |",
              "|---|---|---|" + "---|" * (len(PG_AGENTS) + 2)]
    for env in dict.fromkeys(r["env"] for r in rows if r["section"] == "raw"):
        for n in dict.fromkeys(r["num_envs"] for r in rows if r["section"] == "raw" and r["env"] == env):
            raw = _find(rows, section="raw", env=env, num_envs=n)
            cells = []
            for agent in PG_AGENTS + ["ppo"]:
                t = _find(rows, section="train", env=env, num_envs=n, agent=agent)
                ratio = f" ({t['steps_per_s'] / raw['steps_per_s']:.2f})" if t and raw else ""
                cells.append(_fmt(t) + ratio)
            lines.append(f"| {env} | {n} | {_fmt(raw)} | " + " | ".join(cells) + f" | {_fmt(raw, 'peak_rss_mb')} |")
    lines += ["", "Compile seconds (raw / agents in the same order): "]
    for r in rows:
        if r["section"] == "raw" and "error" not in r:
            agents = [_find(rows, section="train", env=r["env"], num_envs=r["num_envs"], agent=a)
                      for a in PG_AGENTS + ["ppo"]]
            lines.append(f"- {r['env']} × {r['num_envs']}: {r['compile_s']:.1f} / "
                         + " / ".join(_fmt(a, "compile_s", 1) for a in agents)
                         + "; peak RSS MB " + " / ".join(_fmt(a, "peak_rss_mb") for a in agents))

    peers = [r for r in rows if r["section"] == "peers"]
    if peers:
        lines += ["", "## 3. rlx PPO against peers (same env, 128 envs × 16 steps, 4 epochs × 4 minibatches, "
                  "64×64 tanh), as pairs", "",
                  "rlx and the peer run one after the other, pair by pair, each in its own process; a ratio is "
                  "of one pair, and the summary is the median over pairs with its range.", "",
                  "| env | pair | rlx steps/s | peer | peer steps/s | rlx ÷ peer | rlx compile s | peer compile s "
                  "| rlx ÷ peer compile |", "|---|---|---|---|---|---|---|---|---|"]
        summary = []
        for env in dict.fromkeys(r["env"] for r in peers):
            speed, compile_ = [], []
            for pair in sorted({r.get("pair", 0) for r in peers if r["env"] == env}):
                ours = _find(peers, env=env, framework="rlx", pair=pair)
                theirs = next((r for r in peers if r["env"] == env and r["framework"] != "rlx"
                               and r.get("pair", 0) == pair), None)
                if ours is None or theirs is None or "error" in theirs:
                    error = (theirs or {}).get("error") or "rlx failed"
                    lines.append(f"| {env} | {pair} | {_fmt(ours)} | {(theirs or {}).get('framework', '')} | "
                                 f"{error} | | | | |")
                    continue
                speed.append(ours["steps_per_s"] / theirs["steps_per_s"])
                compile_.append(ours["compile_s"] / theirs["compile_s"])
                lines.append(f"| {env} | {pair} | {_fmt(ours)} | {theirs['framework']} {theirs['versions']['jax']} | "
                             f"{_fmt(theirs)} | {speed[-1]:.2f} | {_fmt(ours, 'compile_s', 1)} | "
                             f"{_fmt(theirs, 'compile_s', 1)} | {compile_[-1]:.2f} |")
            if speed:
                summary.append(f"- **{env}**: rlx ÷ peer steps/s median {statistics.median(speed):.2f} "
                               f"(range {min(speed):.2f}–{max(speed):.2f}, {len(speed)} pairs); compile "
                               f"{statistics.median(compile_):.2f} ({min(compile_):.2f}–{max(compile_):.2f})")
        lines += [""] + summary

    lines += ["", "## 4. Seeds scaling (cartpole, vmapped seeds, total env steps/s)", "",
              "| agent | seeds | steps/s | × one seed | compile s | peak RSS MB |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r["section"] == "seeds":
            one = _find(rows, section="seeds", agent=r["agent"], seeds=1)
            scale = f"{r['steps_per_s'] / one['steps_per_s']:.1f}" if one and "error" not in r else "—"
            lines.append(f"| {r['agent']} | {r['seeds']} | {r.get('error') or _fmt(r)} | {scale} | "
                         f"{_fmt(r, 'compile_s', 1)} | {_fmt(r, 'peak_rss_mb')} |")

    lines += ["", "## 5. Second-order cost: one iteration ÷ GPOMDP's, N = 10 episodes "
              "(HARPG/SHARP also simulate their Hessian batch)", "",
              "| env | agent | ms / iteration | ÷ gpomdp | env steps / iteration | peak RSS MB |",
              "|---|---|---|---|---|---|"]
    for r in rows:
        if r["section"] == "second_order":
            base = _find(rows, section="second_order", env=r["env"], agent="gpomdp")
            if "error" in r:
                lines.append(f"| {r['env']} | {r['agent']} | {r['error']} | | | |")
                continue
            ratio = f"{r['iteration_s'] / base['iteration_s']:.2f}" if base else "—"
            lines.append(f"| {r['env']} | {r['agent']} | {r['iteration_s'] * 1e3:,.1f} | {ratio} | "
                         f"{r['env_steps_per_iteration']:,} | {r['peak_rss_mb']:,.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--peers", default=os.path.join(REPO, ".bench"), help="the peers' virtualenvs")
    parser.add_argument("--no-peers", action="store_true", help="skip the side-by-side with Brax and rejax")
    parser.add_argument("--pairs", type=int, default=5, help="rlx/peer pairs a peer (at least 3)")
    parser.add_argument("--only", choices=SECTIONS, action="append",
                        help="run only this section (repeatable); rows of other sections already in "
                             "<out>/bench.json are kept")
    parser.add_argument("--quick", action="store_true", help="small sizes: check the pipeline in a few minutes")
    parser.add_argument("--markdown-only", action="store_true", help="rewrite bench.md from <out>/bench.json")
    args = parser.parse_args()
    if args.markdown_only:
        with open(os.path.join(args.out, "bench.json")) as f:
            record = json.load(f)
    else:
        if args.pairs < 3:
            parser.error("--pairs must be at least 3: a ratio is reported as the median of pairs")
        record = run(args)
    with open(os.path.join(args.out, "bench.md"), "w") as f:
        f.write(markdown(record))
    print(f"wrote {os.path.join(args.out, 'bench.md')}" + ("" if args.markdown_only else " and bench.json"))


if __name__ == "__main__":
    main()
