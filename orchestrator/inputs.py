"""The files a stack command's plan depended on, as it read them.

The loader (stack files, `.env`, env files, discovery's probes), the config hash (files of
`configs`, `secrets`, `env_file`) and the engine selection (docker's config and contexts) call
`note`/`probe` where they read or look for a file. `orchestrator.converged` keeps the list
after an `up` that converged, and the next identical `up` compares it with the disk again
instead of loading and planning. Nothing is recorded until `start()` is called, so library
users and tests that never start a log pay nothing.
"""

from __future__ import annotations

import hashlib
import os

# What a path held when it was read or probed: the sha256 of its bytes, "dir" for a directory
# (a stack file path that is a directory is an error the next run must see again), or None
# when nothing was there.
Fingerprint = str | None

_log: dict[str, Fingerprint] | None = None


def start() -> None:
    """Begin recording (once per process, before loading)."""
    global _log
    _log = {}


def recorded() -> dict[str, Fingerprint] | None:
    """Path -> fingerprint of everything noted since `start()` (None if never started)."""
    return None if _log is None else dict(_log)


def unrepeatable() -> None:
    """Something was read that cannot be read again to compare (a stack file on stdin): keep
    no log, so no stamp is made from this run."""
    global _log
    _log = None


def note(path: str, data: bytes | None) -> None:
    """`path` was read and held `data` (None: it did not exist)."""
    if _log is not None:
        _log[os.path.abspath(path)] = None if data is None else _digest(data)


def probe(path: str) -> None:
    """`path` was looked for (existence decides something); record what is there now."""
    if _log is not None:
        absolute = os.path.abspath(path)
        if absolute not in _log:
            _log[absolute] = fingerprint(absolute)


def fingerprint(path: str) -> Fingerprint:
    """What `path` holds now, in the same terms as `note` and `probe` record it."""
    try:
        with open(path, "rb") as handle:
            return _digest(handle.read())
    except IsADirectoryError:
        return "dir"
    except FileNotFoundError:
        return None
    except OSError as exc:  # unreadable: never equal to a recorded digest
        return f"error:{exc.errno}"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
