"""The runtime's event log: what `/events` streams and what `docker events` prints.

Who calls it: `runtime.services` publishes (container, image, network, volume actions) and the
daemon's `/events` route subscribes. Events keep Docker's JSON shape (Type, Action, Actor,
scope, time, timeNano, plus the legacy status/id/from for containers). A bounded history lets
`since` replay the recent past; filters follow Docker's (type, event, container, image,
label, network, volume). Matching is pure (`matches`), delivery is an asyncio queue per
subscriber, and a slow subscriber loses its oldest events rather than stalling publishers.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Optional

HISTORY = 2048
QUEUE = 1024

# Filter keys Docker accepts for /events, and the event field each one reads.
FILTER_KEYS = frozenset({"type", "event", "container", "image", "label", "network", "volume",
                         "daemon", "scope", "plugin", "service", "node", "secret", "config"})


def make_event(kind: str, action: str, actor_id: str, attributes: Optional[dict[str, str]] = None,
               *, now_ns: Optional[int] = None) -> dict[str, Any]:
    nanos = time.time_ns() if now_ns is None else now_ns
    event: dict[str, Any] = {
        "Type": kind,
        "Action": action,
        "Actor": {"ID": actor_id, "Attributes": dict(attributes or {})},
        "scope": "local",
        "time": nanos // 1_000_000_000,
        "timeNano": nanos,
    }
    if kind in ("container", "image"):
        # Clients before API 1.22 read these; the docker CLI still prints from them in places.
        event["status"] = action
        event["id"] = actor_id
        if kind == "container" and "image" in event["Actor"]["Attributes"]:
            event["from"] = event["Actor"]["Attributes"]["image"]
    return event


def _name_matches(values: list[str], actor_id: str, attributes: dict[str, str]) -> bool:
    name = attributes.get("name", "")
    return any(actor_id.startswith(v) or name == v or name == v.lstrip("/") for v in values)


def matches(event: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    """Docker's rule: every filter key must match; values of one key are alternatives."""
    kind = event["Type"]
    actor = event["Actor"]
    attributes = actor.get("Attributes", {})
    for key, values in filters.items():
        if not values:
            continue
        if key == "type":
            ok = kind in values
        elif key == "event":
            action = event["Action"]
            ok = any(action == v or action.split(":", 1)[0] == v for v in values)
        elif key == "label":
            ok = any(attributes.get(v.split("=", 1)[0]) == v.split("=", 1)[1] if "=" in v
                     else v in attributes for v in values)
        elif key in ("container", "network", "volume", "image"):
            if key == "image" and kind == "container":
                ok = attributes.get("image") in values
            else:
                ok = kind == key and _name_matches(values, actor["ID"], attributes)
        elif key == "scope":
            ok = event.get("scope") in values
        else:
            ok = False
        if not ok:
            return False
    return True


@dataclass
class _Subscriber:
    queue: "asyncio.Queue[dict[str, Any]]"
    filters: dict[str, list[str]]
    loop: asyncio.AbstractEventLoop
    dropped: int = 0


@dataclass
class EventBus:
    history: "deque[dict[str, Any]]" = field(default_factory=lambda: deque(maxlen=HISTORY))
    subscribers: list[_Subscriber] = field(default_factory=list)

    def publish(self, event: dict[str, Any]) -> None:
        """Thread-safe: runtime parts may publish from worker threads."""
        self.history.append(event)
        for sub in list(self.subscribers):
            if matches(event, sub.filters):
                sub.loop.call_soon_threadsafe(self._deliver, sub, event)

    @staticmethod
    def _deliver(sub: _Subscriber, event: dict[str, Any]) -> None:
        if sub.queue.full():
            sub.queue.get_nowait()
            sub.dropped += 1
        sub.queue.put_nowait(event)

    def emit(self, kind: str, action: str, actor_id: str, attributes: Optional[dict[str, str]] = None) -> None:
        self.publish(make_event(kind, action, actor_id, attributes))

    async def subscribe(self, filters: dict[str, list[str]], since_ns: Optional[int] = None,
                        until_ns: Optional[int] = None) -> AsyncIterator[dict[str, Any]]:
        """Replays history from `since`, then follows live events until `until` (if given)."""
        sub = _Subscriber(asyncio.Queue(QUEUE), filters, asyncio.get_running_loop())
        replay = []
        if since_ns is not None:
            replay = [e for e in list(self.history)
                      if e["timeNano"] >= since_ns and matches(e, filters)
                      and (until_ns is None or e["timeNano"] <= until_ns)]
        self.subscribers.append(sub)
        try:
            for event in replay:
                yield event
            now = time.time_ns()
            if until_ns is not None and until_ns <= now:
                return
            while True:
                timeout = None if until_ns is None else max(0.0, (until_ns - time.time_ns()) / 1e9)
                try:
                    event = await asyncio.wait_for(sub.queue.get(), timeout)
                except asyncio.TimeoutError:
                    return
                if since_ns is not None and event["timeNano"] < since_ns:
                    continue
                if until_ns is not None and event["timeNano"] > until_ns:
                    return
                yield event
        finally:
            self.subscribers.remove(sub)


def parse_timestamp(value: Optional[str], now_ns: Optional[int] = None) -> Optional[int]:
    """Docker's since/until: unix seconds (with optional fraction), RFC 3339, or a duration
    like `10m` meaning that long ago. Returns nanoseconds."""
    from runtime import errdefs
    if value in (None, ""):
        return None
    assert value is not None
    now = time.time_ns() if now_ns is None else now_ns
    text = value.strip()
    try:
        if "." in text:
            seconds, fraction = text.split(".", 1)
            return int(seconds) * 1_000_000_000 + int((fraction + "000000000")[:9])
        return int(text) * 1_000_000_000
    except ValueError:
        pass
    units = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
             "h": 3_600_000_000_000}
    import re
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)", text)
    if match:
        return now - int(float(match.group(1)) * units[match.group(2)])
    from datetime import datetime
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise errdefs.InvalidArgument(f"invalid timestamp {value!r}: expected unix seconds, "
                                      "RFC 3339 or a duration like 10m") from None
    return int(moment.timestamp() * 1_000_000_000)
