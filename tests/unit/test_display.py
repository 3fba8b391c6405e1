"""Progress rendering: plain lines, JSON lines, and the live table (rendered off-screen)."""

import io
import json

from orchestrator.cli.display import JsonDisplay, LiveDisplay, PlainDisplay, display_for
from orchestrator.progress import ProgressEvent, Status

EVENT = ProgressEvent("container demo-web-1", Status.DONE, "Started", "dependency ready")


def test_plain_display_writes_one_line_per_event():
    out = io.StringIO()
    with PlainDisplay(out) as display:
        display.emit(EVENT)
    assert out.getvalue() == f"✔ {'container demo-web-1':<40} Started (dependency ready)\n"


def test_json_display_writes_json_lines():
    out = io.StringIO()
    JsonDisplay(out).emit(EVENT)
    assert json.loads(out.getvalue()) == {"target": "container demo-web-1", "status": "done",
                                          "text": "Started", "detail": "dependency ready"}


def test_live_display_keeps_one_row_per_object():
    from rich.console import Console

    display = LiveDisplay()
    display.live.console = Console(file=io.StringIO(), width=100)
    with display:
        display.emit(ProgressEvent("container demo-web-1", Status.WORKING, "Creating"))
        display.emit(EVENT)
    assert list(display.rows) == ["container demo-web-1"]
    assert display.rows["container demo-web-1"].text == "Started"


def test_auto_progress_is_plain_when_not_a_terminal(capsys):
    assert isinstance(display_for("auto"), PlainDisplay)
