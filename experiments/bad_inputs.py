"""Bad command lines against rlx.run: does each get one line on stderr and
exit code 2, before anything compiles and without a run folder?

    python experiments/bad_inputs.py          # writes results/bad_inputs.md

Each case runs `rlx.run.main` in this process (one JAX start for all) with
its own empty `out=` folder.  "one line" = exit 2, exactly one stderr line
starting "rlx.run: error:", no run folder made; anything else is listed as it
happened.  Interrupts, damaged checkpoints and edited metrics need real runs:
tests/test_runner.py covers them.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FILE = "<a file>"  # replaced by the path of an existing ordinary file

CASES = [
    # the run's own fields
    ["seeds=0"], ["seeds=-1"], ["seeds=two"], ["seeds=1.5"], ["seeds=1e400"], ["seeds=100000000"], ["seed=-1"],
    ["seed=1e12"], ["seed=abc"], ["total_steps=0"], ["total_steps=-5"], ["total_steps=1e400"], ["total_steps=nan"],
    ["total_steps=abc"], ["log_every=0"], ["log_every=-1"], ["checkpoint_every=-1"], ["keep_checkpoints=0"],
    ["eval_every=-1"], ["eval_episodes=0"], ["eval_episodes=x"], ["tensorboard=maybe"], ["tensorboard=2"],
    ["devices=-1"], ["devices=x"], ["num_processes=0"], ["num_processes=2"], ["process_id=-1"], ["wandb=my-project"],
    ["resume="], ["resume=/nonexistent/run"], ["out=/dev/null"], [f"out={FILE}"], [f"out={FILE}/run"],
    ["compile_cache=/dev/null/cache"], ["sede=3"], ["agent="], ["env="], ["agent=nope"], ["env=nope"], ["agnt=harpg"],
    ["lr"], ["=5"], ["agent"], ["agent.=1"], ["env.=1"], ["sweep.=1"], ["sweep.env.max_steps=[1,2]"],
    ["sweep.seed=[1,2]"], ["seeds=2", "seeds=3"],
    # agent fields
    ["agent.lr=fast"], ["agent.lr=inf"], ["agent.lr=1e400"], ["agent.lr=-1"], ["agent.lr=0"], ["agent.lr=[0.1]"],
    ["agent.lr=true"], ["agent.lrr=0.1"], ["agent.hidden=[-4]"], ["agent.hidden=[0]"], ["agent.hidden=[64,x]"],
    ["agent.hidden=64.5"], ["agent.horizon=-5"], ["agent.horizon=1.5"], ["agent.batch_steps=0"],
    ["agent.batch_steps=-100"], ["agent.num_envs=0"], ["agent.discount=1.5"], ["agent.discount=-0.1"],
    ["agent.discount=nan"], ["agent.estimator=foo"], ["agent.policy=foo"], ["agent.baseline=foo"],
    ["agent.weight_init=foo"], ["agent.optimizer=sgdd"], ["agent.lr_schedule=foo"],
    ["agent=harpg", "agent.momentum=0"], ["agent=harpg", "agent.momentum=2"], ["agent=harpg", "agent.hessian_steps=0"],
    ["agent=sharp", "agent.lr=-1"], ["agent=npg_igt", "agent.lr=1e999"], ["agent=ppo", "agent.gae_lambda=2"],
    ["agent=ppo", "agent.clip=-1"], ["agent=ppo", "agent.epochs=0"], ["agent=ppo", "agent.minibatches=0"],
    ["agent=ppo", "agent.num_steps=0"], ["agent=ppo", "agent.entropy_coef=-1"], ["agent=ppo", "agent.max_grad_norm=0"],
    ["agent=ppo", "agent.minibatches=3"], ["agent=dqn", "agent.epsilon_end=1.5"], ["agent=dqn", "agent.capacity=0"],
    ["agent=dqn", "seeds=1000000", "agent.capacity=1000000"], ["agent=nac", "agent.temperature=0"],
    ["agent=nac", "agent.width=0"], ["agent=wpo"], ["agent=pgp"], ["agent=pgp_deep"], ["agent=hyperagent", "env=hopper"],
    ["agent=wpo", "env=random_mdp", "agent.delta=0"], ["agent=wpo", "env=random_mdp", "agent.method=foo"],
    ["agent=pgp", "env=constrained_gridworld", "agent.penalty=-1"],
    # sweeps
    ["sweep.agent.lr=0.1"], ["sweep.agent.lr=[]"], ["sweep.agent.lr=[0.1,'x']"], ["sweep.agent.lr=[0.1,fast]"],
    ["sweep.agent.lrr=[0.1]"], ["sweep.agent.hidden=[[32],[64]]"], ["sweep.agent.lr=[0.1]", "agent.lr=0.2"],
    ["sweep.agent.lr=[0.1,0.1]"], ["sweep.agent.lr=[0.1,-1]"], ["sweep.agent.lr=[1e999]"],
    ["sweep.agent.discount=[0.9,1.1]"], ["sweep.agent.estimator=[a,b]"], ["sweep.agent.batch_steps=[100,200]"],
    # env arguments
    ["env.max_steps=0"], ["env.max_steps=-3"], ["env.max_steps=1e400"], ["env.max_steps=x"], ["env.backnd=spring"],
    ["env=hopper", "env.backend=foo"], ["env=hopper", "env.episode_length=0"], ["env=gridworld", "env.rows="],
    ["env=gridworld", "env.rows=7"], ["env=gridworld", "env.rows=S.Z"], ["env=gridworld", "env.rows=S../...."],
    ["env=random_mdp", "env.num_states=0"], ["env=random_mdp", "env.discount=2"], ["env=random_mdp", "env.horizon=0"],
    ["env=deepsea", "env.size=-1"], ["env=deepsea", "env.size=1"], ["env=nchain", "env.n=1"],
    ["env=frozenlake", "env.map_name=9x9"], ["env=taxi", "env.fickle_passenger=true"], ["env=toytext:Nope-v0"],
    ["env=gymnasium:this:Foo-v0"], ["env=gymnasium:Nope-v9"], ["env=gymnax:Nope"], ["env=cartpole_swingup", "env.x=1"],
]


def run_case(words: list[str], tmp: str) -> dict:
    from rlx.runner.main import main

    out = os.path.join(tmp, "run")
    argv = [w.replace(FILE, os.path.join(tmp, "file")) for w in words]
    if not any(w.startswith("out=") for w in argv):
        argv.append(f"out={out}")
    err, t0 = io.StringIO(), time.perf_counter()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv + ["total_steps=1"] if not any(w.startswith("total_steps=") for w in argv) else argv)
    except BaseException as exc:  # what the case is here to find
        code, err = f"raised {type(exc).__name__}", io.StringIO(f"{type(exc).__name__}: {exc}")
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("rlx.run: error:")]
    one_line = code == 2 and len(errors) == 1 and not os.path.exists(out)
    return {"argv": words, "exit": code, "stderr": lines, "one_line": one_line, "seconds": time.perf_counter() - t0}


def main() -> None:
    results = []
    for words in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            open(os.path.join(tmp, "file"), "w").close()
            results.append(run_case(words, tmp))
        r = results[-1]
        print(f"{'ok ' if r['one_line'] else 'NO '} {' '.join(words):<60} exit {r['exit']}  "
              f"{(r['stderr'] or [''])[-1][:110]}", flush=True)
    good = sum(r["one_line"] for r in results)
    lines = ["# Bad command lines against rlx.run", "",
             f"Written by `python experiments/bad_inputs.py` on {time.strftime('%Y-%m-%d')}: {good} of {len(results)} "
             "got one line on stderr and exit code 2, with no run folder made.  A warning line before the error "
             "(e.g. devices= above the core count) is listed.", "",
             "| command | exit | one line | stderr |", "|---|---|---|---|"]
    for r in results:
        shown = " / ".join(r["stderr"]).replace("|", "\\|")
        lines.append(f"| `{' '.join(r['argv'])}` | {r['exit']} | {'✓' if r['one_line'] else '✗'} | {shown[:300]} |")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "bad_inputs.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{good} of {len(results)} one line", flush=True)
    sys.exit(0 if good == len(results) else 1)


if __name__ == "__main__":
    main()
