"""Container logs in Docker's json-file format: the writer (supervisor) and the reader (manager).

One JSON object per line, `{"log":"hello\\n","stream":"stdout","time":"<RFC3339Nano>"}`, in
`<root>/containers/<id>/<id>-json.log`, rotated by size into `.1 … .(max-file - 1)` (older
higher). The supervisor is the only writer; readers only read files, so a slow reader never
stalls a container (the container's output goes pipe → supervisor → file).

Output is split at newlines; a line longer than 16 KiB is written in pieces without the
newline (Docker does the same), and a trailing partial line is flushed when the stream ends.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from runtime import errdefs
from runtime.containers.timefmt import format_ns, parse_ns

MAX_LINE = 16 * 1024
LOG_DRIVERS = ("json-file", "none")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmg]?)b?$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}


@dataclass(frozen=True)
class LogConfig:
    driver: str = "json-file"
    max_size: int = 0      # bytes; 0 = no rotation
    max_file: int = 1

    def to_json(self) -> dict:
        return {"driver": self.driver, "max_size": self.max_size, "max_file": self.max_file}

    @classmethod
    def from_json(cls, data: dict) -> "LogConfig":
        return cls(**data)


def parse_log_config(value: dict | None) -> LogConfig:
    """HostConfig.LogConfig {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}.

    Raises InvalidArgument for another driver, an unknown option or a malformed size.
    """
    value = value or {}
    driver = value.get("Type") or "json-file"
    if driver not in LOG_DRIVERS:
        raise errdefs.InvalidArgument(f"log driver {driver!r} is not supported (supported: {', '.join(LOG_DRIVERS)})")
    options = dict(value.get("Config") or {})
    max_size = 0
    if "max-size" in options:
        raw = str(options.pop("max-size"))
        match = _SIZE.match(raw.strip())
        if match is None:
            raise errdefs.InvalidArgument(f"LogConfig max-size {raw!r}: expected a size such as 10m")
        max_size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    max_file = 1
    if "max-file" in options:
        raw = str(options.pop("max-file"))
        try:
            max_file = int(raw)
        except ValueError:
            raise errdefs.InvalidArgument(f"LogConfig max-file {raw!r}: expected an integer") from None
        if max_file < 1:
            raise errdefs.InvalidArgument(f"LogConfig max-file {raw!r}: must be at least 1")
        if max_file > 1 and not max_size:
            raise errdefs.InvalidArgument("LogConfig max-file needs max-size")
    for unused in ("compress", "labels", "env", "tag"):
        options.pop(unused, None)
    if options:
        raise errdefs.InvalidArgument(f"unknown log opt {sorted(options)[0]!r} for log driver {driver}")
    return LogConfig(driver, max_size, max_file)


def format_entry(stream: str, data: bytes, t_ns: int) -> bytes:
    """One json-file line (with its trailing newline)."""
    text = data.decode("utf-8", errors="replace")
    return (json.dumps({"log": text, "stream": stream, "time": format_ns(t_ns)},
                       ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def log_path(container_dir: str, container_id: str) -> str:
    return os.path.join(container_dir, f"{container_id}-json.log")


class LineSplitter:
    """Cuts a byte stream into log lines (newline kept), holding back a partial line."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[bytes]:
        self._pending += data
        lines = []
        while True:
            cut = self._pending.find(b"\n")
            if cut < 0 or cut >= MAX_LINE:
                break
            lines.append(self._pending[:cut + 1])
            self._pending = self._pending[cut + 1:]
        while len(self._pending) >= MAX_LINE:
            lines.append(self._pending[:MAX_LINE])
            self._pending = self._pending[MAX_LINE:]
        return lines

    def flush(self) -> list[bytes]:
        rest, self._pending = self._pending, b""
        return [rest] if rest else []


class JsonFileWriter:
    """Appends entries to a json-file log, rotating by size. Used by the supervisor only."""

    def __init__(self, path: str, config: LogConfig, *, clock: Callable[[], int] = time.time_ns) -> None:
        self.path = path
        self.config = config
        self._clock = clock
        self._fd = -1
        self._size = 0
        if config.driver != "none":
            self._open()

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._size = os.fstat(self._fd).st_size

    def write(self, stream: str, line: bytes) -> None:
        if self._fd < 0:
            return
        entry = format_entry(stream, line, self._clock())
        if self.config.max_size and self._size and self._size + len(entry) > self.config.max_size:
            self._rotate()
        os.write(self._fd, entry)
        self._size += len(entry)

    def _rotate(self) -> None:
        os.close(self._fd)
        keep = self.config.max_file
        if keep <= 1:
            os.truncate(self.path, 0)
        else:
            for n in range(keep - 1, 0, -1):
                older = f"{self.path}.{n - 1}" if n > 1 else self.path
                if os.path.exists(older):
                    os.replace(older, f"{self.path}.{n}")
        self._open()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


