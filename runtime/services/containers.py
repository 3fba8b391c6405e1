"""Containers part of the façade: the container manager (runtime.containers) wired to the image
store and the network manager, its supervisor started when missing, and the stdio plumbing the
daemon needs for exec and attach.

Mixed into `runtime.services.Services`; called by the container routes. Container events come
from the supervisor's event stream, forwarded into the daemon's event bus by a thread.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from functools import cached_property
from typing import Any, Iterator, Optional

from runtime import errdefs
from runtime.config import DaemonConfig
from runtime.events import EventBus, parse_timestamp

log = logging.getLogger("stackyard.services.containers")

SIGNALS_BY_NUMBER = {"1": "SIGHUP", "2": "SIGINT", "3": "SIGQUIT", "9": "SIGKILL", "10": "SIGUSR1",
                     "12": "SIGUSR2", "15": "SIGTERM"}


def host_config_defaults(host: dict[str, Any]) -> dict[str, Any]:
    """HostConfig as Docker's inspect shows it: the defaults filled in (clients read them, e.g.
    docker-py's `containers.run` reads LogConfig.Type)."""
    out = dict(host)
    out["LogConfig"] = {"Type": "json-file", "Config": {}, **(host.get("LogConfig") or {})}
    out["RestartPolicy"] = {"Name": "no", "MaximumRetryCount": 0, **(host.get("RestartPolicy") or {})}
    if not out["RestartPolicy"]["Name"]:
        out["RestartPolicy"]["Name"] = "no"
    out.setdefault("NetworkMode", "default")
    if not out["NetworkMode"]:
        out["NetworkMode"] = "default"
    for key, value in (("Binds", None), ("PortBindings", {}), ("AutoRemove", False), ("Privileged", False),
                       ("ReadonlyRootfs", False), ("CapAdd", None), ("CapDrop", None), ("Dns", []),
                       ("DnsOptions", []), ("DnsSearch", []), ("ExtraHosts", None), ("Memory", 0),
                       ("NanoCpus", 0), ("CpuShares", 0), ("PidsLimit", None), ("ShmSize", 67108864),
                       ("Runtime", "native"), ("Init", None), ("Tmpfs", None), ("Mounts", None)):
        out.setdefault(key, value)
    return out


