"""The supervisor process: a socket server, a reaper and the table of supervised containers.

Design (RUNTIME-NOTES, "Supervision"):
- one process, one thread, one select loop (loop.py); it forks containers through the
  executor, so it stays small (fork cost grows with its memory) and imports no threads;
- PR_SET_CHILD_SUBREAPER: orphans of the executor's intermediate processes come back to us
  and `reap` collects every child (SIGCHLD → wake-up fd → waitpid(-1, WNOHANG));
- requests come from the container manager (client.py) as JSON lines; a request may wait
  (stop, wait, exec_wait) and is answered when the process event arrives;
- at start it re-adopts containers whose state.json says running, through their cgroups
  (executor.adopt); what it could not recover is marked exited/dead and reported (ping and
  `<run_root>/supervisor.json`: adopted, lost, restarted).

What a supervisor crash loses (the daemon restarting loses nothing: it holds no process):
- the exit status of re-adopted containers: they are no longer our children, so their end is
  seen through a pidfd only. ExitCode is then 128+signal when we sent that signal (stop,
  kill), otherwise 255 with State.Error "exit code unknown: ...". A container that ended while
  no supervisor ran is reported lost, ExitCode 255, and restarted if its policy says so;
- output of TTY containers (the pty master dies with us; the container sees a hang-up).
  Non-TTY output is kept: the container holds its FIFOs open, writes block once 64 KiB are
  buffered, and the next supervisor drains them into the log;
- exec sessions and health probes that were running, and exec exit codes;
- the orphaned init's zombie waits for the host's init to reap it.
"""

from __future__ import annotations

import collections
import ctypes
import fcntl
import json
import os
import signal
import socket
import sys
import traceback
from typing import Callable

from runtime import errdefs
from runtime.containers import state as st
from runtime.containers.restart import boot_restart_reason
from runtime.containers.store import ContainerStore, write_json_atomic
from runtime.containers.timefmt import now_ns
from runtime.supervisor import shm
from runtime.supervisor.connection import Connection
from runtime.supervisor.loop import Loop
from runtime.supervisor.protocol import error_reply
from runtime.supervisor.supervised import DEFAULT_STOP_TIMEOUT, Supervised, exit_code_of, signal_number

PR_SET_CHILD_SUBREAPER = 36
EVENT_HISTORY = 1024


