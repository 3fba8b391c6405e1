"""Phase 4b: `extends` — a service built on another service, in this file or another one.

Called by `loader.load_stack` on the merged document, before schema validation. Each
service's base is resolved first (chains work in any order), then the service is laid over
it with the override merge rules (`merge.merge_service`). A base from another file is loaded
with that file's own interpolation; its relative paths stay relative to its own directory
(positions record which file wrote each value). Cycles are errors that print the chain.
"""

from __future__ import annotations

import os
from typing import Callable

from orchestrator.errors import Position, Report, format_path
from orchestrator.loader.merge import merge_service
from orchestrator.loader.tree import PMap, deepcopy, type_name

# (absolute path, display name of the file that refers to it, where) -> documents of that file
LoadFile = Callable[[str, Position], "PMap | None"]


def extends(document: PMap, report: Report, load_file: LoadFile, *, base_dir: Callable[[Position], str]) -> PMap:
    """Resolve every `extends` in `document["services"]` in place and return the document."""
    services = document.get("services")
    if not isinstance(services, PMap):
        return document
    resolver = _Resolver(report, load_file, base_dir)
    for name in list(services):
        if isinstance(services[name], PMap):
            services[name] = resolver.resolve(services, name, file_key=None, chain=())
    return document


class _Resolver:
    def __init__(self, report: Report, load_file: LoadFile, base_dir: Callable[[Position], str]):
        self.report = report
        self.load_file = load_file
        self.base_dir = base_dir
        self.done: dict[tuple, PMap] = {}

    def resolve(self, services: PMap, name: str, *, file_key: str | None, chain: tuple) -> PMap:
        """The service `name` of `services` with its `extends` applied (recursively)."""
        service = services[name]
        key = (file_key, name)
        if key in self.done:
            return self.done[key]
        if not isinstance(service, PMap) or "extends" not in service:
            return service
        path = ("services", name, "extends")
        where = service.value_position("extends")
        spec = service["extends"]
        if key in chain:
            cycle = " -> ".join(n for _, n in chain + (key,))
            self.report.error(where, format_path(path), f"extends cycle detected: {cycle}", code="cycle")
            return _without_extends(service)
        if isinstance(spec, str):
            base_name, base_file = spec, None
        elif isinstance(spec, PMap):
            base_name, base_file = spec.get("service"), spec.get("file")
            if not isinstance(base_name, str):
                self.report.error(where, format_path(path + ("service",)),
                                  "extends.service is required (a string naming the base service)")
                return _without_extends(service)
            if base_file is not None and not isinstance(base_file, str):
                self.report.error(spec.value_position("file"), format_path(path + ("file",)),
                                  f"extends.file must be a string, got {type_name(base_file)}")
                return _without_extends(service)
        else:
            self.report.error(where, format_path(path),
                              f"extends must be a string or a mapping, got {type_name(spec)}")
            return _without_extends(service)

        if base_file is None:
            base_services, base_key = services, file_key
        else:
            file_pos = spec.value_position("file")
            absolute = os.path.normpath(os.path.join(self.base_dir(file_pos), base_file))
            loaded = self.load_file(absolute, file_pos)
            if loaded is None:
                return _without_extends(service)
            base_services = loaded.get("services")
            if not isinstance(base_services, PMap):
                legacy = " (that file has no `services` key; is it the legacy v1 format?)"
                self.report.error(file_pos, format_path(path + ("file",)),
                                  f'extends: service "{base_name}" not found in {base_file}{legacy}',
                                  code="not-found")
                return _without_extends(service)
            base_key = absolute
        if base_name not in base_services:
            in_file = f" in {base_file}" if base_file else ""
            self.report.error(where, format_path(path),
                              f'extends: service "{base_name}" not found{in_file}', code="not-found")
            return _without_extends(service)
        base = self.resolve(base_services, base_name, file_key=base_key, chain=chain + (key,))
        if not isinstance(base, PMap):
            return _without_extends(service)
        result = merge_service(deepcopy(_without_extends(base)), _without_extends(service))
        result.pos = service.pos
        self.done[key] = result
        return result


def _without_extends(service: PMap) -> PMap:
    if "extends" not in service:
        return service
    out = deepcopy(service)
    out.remove("extends")
    return out
