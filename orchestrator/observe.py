"""Observe: one snapshot of a stack's containers, networks and volumes, read by label.

Called by the CLI before planning (`plan`, `up`, `down`, `ps`). One filtered list call per
kind, no decisions: the planner decides. Everything is rebuilt from labels, so there is no
local state file that could drift from the engine.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterable

from orchestrator import labels as L
from orchestrator.engine.query import split_reference
from orchestrator.frozen import FrozenMap
from orchestrator.observed import ObservedContainer, ObservedNetwork, ObservedStack, ObservedVolume


def observe(engine: Any, stack: str, *, images: Iterable[str] = ()) -> ObservedStack:
    """Snapshot of everything the engine holds for `stack` (an `EngineClient`), plus which of
    `images` (the references the desired services use) are present locally."""
    selector = L.project_filter(stack)
    # The four list calls are independent, so they are asked at once (the client is
    # thread-safe); the engine answers them in parallel.
    listed_containers, listed_networks, listed_volumes, present = _concurrently(
        lambda: engine.list_containers(all=True, filters=selector),
        lambda: engine.list_networks(filters=selector),
        lambda: engine.list_volumes(filters=selector),
        lambda: _present_images(engine, sorted(set(images))))
    containers = tuple(sorted((container_from_summary(c) for c in listed_containers),
                              key=lambda c: (c.service, c.number, c.name)))
    networks = tuple(sorted((_network(n) for n in listed_networks), key=lambda n: n.name))
    volumes = tuple(sorted((_volume(v) for v in listed_volumes), key=lambda v: v.name))
    return ObservedStack(name=stack, containers=containers, networks=networks, volumes=volumes,
                         images=present)


def _concurrently(*calls: Callable[[], Any]) -> list[Any]:
    """The results of `calls`, run in threads; the first failure (in call order) is raised."""
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException | None] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            results[index] = calls[index]()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            errors[index] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(1, len(calls))]
    for thread in threads:
        thread.start()
    run(0)
    for thread in threads:
        thread.join()
    for error in errors:
        if error is not None:
            raise error
    return results


def _present_images(engine: Any, references: list[str]) -> FrozenMap:
    """Reference -> image id for the references present locally (one filtered list call)."""
    if not references:
        return FrozenMap()
    wanted = {_with_tag(r): r for r in references}
    present = {}
    for image in engine.list_images(filters={"reference": references}):
        for tag in image.get("RepoTags") or ():
            if tag in wanted:
                present[wanted[tag]] = image.get("Id", "")
        for digest in image.get("RepoDigests") or ():
            if digest in wanted:
                present[wanted[digest]] = image.get("Id", "")
    return FrozenMap(present)


def _with_tag(reference: str) -> str:
    """`busybox` -> `busybox:latest`, as the engine lists it; digests and tags unchanged."""
    return reference if split_reference(reference)[1] else reference + ":latest"


def container_from_summary(summary: dict) -> ObservedContainer:
    """The observed form of one `GET /containers/json` entry (also used by `ps`)."""
    labels = summary.get("Labels") or {}
    names = summary.get("Names") or ["/" + summary.get("Id", "")[:12]]
    status = summary.get("Status") or ""
    health = None
    for word in ("healthy", "unhealthy", "health: starting"):
        if f"({word})" in status:
            health = "starting" if word == "health: starting" else word
            break
    return ObservedContainer(
        id=summary.get("Id", ""),
        name=names[0].lstrip("/"),
        service=labels.get(L.SERVICE, ""),
        number=_int(labels.get(L.CONTAINER_NUMBER), 1),
        config_hash=labels.get(L.CONFIG_HASH),
        state=summary.get("State", ""),
        health=health,
        exit_code=_exit_code(status),
        image=summary.get("Image", ""),
        image_id=summary.get("ImageID", ""),
        oneoff=labels.get(L.ONEOFF, "False") == "True",
        labels=FrozenMap(labels),
        networks=tuple(sorted(((summary.get("NetworkSettings") or {}).get("Networks") or {}).keys())),
    )


def _network(summary: dict) -> ObservedNetwork:
    labels = summary.get("Labels") or {}
    return ObservedNetwork(id=summary.get("Id", ""), name=summary.get("Name", ""),
                           key=labels.get(L.NETWORK), config_hash=labels.get(L.CONFIG_HASH),
                           labels=FrozenMap(labels))


def _volume(summary: dict) -> ObservedVolume:
    labels = summary.get("Labels") or {}
    return ObservedVolume(name=summary.get("Name", ""), key=labels.get(L.VOLUME),
                          config_hash=labels.get(L.CONFIG_HASH), labels=FrozenMap(labels))


def _int(text: Any, default: int) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        return default


def _exit_code(status: str) -> int | None:
    # "Exited (0) 3 seconds ago"
    if status.startswith("Exited (") and ")" in status:
        return _int(status[len("Exited ("):status.index(")")], 0)
    return None

