"""CLI verbs served by the runtime in-process: `stackyard image …`, `login`, `logout`.

Called by `stackyard.main` only. Each verb group lives in its own module and registers itself
on the typer app in `build_app`; the same exit codes as the orchestrator's CLI
(0 ok, 1 runtime failure, 2 invalid input, 130 interrupted). Only this package prints.
"""

from __future__ import annotations

import importlib
import sys
from typing import NoReturn

import typer

# Modules that add commands to the app: each defines `register(app: typer.Typer) -> None`.
VERB_MODULES = ("runtime.cli.image", "runtime.cli.login", "runtime.cli.daemon")


def build_app() -> typer.Typer:
    app = typer.Typer(add_completion=False, no_args_is_help=True,
                      help="stackyard runtime commands")
    for name in VERB_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # verb group not written yet
        module.register(app)
    return app


def main(argv: list[str]) -> NoReturn:
    try:
        command = typer.main.get_command(build_app())
        command.main(args=argv, prog_name="stackyard", standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(0)
