"""docker-py compatible objects: `Container`, `Image`, `Network`, `Volume` and `ExecResult`.

Returned by the collections of `highlevel.DockerClient`; each holds the engine's inspect JSON in
`.attrs` and calls the `EngineClient` (`client.engine`) for its methods. Names, signatures and
return shapes follow docker-py 7 (`docker/models/*.py`) so ported code behaves the same.
"""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from orchestrator.engine import streams
from orchestrator.engine.runargs import _env
from runtime import errdefs

if TYPE_CHECKING:
    from orchestrator.engine.highlevel import DockerClient


class ExecResult(NamedTuple):
    """What `Container.exec_run` returns, as in docker-py."""

    exit_code: int | None
    output: Any


class CancellableStream:
    """An iterator over a streamed response, mapped by `convert`, with `close()` (docker-py's name)."""

    def __init__(self, stream: Any, convert: Callable[[Any], Any]):
        self._stream = stream
        self._convert = convert

    def __iter__(self) -> "CancellableStream":
        return self

    def __next__(self) -> Any:
        return self._convert(next(self._stream))

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> "CancellableStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def event_bytes(event: dict) -> bytes:
    """An event as the engine sent it (compact JSON and a newline), for `decode=False` callers."""
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"


class Model:
    """An engine object with its inspect JSON in `attrs`."""

    id_attribute = "Id"

    def __init__(self, attrs: dict | None = None, client: "DockerClient | None" = None, collection: Any = None):
        self.attrs = attrs or {}
        self.client = client
        self.collection = collection

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.short_id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, type(self)) and self.id == other.id

    def __hash__(self) -> int:
        return hash(f"{type(self).__name__}:{self.id}")

    @property
    def id(self) -> str:
        return self.attrs.get(self.id_attribute)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def _engine(self) -> Any:
        return self.client.engine

    def reload(self) -> None:
        """Refresh `attrs` from the engine."""
        self.attrs = self.collection.get(self.id).attrs


class Container(Model):
    @property
    def name(self) -> str | None:
        name = self.attrs.get("Name")
        if name is None and self.attrs.get("Names"):
            name = self.attrs["Names"][0]
        return name.lstrip("/") if name else None

    @property
    def image(self) -> "Image | None":
        image_id = self.attrs.get("ImageID", self.attrs.get("Image"))
        return self.client.images.get(image_id.split(":")[1]) if image_id else None

    @property
    def labels(self) -> dict:
        labels = self.attrs.get("Config", {}).get("Labels") if "Config" in self.attrs else self.attrs.get("Labels")
        return labels or {}

    @property
    def status(self) -> str:
        state = self.attrs.get("State")
        return state["Status"] if isinstance(state, dict) else state

    @property
    def health(self) -> str:
        return ((self.attrs.get("State") or {}).get("Health") or {}).get("Status", "unknown")

    @property
    def ports(self) -> dict:
        return (self.attrs.get("NetworkSettings") or {}).get("Ports") or {}

    def start(self, **kwargs: Any) -> None:
        self._engine.start_container(self.id)

    def stop(self, timeout: int | None = None) -> None:
        self._engine.stop_container(self.id, timeout=timeout)

    def restart(self, timeout: int | None = None) -> None:
        self._engine.restart_container(self.id, timeout=timeout)

    def kill(self, signal: str | int | None = None) -> None:
        self._engine.kill_container(self.id, signal=signal)

    def remove(self, v: bool = False, link: bool = False, force: bool = False) -> None:
        if link:
            raise errdefs.Unsupported("removing legacy links is not supported")
        self._engine.remove_container(self.id, force=force, volumes=v)

    def rename(self, name: str) -> None:
        self._engine.rename_container(self.id, name)

    def wait(self, timeout: float | None = None, condition: str | None = None) -> dict:
        """`{"StatusCode": n, "Error": …}` once the container stops (or meets `condition`).

        Raises:
            errdefs.Unavailable: `timeout` seconds passed first.
        """
        return self._engine.wait_container(self.id, condition=condition or "not-running", timeout=timeout)

    def logs(self, stdout: bool = True, stderr: bool = True, stream: bool = False, timestamps: bool = False,
             tail: str | int = "all", since: Any = None, follow: bool | None = None, until: Any = None) -> Any:
        """The log as bytes, or a stream of byte chunks with `stream=True` (following by default)."""
        if follow is None:
            follow = stream
        frames = self._engine.container_logs(self.id, stdout=stdout, stderr=stderr, follow=follow,
                                             tail=tail, timestamps=timestamps, since=since, until=until)
        if stream:
            return CancellableStream(frames, lambda frame: frame[1])
        with frames:
            return b"".join(payload for _stream, payload in frames)

    def exec_run(self, cmd: str | list[str], stdout: bool = True, stderr: bool = True, stdin: bool = False,
                 tty: bool = False, privileged: bool = False, user: str = "", detach: bool = False,
                 stream: bool = False, socket: bool = False, environment: Any = None,
                 workdir: str | None = None, demux: bool = False) -> ExecResult:
        """Run a command in the container: `ExecResult(exit_code, output)` as docker-py returns it."""
        if socket:
            raise errdefs.Unsupported("exec_run(socket=True) is not supported")
        body = {"AttachStdin": stdin, "AttachStdout": stdout, "AttachStderr": stderr, "Tty": tty,
                "Cmd": shlex.split(cmd) if isinstance(cmd, str) else list(cmd), "Privileged": privileged,
                "User": user, "Env": _env(environment), "WorkingDir": workdir}
        exec_id = self._engine.exec_create(self.id, {k: v for k, v in body.items() if v is not None})["Id"]
        frames = self._engine.exec_start(exec_id, detach=detach, tty=tty)
        if detach:
            return ExecResult(self._engine.exec_inspect(exec_id).get("ExitCode"), b"")
        if stream:
            convert = (lambda f: (f[1], None) if f[0] != streams.STDERR else (None, f[1])) if demux else (lambda f: f[1])
            return ExecResult(None, CancellableStream(frames, convert))
        with frames:
            collected = list(frames)
        if demux:
            out, err = streams.demux(collected)
            output: Any = (out or None, err or None)
        else:
            output = b"".join(payload for _stream, payload in collected)
        return ExecResult(self._engine.exec_inspect(exec_id).get("ExitCode"), output)


