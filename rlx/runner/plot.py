"""Learning curves from run folders, drawn to a PNG.

    python -m rlx.plot runs/demo                        # writes runs/demo/curves.png
    python -m rlx.plot runs/a runs/b --metric eval_return --x samples --out cmp.png

One line per (run folder, sweep point): the mean over seeds of the metric
against x, with a shaded 95% bootstrap confidence band of that mean (seeds
resampled with replacement, a fixed generator seed, so the PNG is the same
every time).  Bad input is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from typing import NamedTuple

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

FIGSIZE = (8, 5)  # inches
DPI = 100  # so the PNG is 800 × 500 pixels
X_AXES = ("env_steps", "samples", "iteration")
RESAMPLES = 1000
BOOTSTRAP_SEED = 0
LEVEL = 0.95


class PlotError(ValueError):
    """Bad input; its message is one line meant for the user."""


class Curve(NamedTuple):
    """One line of the plot: x [points] and the metric per seed, y [seeds,
    points]; `stopped` says why the run stopped early ("" = it did not)."""

    label: str
    x: np.ndarray
    y: np.ndarray
    stopped: str = ""


def _fmt(value) -> str:
    """A config or metric value as it reads in a label."""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def read_run(folder: str) -> tuple[dict, list[dict]]:
    """The folder's config.json and its metrics rows (unparsable lines skipped)."""
    if not os.path.isdir(folder):
        raise PlotError(f"no such run folder: {folder}")
    paths = {name: os.path.join(folder, name) for name in ("config.json", "metrics.jsonl")}
    for name, path in paths.items():
        if not os.path.isfile(path):
            raise PlotError(f"{folder} has no {name}")
    try:
        with open(paths["config.json"]) as f:
            config = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise PlotError(f"{paths['config.json']} is not valid JSON: {e}") from None
    if not isinstance(config, dict):
        raise PlotError(f"{paths['config.json']} is not a JSON object")
    rows = []
    with open(paths["metrics.jsonl"], errors="replace") as f:
        for line in f:
            try:
                row = json.loads(line)
            except ValueError:
                continue  # e.g. the torn last line of a killed run
            if isinstance(row, dict):
                rows.append(row)
    return config, rows


def _align(rows: list[dict], metric: str, x: str) -> tuple[np.ndarray, np.ndarray]:
    """x [points] and y [seeds, points] over the iterations every seed logged.

    x at an iteration is its mean over seeds (`samples` can differ by seed).
    """
    per_seed: dict = {}  # seed -> {iteration: (x, y)}; a repeated row replaces the earlier one
    for row in rows:
        per_seed.setdefault(row["seed"], {})[row["iteration"]] = (row[x], row[metric])
    common = sorted(set.intersection(*(set(its) for its in per_seed.values())))
    xy = np.array([[per_seed[s][it] for it in common] for s in sorted(per_seed)], dtype=float)
    xy = xy.reshape(len(per_seed), len(common), 2)  # [seeds, points, (x, y)]
    return xy[:, :, 0].mean(0), xy[:, :, 1]


def _usable(row: dict, metric: str, x: str) -> bool:
    """Whether the row has a number for the metric and x, and its iteration and seed."""
    number = (int, float)
    return (isinstance(row.get(metric), number) and isinstance(row.get(x), number)
            and isinstance(row.get("iteration"), int) and isinstance(row.get("seed"), int))


def load_curves(folder: str, metric: str = "episode_return", x: str = "samples") -> list[Curve]:
    """One curve per sweep point of the run in `folder`, in the order the points were logged.

    Rows without the metric (e.g. `eval_return` between evaluations) or x are
    skipped.  The label is the agent, the overridden keys, then the sweep
    point's values, each `key=value`.
    """
    if x not in X_AXES:
        raise PlotError(f"x must be one of {', '.join(X_AXES)}, not {x!r}")
    config, rows = read_run(folder)
    if not any(metric in row for row in rows):
        raise PlotError(f"no row of {folder}/metrics.jsonl has the metric {metric!r}")
    rows = [r for r in rows if _usable(r, metric, x)]
    if not rows:
        raise PlotError(f"no row of {folder}/metrics.jsonl has both {metric!r} and {x!r}")

    swept = list(config.get("sweep") or {})
    overrides = config.get("overrides") or {}
    agent = (config.get("run") or {}).get("agent", os.path.basename(os.path.normpath(folder)))
    fixed = [f"{k}={_fmt(v)}" for k, v in overrides.items() if k not in swept and k != "agent"]

    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        point = tuple(f"{k}={_fmt(row.get(k))}" for k in swept)
        groups.setdefault(point, []).append(row)
    stopped, dropped = _stopped(folder, swept)
    curves = []
    for point, group in groups.items():
        xs, ys = _align(group, metric, x)
        if xs.size:
            curves.append(Curve(" ".join([str(agent), *fixed, *point]), xs, ys, stopped or dropped.get(point, "")))
    if not curves:
        raise PlotError(f"no iteration of {folder} logs {metric!r} for every seed")
    if max(c.x.size for c in curves) < 2:
        raise PlotError(f"{folder} logs {metric!r} at {curves[0].x.size} point a seed; a curve needs 2 or more"
                        + (" (evaluations come every eval_every iterations and at the end)" if metric.startswith("eval") else ""))
    return curves


