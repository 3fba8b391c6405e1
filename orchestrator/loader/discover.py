"""Phase 1: which stack files to load, in which order, and the project directory.

Called first by `loader.load_stack`. Precedence, as Docker Compose: `-f` (repeatable, `-` is
stdin) > `COMPOSE_FILE` (split on `COMPOSE_PATH_SEPARATOR`, default `:`) > the first of
`compose.yaml`, `compose.yml`, `docker-compose.yaml`, `docker-compose.yml` found in the working
directory or the nearest parent, followed by its `*.override.*` sibling when present.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from orchestrator import inputs
from orchestrator.errors import Position, Report

DEFAULT_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OVERRIDE_NAMES = ("compose.override.yaml", "compose.override.yml",
                  "docker-compose.override.yaml", "docker-compose.override.yml")
STDIN = "-"


@dataclass(frozen=True)
class SourceFile:
    """One stack file to load: its absolute path (None for stdin) and how to name it."""

    path: str | None
    display: str


@dataclass(frozen=True)
class Discovery:
    files: tuple[SourceFile, ...]
    project_dir: str


def discover(files: tuple[str, ...], *, cwd: str, environ: Mapping[str, str],
             project_directory: str | None, report: Report) -> Discovery:
    """Decide the files and the project directory; problems go to `report`."""
    chosen: list[SourceFile] = []
    if files:
        chosen = [_given(f, cwd) for f in files]
    elif environ.get("COMPOSE_FILE"):
        separator = environ.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
        base = project_directory or cwd
        chosen = [_given(os.path.join(base, f) if not os.path.isabs(f) else f, cwd)
                  for f in environ["COMPOSE_FILE"].split(separator) if f]
    else:
        found = _search_upward(os.path.abspath(project_directory or cwd), report)
        chosen = [_given(f, cwd) for f in found]
    if not chosen:
        report.error(Position(project_directory or cwd), "",
                     "no configuration file provided: none of "
                     + ", ".join(DEFAULT_NAMES) + " found here or in a parent directory",
                     code="not-found")
        return Discovery((), os.path.abspath(project_directory or cwd))
    if project_directory:
        project_dir = os.path.abspath(os.path.join(cwd, project_directory))
    elif chosen[0].path is None:
        project_dir = os.path.abspath(cwd)
    else:
        project_dir = os.path.dirname(chosen[0].path)
    for source in chosen:
        if source.path is None:
            continue
        if os.path.isdir(source.path):
            report.error(Position(source.display), "", "is a directory, not a stack file "
                         "(pass the directory as --project-directory or a PATH to validate)",
                         code="not-a-file")
        elif not os.path.exists(source.path):
            inputs.probe(source.path)
            report.error(Position(source.display), "", "no such file", code="not-found")
    return Discovery(tuple(chosen), project_dir)


def _given(path: str, cwd: str) -> SourceFile:
    if path == STDIN:
        return SourceFile(None, "<stdin>")
    absolute = os.path.abspath(os.path.join(cwd, path))
    rel = os.path.relpath(absolute, cwd)
    return SourceFile(absolute, absolute if rel.startswith("..") else rel)


def _search_upward(start: str, report: Report) -> list[str]:
    directory = start
    while True:
        for name in DEFAULT_NAMES + OVERRIDE_NAMES:  # their appearing changes what is loaded
            inputs.probe(os.path.join(directory, name))
        present = [n for n in DEFAULT_NAMES if os.path.isfile(os.path.join(directory, n))]
        if present:
            if len(present) > 1:
                report.warning(Position(os.path.join(directory, present[0])), "",
                               f"found several stack files ({', '.join(present)}); using {present[0]}",
                               code="discovery")
            files = [os.path.join(directory, present[0])]
            for name in OVERRIDE_NAMES:
                candidate = os.path.join(directory, name)
                if os.path.isfile(candidate):
                    files.append(candidate)
                    break
            return files
        parent = os.path.dirname(directory)
        if parent == directory:
            return []
        directory = parent
