"""rlx.plot: synthetic run folders drawn to a PNG of the known size, with the
curves where the data says; the bootstrap band against hand values; sweeps,
missing metrics and torn lines; bad input is one line and exit 2."""

from __future__ import annotations

import json
import os
import runpy
import sys

import numpy as np
import pytest
from PIL import Image

from rlx.runner import plot

# Non-white pixels (any channel < 250) of the 800×500 PNG.  Measured: the blank
# axes (no curves, `draw([])`) 13,509; the two-curve sweep of `sweep_run`
# 60,355 (of which 852 are C0's exact line colour and 1,171 C1's).  The
# threshold sits between the two.
NON_WHITE_THRESHOLD = 30_000
C0, C1 = (31, 119, 180), (255, 127, 14)  # matplotlib's first two line colours


def write_run(folder, rows, config=None, tail=""):
    """A run folder as rlx.run writes it; `tail` is appended raw (a torn line)."""
    os.makedirs(folder, exist_ok=True)
    config = {"run": {"agent": "gpomdp", "seeds": 3}, "overrides": {}, "sweep": {}} if config is None else config
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f)
    with open(os.path.join(folder, "metrics.jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
        f.write(tail)
    return str(folder)


def rows_of(iterations=30, seeds=3, extra=None, value=None):
    """Rows of a learning run: return = iteration + noise, per seed."""
    rng = np.random.default_rng(1)
    value = value or (lambda it, s: it + 3 * rng.normal())
    return [{"iteration": it, "env_steps": (it + 1) * 1000, "samples": (it + 1) * 900 + s, "seed": s,
             "episode_return": value(it, s), **(extra or {})} for it in range(iterations) for s in range(seeds)]


@pytest.fixture
def sweep_run(tmp_path):
    """harpg on hopper, agent.lr swept over two values; the larger learns faster."""
    rows = [dict(r, episode_return=r["episode_return"] * lr * 100, **{"agent.lr": lr})
            for lr in (0.003, 0.01) for r in rows_of()]
    config = {"run": {"agent": "harpg", "seeds": 3}, "overrides": {"env": "hopper", "agent.lr": [0.003, 0.01]},
              "sweep": {"agent.lr": [0.003, 0.01]}}
    return write_run(tmp_path / "sweep", rows, config)


def pixels(path):
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def non_white(image):
    return int((image < 250).any(-1).sum())


def near(image, colour, tol=8):
    """Mask of the pixels within `tol` of `colour` in every channel."""
    return (np.abs(image - np.array(colour)) <= tol).all(-1)


def test_command_writes_png_of_figure_size_with_curves(sweep_run, tmp_path):
    assert plot.main([sweep_run]) == 0
    image = pixels(os.path.join(sweep_run, "curves.png"))
    assert image.shape == (plot.FIGSIZE[1] * plot.DPI, plot.FIGSIZE[0] * plot.DPI, 3)
    assert non_white(image) > NON_WHITE_THRESHOLD
    assert near(image, C0).sum() > 300 and near(image, C1).sum() > 300
    assert [f for f in os.listdir(sweep_run) if f.startswith(".curves-")] == []  # no temp file left

    blank = plot.save(plot.draw([], "episode_return", "env_steps"), str(tmp_path / "blank.png"))
    blank = pixels(blank)
    assert non_white(blank) < NON_WHITE_THRESHOLD  # the check above would catch a plot without curves
    assert near(blank, C0).sum() == 0 and near(blank, C1).sum() == 0


def test_curves_are_drawn_where_the_data_is(sweep_run, tmp_path):
    curves = plot.load_curves(sweep_run)
    fig = plot.draw(curves, "episode_return", "env_steps")
    image = pixels(plot.save(fig, str(tmp_path / "c.png")))
    height = image.shape[0]
    ax = fig.axes[0]
    for curve, colour in zip(curves, (C0, C1)):
        mean = curve.y.mean(0)
        for col, row in ax.transData.transform(np.c_[curve.x, mean])[::5]:
            r, c = round(height - row), round(col)
            assert near(image[r - 2:r + 3, c - 2:c + 3], colour, tol=12).any(), (curve.label, r, c)


def test_bootstrap_band_two_seeds_by_hand():
    # Two seeds 0 and 2: a resample's mean is 0, 1 or 2 with probability 1/4, 1/2, 1/4,
    # so the 2.5% and 97.5% quantiles are 0 and 2.
    mean, low, high = plot.bootstrap_band(np.array([[0.0], [2.0]]))
    np.testing.assert_allclose([mean[0], low[0], high[0]], [1.0, 0.0, 2.0])


def test_bootstrap_band_contains_mean_shrinks_and_is_deterministic():
    y = np.array([[1.0, 2.0, 10.0], [3.0, 2.0, 20.0], [5.0, 2.0, 30.0], [7.0, 2.0, 40.0]])
    mean, low, high = plot.bootstrap_band(y)
    np.testing.assert_allclose(mean, [4.0, 2.0, 25.0])
    assert np.all(low <= mean) and np.all(mean <= high)
    assert low[0] < mean[0] < high[0] and low[0] >= 1 and high[0] <= 7
    np.testing.assert_allclose(high[1] - low[1], 0.0, atol=1e-12)  # the seeds agree exactly
    _, low_close, high_close = plot.bootstrap_band(y.mean(0) + (y - y.mean(0)) / 10)
    np.testing.assert_allclose(high_close - low_close, (high - low) / 10, atol=1e-9)
    for a, b in zip(plot.bootstrap_band(y), (mean, low, high)):
        np.testing.assert_array_equal(a, b)


def test_one_seed_has_zero_width_band(tmp_path):
    folder = write_run(tmp_path / "one", rows_of(seeds=1))
    (curve,) = plot.load_curves(folder)
    assert curve.y.shape == (1, 30)
    mean, low, high = plot.bootstrap_band(curve.y)
    np.testing.assert_array_equal(low, mean)
    np.testing.assert_array_equal(high, mean)
    assert plot.main([folder]) == 0


def test_sweep_gives_one_curve_per_point_with_labels(tmp_path):
    points = [(lr, g) for lr in (0.003, 0.01) for g in (0.9, 0.99)]
    rows = [dict(r, episode_return=lr * g, **{"agent.lr": lr, "agent.discount": g})
            for lr, g in points for r in rows_of(iterations=4)]
    config = {"run": {"agent": "harpg"}, "overrides": {"env": "hopper", "agent.num_envs": 8, "agent.lr": [0.003, 0.01]},
              "sweep": {"agent.lr": [0.003, 0.01], "agent.discount": [0.9, 0.99]}}
    curves = plot.load_curves(write_run(tmp_path / "s", rows, config), x="env_steps")
    assert [c.label for c in curves] == [
        f"harpg env=hopper agent.num_envs=8 agent.lr={lr} agent.discount={g}" for lr, g in points]
    for curve, (lr, g) in zip(curves, points):
        np.testing.assert_array_equal(curve.x, [1000, 2000, 3000, 4000])
        np.testing.assert_allclose(curve.y, np.full((3, 4), lr * g))


def test_no_sweep_label_is_agent_and_overrides(tmp_path):
    folder = write_run(tmp_path / "r", rows_of(iterations=3), {"run": {"agent": "gpomdp"}, "overrides": {"agent.lr": 0.03}})
    assert [c.label for c in plot.load_curves(folder)] == ["gpomdp agent.lr=0.03"]
    folder = write_run(tmp_path / "bare", rows_of(iterations=3), {"run": {"agent": "gpomdp"}})  # no overrides, no sweep
    assert [c.label for c in plot.load_curves(folder)] == ["gpomdp"]


def test_rows_without_metric_and_torn_last_line_are_skipped(tmp_path):
    rows = rows_of(iterations=6, value=lambda it, s: float(it))
    for r in rows:
        if r["iteration"] % 2 == 1:
            r["eval_return"] = 10.0 * r["iteration"] + r["seed"]
    torn = '{"iteration": 6, "env_steps": 7000, "samples": 6300, "seed": 0, "episode_ret'
    last = json.dumps({"iteration": 6, "env_steps": 7000, "samples": 6300, "seed": 1, "episode_return": 6.0})
    folder = write_run(tmp_path / "r", rows, tail=last + "\n" + torn)

    (ev,) = plot.load_curves(folder, "eval_return", "env_steps")
    np.testing.assert_array_equal(ev.x, [2000, 4000, 6000])
    np.testing.assert_array_equal(ev.y, [[10, 30, 50], [11, 31, 51], [12, 32, 52]])
    # Iteration 6 has a row for seed 1 only (seed 0's is torn, seed 2's missing): dropped.
    (ret,) = plot.load_curves(folder, "episode_return", "iteration")
    np.testing.assert_array_equal(ret.x, np.arange(6))
    assert ret.y.shape == (3, 6)


def test_samples_axis_is_the_mean_over_seeds(tmp_path):
    (curve,) = plot.load_curves(write_run(tmp_path / "r", rows_of(iterations=2)), x="samples")
    np.testing.assert_array_equal(curve.x, [901, 1801])  # samples (it+1)·900 + seed, seeds 0..2


def test_several_folders_default_to_curves_png_here(tmp_path, monkeypatch, capsys):
    a = write_run(tmp_path / "a", rows_of(iterations=5))
    b = write_run(tmp_path / "b", rows_of(iterations=5), {"run": {"agent": "harpg"}, "overrides": {"agent.lr": 0.1}})
    monkeypatch.chdir(tmp_path)
    assert plot.main([a, b, "--x", "samples"]) == 0
    assert capsys.readouterr().out.strip() == "curves.png"
    assert Image.open(tmp_path / "curves.png").size == (800, 500)
    out = str(tmp_path / "cmp.png")
    assert plot.plot_runs([a, b], out, metric="episode_return", x="iteration") == out


@pytest.mark.filterwarnings("ignore:'rlx.plot' found in sys.modules:RuntimeWarning")
def test_module_runs_as_a_command(sweep_run, tmp_path, monkeypatch):
    # `python -m rlx.plot ...`, in this process (a subprocess would re-import matplotlib: ~1 s).
    out = str(tmp_path / "x.png")
    monkeypatch.setattr(sys, "argv", ["rlx.plot", sweep_run, "--out", out])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_module("rlx.plot", run_name="__main__")
    assert exit_.value.code == 0
    assert Image.open(out).size == (800, 500)


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing_folder", "no such run folder"),
        ("no_metrics", "has no metrics.jsonl"),
        ("no_config", "has no config.json"),
        ("bad_config", "is not valid JSON"),
        ("unknown_metric", "'nope'"),
        ("unknown_x", "invalid choice"),
        ("no_runs", "required"),
        ("out_dir_missing", "No such file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(case, expected, tmp_path, capsys):
    good = write_run(tmp_path / "good", rows_of(iterations=2))
    argv = {
        "missing_folder": [str(tmp_path / "absent")],
        "no_metrics": [good],
        "no_config": [good],
        "bad_config": [good],
        "unknown_metric": [good, "--metric", "nope"],
        "unknown_x": [good, "--x", "wallclock"],
        "no_runs": [],
        "out_dir_missing": [good, "--out", str(tmp_path / "absent" / "c.png")],
    }[case]
    if case == "no_metrics":
        os.remove(os.path.join(good, "metrics.jsonl"))
    if case == "no_config":
        os.remove(os.path.join(good, "config.json"))
    if case == "bad_config":
        with open(os.path.join(good, "config.json"), "w") as f:
            f.write('{"run": ')
    assert plot.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("rlx.plot: error: ") and err.count("\n") == 1 and err.endswith("\n"), err
    assert expected in err
    assert not os.path.exists(os.path.join(good, "curves.png"))
