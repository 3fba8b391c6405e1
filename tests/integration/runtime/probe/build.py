"""Build the probe (probe.c → a static binary) once per source version, cached under /tmp.

Imported by executor and container tests: `probe_binary()` returns the path, or None with
`missing_reason()` when gcc or a static libc is missing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).with_name("probe.c")
CACHE = Path(os.environ.get("STACKYARD_PROBE_CACHE", "/tmp/stackyard-probe-cache"))


def _target() -> Path:
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    return CACHE / f"probe-{digest}"


def missing_reason() -> str | None:
    if shutil.which("gcc") is None:
        return "gcc is not installed"
    try:
        probe_binary()
    except subprocess.CalledProcessError as exc:
        return f"gcc -static failed: {exc.stderr[-300:] if exc.stderr else exc}"
    return None


def probe_binary() -> Path:
    target = _target()
    if not target.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        subprocess.run(["gcc", "-static", "-O1", "-o", str(tmp), str(SOURCE)], check=True, capture_output=True, text=True)
        os.replace(tmp, target)
    return target
