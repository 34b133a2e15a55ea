"""The paper's tabular numbers, read from the authors' own training logs.

    python experiments/wpo/official_logs.py /path/to/kadysongbb/efficient-wpo   # a git clone

The figures of Song, He, Ding, Zhao (TMLR 2023) for Taxi, NChain and
CliffWalking were drawn by the notebooks tabular/view_training_tabular
(private copy).ipynb and view_training_tabular_different_N.ipynb of
github kadysongbb/efficient-wpo ("Private copy to generate results and
figures") from the log files listed below.  Each log row is one iteration:
`_Episode` (episodes so far) and `_AvgRewardSum` (the undiscounted return of
that iteration's episodes, averaged).  As the notebooks do, the seeds' rows are
averaged and the curve smoothed over a window (5 rows; NChain 30); the number
reported is that smoothed curve at the figure's right edge (its x axis is
episodes × a nominal episode length, Taxi 70, NChain 1000 (200 in the
sample-size figure), Cliff 50: the edges are Taxi 3,600 episodes, NChain 400
(sample sizes 450), Cliff 600), with the s.e. over seeds of the per-seed means
over the same window.  Beside it, the same number over every log in the
figure's folders long enough to reach the edge (`all_runs`): the authors
logged many more runs than they drew (Taxi WPO: 24 in the folder of two of the
figure's three), from code that changed between runs.

Writes experiments/wpo/results/paper_logs.json.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
T = "tabular/"
# (figure, env, method): (rows the figure uses, smoothing window, log files)
FIGURES = {
    ("main", "taxi", "wpo"): (60, 5, ["archive_logs/Taxi-v3_DR-Wass_Batch=60/Feb-11_01:20:04",
                                      "archive_logs/Taxi-v3_DR-Wass_Batch=60/Feb-22_01:40:39",
                                      "new_log_files/Taxi-v3_DR-Wass_Batch=60/Apr-09_23:05:13"]),
    ("main", "taxi", "spo"): (60, 5, ["new_log_files/different_lambdas/Taxi-v3_DR-Sinkhorn5_Batch=60/Feb-11_01:14:16",
                                      "new_log_files/different_lambdas/Taxi-v3_DR-Sinkhorn5_Batch=60/Feb-11_01:10:22"]),
    ("main", "nchain", "wpo"): (400, 30, ["new_log_files/accurate/NChain-v0_DR-Wass_Batch=1/Oct-19_07:58:22",
                                          "new_log_files/accurate/NChain-v0_DR-Wass_Batch=1/Oct-19_08:05:03",
                                          "new_log_files/different_lambdas/NChain-v0_DR-Wass_Batch=1/Feb-19_01:56:20"]),
    ("main", "nchain", "spo"): (400, 30, ["new_log_files/different_lambdas/NChain-v0_DR-Sinkhorn50_Batch=1/Feb-20_07:36:15",
                                          "new_log_files/different_lambdas/NChain-v0_DR-Sinkhorn50_Batch=1/Feb-20_07:48:50"]),
    ("main", "cliffwalking", "wpo"): (200, 5, ["archive_logs/CliffWalking-v0_DR-Wass_Batch=3/Feb-18_16:41:21"]),
    ("main", "cliffwalking", "spo"): (200, 5, ["archive_logs/CliffWalking-v0_DR-Sinkhorn_Batch=3/Jun-06_09:53:43"]),
}
_N = {100: ("inaccurate", {"kl": ["Oct-18_18:11:54", "Oct-18_18:30:13"], "wpo": ["Oct-18_18:22:55", "Oct-19_08:18:04"],
                           "spo": ["Feb-05_23:06:47", "Feb-05_23:11:26"]}),
      250: ("inaccurate", {"kl": ["Oct-17_07:49:26", "Oct-17_08:00:00"], "wpo": ["Oct-17_07:52:32", "Oct-17_08:10:06"],
                           "spo": ["Feb-05_23:18:16", "Feb-05_23:23:17"]}),
      1000: ("accurate", {"kl": ["Oct-19_07:53:13", "Oct-19_08:02:58"], "wpo": ["Oct-19_07:58:22", "Oct-19_08:05:03"],
                          "spo": ["Feb-05_23:28:12", "Feb-05_23:31:41"]})}
_DIR = {"kl": "KL", "wpo": "Wass", "spo": "Sinkhorn"}
for _size, (_folder, _runs) in _N.items():
    for _method, _stamps in _runs.items():
        FIGURES[(f"samples_{_size}", "nchain", _method)] = (
            450, 30, [f"new_log_files/{_folder}/NChain-v0_DR-{_DIR[_method]}_Batch=1/{s}" for s in _stamps])
# The baselines (stable-baselines TRPO, A2C, PPO) as the notebooks print them at the figure's right edge.
BASELINES = {"taxi": {"TRPO": -200.6, "A2C": -303.9, "PPO": -342.9},
             "nchain": {"TRPO": 3521.7, "A2C": 1606.0, "PPO": 3505.7}}


def read_log(repo: str, path: str) -> tuple[np.ndarray, np.ndarray]:
    text = subprocess.run(["git", "-C", repo, "show", f"HEAD:{T}{path}/log.csv"], check=True, capture_output=True,
                          text=True).stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    return (np.array([float(r["_Episode"]) for r in rows]), np.array([float(r["_AvgRewardSum"]) for r in rows]))


def summarise(repo: str, rows: int, window: int, paths: list[str]) -> dict:
    logs = [read_log(repo, p) for p in paths]
    rows = min(rows, *(len(r) for _, r in logs))
    returns = np.stack([r[:rows] for _, r in logs])
    per_seed = returns[:, rows - window:].mean(1)
    se = float(per_seed.std(ddof=1) / np.sqrt(len(per_seed))) if len(per_seed) > 1 else None
    return {"episodes": float(logs[0][0][rows - 1]), "rows": rows, "window": window, "seeds": len(paths),
            "return": float(per_seed.mean()), "se": se, "logs": paths}


def all_runs(repo: str, rows: int, window: int, paths: list[str]) -> dict:
    """The same number over every log in the figure's folders that is long
    enough: whether the runs drawn are typical of the runs logged."""
    folders = sorted({p.rsplit("/", 1)[0] for p in paths})
    finals = []
    for folder in folders:
        listing = subprocess.run(["git", "-C", repo, "ls-tree", "-r", "--name-only", "HEAD", T + folder],
                                 check=True, capture_output=True, text=True).stdout.split()
        for name in listing:
            if name.endswith("/log.csv"):
                _, returns = read_log(repo, name[len(T):-len("/log.csv")])
                if len(returns) >= rows:
                    finals.append(returns[rows - window:rows].mean())
    return {"folders": folders, "runs": len(finals), "return": float(np.mean(finals)),
            "sd": float(np.std(finals, ddof=1)) if len(finals) > 1 else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", help="a git clone of github.com/kadysongbb/efficient-wpo")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "paper_logs.json"))
    args = parser.parse_args()
    commit = subprocess.run(["git", "-C", args.repo, "rev-parse", "HEAD"], check=True, capture_output=True,
                            text=True).stdout.strip()
    out = {"repository": "github.com/kadysongbb/efficient-wpo", "commit": commit, "baselines": BASELINES, "rows": []}
    for (figure, env, method), (rows, window, paths) in FIGURES.items():
        out["rows"].append({"figure": figure, "env": env, "method": method, **summarise(args.repo, rows, window, paths),
                            # (the sample-size folders mix the N = 100 and 250 runs: not pooled)
                            "all_runs": all_runs(args.repo, rows, window, paths) if figure == "main" else None})
        r = out["rows"][-1]
        a = r["all_runs"]
        pooled = f"; every logged run there: {a['return']:.1f} (sd {a['sd'] or 0:.1f}, {a['runs']} runs)" if a else ""
        print(f"{figure:12s} {env:12s} {method:4s} {r['return']:9.1f} ± {r['se'] or 0:.1f} at {r['episodes']:.0f} "
              f"episodes ({r['seeds']} seeds){pooled}")
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
