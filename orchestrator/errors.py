"""Positions and diagnostics: the vocabulary every loader phase reports problems in.

Called by every phase of `orchestrator.loader` (which collects `Diagnostic`s) and by the CLI
(which renders them). A diagnostic always names `file:line:column`, the dotted path of the
offending key, and a human message; errors are printed all at once, sorted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Iterable, NamedTuple


class Position(NamedTuple):
    """Where a key or value was written: file name as given, 1-based line and column."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a stack file."""

    position: Position
    path: str
    message: str
    severity: Severity = Severity.ERROR
    hint: str | None = None
    code: str = "invalid"

    def sort_key(self) -> tuple:
        return (self.position.file, self.position.line, self.position.column, self.path, self.message)

    def render(self) -> str:
        """`compose.yaml:14:7: services.web.depends_on.db: service "db" is not defined`."""
        prefix = "" if self.severity is Severity.ERROR else "warning: "
        where = f"{self.path}: " if self.path else ""
        text = f"{self.position}: {prefix}{where}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class StackFileError(Exception):
    """Raised when a stack cannot be loaded; carries every error found, not just the first."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
        super().__init__("\n".join(d.render() for d in self.errors) or "invalid stack file")

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]


@dataclass
class Report:
    """Accumulates diagnostics across phases; a phase adds, the pipeline decides when to stop."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def error(self, position: Position, path: str, message: str, *, hint: str | None = None,
              code: str = "invalid") -> None:
        self.diagnostics.append(Diagnostic(position, path, message, Severity.ERROR, hint, code))

    def warning(self, position: Position, path: str, message: str, *, hint: str | None = None,
                code: str = "warning") -> None:
        self.diagnostics.append(Diagnostic(position, path, message, Severity.WARNING, hint, code))

    def errors_so_far(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.diagnostics)

    def raise_if_errors(self) -> None:
        """Stop the pipeline here when this phase (or an earlier one) found errors."""
        if self.has_errors:
            raise StackFileError(self.diagnostics)

    @property
    def warnings(self) -> list[Diagnostic]:
        return sorted((d for d in self.diagnostics if d.severity is Severity.WARNING),
                      key=Diagnostic.sort_key)


def format_path(parts: Iterable[str | int]) -> str:
    """("services", "web", "ports", 0) -> "services.web.ports[0]"."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
