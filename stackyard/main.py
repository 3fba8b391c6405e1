"""Entry point of the `stackyard` command (pyproject's console script). Called by nobody else.

Looks at the first word of the command line only: the runtime's verbs are handled by
`runtime.cli`, every other command (and every global option) by `orchestrator.cli`, so the
CLI of the stack commands never pays for the runtime's imports.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn, Optional

RUNTIME_VERBS = frozenset({"image", "login", "logout", "daemon"})
# Optional modules httpx and httpcore import when installed though the stack commands never
# use them: the asynchronous libraries httpcore probes for (`try: import trio`) and httpx's
# own command-line tool (click, rich, pygments), ~60 ms of every start together. The stack
# commands' process marks them absent; the runtime's verbs (the daemon among them) keep them.
_UNUSED_OPTIONAL_MODULES = ("trio", "anyio", "httpx._main")


def main(argv: Optional[list[str]] = None) -> NoReturn:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in RUNTIME_VERBS:
        from runtime.cli import main as runtime_main
        runtime_main(args)
    for name in _UNUSED_OPTIONAL_MODULES:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    if "up" in args:
        # A converged `up -d` run again with nothing changed is recognised before the CLI,
        # the loader and the planner are even imported (orchestrator/converged.py says why
        # that is sound); otherwise the files the run reads are recorded for next time.
        from orchestrator import converged, inputs

        if converged.try_converged(args):
            # Nothing to do. Skip the interpreter's teardown of every imported module (about a
            # tenth of this whole run); only our own streams need flushing.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        inputs.start()
    from orchestrator.cli.app import main as orchestrator_main
    orchestrator_main(args)


if __name__ == "__main__":
    main()
