"""One way for every runtime verb to fail: a single line on stderr and the CLI's exit code.

Called by the verb modules of runtime.cli (image, login/logout). errdefs.InvalidArgument exits 2,
every other category 1; an OSError on a file the user named exits 1 with the file's name.
"""

from __future__ import annotations

from typing import Callable

import typer

from runtime import errdefs

EXIT_FAILURE, EXIT_INVALID = 1, 2


def run_verb(prefix: str, body: Callable[[], None]) -> None:
    """Run `body`; `prefix` starts every error line (e.g. "stackyard image pull")."""
    try:
        body()
    except errdefs.InvalidArgument as exc:
        typer.echo(f"{prefix}: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID)
    except errdefs.StackyardError as exc:
        typer.echo(f"{prefix}: {exc}", err=True)
        raise typer.Exit(EXIT_FAILURE)
    except OSError as exc:
        typer.echo(f"{prefix}: {exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror or exc}", err=True)
        raise typer.Exit(EXIT_FAILURE)
