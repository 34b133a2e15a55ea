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
import time
import types

import jax
import numpy as np
import pytest

import rlx.agents
from rlx.agents import gpomdp
from rlx.checkpoint import Checkpoints
from rlx.run import main

# Cartpole, 4 episodes of 50 steps an iteration (200 env steps).
JOB = ["agent=gpomdp", "env=cartpole", "agent.num_envs=4", "agent.horizon=50"]
# A tabular job compiles fastest: 8 episodes of 10 steps an iteration.
TABULAR = ["agent=gpomdp", "env=random_mdp", "agent.num_envs=8", "agent.lr_schedule=constant"]


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


def test_resume_after_sigkill_equals_the_uninterrupted_run(tmp_path):
    # 120 chunks of one iteration, a checkpoint every 10 and an evaluation
    # every 15 iterations: the kill lands mid-run, after a checkpoint.
    job = JOB + ["seeds=2", "total_steps=24000", "log_every=1", "checkpoint_every=10", "eval_every=15", "devices=1"]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    reference = _cli(job + [f"out={whole}"])
    proc = _cli(job + [f"out={killed}"])
    deadline = time.time() + 240
    while not (killed / "checkpoints" / "20").is_dir():  # two checkpoints written
        assert proc.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "summary.json").exists()  # it really died mid-run
    rows_at_kill = len(_rows(killed)) if (killed / "metrics.jsonl").stat().st_size else 0
    assert rows_at_kill < 240
    _finish(reference)
    out = _finish(_cli([f"resume={killed}", "devices=1"]))
    assert "resumed at iteration" in out
    a, b = _rows(whole), _rows(killed)
    assert len(b) == 120 * 2  # no duplicated or missing rows
    assert len({(r["iteration"], r["seed"]) for r in b}) == len(b)
    assert a == b  # every metric, eval rows and samples counters included
    assert sum("eval_return" in r for r in b) == 8 * 2  # iterations 14, 29, …, 119
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["final_returns"] == json.loads((whole / "summary.json").read_text())["final_returns"]
    assert summary["resumed_at_iteration"] >= 20


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
    logs = [_finish(p) for p in procs]
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
    assert "iteration 7, seed 0 (agent.lr=0.5)" in err and "last good checkpoint is iteration 4" in err
    checkpoints = Checkpoints(str(out), 3)
    assert checkpoints.latest() == 4  # the chunk that went bad was not saved
    arrays, progress = checkpoints.read(4)
    leaves = [np.asarray(x) for x in jax.tree.leaves(arrays)]
    assert progress["chunks_done"] == 2
    assert all(np.all(np.isfinite(x)) for x in leaves if np.issubdtype(x.dtype, np.floating))
    checkpoints.close()
    rows = _rows(out)
    assert max(r["iteration"] for r in rows) == 7  # rows up to the bad chunk, kept for diagnosis


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
