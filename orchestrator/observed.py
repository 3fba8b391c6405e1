"""Observed state: what the engine reports about one stack, as plain frozen data.

Built by `observe.observe()` from one filtered list call per kind (containers, networks,
volumes), read by the planner. No decisions here and no I/O: the planner compares these with
the desired `model.Stack`; tests build them by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.frozen import EMPTY, FrozenMap


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservedContainer:
    """One container carrying the stack's labels."""

    id: str
    name: str                      # without the leading "/"
    service: str                   # com.docker.compose.service
    number: int                    # com.docker.compose.container-number
    config_hash: str | None        # io.stackyard.config-hash ("v1:…"), None if absent
    state: str                     # created | running | paused | restarting | exited | dead
    health: str | None = None      # starting | healthy | unhealthy | None (no healthcheck)
    exit_code: int | None = None
    image: str = ""                # image reference as created
    image_id: str = ""
    oneoff: bool = False
    labels: FrozenMap = EMPTY
    networks: tuple[str, ...] = ()  # engine network names it is connected to


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservedNetwork:
    id: str
    name: str                      # engine name, e.g. "<stack>_default"
    key: str | None                # com.docker.compose.network (name in the stack file)
    config_hash: str | None
    labels: FrozenMap = EMPTY


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservedVolume:
    name: str                      # engine name, e.g. "<stack>_data"
    key: str | None                # com.docker.compose.volume
    config_hash: str | None
    labels: FrozenMap = EMPTY


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservedStack:
    """Everything the engine has for one stack name."""

    name: str
    containers: tuple[ObservedContainer, ...] = ()
    networks: tuple[ObservedNetwork, ...] = ()
    volumes: tuple[ObservedVolume, ...] = ()
    # Image reference -> image id for the images the desired services use, when known
    # (lets the hash include the image digest without the planner doing I/O).
    images: FrozenMap = field(default=EMPTY)
