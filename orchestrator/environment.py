"""The environment a service's containers get: `env_file`s, then `environment`, host values.

Called by the CLI before executing a plan (reading files is I/O, so it happens here and not
in `engine_spec` or the executor). Compose's rules: `environment` wins over `env_file`s (later
files win over earlier ones); a variable written without a value takes the host's value, and
is left out when the host has none.
"""

from __future__ import annotations

import os
from typing import Mapping

from orchestrator.errors import Position, Report
from orchestrator.loader.envfile import parse_env_file
from orchestrator.loader.interpolate import TemplateError, substitute
from orchestrator.model import Service


def container_environment(service: Service, *, host: Mapping[str, str]) -> dict[str, str]:
    """Raises: StackFileError: a required env_file is missing or malformed."""
    report = Report()
    values: dict[str, str] = {}
    for ref in service.env_files:
        if not os.path.isfile(ref.path):
            if ref.required:
                report.error(Position(ref.path), f"services.{service.name}.env_file",
                             f"env file {ref.path} not found")
            continue
        with open(ref.path, encoding="utf-8", errors="replace") as handle:
            values.update(parse_env_file(handle.read(), ref.path, report, lookup=host,
                                         substitute=_lenient_substitute))
    report.raise_if_errors()
    for name, value in service.environment.items():
        if value is not None:
            values[name] = value
        elif name in host:
            values[name] = host[name]
        else:
            values.pop(name, None)
    return values


def _lenient_substitute(value: str, lookup) -> str:
    try:
        return substitute(value, lookup)
    except TemplateError:
        return value
