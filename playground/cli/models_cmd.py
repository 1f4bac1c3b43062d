"""`playground models`: every model in models.toml, its status, and which file was read."""

from __future__ import annotations

import argparse
from typing import Any

from playground.cli.common import CliError, config_from, fail
from playground.config import model_status
from playground.templates.gguf_check import configured_template_problem, gguf_template_problem


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("models", help="list the models in models.toml with their status")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from(args)
    except CliError as exc:
        return fail(str(exc))
    print(f"config: {config.source} ({config.source_kind})")
    print(f"pair:   base = {config.pair.base}, aligned = {config.pair.aligned}")
    print()
    all_ready = True
    for spec in config.models.values():
        st = model_status(spec)
        status, detail, warning = st.status, st.detail, None
        if status == "ready":
            # a ready file is not yet a usable model: its template must work too
            problem = configured_template_problem(spec.template, config.source.parent)
            if problem is not None:
                status, detail = "template missing", problem
            elif not spec.template and st.info is not None:
                warning = gguf_template_problem(st.info)
        all_ready &= status == "ready"
        print(f"{spec.id}  [{spec.role}]  {spec.name}")
        print(f"    status: {status}")
        print(f"    {detail}")
        if warning:
            print(f"    warning: {warning}")
        if st.path is not None:
            print(f"    file:   {st.path}")
    return 0 if all_ready else 1
