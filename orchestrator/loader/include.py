"""Phase 4a: `include` — other stack files loaded as sub-projects and merged in.

Called by `loader.load_stack` for each loaded document, before override merge and
`extends`. Each entry (`- path` or `{path, env_file, project_directory}`) is loaded as a
project of its own: its own directory for relative paths, its own `.env`/`env_file` for
interpolation, its own includes. Its services, networks, volumes, secrets and configs are
then added to the including document, whose own definitions of the same resources are laid
over them. Two included files defining a resource differently is a conflict (an error naming
both places); a file that includes itself, directly or not, is a cycle error that prints the
chain.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from orchestrator.errors import Position, Report, format_path
from orchestrator.loader.merge import merge
from orchestrator.loader.tree import PList, PMap, plain, type_name

RESOURCE_KINDS = ("services", "networks", "volumes", "secrets", "configs", "models")


@dataclass(frozen=True)
class IncludeSpec:
    """One `include` entry, paths made absolute."""

    paths: tuple[str, ...]
    project_dir: str
    env_files: tuple[str, ...]
    position: Position
    env_files_explicit: bool


# (spec, chain of absolute files already being included) -> the included project's document
LoadProject = Callable[[IncludeSpec, tuple[str, ...]], "PMap | None"]


def read_includes(document: PMap, report: Report, base_dir: str) -> list[IncludeSpec]:
    """Parse the `include` section of a document (relative paths against `base_dir`)."""
    entries = document.get("include")
    if entries is None:
        return []
    if not isinstance(entries, PList):
        report.error(document.value_position("include"), "include",
                     f"expected a list of files, got {type_name(entries)}")
        return []
    specs = []
    for index, entry in enumerate(entries):
        pos = entries.item_position(index)
        where = format_path(("include", index))
        if isinstance(entry, str):
            paths, env_files, project_dir, explicit = [entry], [], None, False
        elif isinstance(entry, PMap):
            raw = entry.get("path")
            paths = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, PList) else []
            if not paths or not all(isinstance(p, str) for p in paths):
                report.error(pos, where + ".path", "include needs `path`: a file or a list of files")
                continue
            raw_env = entry.get("env_file")
            env_files = [raw_env] if isinstance(raw_env, str) else list(raw_env or [])
            explicit = raw_env is not None
            project_dir = entry.get("project_directory")
        else:
            report.error(pos, where, f"expected a file name or a mapping, got {type_name(entry)}")
            continue
        absolute = tuple(os.path.normpath(os.path.join(base_dir, p)) for p in paths)
        included_dir = (os.path.normpath(os.path.join(base_dir, project_dir)) if project_dir
                        else os.path.dirname(absolute[0]))
        envs = tuple(os.path.normpath(os.path.join(base_dir, e)) for e in env_files if isinstance(e, str))
        specs.append(IncludeSpec(absolute, included_dir, envs, pos, explicit))
    return specs


def include(document: PMap, specs: list[IncludeSpec], load_project: LoadProject,
            chain: tuple[str, ...], report: Report) -> PMap:
    """Add every included project's resources to `document` (in place) and return it.

    The included resources are the base and the including file's own definitions are laid
    over them with the override rules, so a local `!override`/`!reset` can fine-tune an
    imported service. Two included projects that define the same resource differently are
    a conflict; the same file included twice is not.
    """
    imported: dict[str, PMap] = {}
    origin: dict[tuple[str, str], str] = {}  # resource -> file that defined it
    for spec in specs:
        cycle = [p for p in spec.paths if p in chain]
        if cycle:
            names = " -> ".join(os.path.basename(p) for p in chain + (cycle[0],))
            report.error(spec.position, "include", f"include cycle detected: {names}", code="cycle")
            continue
        included = load_project(spec, chain)
        if included is None:
            continue
        for kind in RESOURCE_KINDS:
            theirs = included.get(kind)
            if not isinstance(theirs, PMap):
                continue
            ours = imported.setdefault(kind, PMap(theirs.pos))
            for name in theirs:
                defined_in = theirs.key_position(name).file
                if name in ours:
                    # The same file reached twice (maybe with another env_file) keeps its
                    # first import, as Compose does; two files disagreeing is a conflict.
                    if origin[(kind, name)] != defined_in and plain(ours[name]) != plain(theirs[name]):
                        report.error(theirs.key_position(name), format_path((kind, name)),
                                     f'{kind[:-1]} "{name}" is defined differently by two included files '
                                     f"(the other one at {ours.key_position(name)})", code="include-conflict")
                    continue
                ours.copy_entry(name, theirs)
                origin[(kind, name)] = defined_in
    for kind, resources in imported.items():
        local = document.get(kind)
        if isinstance(local, PMap):
            base, over = PMap(resources.pos), PMap(local.pos)
            base.put(kind, resources)
            over.put(kind, local)
            resources = merge(base, over)[kind]
        document.put(kind, resources, document.key_position(kind) if kind in document else None,
                     document.value_position(kind) if kind in document else None)
    document.remove("include")
    return document
