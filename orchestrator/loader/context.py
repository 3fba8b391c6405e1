"""Options and shared state of one load: what the user asked for and where files live.

Built by `loader.load_stack` and passed to every phase. Phases read from it and add
diagnostics to `report`; none of them prints or exits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping

from orchestrator import inputs
from orchestrator.errors import Position, Report


@dataclass(frozen=True)
class LoadOptions:
    """What the user asked for (CLI global options and `validate`/`config` flags)."""

    files: tuple[str, ...] = ()            # -f (repeatable); "-" is stdin
    project_directory: str | None = None   # --project-directory
    project_name: str | None = None        # -p
    env_files: tuple[str, ...] = ()        # --env-file (repeatable)
    profiles: tuple[str, ...] = ()         # --profile (repeatable)
    services: tuple[str, ...] = ()         # service selection (with their dependencies)
    interpolate: bool = True               # False for `config --no-interpolate`
    strict: bool = False                   # unknown/unsupported keys are errors
    hermetic: bool = False                 # missing env files and variables are warnings
    resolve_paths: bool = True             # relative paths made absolute in canonical form
    consistency: bool = True               # run semantic checks (phase 7)
    validate_schema: bool = True           # run schema validation (phase 5)
    environ: Mapping[str, str] | None = None  # process environment (None: os.environ)
    cwd: str | None = None                 # where discovery starts (None: os.getcwd())
    stdin_text: str | None = None          # content for "-f -" (None: read sys.stdin)


@dataclass
class LoadContext:
    """State shared by the phases of one load."""

    options: LoadOptions
    project_dir: str
    env: dict[str, str]
    report: Report = field(default_factory=Report)
    # Normalised project name (phase 8 decides it early: resource names need it in phase 6).
    project_name: str = ""
    # Display name of a file -> the directory its relative paths are resolved against.
    # Main and override files resolve against the project directory (Compose rule);
    # included and extended files against their own directory.
    base_dirs: dict[str, str] = field(default_factory=dict)
    # Display name -> absolute path, for every file that took part in the load.
    config_files: dict[str, str] = field(default_factory=dict)

    def base_dir(self, pos: Position) -> str:
        """Directory a relative path written at `pos` is resolved against."""
        return self.base_dirs.get(pos.file, self.project_dir)

    def resolve(self, path: str, pos: Position) -> str:
        """Absolute form of a host path written at `pos` (`~` expanded)."""
        if path.startswith("~"):
            home = (self.options.environ or os.environ).get("HOME") or os.path.expanduser("~")
            path = home + path[1:]
        if os.path.isabs(path):
            return os.path.normpath(path)
        return os.path.normpath(os.path.join(self.base_dir(pos), path))

    def display_name(self, path: str) -> str:
        """How a file is named in diagnostics: relative to cwd when below it, else absolute."""
        cwd = self.options.cwd or os.getcwd()
        absolute = os.path.abspath(path)
        rel = os.path.relpath(absolute, cwd)
        return absolute if rel.startswith("..") else rel

    def read_file(self, path: str) -> bytes:
        with open(path, "rb") as handle:
            data = handle.read()
        inputs.note(path, data)
        return data

    def mapping(self) -> Mapping[str, str]:
        return self.env
