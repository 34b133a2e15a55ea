"""The runner: bad input is one line and exit 2; a real run writes
iterations × seeds rows; the same seed writes the same metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rlx.run import main

# A small cartpole job: 4 episodes of 50 steps an iteration.
SMALL = ["agent=gpomdp", "env=cartpole", "agent.batch_steps=200", "agent.horizon=50", "total_steps=1200", "log_every=3"]


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["agent=gpomdpp"], "gpomdp"),
        (["env=cartpol"], "cartpole"),
        (["agent.lrr=0.1"], "lr"),
        (["agent.lr=fast"], "agent.lr must be a number"),
        (["seeds=two"], "seeds must be an integer"),
        (["seeds=0"], "seeds must be at least 1"),
        (["sede=3"], "seed"),
        (["env.backnd=spring"], "max_steps"),
        (["agent.optimizer=sgdd"], "optimizer must be"),
        (["agent.hidden=[64,x]"], "agent.hidden"),
        (["lr"], "expected key=value"),
        (["agent.lr=__import__('os').system('false')"], "agent.lr must be a number"),
        (["agent.num_envs=0"], "must be at least 1"),
        (["agent.horizon=-5"], "horizon must be"),
        (["env.max_steps=0"], "max_steps must be at least 1"),
        (["env=toytext:Nope-v0"], "Nope"),
        (["env=frozenlake", "env.map_name=9x9"], "env frozenlake"),
        (["env=taxi", "env.fickle_passenger=true"], "cannot be imported"),
        (["seed=-1"], "seeds must lie in"),
        (["seed=99999999999"], "seeds must lie in"),
        (["sweep.agent.hidden=[[32],[64]]"], "static"),
        (["sweep.agent.lr=0.1"], "must be a non-empty list"),
        (["sweep.agent.lr=[]"], "must be a non-empty list"),
        (["sweep.agent.lrr=[0.1]"], "did you mean lr"),
        (["sweep.agent.lr=[0.1,'x']"], "sweep.agent.lr[1] must be a number"),
        (["sweep.agent.lr=[0.1,fast]"], "must be a non-empty list"),
        (["sweep.env.max_steps=[1,2]"], "only agent fields"),
        (["sweep.agent.lr=[0.1]", "agent.lr=0.2"], "both set and swept"),
        (["eval_episodes=0"], "eval_episodes must be at least 1"),
        (["checkpoint_every=-1"], "checkpoint_every must be 0 or positive"),
        (["devices=-1"], "devices must be 0"),
        (["num_processes=2"], "needs coordinator"),
        (["wandb=my-project"], "pip install wandb"),
        (["tensorboard=maybe"], "tensorboard must be true or false"),
        (["keep_checkpoints=0"], "keep_checkpoints must be at least 1"),
        (["env=gymnasium:this:Foo-v0"], "not a registered gymnasium id"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, expected, capsys, tmp_path):
    code = main(argv + [f"out={tmp_path / 'run'}"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("rlx.run: error:"), err
    assert expected in err
    assert not os.path.exists(tmp_path / "run")  # nothing was written


def test_existing_run_folder_is_refused(tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "metrics.jsonl").write_text("{}\n")
    assert main(SMALL + [f"out={tmp_path / 'taken'}"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "taken" / "metrics.jsonl").read_text() == "{}\n"  # untouched


def test_unwritable_run_folder_and_unreadable_resume_are_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(SMALL + [f"out={tmp_path / 'file' / 'run'}"]) == 2
    assert "cannot create run folder" in capsys.readouterr().err
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    assert main([f"resume={tmp_path / 'broken'}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read" in err
    assert main(["resume="]) == 2
    assert "resume= needs a run folder" in capsys.readouterr().err
    assert main([f"resume={tmp_path / 'nothing'}"]) == 2
    assert "no run there" in capsys.readouterr().err
    assert main([f"resume={tmp_path / 'broken'}", "agent.lr=0.1"]) == 2
    assert "drop 'agent.lr=0.1'" in capsys.readouterr().err


def test_command_line_exit_code_and_single_line():
    proc = subprocess.run(
        [sys.executable, "-m", "rlx.run", "agent=nope"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "gpomdp" in proc.stderr


def _rows(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    outs = []
    for name in ("a", "b"):
        out = tmp_path_factory.mktemp("runs") / name
        assert main(SMALL + ["seeds=3", "seed=5", f"out={out}"]) == 0
        outs.append(out)
    return outs


def test_run_writes_a_row_per_iteration_and_seed(two_runs, capsys):
    out = two_runs[0]
    rows = _rows(out / "metrics.jsonl")
    config = json.loads((out / "config.json").read_text())
    iterations = config["iterations"]
    assert iterations == 6  # 1200 steps / 200 a iteration, in chunks of 3
    assert len(rows) == iterations * 3
    assert {(r["iteration"], r["seed"]) for r in rows} == {(i, s) for i in range(6) for s in (5, 6, 7)}
    for r in rows:
        assert r["env_steps"] == (r["iteration"] + 1) * 200
        assert 1 <= r["episode_return"] <= 50
    # samples: the cumulative count of valid transitions, per seed; an
    # iteration plays whole episodes until ≥ 200 of them (env_steps counts
    # that nominal 200), at most one episode (H = 50) past it.
    for seed in (5, 6, 7):
        mine = sorted((r for r in rows if r["seed"] == seed), key=lambda r: r["iteration"])
        expected = 0
        for r in mine:
            expected += r["transitions"]
            assert r["transitions"] == round(r["episodes"] * r["episode_length"])
            assert 200 <= r["transitions"] < 250
            assert r["samples"] == expected
    assert config["agent"]["batch_steps"] == 200 and config["run"]["seeds"] == 3
    summary = json.loads((out / "summary.json").read_text())
    last = [r["episode_return"] for r in rows if r["iteration"] == 5]
    assert summary["final_return_mean"] == pytest.approx(sum(last) / 3)


def test_string_fields_keep_their_text(tmp_path):
    out = tmp_path / "1e3"
    assert main(SMALL + [f"out={out}"]) == 0
    assert json.loads((out / "config.json").read_text())["run"]["out"] == str(out)


def test_same_seed_same_metrics(two_runs):
    a, b = (_rows(out / "metrics.jsonl") for out in two_runs)
    assert a == b
    # and the seeds differ from one another
    by_seed = {r["seed"]: r["episode_return"] for r in a if r["iteration"] == 0}
    assert len(set(by_seed.values())) > 1


def test_readme_example_runs():
    """The README's 'use rlx from your own JAX code' snippet, exactly."""
    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md")).read()
    start = readme.index("```python\n", readme.index("From your own JAX code")) + len("```python\n")
    code = readme[start : readme.index("```", start)]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["metrics"]["episode_return"].shape[0] == 8
