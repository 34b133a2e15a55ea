"""`python -m rlx.run --help`: the usage, the run's fields, every agent and
env in a line; with agent=NAME that agent's fields (type, default, ~ if
sweepable, the comment after the field), with env=NAME that env's arguments
and family."""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
import typing

from rlx import agents, envs
from rlx.fields import ConfigError, choices, field_types
from rlx.runner.config import RunConfig, coerce_kwargs, field_docs, one_line, split_overrides


def _first_sentence(doc: str | None) -> str:
    text = " ".join((doc or "").strip().split("\n\n")[0].split())
    end = re.search(r"[.:](\s|$)", text)
    return text[: end.start()] if end else text


def _fields_help(config, group: str) -> list[str]:
    """One line a field of the dataclass `config`: name, type, value, ~ if
    sweepable, and its comment."""
    docs, types_ = field_docs(type(config)), field_types(type(config))
    lines = []
    for f in dataclasses.fields(config):
        if f.name not in docs and not f.metadata.get("pytree_node", True):
            continue  # internal
        annotation = types_[f.name]
        if choices(annotation) is not None:
            kind = " | ".join(map(repr, choices(annotation)))
        else:
            kind = str(annotation).replace("typing.", "") if typing.get_args(annotation) else annotation.__name__
        sweepable = group == "agent." and f.metadata.get("pytree_node", True) and kind in ("int", "float", "float | None")
        value = getattr(config, f.name)
        lines.append(f"  {group}{f.name}: {kind} = {list(value) if isinstance(value, tuple) else value!r}"
                     f"{'  ~' if sweepable else ''}  {docs.get(f.name, '')}".rstrip())
    return lines


def show_help(argv: list[str], usage: str) -> int:
    """--help: the usage, the run's fields, every agent and env in one line;
    with agent=NAME that agent's fields, with env=NAME that env's arguments."""
    words = [w for w in argv if w not in ("-h", "--help", "help")]
    try:
        given, _, env_over, _ = split_overrides(words)
    except ConfigError:
        given, env_over = {}, {}
    if "agent" not in given and "env" not in given:
        print(usage)
        print("\nrun fields:")
        print("\n".join(_fields_help(RunConfig(), "")))
        print("\nagents (agent=NAME; `agent=NAME --help` lists its fields):")
        for name in agents.names():
            preset = agents.presets(name)
            extra = f" [{', '.join(f'{k}={v}' for k, v in preset.items())}]" if preset else ""
            print(f"  {name:<12} {_first_sentence(agents.get(name).__doc__)}{extra}")
        print("\nenvs (env=NAME; `env=NAME --help` lists its arguments):")
        for name in sorted(envs.REGISTRY):
            print(f"  {name:<24} {envs.ABOUT.get(name, '')}")
        for prefix, about in envs.PREFIX_ABOUT.items():
            print(f"  {prefix + '<id>':<24} {about}")
        return 0
    env = None
    if "env" in given:
        name = given["env"]
        try:
            factory = envs.factory(name)
            env = envs.make(name, **coerce_kwargs(factory, env_over, "env."))
        except Exception as err:
            print(f"rlx.run: error: env {name}: {one_line(err)}", file=sys.stderr)
            return 2
        else:
            print(f"env {name}: {envs.ABOUT.get(name, '')}; family {agents.family(env)}")
            print("arguments (env.<arg>=value):")
            for arg, param in inspect.signature(factory).parameters.items():
                if param.kind is param.VAR_KEYWORD:
                    print("  env.<any>: passed on to the env's own constructor")
                elif param.default is not param.empty:
                    print(f"  env.{arg} = {param.default!r}")
    if "agent" in given:
        name = given["agent"]
        try:
            config = agents.config(name, env)
        except ValueError as err:
            print(f"rlx.run: error: {one_line(err)}", file=sys.stderr)
            return 2
        where = f" on {given['env']} ({agents.defaults_scope(name, env)} defaults applied)" if env is not None else ""
        print(f"\nagent {name}{where}: {_first_sentence(agents.get(name).__doc__)}")
        print("fields (agent.<field>=value; ~ = sweepable: sweep.agent.<field>=[v1,v2]):")
        print("\n".join(_fields_help(config, "agent.")))
        if env is None and agents.family_defaults(name):
            print("defaults by env family or env (agent.<field>= overrides them):")
            for fam, values in agents.family_defaults(name).items():
                print(f"  on {fam}: " + " ".join(f"agent.{k}={v}" for k, v in values.items()))
    return 0
