"""ContainerManager: the container façade runtime/services.py calls (and tests, directly).

It owns the records (store.py) and the per-container files, builds the OCI spec through
runtime.executor.spec, and asks the supervisor (a separate process, runtime/supervisor) to do
everything that involves a process. It is a plain client: it holds no process, pipe or
thread, so the daemon that uses it can restart at any time. Several managers (daemon, CLI)
may share one root: name changes take a file lock; runtime state is written by the supervisor.
"""

from __future__ import annotations

import os
import secrets
from typing import Iterator

from runtime import errdefs
from runtime.containers import files, names, render
from runtime.containers import state as st
from runtime.containers.health import parse_healthcheck, restarts_on_unhealthy
from runtime.containers.hooks import Endpoint, ImageHook, NetworkHook
from runtime.containers.mounts import resolve_volumes
from runtime.containers.logs import follow_logs, log_path, parse_log_config, read_logs
from runtime.containers.restart import parse_restart_policy
from runtime.containers.store import ContainerStore, read_json, write_json_atomic
from runtime.containers.timefmt import format_ns, now_ns
from runtime.executor import annotations as ann
from runtime.executor.runtimes import available_runtimes, resolve_runtime
from runtime.executor.spec import INIT_PATH_IN_CONTAINER, SpecContext, build_spec
from runtime.supervisor.client import SupervisorClient
from runtime.volumes.store import VolumeStore

DEFAULT_STOP_TIMEOUT = 10


