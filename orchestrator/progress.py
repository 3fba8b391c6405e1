"""Progress events: how the core tells the CLI what it is doing, without printing.

The executor (and pulls) emit `ProgressEvent`s to an `EventSink`; only `cli/display` renders
them (live on a TTY, plain lines otherwise, JSON for machines). Tests collect them with
`ListSink`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol


class Status(str, Enum):
    WORKING = "working"
    DONE = "done"
    ERROR = "error"
    SKIPPED = "skipped"
    WARNING = "warning"


@dataclass(frozen=True)
class ProgressEvent:
    target: str          # "container demo-web-1", "network demo_default", "image nginx:1"
    status: Status
    text: str            # "Creating", "Started", "Waiting for db (healthy)", ...
    detail: str = ""     # the cause or the error message


class EventSink(Protocol):
    def emit(self, event: ProgressEvent) -> None: ...


class NullSink:
    def emit(self, event: ProgressEvent) -> None:
        pass


class ListSink:
    """Keeps every event (tests, and the JSON display)."""

    def __init__(self) -> None:
        self.events: list[ProgressEvent] = []

    def emit(self, event: ProgressEvent) -> None:
        self.events.append(event)
