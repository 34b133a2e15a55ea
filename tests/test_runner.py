"""The complete runner against its real outputs: exact resume after SIGKILL,
sweeps equal separate runs, 4 devices equal 1, two processes equal one,
the NaN guard, TensorBoard scalars equal metrics.jsonl, evaluation rows."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rlx.agents
from rlx.agents import gpomdp
from rlx.runner.checkpoint import Checkpoints
from rlx.runner.main import main

# Cartpole, 4 episodes of 50 steps an iteration (200 env steps).
JOB = ["agent=gpomdp", "env=cartpole", "agent.batch_steps=200", "agent.horizon=50"]
# A tabular job compiles fastest: 8 episodes of 10 steps an iteration.
TABULAR = ["agent=gpomdp", "env=random_mdp", "agent.batch_steps=80", "agent.lr_schedule=constant"]


def _rows(folder) -> list[dict]:
    with open(os.path.join(folder, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def _cli(args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rlx.run", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def _finish(proc: subprocess.Popen, timeout: float = 240) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-2000:]
    return out


# rlx.run with gpomdp whose update SIGKILLs its own process from inside the
# compiled chunk, at iteration KILL_AT: a kill mid-chunk, at a known place.
KILLER = """
import os, signal, sys, types
import jax
import rlx.agents
from rlx.agents import gpomdp
from rlx.runner.main import main

def die(t):
    if (t == int(os.environ["KILL_AT"])).any():
        os.kill(os.getpid(), signal.SIGKILL)

def update(key, state, env, config):
    jax.debug.callback(die, state.t)
    return gpomdp.update(key, state, env, config)