def _stopped(folder: str, swept: list[str]) -> tuple[str, dict[tuple, str]]:
    """Why the run in `folder` stopped early ("" = it did not), and, for each
    sweep point (as load_curves keys it) with runs dropped by
    on_nonfinite=drop, which: both from its summary.json."""
    try:
        with open(os.path.join(folder, "summary.json")) as f:
            summary = json.load(f)
        stopped, dropped = summary.get("stopped"), summary.get("dropped") or []
    except (OSError, ValueError, AttributeError):
        return "", {}
    text = ""
    if isinstance(stopped, dict):
        text = f"stopped: {stopped.get('what', 'a value')} not finite at iteration {stopped.get('iteration', '?')}"
    by_point: dict[tuple, list[str]] = {}
    for d in dropped if isinstance(dropped, list) else []:
        if isinstance(d, dict) and isinstance(d.get("point"), dict):
            point = tuple(f"{k}={_fmt(d['point'].get(k))}" for k in swept)
            by_point.setdefault(point, []).append(f"seed {d.get('seed', '?')} at iteration {d.get('iteration', '?')}")
    return text, {point: "dropped: " + ", ".join(runs) for point, runs in by_point.items()}


def bootstrap_band(y: np.ndarray, level: float = LEVEL, resamples: int = RESAMPLES,
                   seed: int = BOOTSTRAP_SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over seeds of y [seeds, points], and the bootstrap `level` interval (low, high) of that mean.

    Seeds are resampled with replacement `resamples` times; a resample's mean
    is `counts @ y / n` with multinomial counts, so memory is resamples × points.
    """
    y = np.asarray(y, dtype=float)
    n = y.shape[0]
    mean = y.mean(0)
    counts = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=resamples)
    shifts = counts @ (y - mean) / n  # [resamples, points]: resampled mean minus the mean
    low, high = np.quantile(shifts, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return mean, mean + low, mean + high


def draw(curves: list[Curve], metric: str, x: str, title: str = "") -> Figure:
    """The figure: each curve's mean over seeds and its bootstrap band."""
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.1, top=0.93)  # fixed margins: cheaper than a layout engine
    for i, curve in enumerate(curves):
        mean, low, high = bootstrap_band(curve.y)
        label = curve.label + (f" ({curve.stopped})" if curve.stopped else "")
        ax.plot(curve.x, mean, color=f"C{i % 10}", label=label)
        ax.fill_between(curve.x, low, high, color=f"C{i % 10}", alpha=0.25, linewidth=0)
        finite = np.flatnonzero(np.isfinite(mean))
        if curve.stopped and finite.size:  # the divergence: a red cross where the curve ends
            ax.plot(curve.x[finite[-1]], mean[finite[-1]], "x", color="red", markersize=12, markeredgewidth=3)
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel(metric)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(loc="best", fontsize="small")
    return fig


def save(fig: Figure, out: str) -> str:
    """Writes the PNG through a temporary file in the same folder, so `out` is never half written."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(out) or ".", prefix=".curves-", suffix=".png")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # as an ordinary file (mkstemp makes it 0600)
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format="png", dpi=DPI)
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise
    return out


def plot_runs(folders: list[str], out: str, metric: str = "episode_return", x: str = "samples") -> str:
    """Draws the curves of every run folder to the PNG `out`; returns its path."""
    curves = [c for folder in folders for c in load_curves(folder, metric, x)]
    title = ", ".join(os.path.basename(os.path.normpath(f)) for f in folders)
    return save(draw(curves, metric, x, title), out)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage + error
        raise PlotError(message)


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit code."""
    parser = _Parser(prog="rlx.plot", description="Learning curves of run folders, drawn to a PNG.")
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run folders written by rlx.run")
    parser.add_argument("--out", help="the PNG (default: RUN/curves.png for one run, else ./curves.png)")
    parser.add_argument("--metric", default="episode_return", help="the metrics.jsonl column (default: episode_return)")
    parser.add_argument("--x", default="samples", choices=X_AXES,
                        help="the x axis (default: samples, the valid transitions used, the papers' env steps)")
    try:
        args = parser.parse_args(argv)
        out = args.out or (os.path.join(args.runs[0], "curves.png") if len(args.runs) == 1 else "curves.png")
        path = plot_runs(args.runs, out, args.metric, args.x)
    except (PlotError, OSError) as e:
        message = " ".join(str(e).split())
        print(f"rlx.plot: error: {message}", file=sys.stderr)
        return 2
    print(path)
    return 0

