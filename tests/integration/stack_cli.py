"""A `stackyard` command line bound to one project directory and one engine, for the e2e
tests that drive the CLI in a subprocess (logs, exec, run) on both engines."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class StackCLI:
    """`cli("up", "-d")` runs `python -m stackyard.main up -d` in `directory` against `host`,
    with `IMAGE` set to the engine's busybox image; bytes in, a CompletedProcess out."""

    def __init__(self, directory: Path, host: str, image: str, **extra_env: str):
        self.directory = directory
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(directory),
                    "PYTHONPATH": str(ROOT), "STACKYARD_ENGINE": host, "IMAGE": image, **extra_env}

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "stackyard.main", *args]

    def __call__(self, *args: str, stdin: bytes = b"", check: bool = False) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.argv(*args), cwd=self.directory, env=self.env, input=stdin,
                              capture_output=True, timeout=120)
        assert not check or proc.returncode == 0, (proc.stdout + proc.stderr).decode(errors="replace")
        return proc