class Image(Model):
    @property
    def short_id(self) -> str:
        return self.id[:19] if self.id.startswith("sha256:") else self.id[:12]

    @property
    def tags(self) -> list[str]:
        return [t for t in self.attrs.get("RepoTags") or [] if t != "<none>:<none>"]

    @property
    def labels(self) -> dict:
        return (self.attrs.get("Config") or {}).get("Labels") or {}

    def tag(self, repository: str, tag: str | None = None, **kwargs: Any) -> bool:
        self._engine.tag_image(self.id, repository, tag)
        return True


class Network(Model):
    @property
    def name(self) -> str | None:
        return self.attrs.get("Name")

    @property
    def containers(self) -> list[Container]:
        return [self.client.containers.get(cid) for cid in (self.attrs.get("Containers") or {})]

    def connect(self, container: Container | str, aliases: list[str] | None = None, links: Any = None,
                ipv4_address: str | None = None, ipv6_address: str | None = None,
                link_local_ips: list[str] | None = None, driver_opt: dict | None = None) -> None:
        endpoint: dict[str, Any] = {"Aliases": aliases, "DriverOpts": driver_opt,
                                    "Links": [f"{k}:{v}" for k, v in links.items()] if isinstance(links, dict) else links}
        ipam = {"IPv4Address": ipv4_address, "IPv6Address": ipv6_address, "LinkLocalIPs": link_local_ips}
        if any(ipam.values()):
            endpoint["IPAMConfig"] = {k: v for k, v in ipam.items() if v}
        self._engine.connect_network(self.id, _container_id(container),
                                     endpoint_config={k: v for k, v in endpoint.items() if v})

    def disconnect(self, container: Container | str, force: bool = False) -> None:
        self._engine.disconnect_network(self.id, _container_id(container), force=force)

    def remove(self) -> None:
        self._engine.remove_network(self.id)


class Volume(Model):
    id_attribute = "Name"

    @property
    def name(self) -> str:
        return self.attrs.get("Name")

    @property
    def short_id(self) -> str:
        return self.id

    def remove(self, force: bool = False) -> None:
        self._engine.remove_volume(self.id, force=force)


def _container_id(container: Container | str) -> str:
    return container.id if isinstance(container, Container) else container