@dataclass(frozen=True)
class LogEntry:
    stream: str
    data: bytes
    time_ns: int
    time: str


def parse_entry(raw: bytes) -> LogEntry | None:
    """One json-file line, or None for a torn/garbage line (skipped, as Docker's reader does)."""
    try:
        obj = json.loads(raw)
        stamp = obj["time"]
        return LogEntry(obj["stream"], obj["log"].encode(), parse_ns(stamp), stamp)
    except (ValueError, KeyError, TypeError, errdefs.InvalidArgument):
        return None


def log_files(path: str, max_file: int) -> list[str]:
    """The rotated files oldest first, then the live one."""
    files = [f"{path}.{n}" for n in range(max(max_file, 1) - 1, 0, -1)]
    return [f for f in files if os.path.exists(f)] + ([path] if os.path.exists(path) else [])


def _wanted(entry: LogEntry, *, streams: frozenset[str], since: int | None, until: int | None) -> bool:
    if entry.stream not in streams:
        return False
    if since is not None and entry.time_ns < since:
        return False
    return until is None or entry.time_ns <= until


def _read_file(name: str, out: list[LogEntry], **filters) -> None:
    try:
        with open(name, "rb") as fh:
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break  # a line the writer is still writing
                entry = parse_entry(raw)
                if entry is not None and _wanted(entry, **filters):
                    out.append(entry)
    except FileNotFoundError:
        pass  # rotated away under us


def _tail(entries: list[LogEntry], tail: int | None) -> list[LogEntry]:
    if tail is None or tail < 0:
        return entries
    return entries[-tail:] if tail else []


def read_logs(path: str, *, max_file: int = 1, tail: int | None = None, since: int | None = None,
              until: int | None = None, streams: frozenset[str] = frozenset({"stdout", "stderr"})) -> list[LogEntry]:
    """The entries now on disk that pass the filters; `tail` keeps the last N of them."""
    out: list[LogEntry] = []
    for name in log_files(path, max_file):
        _read_file(name, out, streams=streams, since=since, until=until)
    return _tail(out, tail)


def follow_logs(path: str, *, max_file: int = 1, tail: int | None = None, since: int | None = None,
                until: int | None = None, streams: frozenset[str] = frozenset({"stdout", "stderr"}),
                is_done: Callable[[], bool], poll: float = 0.05) -> Iterator[LogEntry]:
    """`read_logs`, then new entries as the writer appends them, across rotations, until
    `is_done()` is true (checked only when no new data is there; one last read follows it)."""
    filters = {"streams": streams, "since": since, "until": until}
    backlog: list[LogEntry] = []
    for name in log_files(path, max_file)[:-1] if os.path.exists(path) else log_files(path, max_file):
        _read_file(name, backlog, **filters)
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        fh = None
    pending = b""
    first = True
    finished = False
    while True:
        chunk = fh.read(1 << 16) if fh is not None else b""
        if chunk or first:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            fresh = [e for e in (parse_entry(raw) for raw in lines) if e is not None and _wanted(e, **filters)]
            if first:
                fresh = _tail(backlog + fresh, tail)
                first = False
            yield from fresh
            if until is not None and fresh and fresh[-1].time_ns >= until:
                break
            if chunk:
                continue
        if finished:
            break
        # No new data: did the writer rotate, so that the path now names a new file?
        try:
            inode = os.stat(path).st_ino
        except FileNotFoundError:
            inode = None
        if inode is not None and (fh is None or inode != os.fstat(fh.fileno()).st_ino):
            if fh is not None:
                rest = fh.read()
                pending += rest
                fh.close()
            fh = open(path, "rb")
            continue
        if is_done():
            finished = True  # one more read for what was written before the exit
            continue
        time.sleep(poll)
    if fh is not None:
        fh.close()