rlx.agents.get = lambda name: types.SimpleNamespace(**{**vars(gpomdp), "update": update})
sys.exit(main(sys.argv[1:]))
"""


def _killed_run(args, kill_at: int, signum: int = signal.SIGKILL) -> subprocess.CompletedProcess:
    """The run, sent `signum` by its own update at iteration `kill_at` (inside a compiled chunk)."""
    proc = subprocess.run([sys.executable, "-c", KILLER.replace("signal.SIGKILL", f"signal.{signal.Signals(signum).name}"),
                           *args], env={**os.environ, "KILL_AT": str(kill_at)}, capture_output=True, text=True, timeout=240)
    expected = -signal.SIGKILL if signum == signal.SIGKILL else 128 + signum
    assert proc.returncode == expected, proc.stderr[-2000:]
    return proc


# 60 iterations in chunks of 4, a checkpoint every 8 and an evaluation every 12.
RESUMABLE = JOB + ["seeds=3", "total_steps=12000", "log_every=4", "checkpoint_every=8", "eval_every=12"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("resume") / "whole"
    _finish(_cli(RESUMABLE + ["devices=1", f"out={out}"]))
    return out


def test_resume_after_sigkill_mid_chunk_equals_the_uninterrupted_run(tmp_path, uninterrupted):
    killed = tmp_path / "killed"
    _killed_run(RESUMABLE + ["devices=1", f"out={killed}"], kill_at=37)  # inside chunk 9 (iterations 36–39)
    rows = _rows(killed)
    assert max(r["iteration"] for r in rows) == 35  # chunks 0–8 were logged, the checkpoint is after 32
    assert not (killed / "summary.json").exists()
    # resumed on 2 devices: the checkpoint's runs axis (3 runs, unpadded) is re-padded to 4
    out = _finish(_cli([f"resume={killed}", "devices=2"]))
    assert "resumed after iteration 32" in out and "on 2 device(s)" in out
    a, b = _rows(uninterrupted), _rows(killed)
    assert len(b) == 60 * 3 and len({(r["iteration"], r["seed"]) for r in b}) == len(b)  # none twice, none missing
    assert a == b  # every metric, the eval rows and the samples counters included
    assert sum("eval_return" in r for r in b) == 5 * 3  # after iterations 12, 24, …, 60
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["final_returns"] == json.loads((uninterrupted / "summary.json").read_text())["final_returns"]
    assert summary["resumed_at_iteration"] == 32


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_sigint_and_sigterm_checkpoint_the_chunk_and_resume_equals_the_uninterrupted_run(tmp_path, uninterrupted, signum):
    stopped = tmp_path / "stopped"
    proc = _killed_run(RESUMABLE + ["devices=1", f"out={stopped}"], kill_at=37, signum=signum)  # inside chunk 9
    name = signal.Signals(signum).name
    last = proc.stderr.strip().splitlines()[-1]
    assert last == f"rlx.run: {name}: stopped after iteration 40, checkpoint saved; continue with: python -m rlx.run resume={stopped}"
    assert "Traceback" not in proc.stderr
    assert max(r["iteration"] for r in _rows(stopped)) == 39  # the chunk in flight finished and was logged
    assert Checkpoints(str(stopped), 3, read_only=True).latest() == 40  # and checkpointed, off the every-8 schedule
    out = _finish(_cli([f"resume={stopped}", "devices=1"]))
    assert "resumed after iteration 40" in out
    assert _rows(stopped) == _rows(uninterrupted)


def test_a_damaged_latest_checkpoint_is_skipped_and_the_one_before_resumes(tmp_path, uninterrupted):
    import shutil

    damaged = tmp_path / "damaged"
    shutil.copytree(uninterrupted, damaged)
    (damaged / ".lock").unlink()
    (damaged / "summary.json").unlink()
    checkpoints = Checkpoints(str(damaged), 3, read_only=True)
    assert sorted(checkpoints.all()) == [48, 56, 60]
    checkpoints.close()
    for path in (damaged / "checkpoints" / "60").rglob("*"):
        if path.is_file():
            os.truncate(path, min(path.stat().st_size, 10))  # every file of the newest checkpoint cut short
    proc = subprocess.run([sys.executable, "-m", "rlx.run", f"resume={damaged}", "devices=1"], capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    warnings = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(warnings) == 2 and warnings[0].startswith("rlx.run: warning: checkpoint 60 of") and "skipped" in warnings[0]
    assert "moved to" in warnings[1] and len(list((damaged / "damaged-checkpoints").iterdir())) == 1  # kept, aside
    assert "resumed after iteration 56" in proc.stdout
    assert _rows(damaged) == _rows(uninterrupted)  # metrics.jsonl cut back to checkpoint 56, then the same rows


def test_hand_edited_metrics_rows_are_refused_not_fused(tmp_path, uninterrupted, capsys):
    import shutil

    edited = tmp_path / "edited"
    shutil.copytree(uninterrupted, edited)
    (edited / ".lock").unlink()
    lines = (edited / "metrics.jsonl").read_text().splitlines(keepends=True)
    assert '"iteration": 6,' in lines[20]
    lines[20] = lines[20].replace('"iteration": 6,', '"iteration": 7,')  # as long as before: sizes cannot tell
    (edited / "metrics.jsonl").write_text("".join(lines))
    before = (edited / "metrics.jsonl").read_bytes()
    assert main([f"resume={edited}"]) == 2  # (no devices=: this process may have started JAX already)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "metrics.jsonl was changed in its first" in err, err
    assert (edited / "metrics.jsonl").read_bytes() == before  # untouched


def test_extending_a_finished_run_equals_a_run_started_with_the_larger_budget(tmp_path, uninterrupted, capsys):
    short = tmp_path / "short"
    _finish(_cli([w for w in RESUMABLE if not w.startswith("total_steps")] + ["total_steps=6000", "devices=1",
                                                                             f"out={short}"]))
    assert max(r["iteration"] for r in _rows(short)) < 59
    assert main([f"resume={short}", "agent.lr=0.1"]) == 2
    assert "only total_steps= may extend it" in capsys.readouterr().err
    assert main([f"resume={short}", "total_steps=5000"]) == 2
    assert "a run can be extended, not shortened" in capsys.readouterr().err
    out = _finish(_cli([f"resume={short}", "total_steps=12000", "devices=1"]))
    assert "resumed after iteration" in out
    a, b = _rows(uninterrupted), _rows(short)
    evals = ("eval_return", "eval_length")
    assert _without(a, *evals) == _without(b, *evals)  # every update the same
    # the evaluations too, but for the one the short run made at its own end
    assert [r for r in a if "eval_return" in r] == [r for r in b if "eval_return" in r and r in a]
    record = json.loads((short / "config.json").read_text())
    assert record["run"]["total_steps"] == 12000 and "total_steps=12000" in record["argv"]


def test_resume_before_the_first_checkpoint_starts_over(tmp_path, uninterrupted):
    killed = tmp_path / "early"
    _killed_run(RESUMABLE + ["devices=1", f"out={killed}"], kill_at=6)  # before the first checkpoint (8)
    assert len(_rows(killed)) == 4 * 3
    assert "no checkpoint yet" in _finish(_cli([f"resume={killed}", "devices=1"]))
    assert _rows(killed) == _rows(uninterrupted)


def test_resuming_a_finished_run_rewrites_only_its_summary(tmp_path, uninterrupted, capsys):
    import shutil

    done = tmp_path / "done"
    shutil.copytree(uninterrupted, done)
    (done / ".lock").unlink()
    (done / "summary.json").unlink()  # killed after its last checkpoint, before the summary
    assert main([f"resume={done}"]) == 0  # (no devices=: this process may have started JAX already)
    assert "already complete" in capsys.readouterr().out
    summary = json.loads((done / "summary.json").read_text())
    whole = json.loads((uninterrupted / "summary.json").read_text())
    assert summary["final_returns"] == whole["final_returns"]
    assert summary["samples_per_seed"] == whole["samples_per_seed"] is not None
    assert _rows(done) == _rows(uninterrupted)


def test_resume_refuses_a_short_metrics_file_and_a_folder_in_use(tmp_path, uninterrupted, capsys):
    import fcntl
    import shutil

    short = tmp_path / "short"
    shutil.copytree(uninterrupted, short)
    os.truncate(short / "metrics.jsonl", 1000)
    assert main([f"resume={short}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "metrics.jsonl, which has 1000" in err
    assert os.path.getsize(short / "metrics.jsonl") == 1000  # not padded, not touched
    with open(short / ".lock") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again after the refused resume
        assert main([f"resume={short}"]) == 2
        assert "in use by another rlx.run" in capsys.readouterr().err


def _without(rows, *keys):
    return [{k: v for k, v in r.items() if k not in keys} for r in rows]


def test_a_sweep_of_3_values_by_2_seeds_equals_six_separate_runs(tmp_path):
    job = TABULAR + ["total_steps=1600", "log_every=10", "eval_every=10", "tensorboard=false"]
    lrs = [0.1, 0.5, 2.0]
    assert main(job + [f"sweep.agent.lr={lrs}", "seeds=2", f"out={tmp_path / 'sweep'}"]) == 0
    swept = _rows(tmp_path / "sweep")
    assert len(swept) == 20 * 3 * 2
    for lr in lrs:
        for seed in (0, 1):
            out = tmp_path / f"lr{lr}-s{seed}"
            assert main(job + [f"agent.lr={lr}", f"seed={seed}", "seeds=1", f"out={out}"]) == 0
            mine = [r for r in swept if r["agent.lr"] == pytest.approx(lr) and r["seed"] == seed]
            assert _without(mine, "agent.lr") == _rows(out)
    # the sweep really swept: the three step sizes end at different returns
    final = {lr: np.mean([r["episode_return"] for r in swept if r["iteration"] == 19 and r["agent.lr"] == pytest.approx(lr)]) for lr in lrs}
    assert len({round(v, 4) for v in final.values()}) == 3
    config = json.loads((tmp_path / "sweep" / "config.json").read_text())
    assert config["sweep"] == {"agent.lr": lrs}
    summary = json.loads((tmp_path / "sweep" / "summary.json").read_text())
    assert [p["values"]["lr"] for p in summary["points"]] == lrs


def test_four_devices_equal_one(tmp_path):
    # 3 seeds × 2 sweep points = 6 runs, padded to 8 over 4 devices.
    job = JOB + ["seeds=3", "sweep.agent.lr=[0.01,0.05]", "total_steps=2000", "log_every=5", "eval_every=5"]
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    four = _cli(job + [f"out={tmp_path / 'four'}"], env=env)
    _finish(four)
    one = _finish(_cli(job + [f"out={tmp_path / 'one'}", "devices=1"]))
    assert "on 1 device(s)" in one
    assert len(json.loads((tmp_path / "four" / "config.json").read_text())["devices"]) == 4
    assert _rows(tmp_path / "four") == _rows(tmp_path / "one")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one(tmp_path):
    """jax.distributed with CPU (gloo) collectives: the runs axis is split
    across two processes of one device each; process 0 writes the folder."""
    job = JOB + ["seeds=4", "total_steps=2000", "log_every=5", "eval_every=5", "devices=1"]
    out = tmp_path / "two"
    where = [f"coordinator=localhost:{_free_port()}", "num_processes=2", f"out={out}"]
    procs = [_cli(job + where + [f"process_id={i}"]) for i in (0, 1)]
    try:
        logs = [_finish(p) for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert "on 2 device(s)" in logs[0]
    assert json.loads((out / "config.json").read_text())["processes"] == 2
    # one process with two devices: the same two halves of the runs axis
    _finish(_cli(job[:-1] + ["devices=2", f"out={tmp_path / 'one'}"]))
    assert _rows(out) == _rows(tmp_path / "one")
    assert len(_rows(out)) == 10 * 4


def _planted_nan_agent(at_iteration: int, lr: float):
    """gpomdp whose params turn NaN after update `at_iteration` when its step size is `lr`."""
    import jax.numpy as jnp

    def update(key, state, env, config):
        state, metrics = gpomdp.update(key, state, env, config)
        poison = (state.t == at_iteration + 1) & (config.lr == lr)
        params = jax.tree.map(lambda p: jnp.where(poison, jnp.nan, p), state.params)
        return state.replace(params=params), metrics

    return types.SimpleNamespace(**{**vars(gpomdp), "update": update})


def test_nan_guard_names_iteration_and_seed_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    planted = _planted_nan_agent(at_iteration=7, lr=0.5)
    monkeypatch.setattr(rlx.agents, "get", lambda name: planted)
    out = tmp_path / "nan"
    job = TABULAR + ["sweep.agent.lr=[0.1,0.5]", "seeds=2", "total_steps=1600",
                          "log_every=2", "checkpoint_every=4", f"out={out}"]
    assert main(job) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("rlx.run: error:"), err
    assert "iteration 7, seed 0 (agent.lr=0.5)" in err and "last good checkpoint is the one after 4 iterations" in err
    checkpoints = Checkpoints(str(out), 3, read_only=True)
    assert checkpoints.latest() == 4  # the chunk that went bad was not saved
    arrays, progress = checkpoints.read(4)
    leaves = [np.asarray(x) for x in jax.tree.leaves(arrays)]
    assert progress["chunks_done"] == 2
    assert all(np.all(np.isfinite(x)) for x in leaves if np.issubdtype(x.dtype, np.floating))
    checkpoints.close()
    rows = _rows(out)
    assert max(r["iteration"] for r in rows) == 7  # rows up to the bad chunk, kept for diagnosis
    # rlx.plot marks where the run stopped
    from rlx.runner.plot import load_curves

    curves = load_curves(str(out))
    assert all(c.stopped == "stopped: the agent state (params) not finite at iteration 7" for c in curves)


def test_on_nonfinite_drop_drops_the_diverged_runs_and_the_others_go_on(tmp_path, monkeypatch, capsys):
    planted = _planted_nan_agent(at_iteration=7, lr=0.5)
    monkeypatch.setattr(rlx.agents, "get", lambda name: planted)
    out = tmp_path / "drop"
    job = TABULAR + ["sweep.agent.lr=[0.1,0.5]", "seeds=2", "log_every=2", "checkpoint_every=4",
                     "on_nonfinite=drop", "eval_every=4"]
    assert main(job + ["total_steps=1600", f"out={out}"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all("iteration 7" in e and "(agent.lr=0.5)" in e and "dropped" in e for e in err), err
    rows = _rows(out)
    last = {(r["agent.lr"], r["seed"]): max(x["iteration"] for x in rows
                                            if (x["agent.lr"], x["seed"]) == (r["agent.lr"], r["seed"])) for r in rows}
    assert last == {(0.1, 0): 19, (0.1, 1): 19, (0.5, 0): 6, (0.5, 1): 6}  # rows end before the divergence
    assert all(np.isfinite(v) for r in rows for v in r.values() if isinstance(v, float))
    summary = json.loads((out / "summary.json").read_text())
    assert [(d["seed"], d["point"], d["iteration"]) for d in summary["dropped"]] == [
        (0, {"agent.lr": 0.5}, 7), (1, {"agent.lr": 0.5}, 7)]
    assert summary["final_returns"][2:] == [None, None] and None not in summary["final_returns"][:2]
    assert summary["points"][1]["final_return_mean"] is None
    assert summary["samples_per_seed"][2] == summary["samples_per_seed"][3] == 7 * 80  # frozen where it stopped
    # the live point computes what it computes with no diverging neighbour
    monkeypatch.setattr(rlx.agents, "get", lambda name: gpomdp)
    assert main(job + ["total_steps=1600", f"out={tmp_path / 'plain'}"]) == 0
    assert [r for r in rows if r["agent.lr"] == 0.1] == [r for r in _rows(tmp_path / "plain") if r["agent.lr"] == 0.1]
    # resuming to a larger budget keeps them dropped: no new rows, still listed
    monkeypatch.setattr(rlx.agents, "get", lambda name: planted)
    assert main([f"resume={out}", "total_steps=2400"]) == 0
    rows = _rows(out)
    assert max(r["iteration"] for r in rows if r["agent.lr"] == 0.5) == 6
    assert max(r["iteration"] for r in rows if r["agent.lr"] == 0.1) == 29
    assert len(json.loads((out / "summary.json").read_text())["dropped"]) == 2
    # rlx.plot says which seeds of which point were dropped
    from rlx.runner.plot import load_curves

    curves = {c.label.split()[-1]: c for c in load_curves(str(out))}
    assert curves["agent.lr=0.5"].stopped == "dropped: seed 0 at iteration 7, seed 1 at iteration 7"
    assert curves["agent.lr=0.1"].stopped == ""


def _planted_nan_metric_agent(at_iteration: int):
    """gpomdp whose grad_norm metric and params turn NaN after update `at_iteration`."""
    import jax.numpy as jnp

    def update(key, state, env, config):
        state, metrics = gpomdp.update(key, state, env, config)
        poison = state.t == at_iteration + 1
        params = jax.tree.map(lambda p: jnp.where(poison, jnp.nan, p), state.params)
        return state.replace(params=params), {**metrics, "grad_norm": jnp.where(poison, jnp.nan, metrics["grad_norm"])}

    return types.SimpleNamespace(**{**vars(gpomdp), "update": update})


def test_divergence_says_what_to_try_and_tensorboard_stays_quiet(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(rlx.agents, "get", lambda name: _planted_nan_metric_agent(at_iteration=3))
    out = tmp_path / "nan"
    assert main(TABULAR + ["agent.lr=0.5", "seeds=2", "total_steps=800", "log_every=2", f"out={out}"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line: no tensorboardX warning about the NaN scalar
    assert "iteration 3" in err and "agent.lr is 0.5, try agent.lr=0.05" in err, err
    scalars = _tensorboard_scalars(out / "tb")
    assert 4 * 80 not in scalars["grad_norm"] and 3 * 80 in scalars["grad_norm"]  # the NaN step is left out
    assert all(np.isfinite(v) for tag in scalars.values() for v in tag.values())


def _tensorboard_scalars(folder) -> dict[str, dict[int, float]]:
    """Scalars of the TFRecord event files tensorboardX wrote: {tag: {step: value}}."""
    from tensorboardX.proto import event_pb2

    scalars: dict[str, dict[int, float]] = {}
    for name in sorted(os.listdir(folder)):
        data = open(os.path.join(folder, name), "rb").read()
        i = 0
        while i < len(data):
            (length,) = struct.unpack("<Q", data[i:i + 8])
            event = event_pb2.Event.FromString(data[i + 12:i + 12 + length])
            i += 12 + length + 4
            for value in event.summary.value:
                scalars.setdefault(value.tag, {})[event.step] = value.simple_value
    return scalars


def test_tensorboard_and_wandb_get_the_means_over_seeds(tmp_path, monkeypatch):
    logged = []
    fake = types.SimpleNamespace(init=lambda **kw: fake, log=lambda values, step: logged.append((step, values)),
                                 finish=lambda: None)
    monkeypatch.setitem(sys.modules, "wandb", fake)
    out = tmp_path / "tb"
    assert main(TABULAR + ["agent.lr=0.5", "seeds=3", "total_steps=800", "log_every=5", "eval_every=5", "wandb=rlx-test", f"out={out}"]) == 0
    rows = _rows(out)
    scalars = _tensorboard_scalars(out / "tb")
    assert set(scalars) >= {"episode_return", "grad_norm", "eval_return"}
    for step in {r["env_steps"] for r in rows}:
        mine = [r for r in rows if r["env_steps"] == step]
        assert scalars["episode_return"][step] == pytest.approx(np.mean([r["episode_return"] for r in mine]), rel=1e-6)
    assert sorted(scalars["eval_return"]) == [r["env_steps"] for r in rows if "eval_return" in r][::3]
    assert [s for s, _ in logged] == sorted(scalars["episode_return"])
    assert logged[0][1]["episode_return"] == scalars["episode_return"][logged[0][0]]
    assert (out / "curves.png").stat().st_size > 10_000


def test_a_carry_with_empty_arrays_checkpoints_and_restores(tmp_path):
    """MJX's state (Playground envs) holds empty arrays, which orbax refuses:
    they are saved as placeholders and restored to their empty shape."""
    carry = {"x": jnp.arange(6.0).reshape(2, 3), "act": jnp.zeros((2, 0)), "key": jax.random.split(jax.random.key(0), 2)}
    checkpoints = Checkpoints(str(tmp_path), 1)
    checkpoints.save(5, carry, {"iteration": 5})
    restored = checkpoints.restore(5, jax.eval_shape(lambda: carry), 2)
    assert restored["act"].shape == (2, 0)
    np.testing.assert_array_equal(restored["x"], carry["x"])
    np.testing.assert_array_equal(jax.random.key_data(restored["key"]), jax.random.key_data(carry["key"]))
    checkpoints.close()
