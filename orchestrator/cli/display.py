"""Renders progress events for people (a live table on a TTY, plain lines otherwise) or
machines (JSON lines).

The core emits `progress.ProgressEvent`s; this is the only place they are printed. Human
output goes to stderr so stdout stays clean for data (`ps --format json`, `plan --format json`).
Every display is a context manager: the live one draws until the block ends.
"""

from __future__ import annotations

import json
import sys
import threading

from orchestrator.progress import ProgressEvent, Status

_MARKS = {Status.WORKING: " ", Status.DONE: "✔", Status.ERROR: "✘", Status.SKIPPED: "-",
          Status.WARNING: "!"}


class _Display:
    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        return None


class PlainDisplay(_Display):
    """`✔ container demo-web-1  Started` per event; thread-safe (the executor is parallel)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.lock = threading.Lock()

    def emit(self, event: ProgressEvent) -> None:
        detail = f" ({event.detail})" if event.detail else ""
        with self.lock:
            self.stream.write(f"{_MARKS[event.status]} {event.target:<40} {event.text}{detail}\n")
            self.stream.flush()


class JsonDisplay(_Display):
    """One JSON object per event on stdout (`--progress json`)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.lock = threading.Lock()

    def emit(self, event: ProgressEvent) -> None:
        line = json.dumps({"target": event.target, "status": event.status.value,
                           "text": event.text, "detail": event.detail})
        with self.lock:
            self.stream.write(line + "\n")
            self.stream.flush()


class QuietDisplay(_Display):
    def emit(self, event: ProgressEvent) -> None:
        if event.status is Status.ERROR:
            sys.stderr.write(f"{event.target}: {event.detail}\n")


class LiveDisplay(_Display):
    """One line per object, redrawn in place as its state changes (rich, imported lazily)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.rows: dict[str, ProgressEvent] = {}
        self.lock = threading.Lock()
        self.live = Live(console=Console(stderr=True), refresh_per_second=8, transient=False)

    def __enter__(self):
        self.live.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        with self.lock:
            self.live.update(self._render(), refresh=True)
        self.live.__exit__(*exc_info)

    def emit(self, event: ProgressEvent) -> None:
        with self.lock:
            self.rows[event.target] = event
            self.live.update(self._render())

    def _render(self):
        from rich.table import Table
        from rich.text import Text

        table = Table.grid(padding=(0, 1))
        styles = {Status.DONE: "green", Status.ERROR: "red", Status.SKIPPED: "yellow",
                  Status.WARNING: "yellow", Status.WORKING: "cyan"}
        for event in self.rows.values():
            mark = "…" if event.status is Status.WORKING else _MARKS[event.status]
            table.add_row(Text(mark, style=styles[event.status]), event.target,
                          Text(event.text, style=styles[event.status]),
                          Text(event.detail, style="dim"))
        return table


def display_for(mode: str):
    """`auto` (default): live on a terminal, plain lines otherwise; or plain, json, quiet."""
    if mode == "auto":
        mode = "live" if sys.stderr.isatty() else "plain"
    return {"json": JsonDisplay, "quiet": QuietDisplay, "live": LiveDisplay}.get(mode, PlainDisplay)()
