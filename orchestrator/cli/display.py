"""Renders progress events for people (plain lines) or machines (JSON lines).

The core emits `progress.ProgressEvent`s; this is the only place they are printed. Plain
lines go to stderr so stdout stays clean for data (`ps --format json`, `plan --format json`).
"""

from __future__ import annotations

import json
import sys
import threading

from orchestrator.progress import ProgressEvent, Status

_MARKS = {Status.WORKING: " ", Status.DONE: "✔", Status.ERROR: "✘", Status.SKIPPED: "-",
          Status.WARNING: "!"}


class PlainDisplay:
    """`✔ container demo-web-1  Started` per event; thread-safe (the executor is parallel)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.lock = threading.Lock()

    def emit(self, event: ProgressEvent) -> None:
        detail = f" ({event.detail})" if event.detail else ""
        with self.lock:
            self.stream.write(f"{_MARKS[event.status]} {event.target:<40} {event.text}{detail}\n")
            self.stream.flush()


class JsonDisplay:
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


class QuietDisplay:
    def emit(self, event: ProgressEvent) -> None:
        if event.status is Status.ERROR:
            sys.stderr.write(f"{event.target}: {event.detail}\n")


def display_for(mode: str):
    return {"json": JsonDisplay, "quiet": QuietDisplay}.get(mode, PlainDisplay)()