class ContainersPart:
    config: DaemonConfig
    events: EventBus

    @cached_property
    def containers(self):
        from runtime.containers.manager import ContainerManager
        from runtime.services.hooks import ManagerNetworkHook, StoreImageHook
        socket_path = os.path.join(self.config.exec_root, "supervisor.sock")
        manager = ContainerManager(self.config.root, self.config.exec_root, socket_path,
                                   image_hook=StoreImageHook(self.images, os.path.join(self.config.exec_root, "rootfs")),
                                   network_hook=None, default_runtime=self.config.default_runtime)
        manager.network_hook = ManagerNetworkHook(self.networks, manager.resolve, self.container_files)
        return manager

    # -- supervisor and events -------------------------------------------------------------
    def ensure_supervisor(self) -> int:
        from runtime.supervisor.client import SupervisorClient, start_supervisor
        client = SupervisorClient(os.path.join(self.config.exec_root, "supervisor.sock"))
        try:
            return client.ping()["pid"]
        except errdefs.Unavailable:
            pid = start_supervisor(self.config.root, self.config.exec_root)
            log.info("started the supervisor (pid %d)", pid)
            return pid

    def forward_container_events(self, stop: threading.Event) -> threading.Thread:
        """Copy the supervisor's container events into the bus until `stop` is set."""
        def run() -> None:
            while not stop.is_set():
                try:
                    for event in self.containers.events(timeout=1.0):
                        self.on_container_event(event)
                        self.events.publish(event)
                        if stop.is_set():
                            return
                except errdefs.Unavailable:
                    if stop.wait(0.2):
                        return
                except Exception:  # keep forwarding whatever one bad message did
                    log.exception("container event forwarding failed; retrying")
                    if stop.wait(1.0):
                        return
        thread = threading.Thread(target=run, name="container-events", daemon=True)
        thread.start()
        return thread

    def reconcile_orphans(self) -> list[str]:
        """After a crash: give back what creates cut short left behind (a kill -9 of the daemon
        between the network/snapshot step and the container record). Runs at start, before any
        request, so no create is in flight. Returns what it removed."""
        store = self.containers.store
        removed_ids = set(store.removed_ids())
        known = set(store.ids()) | removed_ids
        fixed: list[str] = []
        for name in sorted(os.listdir(store.base)):  # record dirs without a config: half created
            if len(name) == 64 and name not in known:
                store.delete(name)
                fixed.append(f"removed the half-created record of {name[:12]}")
        netns_dir = os.path.dirname(self.networks.sandbox_path("x"))
        if os.path.isdir(netns_dir):
            for cid in sorted(os.listdir(netns_dir)):
                if len(cid) == 64 and cid not in known:
                    self.networks.destroy_sandbox(cid)
                    fixed.append(f"removed the network sandbox of unknown container {cid[:12]}")
        for info in self.images.snapshots.list():
            key = info.name
            if key.startswith("container-") and key[len("container-"):] not in known:
                try:
                    self.images.snapshots.remove(key)
                    fixed.append(f"removed the rootfs snapshot of unknown container {key[10:22]}")
                except errdefs.StackyardError as exc:
                    log.warning("could not remove snapshot %s: %s", key, exc)
        rootfs_dir = os.path.join(self.config.exec_root, "rootfs")
        if os.path.isdir(rootfs_dir):
            for cid in os.listdir(rootfs_dir):
                if cid not in known:
                    shutil.rmtree(os.path.join(rootfs_dir, cid), ignore_errors=True)
        return fixed

    def image_users(self, image_id: str) -> list[str]:
        if not os.path.isdir(os.path.join(self.config.root, "containers")):
            return []
        return [c["Id"] for c in self.containers.list(all=True) if c.get("ImageID") == image_id]

    def container_counts(self) -> dict[str, int]:
        if not os.path.isdir(os.path.join(self.config.root, "containers")):
            return {"Containers": 0, "ContainersRunning": 0, "ContainersPaused": 0, "ContainersStopped": 0}
        states = [c["State"] for c in self.containers.list(all=True)]
        running = sum(s in ("running", "restarting") for s in states)
        paused = states.count("paused")
        return {"Containers": len(states), "ContainersRunning": running, "ContainersPaused": paused,
                "ContainersStopped": len(states) - running - paused}

    # -- lifecycle -------------------------------------------------------------------------
    def container_create(self, name: str, body: dict[str, Any], platform: Optional[str]) -> dict[str, Any]:
        cid = self.containers.create(name or None, body)
        self._container_event("create", cid)
        return {"Id": cid, "Warnings": []}

    def _container_event(self, action: str, cid: str, **extra: str) -> None:
        """Events the daemon itself causes (the supervisor reports start, die, destroy, …)."""
        try:
            info = self.containers.record(cid)  # names and labels only: no state or exec lookups
        except errdefs.NotFound:
            return
        attributes = {**(info["Config"].get("Labels") or {}), "name": info["Name"].lstrip("/"),
                      "image": info["Config"].get("Image") or "", **extra}
        self.events.emit("container", action, cid, attributes)

    def container_list(self, all_: bool, limit: int, size: bool, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
        rows = self.containers.list(all=all_, filters=filters, limit=limit if limit and limit > 0 else None)
        for row in rows:
            live = self._live_networks(row["Id"])
            if live is not None:
                row.setdefault("NetworkSettings", {})["Networks"] = live
            row["Ports"] = [{"IP": b.host_ip or "0.0.0.0", "PrivatePort": b.container_port,
                             "PublicPort": b.host_port, "Type": b.proto} for b in self.published_ports(row["Id"])]
        return rows

    def container_inspect(self, ident: str, size: bool) -> dict[str, Any]:
        info = self.containers.inspect(ident)
        info["HostConfig"] = host_config_defaults(info.get("HostConfig") or {})
        settings = info.setdefault("NetworkSettings", {})
        ports: dict[str, Any] = {f"{key}" if "/" in key else f"{key}/tcp": None
                                 for key in (info.get("Config", {}).get("ExposedPorts") or {})}
        for binding in self.published_ports(info["Id"]):
            key = f"{binding.container_port}/{binding.proto}"
            ports[key] = (ports.get(key) or []) + [{"HostIp": binding.host_ip or "0.0.0.0",
                                                    "HostPort": str(binding.host_port)}]
        settings["Ports"] = ports
        live = self._live_networks(info["Id"])
        if live is not None:
            settings["Networks"] = live  # connect/disconnect after create show up
        return info

    def _live_networks(self, cid: str) -> Optional[dict[str, Any]]:
        if not os.path.isdir(os.path.join(self.config.root, "network")):
            return None
        return self.networks.endpoints(cid) or None

    def container_tty(self, ident: str) -> bool:
        # config.json alone: attach (every `docker run`) needs no state or exec lookups here
        return bool(self.containers.record(self.containers.resolve(ident))["Config"].get("Tty"))

    def container_start(self, ident: str) -> None:
        cid = self.containers.resolve(ident)
        stdin_fd = self._pending_stdin.pop(cid, None)
        self._starting.add(cid)  # a late `die` of the previous run must not take the new ports
        try:
            published = self._publish_ports(cid)  # a port in use fails the start, as with Docker
            try:
                self.containers.start(cid, stdin_fd=stdin_fd)
            except BaseException:
                if published:
                    self.networks.unpublish(cid)
                raise
        finally:
            self._starting.discard(cid)
            if stdin_fd is not None:
                os.close(stdin_fd)

    @cached_property
    def _starting(self) -> set[str]:
        return set()

    # -- published ports: held while the container runs ------------------------------------
    def _publish_ports(self, cid: str) -> bool:
        """Publish the container's PortBindings unless they already are; True if this did it."""
        from runtime.services.hooks import port_bindings
        try:
            info = self.containers.record(cid)  # HostConfig only: no state or exec lookups
        except errdefs.NotFound:
            return False
        host = info.get("HostConfig") or {}
        if not host.get("PortBindings") or host.get("NetworkMode") in ("host", "none") \
                or str(host.get("NetworkMode", "")).startswith("container:"):
            return False
        if self.networks.published(cid):
            return False
        self.networks.publish(cid, port_bindings(host))
        return True

    def _release_ports(self, cid: str) -> None:
        try:
            if self.networks.published(cid):
                self.networks.unpublish(cid)
        except errdefs.StackyardError:
            log.exception("releasing the ports of %s failed", cid[:12])

    def on_container_event(self, event: dict[str, Any]) -> None:
        """Ports follow the container's own life: released when it dies, taken again when the
        supervisor restarts it by policy."""
        action, cid = event.get("Action", ""), event.get("Actor", {}).get("ID", "")
        if event.get("Type") != "container" or not cid:
            return
        if action == "destroy":
            # An auto-removed container (--rm) gives back its network and snapshot now, not at
            # the next create or list (which would also leave them behind a daemon stop).
            try:
                self.containers.collect_removed()
            except errdefs.StackyardError as exc:
                log.warning("could not finish removing auto-removed containers: %s", exc)
            return
        if action == "die":
            if cid in self._starting:
                return
            # Events arrive late: a `die` of the previous run may come after a new start has
            # published the ports again. Only a container that is still down gives them back.
            try:
                if self.containers.inspect(cid)["State"]["Running"]:
                    return
            except errdefs.NotFound:
                pass
            self._release_ports(cid)
        elif action in ("start", "restart"):
            try:
                self._publish_ports(cid)
            except errdefs.StackyardError as exc:
                log.warning("container %s restarted but its ports could not be published: %s", cid[:12], exc)

    def published_ports(self, cid: str) -> list[Any]:
        if not os.path.isdir(os.path.join(self.config.root, "network")):
            return []
        return self.networks.published(cid)

    def container_stop(self, ident: str, timeout: Optional[int]) -> None:
        cid = self.containers.resolve(ident)
        try:
            self.containers.stop(cid, timeout=timeout)
        finally:
            self._release_ports(cid)

    def container_restart(self, ident: str, timeout: Optional[int]) -> None:
        self.containers.restart(ident, timeout=timeout)

    def container_kill(self, ident: str, signal: str) -> None:
        signal = SIGNALS_BY_NUMBER.get(signal, signal)
        self.containers.kill(ident, signal if signal.upper().startswith("SIG") or signal.isdigit()
                             else f"SIG{signal.upper()}")

    def container_wait_prepare(self, ident: str, condition: str):
        cid = self.containers.resolve(ident)  # NotFound before the response starts
        return lambda: self.containers.wait(cid, condition)

    def container_remove(self, ident: str, force: bool, volumes: bool) -> None:
        self.containers.remove(ident, force=force, volumes=volumes)

    def container_rename(self, ident: str, name: str) -> None:
        cid = self.containers.resolve(ident)
        old = self.containers.inspect(cid)["Name"]
        self.containers.rename(cid, name)
        self._container_event("rename", cid, oldName=old)

    def container_pause(self, ident: str) -> None:
        self.containers.pause(ident)

    def container_unpause(self, ident: str) -> None:
        self.containers.unpause(ident)

    def container_logs(self, ident: str, *, follow: bool, stdout: bool, stderr: bool, since: Optional[str],
                       until: Optional[str], timestamps: bool, tail: str) -> Iterator[tuple[str, bytes]]:
        lines: Optional[int] = None
        if tail not in ("", "all"):
            try:
                lines = int(tail)
            except ValueError:
                raise errdefs.InvalidArgument(f"invalid tail value {tail!r}: expected a number or all") from None
            lines = max(lines, 0)
        since_ns = parse_timestamp(since) if since not in (None, "", "0") else None
        until_ns = parse_timestamp(until) if until not in (None, "", "0") else None
        return self.containers.logs(ident, follow=follow, tail=lines, since=since_ns, until=until_ns,
                                    timestamps=timestamps, stdout=stdout, stderr=stderr)

    def container_top(self, ident: str, ps_args: str) -> dict[str, Any]:
        return self.containers.top(ident)

    def container_stats_once(self, ident: str) -> dict[str, Any]:
        return self.containers.stats(ident)

    def container_stats_stream(self, ident: str) -> Iterator[dict[str, Any]]:
        previous: Optional[dict[str, Any]] = None
        while True:
            sample = self.containers.stats(ident)
            if previous is not None:
                sample["precpu_stats"] = previous.get("cpu_stats", {})
                sample["preread"] = previous.get("read")
            yield sample
            previous = sample
            time.sleep(1.0)

    def container_update(self, ident: str, body: dict[str, Any]) -> dict[str, Any]:
        """`docker update` (resources, restart policy): persisted, applied live when it runs."""
        cid = self.containers.resolve(ident)
        warnings = self.containers.update(cid, body)
        self._container_event("update", cid)
        return {"Warnings": warnings}

    def container_resize(self, ident: str, height: int, width: int) -> None:
        cid = self.containers.resolve(ident)
        if not self.container_tty(cid):
            return  # Docker ignores a resize of a container without a terminal
        self.containers.resize(cid, height=height, width=width)

    def container_prune(self, filters: dict[str, list[str]]) -> dict[str, Any]:
        deleted = []
        for summary in self.containers.list(all=True, filters={"status": ["exited", "created", "dead"]}):
            try:
                self.containers.remove(summary["Id"])
                deleted.append(summary["Id"])
            except errdefs.Conflict:
                continue
        return {"ContainersDeleted": deleted, "SpaceReclaimed": 0}

    def container_endpoint_target(self, container: str) -> tuple[str, str, list[str]]:
        cid = self.containers.resolve(container)
        name = self.containers.inspect(cid)["Name"].lstrip("/")
        return cid, self.networks.sandbox_path(cid), [name, cid[:12]]

    # -- attach and exec -------------------------------------------------------------------
    def container_attach(self, ident: str, stdin: bool, stdout: bool, stderr: bool, stream: bool, logs: bool):
        """The container's past output (`logs`) and its live output (`stream`, through the
        supervisor, which tees it into our pipes until the container exits). With `stdin` on a
        container not yet started, a pipe is kept and handed to the supervisor at start, which
        is how `docker run -i` feeds a container."""
        from runtime.services.stdio import ProcessIO
        cid = self.containers.resolve(ident)
        tty = self.container_tty(cid)
        wanted = [s for s, on in (("stdout", stdout), ("stderr", stderr)) if on]
        if tty and wanted:
            wanted = ["stdout"]  # a terminal has one stream: asked for both, it must not come twice
        pipes = {name: os.pipe() for name in wanted}
        try:
            if logs:
                for name, data in self.containers.logs(cid, follow=False, stdout=stdout, stderr=stderr):
                    # small: attach --logs is for recent output
                    os.write((pipes.get(name) or next(iter(pipes.values())))[1], data)
            if stream and pipes:
                self.containers.attach(cid, stdout_fd=pipes["stdout"][1] if "stdout" in pipes else None,
                                       stderr_fd=pipes["stderr"][1] if "stderr" in pipes else None)
        finally:
            for _, write_end in pipes.values():
                os.close(write_end)  # the supervisor holds its own copies while it tees
        stdin_w = None
        if stdin and self.containers.inspect(cid)["State"]["Status"] == "created":
            stdin_r, stdin_w = os.pipe()
            previous = self._pending_stdin.pop(cid, None)
            if previous is not None:
                os.close(previous)
            self._pending_stdin[cid] = stdin_r
        return ProcessIO(stdin_w, [(name, read_end) for name, (read_end, _) in pipes.items()], tty)

    @cached_property
    def _pending_stdin(self) -> dict[str, int]:
        return {}

    def exec_create(self, ident: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"Id": self.containers.exec_create(ident, body)}

    def exec_start_detached(self, exec_id: str) -> None:
        self.containers.exec_start(exec_id)

    def exec_check_startable(self, exec_id: str, tty: bool) -> bool:
        """Errors a client must get as an HTTP status (before the hijack); the exec's TTY mode."""
        record = self.containers.exec_inspect(exec_id)  # NotFound: "No such exec instance"
        if record["Running"] or record["ExitCode"] is not None:
            raise errdefs.Conflict(f"exec {exec_id} has already been started")
        return bool(record["ProcessConfig"]["tty"] or tty)

    def exec_start(self, exec_id: str, tty: bool):
        from runtime.services.stdio import ProcessIO
        record = self.containers.exec_inspect(exec_id)
        if record["ProcessConfig"]["tty"] or tty:
            master, slave = self.containers.exec_pty(exec_id)  # in the container's devpts
            try:
                self.containers.exec_start(exec_id, tty_fd=slave)
            except BaseException:
                os.close(master)
                raise
            finally:
                os.close(slave)
            self._exec_terminals[exec_id] = master
            return ProcessIO(os.dup(master), [("stdout", master)], True, wait=self._exec_waiter(exec_id),
                             on_close=lambda: self._exec_terminals.pop(exec_id, None))
        stdin_r, stdin_w = os.pipe() if record["OpenStdin"] else (None, None)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            self.containers.exec_start(exec_id, stdin_fd=stdin_r, stdout_fd=out_w, stderr_fd=err_w)
        except BaseException:
            for fd in (stdin_w, out_r, err_r):
                if fd is not None:
                    os.close(fd)
            raise
        finally:
            for fd in (stdin_r, out_w, err_w):
                if fd is not None:
                    os.close(fd)
        return ProcessIO(stdin_w, [("stdout", out_r), ("stderr", err_r)], False, wait=self._exec_waiter(exec_id))

    def _exec_waiter(self, exec_id: str):
        return lambda: self.containers.exec_wait(exec_id, timeout=30)

    @cached_property
    def _exec_terminals(self) -> dict[str, int]:
        """Pty masters of running TTY execs (the daemon holds them), for resize."""
        return {}

    def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        import fcntl
        import struct
        import termios
        self.containers.exec_inspect(exec_id)  # NotFound for an unknown exec
        master = self._exec_terminals.get(exec_id)
        if master is None or height <= 0 or width <= 0:
            return
        try:
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        except OSError:
            pass  # the exec has just ended

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        return self.containers.exec_inspect(exec_id)
