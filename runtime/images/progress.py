"""Docker JSON progress events (what `docker pull` prints and the Engine API streams).

Who calls it: `runtime.images.pull`/`push`/`archive` build events here; the daemon streams them
unchanged and the CLI renders them as plain lines. Pure functions, no I/O.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

Progress = Optional[Callable[[dict[str, Any]], None]]

_UNITS = ["B", "kB", "MB", "GB", "TB", "PB"]


def human_size(size: float) -> str:
    """docker/go-units HumanSize: decimal units, 4 significant digits ("2.097MB")."""
    i = 0
    while size >= 1000 and i < len(_UNITS) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.4g}{_UNITS[i]}"


def progress_bar(current: int, total: int) -> str:
    """jsonmessage.JSONProgress.String() as the daemon renders it (wide terminal)."""
    if total <= 0:
        return f"{human_size(current):>8}"
    filled = min(50, int(current / total * 100) // 2)
    bar = "=" * filled + ">" + " " * (50 - filled)
    return f"[{bar}] {human_size(current):>8}/{human_size(total)}"


def short_id(digest: str) -> str:
    """The 12 hex characters Docker shows for a layer (stringid.TruncateID)."""
    return digest.partition(":")[2][:12] if ":" in digest else digest[:12]


def status(text: str, ident: Optional[str] = None) -> dict[str, Any]:
    event: dict[str, Any] = {"status": text}
    if ident is not None:
        event["id"] = ident
    return event


def detail(text: str, ident: str, current: int, total: int) -> dict[str, Any]:
    return {"status": text, "id": ident, "progressDetail": {"current": current, "total": total},
            "progress": progress_bar(current, total)}


def emit(progress: Progress, event: dict[str, Any]) -> None:
    if progress is not None:
        progress(event)


def render_plain(event: dict[str, Any]) -> str:
    """One plain line for an event, as `docker pull` prints when not on a terminal."""
    if "error" in event:
        return f"error: {event['error']}"
    text = event.get("status", "")
    if event.get("id"):
        text = f"{event['id']}: {text}"
    if event.get("progress"):
        text += " " + event["progress"]
    return text
