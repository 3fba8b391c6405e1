"""Recognise a converged `up -d` without loading the stack or planning again.

Called by `stackyard.main` before the CLI is built (`try_converged`) and by the `up` command
after a run whose plan was empty, or became empty once applied (`remember`).

Why it is sound: a plan is a pure function of the loaded stack (the files it read, the
environment, the command line, the working directory), the observed state and the tool's own
code. After an `up -d` whose (re-)plan was empty, a stamp records all of them: the files as
`orchestrator.inputs` saw them, a key made of argv + cwd + environment, the observed state
(canonical JSON of `observe()`'s snapshot) and the tool's code (sizes and mtimes of its
sources and schemas). A later run with the same key reads every recorded file again and
observes the engine with the same list calls as the planner's input; only when all of it is
equal does it stop, since that plan would do nothing. Any difference, unreadable stamp or
engine error takes the full path, which reports problems properly. `STACKYARD_NO_CONVERGED_CACHE=1`
turns the shortcut off.

Stamps live in `$XDG_CACHE_HOME/stackyard/converged/` (else `~/.cache/...`), one small JSON
file per key, the oldest pruned beyond `MAX_STAMPS`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestrator import inputs

FORMAT = 1
MAX_STAMPS = 256
DISABLE_VARIABLE = "STACKYARD_NO_CONVERGED_CACHE"
# Set by the shell on every command; no stack file can mean them.
_VOLATILE_ENVIRONMENT = frozenset({"_", "OLDPWD", "SHLVL"})
_TOOL_DIRS = ("orchestrator", "stackyard", "schemas")

# The key of this process's command line, set by `try_converged` for `remember`.
_pending_key: str | None = None


def stamp_dir(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "stackyard" / "converged"


def command_key(args: list[str], cwd: str, environ: Mapping[str, str]) -> str:
    env = sorted((k, v) for k, v in environ.items() if k not in _VOLATILE_ENVIRONMENT)
    return hashlib.sha256(json.dumps([FORMAT, args, cwd, env]).encode()).hexdigest()


def tool_id() -> str:
    """Changes whenever a source file or schema of the tool changes (size or mtime)."""
    root = Path(__file__).resolve().parents[1]
    entries = []
    for top in _TOOL_DIRS:
        for directory, dirs, files in os.walk(root / top):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith((".py", ".json")):
                    info = os.stat(os.path.join(directory, name))
                    entries.append((os.path.join(directory, name), info.st_size, info.st_mtime_ns))
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()


def observed_digest(observed: Any) -> str:
    """A digest of an observed snapshot that ignores the engine's (random) map order."""
    return hashlib.sha256(json.dumps(_canonical(observed), sort_keys=True).encode()).hexdigest()


def _canonical(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def try_converged(args: list[str], environ: Mapping[str, str] | None = None) -> bool:
    """True when this exact `up` is known to have nothing to do (its stamp still holds); the
    stamp's warnings are then written to stderr as the full run would have."""
    global _pending_key
    environ = os.environ if environ is None else environ
    if environ.get(DISABLE_VARIABLE):
        return False
    _pending_key = command_key(args, os.getcwd(), environ)
    path = stamp_dir(environ) / f"{_pending_key}.json"
    try:
        with open(path, encoding="utf-8") as handle:
            stamp = json.load(handle)
        if not _still_holds(stamp):
            return False
    except Exception:  # noqa: BLE001 - any doubt means "not known", and the full run decides
        return False
    sys.stderr.write(stamp.get("stderr", ""))
    try:
        os.utime(path)  # recently used stamps survive pruning
    except OSError:
        pass
    return True


def _still_holds(stamp: dict) -> bool:
    if stamp.get("format") != FORMAT or stamp.get("tool") != tool_id():
        return False
    if any(inputs.fingerprint(path) != fingerprint for path, fingerprint in stamp["inputs"].items()):
        return False
    from orchestrator.engine import lite
    from orchestrator.observe import observe

    # The API version the stamping run negotiated: one round trip less. An engine that no
    # longer speaks it fails the calls, and the full path negotiates again. A local socket is
    # asked without the HTTP stack's imports (engine/lite.py says why).
    path = lite.socket_path(stamp["engine"])
    if path is not None:
        client: Any = lite.LiteEngine(path, version=stamp.get("api_version"))
    else:
        from orchestrator.engine.client import EngineClient

        client = EngineClient(stamp["engine"], version=stamp.get("api_version"))
    with client:
        observed = observe(client, stamp["project"], images=stamp["images"])
    return observed_digest(observed) == stamp["observed"]


def remember(*, engine: str, api_version: str | None, project: str, images: list[str], observed: Any,
             stderr: str, environ: Mapping[str, str] | None = None) -> None:
    """Stamp this command line as converged (after a plan that was empty). Does nothing when
    `try_converged` did not run in this process or no input log was kept."""
    environ = os.environ if environ is None else environ
    recorded = inputs.recorded()
    if _pending_key is None or recorded is None or environ.get(DISABLE_VARIABLE):
        return
    stamp = {"format": FORMAT, "tool": tool_id(), "inputs": recorded, "engine": engine, "api_version": api_version,
             "project": project, "images": sorted(set(images)),
             "observed": observed_digest(observed), "stderr": stderr}
    directory = stamp_dir(environ)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = directory / f".{_pending_key}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(stamp, handle)
        os.replace(temporary, directory / f"{_pending_key}.json")
        _prune(directory)
    except OSError:
        pass  # a cache: without it the next run only takes the full path


def _prune(directory: Path) -> None:
    stamps = list(directory.glob("*.json"))
    if len(stamps) <= MAX_STAMPS:
        return
    stamps.sort(key=lambda p: p.stat().st_mtime)
    for old in stamps[:len(stamps) - MAX_STAMPS]:
        old.unlink(missing_ok=True)
