"""Entry point of the `stackyard` command (pyproject's console script). Called by nobody else.

Looks at the first word of the command line only: the runtime's verbs are handled by
`runtime.cli`, every other command (and every global option) by `orchestrator.cli`, so the
CLI of the stack commands never pays for the runtime's imports.
"""

from __future__ import annotations

import sys
from typing import NoReturn, Optional

RUNTIME_VERBS = frozenset({"image", "login", "logout", "daemon"})


def main(argv: Optional[list[str]] = None) -> NoReturn:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in RUNTIME_VERBS:
        from runtime.cli import main as runtime_main
        runtime_main(args)
    from orchestrator.cli.app import main as orchestrator_main
    orchestrator_main(args)


if __name__ == "__main__":
    main()
