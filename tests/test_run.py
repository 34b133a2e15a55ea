"""The runner: bad input is one line and exit 2; a real run writes
iterations × seeds rows; the same seed writes the same metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rlx.runner.main import main

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
        (["seed=-1"], "seed must be 0 or positive"),
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
        # numbers checked against their meaning (rlx.fields.RANGES), before anything compiles
        (["agent.hidden=[-4]"], "agent.hidden[0] must be at least 1, got -4"),
        (["agent.hidden=[64,0]"], "agent.hidden[1] must be at least 1"),
        (["agent.lr=1e400"], "agent.lr must be a finite number, got inf"),
        (["agent.lr=-0.1"], "agent.lr must be positive"),
        (["agent.lr=0"], "agent.lr must be positive"),
        (["agent.discount=1.5"], "agent.discount must lie in [0, 1], got 1.5"),
        (["agent.discount=-0.1"], "agent.discount must lie in [0, 1]"),
        (["agent.batch_steps=0"], "agent.batch_steps must be at least 1"),
        (["agent=harpg", "agent.momentum=0"], "agent.momentum must be positive"),
        (["agent=ppo", "agent.gae_lambda=2"], "agent.gae_lambda must lie in [0, 1]"),
        (["agent=ppo", "agent.clip=-1"], "agent.clip must be positive"),
        (["agent=ppo", "agent.entropy_coef=-0.01"], "agent.entropy_coef must be 0 or positive"),
        (["agent=dqn", "agent.epsilon_end=1.5"], "agent.epsilon_end must lie in [0, 1]"),
        (["agent=nac", "agent.temperature=0"], "agent.temperature must be positive"),
        (["sweep.agent.lr=[0.1,-1]"], "sweep.agent.lr[1] must be positive"),
        (["sweep.agent.lr=[0.1,1e999]"], "sweep.agent.lr[1] must be a finite number"),
        (["sweep.agent.lr=[0.1,0.2,0.1]"], "sweep.agent.lr lists 0.1 twice"),
        (["total_steps=1e400"], "total_steps must be an integer"),
        (["log_every=0"], "log_every must be at least 1"),
        (["env=gridworld", "env.rows="], "env gridworld: a gridworld map is rows of text"),
        (["env=gridworld", "env.rows=7"], "env gridworld: a gridworld map is rows of text"),
        (["env=random_mdp", "env.discount=2"], "env.discount must lie in [0, 1], got 2.0"),
        (["env=random_mdp", "env.num_states=0"], "env.num_states must be at least 1"),
        (["env=deepsea", "env.size=-1"], "env.size must be at least 1"),
        (["env=cartpole", "env.max_steps=1e400"], "env.max_steps must be an integer"),
        (["env=hopper", "env.episode_length=0"], "env.episode_length must be at least 1"),
        (["seeds=100000000"], "runs need at least"),  # memory, refused before any array is made
        (["agent=dqn", "seeds=1000000", "agent.capacity=1000000"], "more than this machine's"),  # ≥ 40 TiB
        (["agent.lrr=0.1"], "unknown key agent.lrr; did you mean lr?"),  # no quotes around the key
        (["seed=1" + "0" * 400], "seeds must lie in"),  # an int too large for a float: still one line
        (["agent=harpg", "agent.momentum=2"], "agent.momentum must lie in (0, 1]"),
        (["compile_cache=/dev/null/cache"], "compile_cache=/dev/null/cache: cannot create it"),
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
    for path in (tmp_path / "file", "/dev/null"):
        assert main(SMALL + [f"out={path}"]) == 2
        assert f"out={path} is a file, not a folder" in capsys.readouterr().err
    assert (tmp_path / "file").read_text() == "x"
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


def test_png_is_an_ordinary_file_and_one_evaluation_is_too_few_points(two_runs):
    from rlx.runner.plot import PlotError, load_curves

    umask = os.umask(0)
    os.umask(umask)
    assert (two_runs[0] / "curves.png").stat().st_mode & 0o777 == 0o666 & ~umask  # mkstemp's 0600 no more
    with pytest.raises(PlotError, match="logs 'eval_return' at 1 point a seed; a curve needs 2 or more"):
        load_curves(str(two_runs[0]), "eval_return")


def test_help_lists_every_agent_and_env_in_a_line_and_an_agents_fields(capsys):
    from rlx import agents, envs

    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in agents.names():
        assert any(line.split()[:1] == [name] and len(line.split()) > 1 for line in out.splitlines()), name
    for name in envs.REGISTRY:
        assert any(line.split()[:1] == [name] and len(line.split()) > 1 for line in out.splitlines()), name
    assert "  compile_cache: str = '~/.cache/rlx/jax'" in out
    assert main(["agent=harpg", "--help"]) == 0
    out = capsys.readouterr().out
    assert "  agent.lr: float = 0.002  ~  γ0 [paper's Walker tuning" in out  # type, default, sweepable, meaning
    assert "  agent.hessian_steps: int = 32  τ̂_t" in out  # static: not sweepable
    assert "on locomotion: agent.lr=0.001" in out
    assert main(["env=deepsea", "agent=harpg", "--help"]) == 0
    out = capsys.readouterr().out
    assert "env deepsea: bsuite's DeepSea" in out and "  env.size = 10" in out
    assert "agent harpg on deepsea (tabular defaults applied)" in out and "  agent.lr: float = 10.0  ~" in out


def test_more_devices_than_cores_is_said():
    proc = subprocess.run([sys.executable, "-m", "rlx.run", "devices=100000", "agent=nope"], capture_output=True,
                          text=True, timeout=120)  # refused (agent=nope) before JAX makes any device
    assert proc.returncode == 2 and "warning: devices=100000 splits" in proc.stderr.splitlines()[0]


def test_the_compile_cache_is_written_and_can_be_switched_off(tmp_path):
    job = [sys.executable, "-m", "rlx.run", "agent=gpomdp", "env=random_mdp", "agent.batch_steps=80", "total_steps=800",
           "seeds=2", "tensorboard=false"]
    cache = tmp_path / "cache"
    subprocess.run(job + [f"out={tmp_path / 'a'}", f"compile_cache={cache}"], check=True, capture_output=True, timeout=240,
                   env={**os.environ, "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"})  # however fast the compile
    assert any(cache.iterdir())  # the chunk program, at least
    env = {k: v for k, v in os.environ.items() if k != "RLX_COMPILE_CACHE"}
    off = tmp_path / "home"
    subprocess.run(job + [f"out={tmp_path / 'b'}", "compile_cache="], check=True, capture_output=True, timeout=240,
                   env={**env, "HOME": str(off)})
    assert not (off / ".cache" / "rlx").exists()  # the default folder, ~/.cache/rlx/jax, was not made


def test_an_int_whose_default_is_0_may_be_0_and_others_are_counts():
    from rlx import envs
    from rlx.fields import ConfigError, validate_kwargs

    validate_kwargs(envs.factory("deepsea"), {"mapping_seed": 0, "size": 4}, "env.")  # a seed: 0 is its default
    with pytest.raises(ConfigError, match="env.size must be at least 1"):
        validate_kwargs(envs.factory("deepsea"), {"size": 0}, "env.")
