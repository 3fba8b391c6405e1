"""The runtime façade the daemon's routes call; wires the parts with plain constructors.

Called by `runtime.daemon.routes.*` only. One part per area (system, images, networks,
volumes, containers), each a mixin with the methods its routes call, so a route module and
its part read side by side. Parts are built lazily on first use: a daemon that only answers
`/_ping` stays small, and heavy imports (pyroute2, dnslib) happen in the daemon, never in the CLI.
"""

from __future__ import annotations

import time
from pathlib import Path

from runtime.config import DaemonConfig
from runtime.events import EventBus
from runtime.services.images import ImagesPart
from runtime.services.networks import NetworksPart
from runtime.services.system import SystemPart


class Services(SystemPart, ImagesPart, NetworksPart):
    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.events = EventBus()
        self.started = time.time()
        Path(config.root).mkdir(parents=True, exist_ok=True)
        Path(config.exec_root).mkdir(parents=True, exist_ok=True)
        self.daemon_id = self._daemon_id()

    def counts(self) -> dict[str, int]:
        return {"Containers": 0, "ContainersRunning": 0, "ContainersPaused": 0,
                "ContainersStopped": 0, "Images": self.image_count()}

    def image_users(self, image_id: str) -> list[str]:
        """Containers created from the image (the containers part answers once it is wired)."""
        return []

    def start(self) -> list[str]:
        """Bring kernel state back after a restart; returns what was repaired (logged)."""
        return self.network_restore()

    def close(self) -> None:
        self.images_close()
        self.networks_close()
