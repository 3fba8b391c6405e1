"""docker-py compatible client: `from_env()`, `DockerClient` and its collections.

For users porting docker-py code: `import docker` becomes `from orchestrator import engine as
docker` and the common calls (`containers.run/create/get/list`, `images.pull/get/list/remove`,
`networks.create/get/list`, `volumes.create/get/list`, `events`, `ping/version/info`) return the
same shapes. Built on `EngineClient` (available as `.engine`). Errors are `runtime.errdefs`
categories rather than `docker.errors` classes; `orchestrator.engine.errors` maps the names.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from orchestrator.engine.client import EngineClient, split_reference
from orchestrator.engine.models import (CancellableStream, Container, ExecResult, Image, Network, Volume,
                                        event_bytes)
from orchestrator.engine.runargs import create_body
from orchestrator.engine.transport import DEFAULT_HOST, TLSConfig
from runtime import errdefs

__all__ = ["DockerClient", "from_env", "ContainerError", "ExecResult"]


class ContainerError(errdefs.StackyardError):
    """`containers.run(detach=False)` saw the container exit non-zero (docker-py's ContainerError)."""

    def __init__(self, container: Container, exit_status: int, command: Any, image: str, stderr: bytes | None):
        self.container, self.exit_status, self.command, self.image, self.stderr = \
            container, exit_status, command, image, stderr
        err = f": {stderr.decode('utf-8', errors='replace')}" if stderr else ""
        super().__init__(f"Command '{command}' in image '{image}' returned non-zero exit status {exit_status}{err}")


class Collection:
    model: type = Container

    def __init__(self, client: "DockerClient"):
        self.client = client

    @property
    def _engine(self) -> EngineClient:
        return self.client.engine

    def prepare_model(self, attrs: dict) -> Any:
        return self.model(attrs=attrs, client=self.client, collection=self)


class ContainerCollection(Collection):
    model = Container

    def run(self, image: str | Image, command: Any = None, stdout: bool = True, stderr: bool = False,
            remove: bool = False, **kwargs: Any) -> Any:
        """Create and start a container; detached: the Container, else its output (as docker-py).

        Raises:
            ContainerError: not detached, and the container exited non-zero.
        """
        if isinstance(image, Image):
            image = image.id
        stream = kwargs.pop("stream", False)
        detach = kwargs.pop("detach", False)
        if detach and remove:
            kwargs["auto_remove"] = True
        if kwargs.get("network") and kwargs.get("network_mode"):
            raise RuntimeError('The options "network" and "network_mode" can not be used together.')
        try:
            container = self.create(image, command, detach=detach, **kwargs)
        except errdefs.NotFound:
            if not self._image_missing(image):
                raise
            self.client.images.pull(image, platform=kwargs.get("platform"))
            container = self.create(image, command, detach=detach, **kwargs)
        container.start()
        if detach:
            return container
        out = None
        if container.attrs["HostConfig"]["LogConfig"]["Type"] in ("json-file", "journald", "local"):
            out = container.logs(stdout=stdout, stderr=stderr, stream=True, follow=True)
        exit_status = container.wait()["StatusCode"]
        if exit_status != 0:
            out = None if kwargs.get("auto_remove") else container.logs(stdout=False, stderr=True)
        if remove:
            container.remove()
        if exit_status != 0:
            raise ContainerError(container, exit_status, command, image, out)
        if stream or out is None:
            return out
        return b"".join(out)

    def _image_missing(self, image: str) -> bool:
        try:
            self._engine.inspect_image(image)
        except errdefs.NotFound:
            return True
        return False

    def create(self, image: str | Image, command: Any = None, **kwargs: Any) -> Container:
        """Create a container from docker-py style arguments (see `runargs`)."""
        if isinstance(image, Image):
            image = image.id
        body, name = create_body(image, command, **kwargs)
        return self.get(self._engine.create_container(body, name=name)["Id"])

    def get(self, container_id: str) -> Container:
        return self.prepare_model(self._engine.inspect_container(container_id))

    def list(self, all: bool = False, before: str | None = None, filters: Mapping[str, Any] | None = None,
             limit: int = -1, since: str | None = None, sparse: bool = False,
             ignore_removed: bool = False) -> list[Container]:
        if before is not None or since is not None or limit != -1:
            raise errdefs.Unsupported("containers.list(before=, since=, limit=) is not supported")
        found = self._engine.list_containers(all=all, filters=filters)
        if sparse:
            return [self.prepare_model(attrs) for attrs in found]
        containers = []
        for attrs in found:
            try:
                containers.append(self.get(attrs["Id"]))
            except errdefs.NotFound:  # removed while we listed
                if not ignore_removed:
                    raise
        return containers


class ImageCollection(Collection):
    model = Image

    def get(self, name: str) -> Image:
        return self.prepare_model(self._engine.inspect_image(name))

    def list(self, name: str | None = None, all: bool = False, filters: Mapping[str, Any] | None = None) -> list[Image]:
        filters = dict(filters or {})
        if name:
            filters["reference"] = name
        return [self.get(attrs["Id"]) for attrs in self._engine.list_images(filters=filters or None, all=all)]

    def pull(self, repository: str, tag: str | None = None, all_tags: bool = False, *,
             platform: str | None = None, auth_config: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """Pull `repository[:tag]` (`latest` by default) and return the Image.

        Raises:
            errdefs.StackyardError: the engine or the registry refused (an `error` progress line).
        """
        if all_tags:
            raise errdefs.Unsupported("images.pull(all_tags=True) is not supported")
        if not tag:
            repository, tag = split_reference(repository)
        tag = tag or "latest"
        ref = f"{repository}{'@' if tag.startswith('sha256:') else ':'}{tag}"
        with self._engine.pull_image(ref, auth=auth_config, platform=platform) as progress:
            for _message in progress:
                pass
        return self.get(ref)

    def remove(self, image: str, force: bool = False, noprune: bool = False) -> list[dict]:
        return self._engine.remove_image(image, force=force, noprune=noprune)


class NetworkCollection(Collection):
    model = Network

    def create(self, name: str, driver: str | None = None, options: dict | None = None, ipam: dict | None = None,
               check_duplicate: bool | None = None, internal: bool = False, labels: dict | None = None,
               enable_ipv6: bool = False, attachable: bool | None = None, scope: str | None = None,
               ingress: bool | None = None) -> Network:
        body = {"Name": name, "Driver": driver, "Options": options, "IPAM": ipam, "CheckDuplicate": check_duplicate,
                "Labels": labels, "Attachable": attachable, "Scope": scope, "Ingress": ingress}
        body = {k: v for k, v in body.items() if v is not None}
        if internal:
            body["Internal"] = True
        if enable_ipv6:
            body["EnableIPv6"] = True
        return self.get(self._engine.create_network(body)["Id"])

    def get(self, network_id: str, verbose: bool | None = None, scope: str | None = None) -> Network:
        return self.prepare_model(self._engine.inspect_network(network_id))

    def list(self, names: list[str] | None = None, ids: list[str] | None = None,
             filters: Mapping[str, Any] | None = None, greedy: bool = False) -> list[Network]:
        filters = dict(filters or {})
        if names:
            filters["name"] = list(names)
        if ids:
            filters["id"] = list(ids)
        found = self._engine.list_networks(filters=filters or None)
        return [self.get(n["Id"]) if greedy else self.prepare_model(n) for n in found]


class VolumeCollection(Collection):
    model = Volume

    def create(self, name: str | None = None, driver: str | None = None, driver_opts: dict | None = None,
               labels: dict | None = None) -> Volume:
        body = {"Name": name, "Driver": driver, "DriverOpts": driver_opts, "Labels": labels}
        return self.prepare_model(self._engine.create_volume({k: v for k, v in body.items() if v is not None}))

    def get(self, volume_id: str) -> Volume:
        return self.prepare_model(self._engine.inspect_volume(volume_id))

    def list(self, filters: Mapping[str, Any] | None = None) -> list[Volume]:
        return [self.prepare_model(v) for v in self._engine.list_volumes(filters=filters)]


class DockerClient:
    """docker-py's `DockerClient` over an `EngineClient` (one connection pool)."""

    def __init__(self, base_url: str | None = None, version: str | None = None, timeout: float = 60,
                 tls: TLSConfig | bool = False, *, environ: Mapping[str, str] | None = None, **kwargs: Any):
        # max_pool_size, user_agent, use_ssh_client, credstore_env: accepted and ignored.
        self.engine = EngineClient(base_url or DEFAULT_HOST, tls=tls, version=version, environ=environ,
                                   timeout=timeout)
        self.containers = ContainerCollection(self)
        self.images = ImageCollection(self)
        self.networks = NetworkCollection(self)
        self.volumes = VolumeCollection(self)

    @classmethod
    def from_env(cls, version: str | None = None, timeout: float = 60,
                 environment: Mapping[str, str] | None = None, **kwargs: Any) -> "DockerClient":
        """A client for `DOCKER_HOST`, with TLS from `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH`."""
        environ = os.environ if environment is None else environment
        tls = TLSConfig.from_env(environ) or False
        return cls(environ.get("DOCKER_HOST") or DEFAULT_HOST, version=version, timeout=timeout, tls=tls,
                   environ=environ)

    def ping(self) -> bool:
        return self.engine.ping() == "OK"

    def version(self, api_version: bool = True) -> dict:
        return self.engine.version()

    def info(self) -> dict:
        return self.engine.info()

    def events(self, since: Any = None, until: Any = None, filters: Mapping[str, Any] | None = None,
               decode: bool | None = None) -> CancellableStream:
        """Engine events: dicts with `decode=True`, else each event's JSON line as bytes."""
        stream = self.engine.events(filters=filters, since=since, until=until)
        return CancellableStream(stream, (lambda event: event) if decode else event_bytes)

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> "DockerClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def from_env(**kwargs: Any) -> DockerClient:
    """docker-py's `docker.from_env()`."""
    return DockerClient.from_env(**kwargs)
