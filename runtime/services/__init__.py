"""The runtime façade the daemon's routes call; wires the parts with plain constructors.

Called by `runtime.daemon.routes.*` only. One part per area (system, images, networks,
volumes, containers), each a mixin with the methods its routes call, so a route module and
its part read side by side. Parts are built lazily on first use: a daemon that only answers
`/_ping` stays small, and heavy imports (pyroute2, dnslib) happen in the daemon, never in the CLI.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from runtime.config import DaemonConfig
from runtime.events import EventBus

from runtime.services.archive import ArchivePart
from runtime.services.containers import ContainersPart
from runtime.services.images import ImagesPart
from runtime.services.networks import NetworksPart
from runtime.services.system import SystemPart
from runtime.services.volumes import VolumesPart

log = logging.getLogger(__name__)


class Services(SystemPart, ContainersPart, ArchivePart, ImagesPart, NetworksPart, VolumesPart):
    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.events = EventBus()
        self.started = time.time()
        Path(config.root).mkdir(parents=True, exist_ok=True)
        Path(config.exec_root).mkdir(parents=True, exist_ok=True)
        self.daemon_id = self._daemon_id()
        self._stopping = threading.Event()

    def counts(self) -> dict[str, int]:
        return {**self.container_counts(), "Images": self.image_count()}

    def start(self) -> list[str]:
        """Bring kernel state back after a restart, make sure the supervisor runs and follow its
        container events; returns what was repaired (logged)."""
        fixed = self.network_restore()
        self.ensure_supervisor()
        fixed += self.reconcile_orphans()
        self.forward_container_events(self._stopping)
        return fixed

    def close(self) -> None:
        self._stopping.set()
        if "containers" in self.__dict__:  # built (cached_property): give back what --rm
            try:                            # containers that ended just now still hold
                self.containers.collect_removed()
            except Exception:  # noqa: BLE001 - the next start collects them
                log.exception("collecting auto-removed containers at shutdown failed")
        self.images_close()
        self.networks_close()