class ContainerManager:
    def __init__(self, root: str, run_root: str, supervisor_socket: str, image_hook: ImageHook | None = None,
                 network_hook: NetworkHook | None = None, *, volumes: VolumeStore | None = None,
                 cgroup_parent: str = "stackyard", default_runtime: str = "native",
                 runtimes: dict[str, str] | None = None) -> None:
        self.root = root
        self.run_root = run_root
        self.store = ContainerStore(root)
        self.supervisor = SupervisorClient(supervisor_socket)
        self.image_hook = image_hook
        self.network_hook = network_hook
        self.volumes = volumes or VolumeStore(root, users=self.volume_users)
        self.cgroup_parent = cgroup_parent
        self.default_runtime = default_runtime  # the daemon's default-runtime, for an empty HostConfig.Runtime
        self._runtimes = runtimes  # name → path of the installed runtimes (None: looked up at first create)
        self._event_cursor: list | None = None  # [epoch, seq] of the last event relayed
        self.exec_dir = os.path.join(run_root, "execs")
        os.makedirs(self.exec_dir, mode=0o700, exist_ok=True)
        self.collect_removed()

    def collect_removed(self) -> list[str]:
        """Finishes the removal of containers the supervisor auto-removed (--rm): gives back
        their snapshot and network and removes their anonymous volumes, as `docker run --rm`
        does. Called at construction and by list/create; idempotent. Returns the ids."""
        done = []
        for cid in self.store.removed_ids():
            try:
                record = self.store.load_removed_config(cid)
            except errdefs.StackyardError:
                record = {}
            self._release(cid)
            self._forget_execs(cid)
            for name in record.get("AnonymousVolumes", []):
                try:
                    self.volumes.remove(name)
                except (errdefs.NotFound, errdefs.Conflict):
                    pass
            self.store.delete_removed(cid)
            done.append(cid)
        return done

    # -- lookup ---------------------------------------------------------------------------
    def _names(self) -> dict[str, str]:
        out = {}
        for cid in self.store.ids():
            try:
                out[self.store.load_config(cid)["Name"].lstrip("/")] = cid
            except errdefs.NotFound:
                continue  # removed under us
        return out

    def resolve(self, ref: str) -> str:
        """The full id of a container name, id or unique id prefix. Raises NotFound."""
        ids = self.store.ids()
        if ref in ids:
            return ref
        return names.resolve(ref, self._names(), ids)

    def _state(self, cid: str) -> st.ContainerState:
        return self.store.load_state(cid)

    # -- create ---------------------------------------------------------------------------
    def create(self, name: str | None, body: dict) -> str:
        """Creates the container record; returns its 64-hex id.

        Raises InvalidArgument (bad name or config, naming the field), Conflict (name in
        use), NotFound (image or volume). Nothing is left behind on failure.
        """
        if not isinstance(body, dict):
            raise errdefs.InvalidArgument("container config must be a JSON object")
        host = dict(body.get("HostConfig") or {})
        # The runtime is decided once, here, and recorded: inspect shows it, the spec carries
        # it to the supervisor, and a later change of the daemon's default leaves it alone.
        if self._runtimes is None:
            self._runtimes = available_runtimes()
        host["Runtime"] = resolve_runtime(host.get("Runtime"), self.default_runtime, self._runtimes)
        body = {**body, "HostConfig": host}
        policy = parse_restart_policy(host.get("RestartPolicy"))
        log_cfg = parse_log_config(host.get("LogConfig"))
        if host.get("AutoRemove") and policy.name != "no":
            raise errdefs.InvalidArgument("conflicting options: AutoRemove and restart policy")
        if self.image_hook is None:
            raise errdefs.FailedPrecondition("no image store configured for the container manager")
        wanted = names.check_name(name) if name else None
        self.collect_removed()
        cid = names.new_id()
        with self.store.locked():
            taken = self._names()
            if wanted is not None and wanted in taken:
                raise names.name_conflict(wanted, taken[wanted])
            wanted = wanted or names.random_name(set(taken))
            self.store.create_dir(cid)
            try:
                self._build(cid, wanted, body, host, policy, log_cfg)
            except BaseException:
                self._release(cid)
                self.store.delete(cid)
                raise
        return cid

    def _build(self, cid: str, name: str, body: dict, host: dict, policy, log_cfg) -> dict:
        """Hooks, files, volumes, spec, then the three records (config.json last: it makes the container exist)."""
        rootfs = self.image_hook.prepare_rootfs(cid, body.get("Image") or "")
        image_cfg = dict(rootfs.image_config)
        image_cfg["Volumes"] = {**(image_cfg.get("Volumes") or {}), **(body.get("Volumes") or {})}
        health = parse_healthcheck(body.get("Healthcheck"), image_cfg.get("Healthcheck"))
        hostname = body.get("Hostname") or cid[:12]
        endpoint = Endpoint(netns_path="host" if host.get("NetworkMode") == "host" else None)
        if self.network_hook is not None and host.get("NetworkMode") not in ("none", "host"):
            endpoint = self.network_hook.connect(cid, name, body)
        elif host.get("NetworkMode") not in (None, "", "none", "host", "default", "bridge"):
            raise errdefs.FailedPrecondition(f"HostConfig.NetworkMode {host['NetworkMode']!r} needs the network manager")
        paths = {k: self.store.path(cid, k) for k in ("hostname", "hosts", "resolv.conf")}
        files.write_text_atomic(paths["hostname"], hostname + "\n")
        files.write_text_atomic(paths["hosts"], endpoint.hosts or files.default_hosts(hostname))
        files.write_text_atomic(paths["resolv.conf"], endpoint.resolv_conf or files.default_resolv_conf())
        volume_sources, mounts_view, anonymous = resolve_volumes(self.volumes, body, host, image_cfg)
        joins = {key: self._join_target(host, field) for key, field in
                 ((ann.IPC_CONTAINER, "IpcMode"), (ann.PID_CONTAINER, "PidMode"))}
        ctx = SpecContext(container_id=cid, rootfs=rootfs.path, rootfs_mounts=rootfs.mounts,
                          image_config=image_cfg, hostname_path=paths["hostname"], hosts_path=paths["hosts"],
                          resolv_conf_path=paths["resolv.conf"],
                          netns_path=endpoint.netns_path, cgroup_parent=self.cgroup_parent,
                          volume_sources=volume_sources,
                          ipc_ns_path=self._placeholder_ns(joins[ann.IPC_CONTAINER], "ipc"),
                          pid_ns_path=self._placeholder_ns(joins[ann.PID_CONTAINER], "pid"))
        spec = build_spec(body, ctx)
        for key, donor in joins.items():
            if donor:
                spec.setdefault("annotations", {})[key] = donor  # the supervisor re-resolves it at each start
        config = {k: v for k, v in body.items() if k not in ("HostConfig", "NetworkingConfig")}
        config.setdefault("Hostname", hostname)
        config.setdefault("Env", spec["process"]["env"])
        config.setdefault("Cmd", body.get("Cmd") if body.get("Cmd") is not None else image_cfg.get("Cmd"))
        config.setdefault("Labels", {})
        args = spec["process"]["args"]
        if host.get("Init") and args[:2] == [INIT_PATH_IN_CONTAINER, "--"]:
            args = args[2:]  # Path and Args are the container's command, as Docker shows them, not the init's
        record = {"Id": cid, "Name": "/" + name, "Created": format_ns(now_ns()),
                  "Path": args[0], "Args": args[1:], "Config": config, "HostConfig": host,
                  "ImageID": rootfs.image_id, "HostnamePath": paths["hostname"], "HostsPath": paths["hosts"],
                  "ResolvConfPath": paths["resolv.conf"], "Mounts": mounts_view,
                  "VolumeNames": sorted({os.path.basename(os.path.dirname(p)) for p in volume_sources.values()}),
                  "AnonymousVolumes": anonymous,
                  "NetworkSettings": endpoint.settings or {"Networks": {}}}
        stop_timeout = body.get("StopTimeout")
        supervise = {"spec": spec, "restart_policy": {"name": policy.name, "maximum_retry_count": policy.maximum_retry_count},
                     "healthcheck": health.to_json() if health else None, "log": log_cfg.to_json(),
                     "auto_remove": bool(host.get("AutoRemove")), "tty": bool(body.get("Tty")),
                     "stop_timeout": DEFAULT_STOP_TIMEOUT if stop_timeout is None else int(stop_timeout),
                     "stop_signal": (spec.get("annotations") or {}).get("io.stackyard.stop-signal", "SIGTERM"),
                     "restart_on_unhealthy": restarts_on_unhealthy(config.get("Labels")),
                     "name": "/" + name, "image": body.get("Image") or "", "labels": config.get("Labels") or {}}
        self.store.save_supervise(cid, supervise)
        if health:  # otherwise the state is the default one, which a missing state.json means
            self.store.save_state(cid, st.ContainerState(health={"Status": "starting", "FailingStreak": 0, "Log": []}))
        self.store.save_config(cid, record)
        return record

    def _join_target(self, host: dict, field: str) -> str | None:
        """The id of the container named by `container:<id|name>` in HostConfig.IpcMode/PidMode
        (Compose's `service:x` arrives so). Raises NotFound naming the field, or Conflict when
        it would join itself. Whether it runs is checked at each start (as Docker does)."""
        mode = host.get(field) or ""
        if not mode.startswith("container:"):
            return None
        ref = mode.split(":", 1)[1]
        if not ref:
            raise errdefs.InvalidArgument(f"HostConfig.{field}: {mode!r} names no container")
        try:
            return self.resolve(ref)
        except errdefs.NotFound:
            raise errdefs.NotFound(f"HostConfig.{field}: No such container: {ref}") from None

    def _placeholder_ns(self, donor: str | None, kind: str) -> str | None:
        """The donor's namespace path as of now (/proc/0/... when it is not running: never
        joinable, so a spec the supervisor did not re-resolve fails instead of joining anything)."""
        if donor is None:
            return None
        state = self._state(donor)
        return f"/proc/{state.pid if state.is_live and state.pid else 0}/ns/{kind}"

    def volume_users(self, volume: str) -> list[str]:
        """Ids of containers that mount `volume` (the volume store refuses to remove those)."""
        out = []
        for cid in self.store.ids():
            try:
                if volume in self.store.load_config(cid).get("VolumeNames", []):
                    out.append(cid)
            except errdefs.NotFound:
                continue
        return out

    def _release(self, cid: str) -> None:
        """Gives back what the hooks handed out (idempotent)."""
        if self.network_hook is not None:
            self.network_hook.disconnect(cid)
        if self.image_hook is not None:
            self.image_hook.release_rootfs(cid)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, ref: str, *, stdin_fd: int | None = None) -> None:
        """Raises NotFound, NotModified (already running), or what starting failed with."""
        cid = self.resolve(ref)
        state = self._state(cid)
        if state.is_live:
            raise errdefs.NotModified(f"container {ref} is already running")
        if state.status is st.Status.REMOVING:
            raise errdefs.Conflict(f"container {ref} is marked for removal and cannot be started")
        self.supervisor.call("start", id=cid, fds=[stdin_fd] if stdin_fd is not None else [])

    def attach(self, ref: str, *, stdout_fd: int | None = None, stderr_fd: int | None = None) -> None:
        """Sends the container's output from now on into the given fds (write ends of pipes or
        sockets; the same fd twice for both streams) until it exits, when the supervisor closes
        its copies — the reader's end of stream. Call it before `start` to see everything
        (`docker run`). A reader that falls 4 MiB behind is dropped; the log keeps it all.
        Raises NotFound, InvalidArgument (no fd)."""
        cid = self.resolve(ref)
        if stdout_fd is not None and stdout_fd == stderr_fd:
            streams, fds = ["stdout", "stderr"], [stdout_fd]
        else:
            pairs = [(s, fd) for s, fd in (("stdout", stdout_fd), ("stderr", stderr_fd)) if fd is not None]
            streams, fds = [s for s, _ in pairs], [fd for _, fd in pairs]
        if not fds:
            raise errdefs.InvalidArgument("attach needs at least one of stdout_fd, stderr_fd")
        self.supervisor.call("attach", id=cid, streams=streams, fds=fds)

    def resize(self, ref: str, *, height: int, width: int) -> None:
        """Sets the terminal size of a running TTY container. Raises NotFound, Conflict."""
        cid = self.resolve(ref)
        if not self._state(cid).is_live:
            raise errdefs.Conflict(f"Container {cid} is not running")
        self.supervisor.call("resize", id=cid, height=height, width=width)

    def stop(self, ref: str, *, timeout: int | None = None, signal: str | None = None) -> None:
        """Stop signal, `timeout` seconds of grace, then SIGKILL to the whole cgroup.

        Raises NotFound, NotModified when it was not running.
        """
        cid = self.resolve(ref)
        state = self._state(cid)
        if not state.is_live and state.status is not st.Status.RESTARTING:
            raise errdefs.NotModified(f"container {ref} is not running")
        # The socket wait covers the grace period plus the kill; None (-1: no kill) waits forever.
        grace = timeout if timeout is not None else self.store.load_supervise(cid).get("stop_timeout", DEFAULT_STOP_TIMEOUT)
        wait = None if grace is None or grace < 0 else grace + 30
        reply = self.supervisor.call("stop", id=cid, grace=timeout, signal=signal, timeout=wait)
        if not reply.get("was_running", True):
            raise errdefs.NotModified(f"container {ref} is not running")

    def kill(self, ref: str, signal: str | int = "SIGKILL") -> None:
        """Raises NotFound, Conflict (not running), InvalidArgument (bad signal)."""
        cid = self.resolve(ref)
        if not self._state(cid).is_live:
            raise errdefs.Conflict(f"Container {cid} is not running")
        self.supervisor.call("kill", id=cid, signal=signal)

    def restart(self, ref: str, *, timeout: int | None = None) -> None:
        cid = self.resolve(ref)
        try:
            self.stop(cid, timeout=timeout)
        except errdefs.NotModified:
            pass
        self.start(cid)

    def pause(self, ref: str) -> None:
        cid = self.resolve(ref)
        self._require_supervised(cid)
        self.supervisor.call("pause", id=cid)

    def unpause(self, ref: str) -> None:
        cid = self.resolve(ref)
        self._require_supervised(cid)
        self.supervisor.call("unpause", id=cid)

    def _require_supervised(self, cid: str) -> None:
        if not self._state(cid).is_live:
            raise errdefs.Conflict(f"Container {cid} is not running")

    def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        """Raises NotFound, Conflict (running and not forced)."""
        cid = self.resolve(ref)
        state = self._state(cid)
        st.on_removing(state, force=force)  # raises Conflict with Docker's text
        record = self.store.load_config(cid)
        self.supervisor.call("remove", id=cid, force=force, timeout=60)
        self._finish_removal(cid, record, volumes=volumes)

    def _finish_removal(self, cid: str, record: dict, *, volumes: bool) -> None:
        self._release(cid)
        self._forget_execs(cid)
        self.store.delete(cid)
        if volumes:
            for name in record.get("AnonymousVolumes", []):
                try:
                    self.volumes.remove(name)
                except (errdefs.NotFound, errdefs.Conflict):
                    pass

    def rename(self, ref: str, new_name: str) -> None:
        """Raises NotFound, InvalidArgument (bad name), Conflict (name in use)."""
        cid = self.resolve(ref)
        wanted = names.check_name(new_name)
        with self.store.locked():
            taken = self._names()
            if wanted in taken and taken[wanted] != cid:
                raise names.name_conflict(wanted, taken[wanted])
            record = self.store.load_config(cid)
            record["Name"] = "/" + wanted
            self.store.save_config(cid, record)
            supervise = self.store.load_supervise(cid)
            supervise["name"] = "/" + wanted
            self.store.save_supervise(cid, supervise)
        try:
            self.supervisor.call("renamed", id=cid, name="/" + wanted)
        except errdefs.Unavailable:
            pass  # a supervisor that starts later reads supervise.json

    def update(self, ref: str, body: dict) -> list[str]:
        """`docker update`: new resource limits and/or restart policy; returns Docker's warnings.

        Persisted in HostConfig (inspect shows them) and in the spec (the next start uses them),
        and written by the supervisor into the cgroup of a running or paused container now; the
        new restart policy decides its next exit. On any error nothing changes. Raises NotFound,
        InvalidArgument (a value Docker refuses, 400), Conflict (options that clash with what is
        set, a restart policy with AutoRemove, a memory limit under current usage, a container
        being removed), FailedPrecondition (a cgroup controller missing on this host)."""
        from runtime.containers.update import plan_update, updated_supervise
        cid = self.resolve(ref)
        with self.store.locked():  # against a concurrent rename/update rewriting config.json
            state = self._state(cid)
            if state.status in (st.Status.REMOVING, st.Status.DEAD):
                raise errdefs.Conflict(f'Cannot update container {cid}: container is marked for removal '
                                       f'and cannot be "update"')
            record, supervise = self.store.load_config(cid), self.store.load_supervise(cid)
            try:
                plan = plan_update(record.get("HostConfig") or {}, body, host=host_facts())
            except errdefs.Conflict as exc:
                raise errdefs.Conflict(f"Cannot update container {cid}: {exc}") from None
            self.store.save_supervise(cid, updated_supervise(supervise, plan))
            self.store.save_config(cid, {**record, "HostConfig": plan.host_config})
            try:
                reply = self.supervisor.call("update", id=cid, resources=plan.live)
            except errdefs.Unavailable:
                if state.is_live:
                    self._restore(cid, record, supervise)
                    raise
                reply = {}  # no supervisor: the next start reads supervise.json
            except errdefs.StackyardError as exc:
                self._restore(cid, record, supervise)
                raise type(exc)(f"Cannot update container {cid}: {exc}") from exc
        return plan.warnings + [w for w in reply.get("warnings") or [] if w not in plan.warnings]

    def _restore(self, cid: str, record: dict, supervise: dict) -> None:
        """Puts the records of a refused update back and lets the supervisor re-read them."""
        self.store.save_supervise(cid, supervise)
        self.store.save_config(cid, record)
        try:
            self.supervisor.call("update", id=cid, resources={})
        except errdefs.StackyardError:
            pass  # it re-reads supervise.json at the next start anyway

    def wait(self, ref: str, condition: str = "not-running", *, timeout: float | None = None) -> dict:
        """{"StatusCode": n, "Error": None|{"Message"}} once `condition` holds.

        Raises NotFound, InvalidArgument (condition), Unavailable (timeout)."""
        if condition not in ("not-running", "next-exit", "removed"):
            raise errdefs.InvalidArgument(f"invalid condition: {condition!r}")
        try:
            cid = self.resolve(ref)
        except errdefs.NotFound:
            if condition != "removed" or len(ref) != 64:
                raise
            cid = ref  # removed just now: the supervisor remembers its exit code
        state = self._state(cid)
        if condition == "not-running" and not state.is_live and state.status is not st.Status.RESTARTING:
            return {"StatusCode": state.exit_code, "Error": None}
        reply = self.supervisor.call("wait", id=cid, condition=condition, timeout=timeout)
        error = reply.get("Error")
        return {"StatusCode": reply.get("StatusCode", 0), "Error": {"Message": error} if error else None}

    # -- reading --------------------------------------------------------------------------
    def record(self, cid: str) -> dict:
        """config.json of a full container id (Name, Config, HostConfig as created or updated):
        what callers that need no state read instead of `inspect`. Raises NotFound."""
        return self.store.load_config(cid)

    def inspect(self, ref: str) -> dict:
        cid = self.resolve(ref)
        record = self.store.load_config(cid)
        supervise = self.store.load_supervise(cid)
        out = render.inspect(record, self._state(cid), log_path=log_path(self.store.dir_of(cid), cid))
        out["ExecIDs"] = self._exec_ids(cid) or None
        out["Config"] = {**out["Config"], "StopTimeout": supervise.get("stop_timeout")}
        return out

    def list(self, *, all: bool = False, filters: dict | None = None, limit: int | None = None) -> list[dict]:
        """GET /containers/json: newest first; only running ones unless `all`."""
        wanted = render.check_filters(filters or {})
        self.collect_removed()
        out = []
        now = now_ns()
        for cid in self.store.ids():
            try:
                record = self.store.load_config(cid)
            except errdefs.NotFound:
                continue
            state = self._state(cid)
            # Docker: without `all`, only running ones, unless a status/exited filter asks.
            if not all and not state.is_live and not ({"status", "exited"} & wanted.keys()):
                continue
            if render.matches(record, state, wanted):
                out.append(render.summary(record, state, now=now))
        out.sort(key=lambda c: c["Created"], reverse=True)
        return out[:limit] if limit else out

    def logs(self, ref: str, *, follow: bool = False, tail: int | None = None, since: int | None = None,
             until: int | None = None, timestamps: bool = False, stdout: bool = True,
             stderr: bool = True) -> Iterator[tuple[str, bytes]]:
        """(stream, line) pairs; `since`/`until` in ns (timefmt.parse_api_time); tail None = all.

        With `timestamps`, each line starts with its RFC3339Nano time and a space (Docker).
        """
        cid = self.resolve(ref)
        supervise = self.store.load_supervise(cid)
        if supervise.get("log", {}).get("driver") == "none":
            raise errdefs.FailedPrecondition('configured logging driver does not support reading')
        path = log_path(self.store.dir_of(cid), cid)
        max_file = supervise.get("log", {}).get("max_file", 1)
        streams = frozenset(s for s, on in (("stdout", stdout), ("stderr", stderr)) if on)
        if follow:
            def done() -> bool:
                try:
                    state = self._state(cid)
                except errdefs.StackyardError:
                    return True
                return not state.is_live and state.status is not st.Status.RESTARTING or not self.store.exists(cid)
            entries = follow_logs(path, max_file=max_file, tail=tail, since=since, until=until,
                                  streams=streams, is_done=done)
        else:
            entries = iter(read_logs(path, max_file=max_file, tail=tail, since=since, until=until, streams=streams))
        for entry in entries:
            yield entry.stream, (entry.time.encode() + b" " + entry.data) if timestamps else entry.data

    def top(self, ref: str) -> dict:
        """Docker's /top answer (ps -ef columns) for the processes in the container's cgroup."""
        cid = self.resolve(ref)
        if not self._state(cid).is_live:
            raise errdefs.Conflict(f"Container {cid} is not running")
        pids = self.supervisor.call("top", id=cid)["pids"]
        from runtime.containers.procinfo import ps_rows
        return {"Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"], "Processes": ps_rows(pids)}

    def stats(self, ref: str) -> dict:
        """One sample of Docker's stats JSON (CPU, memory, pids, network bytes)."""
        cid = self.resolve(ref)
        record = self.store.load_config(cid)
        reply = self.supervisor.call("stats", id=cid)
        raw = reply.get("stats") or {}
        out = {"read": format_ns(now_ns()), "id": cid, "name": record["Name"],
               "cpu_stats": raw.get("cpu_stats", {}), "memory_stats": raw.get("memory_stats", {}),
               "pids_stats": raw.get("pids_stats", {}), "blkio_stats": {}, "num_procs": 0}
        if "networks" in raw:
            out["networks"] = raw["networks"]
        return out

    def events(self, *, timeout: float | None = None) -> Iterator[dict]:
        """Container events from the supervisor from now on (Docker's event JSON).

        Subscribed when called; `timeout` bounds the wait for each event (Unavailable). A later
        call on the same manager resumes where the previous stream stopped (the supervisor
        replays what was missed in between), so a consumer that re-subscribes after a timeout
        loses nothing."""
        messages = self.supervisor.stream("events", timeout=timeout, after=self._event_cursor)

        def relay() -> Iterator[dict]:
            for message in messages:
                self._event_cursor = [message["epoch"], message["seq"]]
                yield message["event"]
        return relay()

    # -- exec -----------------------------------------------------------------------------
    def _forget_execs(self, cid: str) -> None:
        for exec_id in self._exec_ids(cid):
            try:
                os.unlink(os.path.join(self.exec_dir, f"{exec_id}.json"))
            except FileNotFoundError:
                pass

    def _exec_ids(self, cid: str) -> list[str]:
        out = []
        for name in os.listdir(self.exec_dir):
            if name.endswith(".json"):
                try:
                    if read_json(os.path.join(self.exec_dir, name)).get("ContainerID") == cid:
                        out.append(name[:-5])
                except errdefs.StackyardError:
                    continue
        return out

    def exec_create(self, ref: str, body: dict) -> str:
        """Raises NotFound, Conflict (not running / paused), InvalidArgument (no Cmd)."""
        cid = self.resolve(ref)
        state = self._state(cid)
        if state.status is st.Status.PAUSED:
            raise errdefs.Conflict(f"Container {cid} is paused, unpause the container before exec")
        if not state.is_live:
            raise errdefs.Conflict(f"Container {cid} is not running")
        cmd = body.get("Cmd")
        if isinstance(cmd, str):
            cmd = [cmd]
        if not cmd:
            raise errdefs.InvalidArgument("No exec command specified")
        exec_id = secrets.token_hex(32)
        write_json_atomic(os.path.join(self.exec_dir, f"{exec_id}.json"),
                          {"ID": exec_id, "ContainerID": cid, "Cmd": list(cmd), "Tty": bool(body.get("Tty")),
                           "Env": list(body.get("Env") or []), "User": body.get("User") or "",
                           "WorkingDir": body.get("WorkingDir") or "", "Privileged": bool(body.get("Privileged")),
                           "AttachStdin": bool(body.get("AttachStdin")), "AttachStdout": body.get("AttachStdout", True),
                           "AttachStderr": body.get("AttachStderr", True), "Started": False})
        return exec_id

    def _exec_record(self, exec_id: str) -> dict:
        try:
            return read_json(os.path.join(self.exec_dir, f"{exec_id}.json"))
        except errdefs.NotFound:
            raise errdefs.NotFound(f"No such exec instance: {exec_id}") from None

    def exec_start(self, exec_id: str, *, stdin_fd: int | None = None, stdout_fd: int | None = None,
                   stderr_fd: int | None = None, tty_fd: int | None = None) -> int:
        """Starts the exec with the caller's fds (pipes, a socket or a pty slave); returns its pid.

        The caller reads its ends and then `exec_wait`s. `exec_run` does all of it.
        Raises NotFound, Conflict (already started, container not running).
        """
        from runtime.containers.execs import exec_process
        record = self._exec_record(exec_id)
        if record["Started"]:
            raise errdefs.Conflict(f"exec {exec_id} has already been started")
        cid = record["ContainerID"]
        supervise = self.store.load_supervise(cid)
        process = exec_process(supervise["spec"], record)
        record["Started"] = True
        write_json_atomic(os.path.join(self.exec_dir, f"{exec_id}.json"), record)
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        # A detached exec with Tty and no terminal given runs with /dev/null, as nobody reads it.
        tty = bool(record["Tty"]) and tty_fd is not None
        try:
            fds = [tty_fd] if tty else [stdin_fd if stdin_fd is not None else null,
                                        stdout_fd if stdout_fd is not None else null,
                                        stderr_fd if stderr_fd is not None else null]
            reply = self.supervisor.call("exec", id=cid, exec_id=exec_id, process=process, tty=tty, fds=fds)
        finally:
            os.close(null)
        return reply["pid"]

    def exec_pty(self, exec_id: str) -> tuple[int, int]:
        """(master, slave) of a pty in the exec's container's own devpts, for exec_start(tty_fd=slave):
        inside, `tty` then names /dev/pts/N as in Docker (a host pty would be unnamed there).
        Raises NotFound, Conflict (container not running)."""
        from runtime.containers.execs import open_pty_in
        cid = self._exec_record(exec_id)["ContainerID"]
        state = self._state(cid)
        if not state.is_live:
            raise errdefs.Conflict(f"Container {cid} is not running")
        return open_pty_in(state.pid)

    def exec_wait(self, exec_id: str, *, timeout: float | None = None) -> int:
        return self.supervisor.call("exec_wait", exec_id=exec_id, timeout=timeout)["exit_code"]

    def exec_run(self, exec_id: str) -> Iterator[tuple[str, bytes]]:
        """Starts the exec and yields its output ((stream, bytes)); exit code via exec_inspect."""
        from runtime.containers.execs import run_and_collect
        yield from run_and_collect(self, exec_id, self._exec_record(exec_id)["Tty"])

    def exec_inspect(self, exec_id: str) -> dict:
        record = self._exec_record(exec_id)
        running, code, pid = False, None, 0
        if record["Started"]:
            try:
                status = self.supervisor.call("exec_inspect", exec_id=exec_id)
                running, code, pid = status["running"], status["exit_code"], status["pid"]
            except errdefs.NotFound:
                running = False  # the supervisor restarted: the exit code is gone
        return {"ID": exec_id, "ContainerID": record["ContainerID"], "Running": running, "ExitCode": code,
                "Pid": pid, "OpenStdin": record["AttachStdin"], "OpenStdout": record["AttachStdout"],
                "OpenStderr": record["AttachStderr"], "CanRemove": False, "DetachKeys": "",
                "ProcessConfig": {"tty": record["Tty"], "entrypoint": record["Cmd"][0],
                                  "arguments": record["Cmd"][1:], "privileged": record["Privileged"],
                                  "user": record["User"]}}


def host_facts():
    """This machine's CPUs and memory nodes, for update's cpuset and NanoCpus checks."""
    from runtime.containers.update import Host, parse_cpuset

    def online(path: str, fallback: str) -> str:
        try:
            with open(path) as f:
                return f.read().strip() or fallback
        except OSError:
            return fallback
    cpus = online("/sys/devices/system/cpu/online", f"0-{(os.cpu_count() or 1) - 1}")
    mems = online("/sys/devices/system/node/online", "0")
    return Host(ncpu=os.cpu_count() or 1, cpus=parse_cpuset(cpus) or frozenset(), mems=parse_cpuset(mems) or frozenset(),
                cpus_text=cpus, mems_text=mems)

