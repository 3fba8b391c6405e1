"""Phase 8: project name, active profiles and service selection.

Called by `loader.load_stack`. The project name is decided before normalisation (resource
names such as `<stack>_default` need it) by `project_name`; `select_services` runs after the
semantic checks, so a file is checked whole whatever profile is active, then services whose
profiles are all inactive (and that were not asked for by name) are dropped.

Name precedence, as Compose: `-p` > `COMPOSE_PROJECT_NAME` > top-level `name:` > the project
directory's base name. Names given by the user must already be valid; a directory name is
normalised (lowercased, characters outside `[a-z0-9_-]` removed).
"""

from __future__ import annotations

import os
import re
from typing import Mapping

from orchestrator.errors import Position, Report
from orchestrator.loader.tree import PList, PMap

_VALID = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")


def normalize_name(name: str) -> str:
    """Lowercase, keep `[a-z0-9_-]`, and strip leading `_`/`-`."""
    cleaned = re.sub(r"[^a-z0-9_-]", "", name.lower())
    return cleaned.lstrip("_-")


def project_name(document: PMap, *, option: str | None, environ: Mapping[str, str],
                 project_dir: str, report: Report) -> str:
    """The stack name; an invalid explicit name is an error."""
    candidates: list[tuple[str | None, Position, str]] = [
        (option, Position("<command line>"), "-p"),
        (environ.get("COMPOSE_PROJECT_NAME") or None, Position("<environment>"), "COMPOSE_PROJECT_NAME"),
    ]
    if isinstance(document.get("name"), str) and document["name"]:
        candidates.append((document["name"], document.value_position("name"), "name"))
    for value, pos, source in candidates:
        if not value:
            continue
        if not _VALID.match(value):
            report.error(pos, source if source == "name" else "",
                         f'invalid project name "{value}" (from {source}): it must contain only lowercase '
                         "letters, digits, dashes and underscores, and start with a letter or digit",
                         hint=f'try "{normalize_name(value)}"' if normalize_name(value) else None)
        return value
    name = normalize_name(os.path.basename(os.path.normpath(project_dir)))
    if not name:
        report.error(Position(project_dir), "",
                     "cannot derive a project name from the directory; set one with -p or `name:`")
    return name


def active_profiles(option: tuple[str, ...], environ: Mapping[str, str]) -> tuple[str, ...]:
    """`--profile` flags, else `COMPOSE_PROFILES` (comma separated)."""
    if option:
        return tuple(p for p in option if p)
    raw = environ.get("COMPOSE_PROFILES", "")
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def all_profiles(document: PMap) -> list[str]:
    """Every profile any service declares, sorted."""
    found: set[str] = set()
    for service in (document.get("services") or {}).values():
        if isinstance(service, dict) and isinstance(service.get("profiles"), list):
            found.update(p for p in service["profiles"] if isinstance(p, str))
    return sorted(found)


def select_services(document: PMap, *, profiles: tuple[str, ...], requested: tuple[str, ...],
                    report: Report) -> PMap:
    """Drop services not enabled by `profiles`; `requested` names (and what they need) stay.

    A service that stays but depends on a dropped one is an error naming the profile.
    """
    services = document.get("services")
    if not isinstance(services, PMap):
        return document
    for name in requested:
        if name not in services:
            report.error(Position("<command line>"), "", f'no such service: "{name}"')

    def enabled(name: str) -> bool:
        service = services[name]
        wanted = service.get("profiles") if isinstance(service, dict) else None
        if not wanted:
            return True
        return "*" in profiles or any(p in profiles for p in wanted)

    keep = {n for n in services if enabled(n)}
    # Services asked for by name are enabled along with what they depend on.
    stack = [n for n in requested if n in services]
    while stack:
        name = stack.pop()
        if name in keep and name not in requested:
            continue
        keep.add(name)
        stack.extend(d for d in _dependencies(services[name]) if d in services and d not in keep)
    dropped = set(services) - keep
    for name in dropped:
        services.remove(name)
    for name in sorted(keep):
        service = services[name]
        deps = service.get("depends_on") if isinstance(service, dict) else None
        if not isinstance(deps, PMap):
            continue
        for dep, spec in deps.items():
            required = not (isinstance(spec, dict) and spec.get("required") is False)
            if dep in dropped and required:
                report.error(deps.key_position(dep), f"services.{name}.depends_on.{dep}",
                             f'service "{name}" depends on "{dep}", which is not enabled by the active '
                             f"profiles", hint="enable its profile with --profile or COMPOSE_PROFILES")
    return document


def _dependencies(service: object) -> list[str]:
    if not isinstance(service, dict):
        return []
    deps = service.get("depends_on")
    if isinstance(deps, dict):
        return list(deps)
    if isinstance(deps, PList):
        return [d for d in deps if isinstance(d, str)]
    return []
