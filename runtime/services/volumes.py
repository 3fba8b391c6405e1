"""Volumes part of the façade: named volumes (runtime.volumes) with events.

Mixed into `runtime.services.Services`; called by the volume routes. The store is shared with
the container manager (which creates volumes a container names and refuses removal while used).
"""

from __future__ import annotations

from typing import Any

from runtime import errdefs
from runtime.events import EventBus


class VolumesPart:
    events: EventBus

    @property
    def volumes(self):
        return self.containers.volumes  # one store, shared with the containers that mount them

    def volume_list(self, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
        return self.volumes.list(filters)

    def volume_create(self, body: dict[str, Any]) -> dict[str, Any]:
        for key in ("Labels", "DriverOpts"):
            if body.get(key) is not None and not isinstance(body[key], dict):
                raise errdefs.InvalidArgument(f"invalid volume {key}: expected an object")
        created = self.volumes.create(body.get("Name") or None, driver=body.get("Driver") or "local",
                                      labels=body.get("Labels") or {}, options=body.get("DriverOpts") or None)
        self.events.emit("volume", "create", created["Name"], {"driver": created["Driver"]})
        return created

    def volume_inspect(self, name: str) -> dict[str, Any]:
        return self.volumes.inspect(name)

    def volume_remove(self, name: str, force: bool) -> None:
        self.volumes.remove(name, force=force)
        self.events.emit("volume", "destroy", name, {"driver": "local"})

    def volume_prune(self, filters: dict[str, list[str]], api_version: str = "1.41") -> dict[str, Any]:
        filters = dict(filters)
        if "all" not in filters and tuple(map(int, api_version.split("."))) <= (1, 41):
            filters["all"] = ["true"]  # before API 1.42, prune removed every unused volume
        result = self.volumes.prune(filters)
        self.events.emit("volume", "prune", "", {"reclaimed": str(result.get("SpaceReclaimed", 0))})
        return result
