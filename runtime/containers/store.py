"""Container records on disk: atomic JSON files under `<root>/containers/<id>/`.

    config.json      what the container is (name, Config, HostConfig, ...) — written by the manager
    state.json       its runtime state (state.ContainerState) — absent means the default
                     (created); the manager writes the first one at create only when it
                     differs (a healthcheck); afterwards only the supervisor writes it
    supervise.json   what the supervisor needs to run it again (spec, policies) — the manager
    <id>-json.log    its logs — the supervisor
    hostname, hosts, resolv.conf — the manager, bind-mounted into the container

Every write goes to a temporary file, is fsynced, then renamed over the old one, so a crash
leaves the old or the new record, never half of one. Both the manager and the supervisor use
this module; neither keeps a cache that the other could invalidate.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from typing import Iterator

from runtime import errdefs
from runtime.metadata.jsonfile import commit_json, discard_json, prepare_json, read_json, write_json_atomic
from runtime.containers.state import ContainerState


class ContainerStore:
    def __init__(self, root: str) -> None:
        self.base = os.path.join(root, "containers")
        os.makedirs(self.base, mode=0o710, exist_ok=True)

    def dir_of(self, container_id: str) -> str:
        return os.path.join(self.base, container_id)

    def path(self, container_id: str, name: str) -> str:
        return os.path.join(self.base, container_id, name)

    def ids(self) -> list[str]:
        try:
            return sorted(d for d in os.listdir(self.base)
                          if len(d) == 64 and os.path.exists(os.path.join(self.base, d, "config.json")))
        except FileNotFoundError:
            return []

    def exists(self, container_id: str) -> bool:
        return os.path.exists(self.path(container_id, "config.json"))

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialises name changes (create, rename, remove) between processes."""
        fd = os.open(os.path.join(self.base, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def create_dir(self, container_id: str) -> str:
        path = self.dir_of(container_id)
        os.makedirs(path, mode=0o710)
        return path

    def load_config(self, container_id: str) -> dict:
        return read_json(self.path(container_id, "config.json"))

    def save_config(self, container_id: str, config: dict) -> None:
        write_json_atomic(self.path(container_id, "config.json"), config)

    def load_state(self, container_id: str) -> ContainerState:
        try:
            return ContainerState.from_json(read_json(self.path(container_id, "state.json")))
        except errdefs.NotFound:
            return ContainerState()

    def save_state(self, container_id: str, state: ContainerState) -> None:
        write_json_atomic(self.path(container_id, "state.json"), state.to_json())

    def prepare_state(self, container_id: str, state: ContainerState) -> str:
        """save_state in two halves (the supervisor fsyncs while a child sets itself up):
        returns the fsynced temporary file that `commit_state` puts in place."""
        return prepare_json(self.path(container_id, "state.json"), state.to_json(), ".pending")

    def commit_state(self, container_id: str, prepared: str) -> None:
        commit_json(prepared, self.path(container_id, "state.json"))

    def discard_state(self, prepared: str) -> None:
        discard_json(prepared)

    def load_supervise(self, container_id: str) -> dict:
        return read_json(self.path(container_id, "supervise.json"))

    def save_supervise(self, container_id: str, data: dict) -> None:
        write_json_atomic(self.path(container_id, "supervise.json"), data)

    REMOVED_PREFIX = ".removed-"

    def set_aside(self, container_id: str) -> None:
        """Takes an auto-removed container out of sight; its record waits for `removed_ids`."""
        os.replace(self.dir_of(container_id), os.path.join(self.base, self.REMOVED_PREFIX + container_id))

    def removed_ids(self) -> list[str]:
        return sorted(d[len(self.REMOVED_PREFIX):] for d in os.listdir(self.base) if d.startswith(self.REMOVED_PREFIX))

    def load_removed_config(self, container_id: str) -> dict:
        return read_json(os.path.join(self.base, self.REMOVED_PREFIX + container_id, "config.json"))

    def delete_removed(self, container_id: str) -> None:
        shutil.rmtree(os.path.join(self.base, self.REMOVED_PREFIX + container_id), ignore_errors=True)

    def delete(self, container_id: str) -> None:
        shutil.rmtree(self.dir_of(container_id), ignore_errors=True)