class Supervisor:
    def __init__(self, root: str, run_root: str, executor, *, log: Callable[[str], None] | None = None) -> None:
        self.root = root
        self.run_root = run_root
        self.executor = executor
        self.store = ContainerStore(root)
        self.loop = Loop(on_error=lambda exc: self.log("".join(traceback.format_exception(exc))))
        self.containers: dict[str, Supervised] = {}
        self.children: dict[int, Callable[[int], None]] = {}
        self.waiters: dict[str, list[tuple[str, Callable[[dict], None]]]] = {}
        self.execs: dict[str, dict] = {}
        self.exec_waiters: dict[str, list[Callable[[dict], None]]] = {}
        self.subscribers: set[Connection] = set()
        # Events carry (epoch, seq): a re-subscribing client asks for what it missed.
        self.epoch = os.urandom(8).hex()
        self.event_seq = 0
        self.event_history: collections.deque = collections.deque(maxlen=EVENT_HISTORY)
        self.removed_codes: dict[str, int] = {}  # exit codes of the last removed containers, for late waiters
        self.report: dict = {"adopted": [], "lost": [], "restarted": []}
        self.shutting_down = False
        self._log = log or (lambda text: print(f"supervisor: {text}", file=sys.stderr, flush=True))
        self.listener: socket.socket | None = None

    def log(self, text: str) -> None:
        self._log(text)

    def executor_for(self, spec: dict):
        """The executor that runs `spec`: per its runtime when we hold an executors.Executors
        (the real supervisor), else the one executor we were given (tests)."""
        if hasattr(self.executor, "for_spec"):
            return self.executor.for_spec(spec)
        return self.executor

    @property
    def socket_path(self) -> str:
        return os.path.join(self.run_root, "supervisor.sock")

    # -- life -------------------------------------------------------------------------------
    def serve(self) -> None:
        os.makedirs(self.run_root, mode=0o700, exist_ok=True)
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise errdefs.Internal(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")
        self._lock()
        self.loop.add_signal_handler(signal.SIGCHLD, self.reap)
        self.loop.add_signal_handler(signal.SIGTERM, self.shutdown)
        self.loop.add_signal_handler(signal.SIGINT, self.shutdown)
        self.readopt()
        try:
            os.unlink(self.socket_path)
        except FileNotFoundError:
            pass
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.socket_path)
        os.chmod(self.socket_path, 0o600)
        self.listener.listen(64)
        self.listener.setblocking(False)
        self.loop.add_reader(self.listener.fileno(), self._accept)
        write_json_atomic(os.path.join(self.run_root, "supervisor.json"),
                          {"pid": os.getpid(), "socket": self.socket_path, **self.report})
        self.reap()  # a child may have exited before the handler was installed
        self.loop.run()
        self.listener.close()

    def _lock(self) -> None:
        """One supervisor per run root: two would adopt, and kill, each other's containers."""
        fd = os.open(os.path.join(self.run_root, "supervisor.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise errdefs.FailedPrecondition(f"another supervisor holds {self.run_root}/supervisor.lock") from None
        self._lock_fd = fd  # held (and released by the kernel) for the life of the process

    def shutdown(self) -> None:
        """Leaves the containers running (they are re-adopted by the next supervisor)."""
        self.shutting_down = True
        self.loop.stopping = True

    def _accept(self) -> None:
        try:
            sock, _ = self.listener.accept()
        except BlockingIOError:
            return
        Connection(self, sock)

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            callback = self.children.pop(pid, None)
            if callback is not None:
                callback(status)

    # -- events and waiters -----------------------------------------------------------------
    def emit(self, container: Supervised, action: str, extra: dict) -> None:
        cfg = container.config
        attributes = {**(cfg.get("labels") or {}), "image": cfg.get("image", ""),
                      "name": cfg.get("name", "").lstrip("/"), **extra}
        nanos = now_ns()
        event = {"Type": "container", "Action": action, "Actor": {"ID": container.id, "Attributes": attributes},
                 "scope": "local", "time": nanos // 1_000_000_000, "timeNano": nanos}
        self.event_seq += 1
        message = {"ok": True, "epoch": self.epoch, "seq": self.event_seq, "event": event}
        self.event_history.append(message)
        for conn in list(self.subscribers):
            conn.send(message)

    def notify_exit(self, container: Supervised, *, restarting: bool) -> None:
        result = {"ok": True, "StatusCode": container.state.exit_code,
                  "Error": container.state.error or None}
        keep = []
        for condition, reply in self.waiters.pop(container.id, []):
            if condition == "next-exit" or (condition == "not-running" and not restarting):
                reply(result)
            else:
                keep.append((condition, reply))
        if keep:
            self.waiters[container.id] = keep

    def remove(self, container: Supervised, *, auto: bool = False) -> None:
        """Forgets the container and takes its record away. For AutoRemove (`auto`) the record
        is moved aside, not deleted: the manager still has to give back its rootfs snapshot,
        network and anonymous volumes (ContainerManager.collect_removed)."""
        container.forget()
        self.containers.pop(container.id, None)
        result = {"ok": True, "StatusCode": container.state.exit_code, "Error": None}
        self.removed_codes[container.id] = container.state.exit_code
        for exec_id in [e for e, r in self.execs.items() if r["container"] == container.id and not r["running"]]:
            del self.execs[exec_id]
        if len(self.removed_codes) > 256:
            del self.removed_codes[next(iter(self.removed_codes))]
        if auto:
            self.store.set_aside(container.id)
        else:
            self.store.delete(container.id)
        # Announced only once the record is set aside: the daemon's destroy handler looks for
        # it there to give back the namespace, veth and snapshot (collect_removed).
        self.emit(container, "destroy", {})
        self._remove_run_dir(container.id)
        for _condition, reply in self.waiters.pop(container.id, []):
            reply(result)

    def _remove_run_dir(self, container_id: str) -> None:
        run_dir = os.path.join(self.run_root, "containers", container_id)
        if os.path.isdir(os.path.join(run_dir, "shm")):
            from runtime.executor.syscalls import linux
            try:
                shm.release(linux(), os.path.join(run_dir, "shm"))
            except OSError as exc:
                self.log(f"{container_id[:12]}: cannot release /dev/shm: {exc}")
        for name in ("stdout", "stderr"):
            try:
                os.unlink(os.path.join(run_dir, name))
            except FileNotFoundError:
                pass
        try:
            os.rmdir(run_dir)
        except OSError:
            pass

    # -- requests ---------------------------------------------------------------------------
    def dispatch(self, conn: Connection, line: bytes, fds: list[int]) -> None:
        """Runs one request; a handler that returns None answers later (stop, wait, exec_wait)."""
        try:
            request = json.loads(line)
            handler = getattr(self, f"op_{request.get('op', '')}", None)
            if handler is None:
                raise errdefs.InvalidArgument(f"unknown supervisor op {request.get('op')!r}")
            reply = handler(conn, request, fds)
            fds = []  # the handler owns them now
            if reply is not None:
                conn.send({"ok": True, **reply})
        except errdefs.StackyardError as exc:
            conn.send(error_reply(type(exc).__name__, str(exc)))
        except ValueError as exc:
            conn.send(error_reply("InvalidArgument", f"bad request: {exc}"))
        except Exception as exc:  # the boundary: report any bug to the caller, keep serving
            self.log(traceback.format_exc())
            conn.send(error_reply("Internal", f"{type(exc).__name__}: {exc}"))
        finally:
            for fd in fds:
                os.close(fd)

    def _get(self, container_id: str) -> Supervised:
        container = self.containers.get(container_id)
        if container is None:
            raise errdefs.NotFound(f"No such container: {container_id} (not supervised)")
        return container

    def _load(self, container_id: str) -> Supervised:
        config = self.store.load_supervise(container_id)
        container = self.containers.get(container_id)
        if container is None:
            container = self.containers[container_id] = Supervised(self, container_id, config)
        elif not container.state.is_live:
            container.configure(config)
            container.state = self.store.load_state(container_id)
        return container

    def donor_spec(self, container_id: str) -> dict | None:
        """The OCI spec of an IpcMode container:x donor (its annotations say if it shares)."""
        container = self.containers.get(container_id)
        if container is not None:
            return container.spec
        try:
            return self.store.load_supervise(container_id)["spec"]
        except errdefs.NotFound:
            return None

    def live_pid(self, container_id: str) -> int | None:
        """The host pid of a running container's init (IpcMode/PidMode container:x), else None."""
        container = self.containers.get(container_id)
        state = container.state if container is not None else None
        if state is None:
            try:
                state = self.store.load_state(container_id)
            except errdefs.NotFound:
                return None
        if state.status is not st.Status.RUNNING and state.status is not st.Status.PAUSED:
            return None
        return state.pid or None

    def op_ping(self, conn, req, fds):
        return {"pid": os.getpid(), "containers": len(self.containers), **self.report}

    def op_start(self, conn, req, fds):
        container = self._load(req["id"])
        stdin_fd = fds[0] if fds else None
        try:
            container.start(stdin_fd=stdin_fd)
        finally:
            for fd in fds:
                os.close(fd)
            fds.clear()
        return {"pid": container.state.pid}

    def op_stop(self, conn, req, fds):
        container = self._get(req["id"])
        if not container.state.is_live and container.state.status is not st.Status.RESTARTING:
            return {"was_running": False}
        grace = req.get("grace")
        if grace is None:
            grace = container.config.get("stop_timeout", DEFAULT_STOP_TIMEOUT)
        signum = signal_number(req.get("signal") or container.config.get("stop_signal") or "SIGTERM")
        if container.state.status is st.Status.RESTARTING:
            container.stop(grace, signum)  # only cancels the pending restart
            return {"was_running": True, "StatusCode": container.state.exit_code, "Error": None}
        waiter = ("next-exit", lambda result: conn.send({"ok": True, "was_running": True, **result}))
        self.waiters.setdefault(container.id, []).append(waiter)
        try:
            container.stop(grace, signum)
        except BaseException:
            self.waiters[container.id].remove(waiter)
            raise
        return None

    def op_kill(self, conn, req, fds):
        container = self._get(req["id"])
        if not container.state.is_live:
            raise errdefs.Conflict(f"Container {req['id']} is not running")
        signum = signal_number(req.get("signal") or "SIGKILL")
        container.save(st.on_stop_requested(container.state))
        container.emit("kill", signal=str(signum))
        container.signal(signum)
        return {}

    def op_pause(self, conn, req, fds):
        self._get(req["id"]).pause()
        return {}

    def op_unpause(self, conn, req, fds):
        self._get(req["id"]).unpause()
        return {}

    def op_wait(self, conn, req, fds):
        condition = req.get("condition") or "not-running"
        if condition not in ("not-running", "next-exit", "removed"):
            raise errdefs.InvalidArgument(f"invalid condition: {condition!r}")
        container = self.containers.get(req["id"])
        if condition == "removed" and container is None and not self.store.exists(req["id"]):
            # Gone already (removed while the caller was asking): its last exit code if we know it.
            return {"StatusCode": self.removed_codes.get(req["id"], 0), "Error": None}
        if condition == "not-running" and (container is None or not (
                container.state.is_live or container.state.status is st.Status.RESTARTING)):
            state = container.state if container else self.store.load_state(req["id"])
            return {"StatusCode": state.exit_code, "Error": state.error or None}
        self.waiters.setdefault(req["id"], []).append((condition, conn.send))
        return None

    def op_remove(self, conn, req, fds):
        """Forgets a container and deletes its record; force kills it first."""
        container = self.containers.get(req["id"])
        if container is None:
            self.store.delete(req["id"])
            self._remove_run_dir(req["id"])
            for _c, reply in self.waiters.pop(req["id"], []):
                reply({"ok": True, "StatusCode": 0, "Error": None})
            return {}
        if container.state.is_live:
            if not req.get("force"):
                st.on_removing(container.state, force=False)  # raises Conflict
            container.save(st.on_stop_requested(container.state))
            self.waiters.setdefault(container.id, []).append(
                ("next-exit", lambda _result: (self.remove(container), conn.send({"ok": True}))))
            container.begin_stop(0, signal.SIGKILL)
            return None
        self.remove(container)
        return {}

    def op_attach(self, conn, req, fds):
        """Attaches the passed fds (one per requested stream, or one for all) to the container's
        output until it exits. Works before the start, as `docker run` attaches first."""
        streams = [s for s in req.get("streams") or ["stdout", "stderr"] if s in ("stdout", "stderr")]
        if not fds or len(fds) not in (1, len(streams)):
            raise errdefs.InvalidArgument("attach takes one fd, or one fd per stream")
        container = self._load(req["id"])
        if len(fds) == 1:
            container.attach(fds[0], frozenset(streams))
        else:
            for fd, stream in zip(fds, streams):
                container.attach(fd, frozenset({stream}))
        fds.clear()
        return {}

    def op_resize(self, conn, req, fds):
        self._get(req["id"]).resize(int(req["height"]), int(req["width"]))
        return {}

    def op_renamed(self, conn, req, fds):
        """The manager renamed the container: events carry the new name from now on."""
        container = self.containers.get(req["id"])
        if container is not None:
            container.config["name"] = req["name"]
        return {}

    def op_update(self, conn, req, fds):
        """`docker update`: the manager rewrote supervise.json (spec resources, restart policy).
        Writes `resources` into the cgroup of a running or paused container first (a refused
        write changes nothing and is the answer), then re-reads supervise.json, so the new
        restart policy decides the next exit. Returns the warnings (knobs this host lacks)."""
        container = self.containers.get(req["id"])
        if container is None:
            return {"warnings": [], "live": False}  # not supervised: the next start reads supervise.json
        warnings: list[str] = []
        live = container.cgroup is not None and container.state.is_live
        if req.get("resources") and live:
            from runtime.executor import resources
            warnings = resources.apply(container.cgroup, req["resources"])
        container.configure(self.store.load_supervise(container.id))
        return {"warnings": warnings, "live": live}

    def op_state(self, conn, req, fds):
        container = self.containers.get(req["id"])
        state = container.state if container else self.store.load_state(req["id"])
        return {"state": state.to_json(), "supervised": container is not None}

    def op_top(self, conn, req, fds):
        container = self._get(req["id"])
        if container.cgroup is None:
            raise errdefs.Conflict(f"Container {req['id']} is not running")
        return {"pids": list(container.executor.top(container.cgroup))}

    def op_stats(self, conn, req, fds):
        container = self._get(req["id"])
        if container.cgroup is None:
            return {"stats": None}
        return {"stats": container.executor.stats(container.cgroup), "pid": container.state.pid}

    def op_events(self, conn, req, fds):
        """Subscribes; with `after` = [epoch, seq] of the last event a client saw, first replays
        what it missed since (a client that re-subscribes loses nothing, within EVENT_HISTORY)."""
        self.subscribers.add(conn)
        conn.send({"ok": True, "subscribed": True, "epoch": self.epoch})
        after = req.get("after")
        if after and after[0] == self.epoch:
            for message in self.event_history:
                if message["seq"] > after[1]:
                    conn.send(message)
        return None

    # -- exec ---------------------------------------------------------------------------------
    def op_exec(self, conn, req, fds):
        """Runs `process` in the container with the caller's fds: [tty] or [stdin, stdout, stderr]."""
        container = self._get(req["id"])
        if container.state.status is st.Status.PAUSED:
            raise errdefs.Conflict(f"Container {req['id']} is paused, unpause the container before exec")
        if container.cgroup is None:
            raise errdefs.Conflict(f"Container {req['id']} is not running")
        exec_id = req["exec_id"]
        try:
            if req.get("tty"):
                if len(fds) != 1:
                    raise errdefs.InvalidArgument("exec with a TTY takes one fd (the pty slave)")
                stdio = {"stdin": fds[0], "stdout": fds[0], "stderr": fds[0], "tty_fd": fds[0]}
            else:
                if len(fds) != 3:
                    raise errdefs.InvalidArgument("exec takes three fds (stdin, stdout, stderr)")
                stdio = {"stdin": fds[0], "stdout": fds[1], "stderr": fds[2]}
            pid = container.executor.exec(container.state.pid, container.cgroup, req["process"], spec=container.spec,
                                          **stdio)
        finally:
            for fd in fds:
                os.close(fd)
            fds.clear()
        record = {"pid": pid, "running": True, "exit_code": None, "container": container.id}
        self.execs[exec_id] = record
        self.children[pid] = lambda status: self._exec_exited(container, exec_id, status)
        container.emit(f"exec_start: {' '.join(req['process'].get('args', []))}", execID=exec_id)
        return {"pid": pid}

    def _exec_exited(self, container: Supervised, exec_id: str, status: int) -> None:
        record = self.execs[exec_id]
        record.update(running=False, exit_code=exit_code_of(status))
        container.emit("exec_die", execID=exec_id, exitCode=str(record["exit_code"]))
        for reply in self.exec_waiters.pop(exec_id, []):
            reply({"ok": True, **record})

    def op_exec_inspect(self, conn, req, fds):
        record = self.execs.get(req["exec_id"])
        if record is None:
            raise errdefs.NotFound(f"No such exec instance: {req['exec_id']}")
        return dict(record)

    def op_exec_wait(self, conn, req, fds):
        record = self.execs.get(req["exec_id"])
        if record is None:
            raise errdefs.NotFound(f"No such exec instance: {req['exec_id']}")
        if not record["running"]:
            return dict(record)
        self.exec_waiters.setdefault(req["exec_id"], []).append(conn.send)
        return None

    # -- re-adoption --------------------------------------------------------------------------
    def readopt(self) -> None:
        """Takes over containers that outlived the previous supervisor; reports the rest."""
        for container_id in self.store.ids():
            state = self.store.load_state(container_id)
            if state.status not in (st.Status.RUNNING, st.Status.PAUSED, st.Status.RESTARTING):
                continue
            try:
                container = self._load(container_id)
                executor = container.executor  # its runtime (crun/runc may have been uninstalled)
            except errdefs.StackyardError as exc:
                self.report["lost"].append({"id": container_id, "reason": str(exc)})
                self.store.save_state(container_id, st.on_dead(state, error=f"cannot re-adopt: {exc}", now=now_ns()))
                continue
            if state.status is st.Status.RESTARTING:
                container.restart_timer = self.loop.call_later(0, container._policy_start)
                self.report["restarted"].append(container_id)
                continue
            cgroup = executor.adopt(container_id)
            pids = list(executor.top(cgroup)) if cgroup is not None else []
            if pids:
                container.adopt(cgroup, pids)
                self.report["adopted"].append(container_id)
                continue
            # It ended while nobody watched: its exit code is gone. Cleanup even without a
            # cgroup: an OCI runtime's container still has its state, bundle and rootfs mount.
            try:
                executor.cleanup(container.spec, cgroup)
            except (OSError, errdefs.StackyardError) as exc:
                self.log(f"{container_id[:12]}: cleanup failed: {exc}")
            container.save(st.on_exited(state, exit_code=255, oom_killed=False, now=now_ns(),
                                        error="exited while the supervisor was down; exit code unknown"))
            self.report["lost"].append({"id": container_id, "reason": "not running any more; exit code unknown"})
            if boot_restart_reason(container.policy, manually_stopped=state.manually_stopped):
                container.save(st.on_restarting(container.state))
                container.restart_timer = self.loop.call_later(0, container._policy_start)
                self.report["restarted"].append(container_id)
            else:
                container.release_shm()  # stopped for good: its shareable /dev/shm goes too
        if self.report["adopted"] or self.report["lost"]:
            self.log(f"re-adopted {len(self.report['adopted'])} container(s), lost {len(self.report['lost'])}")
