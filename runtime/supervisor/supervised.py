"""One container under supervision: start, output pumps, exit, restart policy, healthchecks.

Owned by server.Supervisor, which routes process exits and requests here. Decisions come from
runtime.containers (state, restart, health: pure); this module only acts on them and persists
the result (state.json) after every transition, so a restarted daemon or supervisor reads the
truth from disk.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import struct
import termios
import signal
import time

from runtime import errdefs
from runtime.containers import health as hc
from runtime.containers import state as st
from runtime.containers.logs import JsonFileWriter, LogConfig, log_path
from runtime.containers.restart import RestartPolicy, next_backoff, restart_reason
from runtime.containers.timefmt import format_ns, now_ns
from runtime.supervisor.attach import Attachment
from runtime.supervisor import shm
from runtime.supervisor.joins import resolve_joins
from runtime.supervisor.pump import InputPump, Pump, ensure_fifos

DEFAULT_STOP_TIMEOUT = 10


def signal_number(value: str | int) -> int:
    """"SIGTERM", "TERM", "15" or 15 → 15. Raises InvalidArgument."""
    if isinstance(value, int):
        return value
    text = str(value).strip().upper()
    if text.isdigit():
        return int(text)
    name = text if text.startswith("SIG") else f"SIG{text}"
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise errdefs.InvalidArgument(f"invalid signal: {value}") from None


def exit_code_of(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


class Supervised:
    def __init__(self, sup, container_id: str, config: dict) -> None:
        self.sup = sup
        self.id = container_id
        self.state = sup.store.load_state(container_id)
        self.cgroup = None
        self.child_pid = 0          # our child (waitpid); 0 when re-adopted
        self.pidfd = -1             # for a re-adopted init (not our child)
        self.pumps: list[Pump] = []
        self.writer: JsonFileWriter | None = None
        self.started_mono = 0.0
        self.backoff: float | None = None
        self.kill_timer = self.restart_timer = self.health_timer = None
        self.probe: dict | None = None
        self.last_signal: int | None = None
        self.restart_after_exit = False
        self.stop_requested = False
        self.attachments: list[Attachment] = []
        self.console_fd = -1        # the pty master of a TTY container (owned by its Pump)
        self.input: InputPump | None = None
        self.configure(config)

    def configure(self, config: dict) -> None:
        """(Re)reads supervise.json as written by the manager."""
        self.config = config
        self.spec = config["spec"]
        self.policy = RestartPolicy(**config.get("restart_policy") or {})
        health = config.get("healthcheck")
        self.health_cfg = hc.HealthConfig.from_json(health) if health else None
        self.log_cfg = LogConfig.from_json(config.get("log") or {})

    # -- helpers --------------------------------------------------------------------------
    @property
    def executor(self):
        """The executor of this container's runtime (its spec's io.stackyard.runtime)."""
        return self.sup.executor_for(self.spec)

    @property
    def run_dir(self) -> str:
        return os.path.join(self.sup.run_root, "containers", self.id)

    def uptime(self) -> float:
        return time.monotonic() - self.started_mono

    def save(self, new_state: st.ContainerState) -> None:
        self.state = new_state
        self.sup.store.save_state(self.id, new_state)

    def emit(self, action: str, **extra: str) -> None:
        self.sup.emit(self, action, extra)

    def _open_writer(self) -> JsonFileWriter:
        if self.writer is None:
            path = log_path(self.sup.store.dir_of(self.id), self.id)
            self.writer = JsonFileWriter(path, self.log_cfg)
        return self.writer

    def _open_output(self) -> tuple[dict, list[int]]:
        """Stdio kwargs for the executor and the fds to close once it has forked."""
        writer = self._open_writer()
        if self.config.get("tty"):
            # The executor allocates the pty inside the container's devpts (`tty` says
            # /dev/pts/0, as in Docker) and hands the master back as Started.console_fd.
            self.pumps = []
            return {"tty": True}, []
        paths = ensure_fifos(self.run_dir)
        pumps, theirs = [], {}
        for stream, path in paths.items():
            mine = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            theirs[stream] = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            pumps.append(Pump(self.sup.loop, mine, stream, writer, self._tee))
        self.pumps = pumps
        return {"stdout": theirs["stdout"], "stderr": theirs["stderr"]}, list(theirs.values())

    # -- start ----------------------------------------------------------------------------
    def start(self, *, restart: bool = False, stdin_fd: int | None = None) -> None:
        """Forks the container. Raises what the executor raises (the state records it)."""
        if self.state.is_live:
            raise errdefs.NotModified("container already started")
        self._cancel(("restart_timer",))
        stdio, close_after = self._open_output()
        devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        stdin = stdin_fd if stdin_fd is not None else devnull
        tty = bool(stdio.pop("tty", False))
        base = self.state if self.health_cfg is None else dataclasses.replace(self.state, health={})
        prepared: dict[int, tuple[st.ContainerState, str]] = {}

        def prepare(pid: int) -> None:
            # The running state is written and fsynced while the child sets itself up (the
            # slow half of the save, off the start's critical path); it is put in place only
            # once the child has exec'd, so nobody sees "running" for a start that fails.
            # StartedAt is therefore the fork, a few ms before the exec.
            new = st.on_started(base, pid=pid, now=now_ns(), restart=restart)
            try:
                prepared[pid] = (new, self.sup.store.prepare_state(self.id, new))
            except errdefs.StackyardError:
                pass  # saved the usual way below, which then reports the error
        try:
            # IpcMode/PidMode container:x: x's init pid now (it may have restarted since create).
            spec = resolve_joins(self.spec, self.sup.live_pid)
            spec = self._share_shm(spec)
            if tty:
                stdio = {"stdin": stdin, "stdout": devnull, "stderr": devnull}
            else:
                stdio["stdin"] = stdin
            started = self.executor.start(spec, **stdio, on_forked=prepare)
        except BaseException as exc:
            for _new, tmp in prepared.values():
                self.sup.store.discard_state(tmp)
            for pump in self.pumps:
                pump.close()
            self.pumps = []
            self.save(st.on_start_failed(self.state, error=str(exc), now=now_ns(),
                                         exit_code=st.start_failure_exit_code(exc)))
            self._finish_attachments()
            if not restart:
                self.release_shm()
                # Waiters (`docker run` waits for next-exit, or removed with --rm) must hear
                # of it; an AutoRemove container is removed after a failed start, as Docker does.
                self.sup.notify_exit(self, restarting=False)
                if self.config.get("auto_remove"):
                    self.sup.loop.call_later(0, lambda: self.sup.remove(self, auto=True))
            raise
        finally:
            for fd in close_after + [devnull]:
                os.close(fd)
        if tty and started.console_fd is not None:
            os.set_inheritable(started.console_fd, False)
            self.console_fd = started.console_fd
            self.pumps = [Pump(self.sup.loop, started.console_fd, "stdout", self._open_writer(), self._tee)]
            if stdin_fd is not None:
                # The executor gave the container the pty slave as stdin: feed the master.
                self.input = InputPump(self.sup.loop, os.dup(stdin_fd), started.console_fd)
        self.cgroup = started.cgroup
        self.child_pid = started.pid
        self.sup.children[started.pid] = self.on_exit
        self.started_mono = time.monotonic()
        self.last_signal = None
        pid = started.init_pid or started.pid
        ready = prepared.pop(pid, None)
        for _new, tmp in prepared.values():
            self.sup.store.discard_state(tmp)
        if ready is not None:
            self.state = ready[0]
            self.sup.store.commit_state(self.id, ready[1])
        else:  # an executor that forks itself (crun/runc) or a prepare that failed
            self.save(st.on_started(base, pid=pid, now=now_ns(), restart=restart))
        self.emit("start")  # Docker says "start" for policy restarts too
        self._schedule_probe()

    @property
    def shm_path(self) -> str:
        return shm.shm_dir(self.sup.run_root, self.id)

    def _share_shm(self, spec: dict) -> dict:
        """IpcMode shareable: our host tmpfs (mounted now unless it still is); container:x: x's."""
        source = shm.plan(spec, self.sup.run_root, self.sup.donor_spec)
        if source is None:
            return spec
        if source == self.shm_path:
            from runtime.executor.syscalls import linux
            shm.ensure_mounted(linux(), source, self.spec)
        return shm.rewrite(spec, source)

    def release_shm(self) -> None:
        """Unmounts our host /dev/shm tmpfs, if any (stopped for good, failed start, removed)."""
        if os.path.isdir(self.shm_path):
            from runtime.executor.syscalls import linux
            try:
                shm.release(linux(), self.shm_path)
            except OSError as exc:
                self.sup.log(f"{self.id[:12]}: cannot release /dev/shm: {exc}")

    # -- exit -----------------------------------------------------------------------------
    def attach(self, fd: int, streams: frozenset[str]) -> None:
        """Tees the output from now on into `fd` until the container exits (attach.py)."""
        if self.config.get("tty"):
            streams = frozenset({"stdout"})  # a terminal has one stream
        self.attachments = [a for a in self.attachments if not a.closed]
        self.attachments.append(Attachment(self.sup.loop, fd, streams))

    def _tee(self, stream: str, data: bytes) -> None:
        for attachment in self.attachments:
            attachment.write(stream, data)

    def _finish_attachments(self) -> None:
        for attachment in self.attachments:
            attachment.finish()
        self.attachments = []

    def resize(self, height: int, width: int) -> None:
        """The terminal size of a TTY container (TIOCSWINSZ on the master; SIGWINCH follows)."""
        if self.console_fd < 0 or self.cgroup is None:
            raise errdefs.Conflict(f"container {self.id} has no terminal (not running with Tty)")
        fcntl.ioctl(self.console_fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def _close_input(self) -> None:
        if self.input is not None:
            self.input.close()
            self.input = None
        self.console_fd = -1

    def on_exit(self, status: int | None) -> None:
        """The init exited (status from waitpid) or, re-adopted, the init's pidfd fired (None)."""
        self._close_input()  # before the pumps close the master it writes to
        for pump in self.pumps:
            pump.drain()
        self.pumps = []
        self._finish_attachments()
        if self.pidfd >= 0:
            self.sup.loop.remove_reader(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = -1
        error = ""
        if status is not None:
            code = exit_code_of(status)
        elif self.last_signal is not None:
            code = 128 + self.last_signal  # what a signalled init reports; inferred, not observed
        else:
            code, error = 255, "exit code unknown: the container was re-adopted after a supervisor restart"
        oom = False
        if self.cgroup is not None:
            try:
                oom = self.executor.oom_killed(self.cgroup)
            except (OSError, errdefs.StackyardError):
                oom = False
            try:
                self.executor.cleanup(self.spec, self.cgroup)
            except (OSError, errdefs.StackyardError) as exc:
                self.sup.log(f"{self.id[:12]}: cleanup failed: {exc}")
        self.cgroup = None
        self.child_pid = 0
        self._cancel(("kill_timer", "health_timer"))
        self._stop_probe()
        uptime = self.uptime()
        self.save(st.on_exited(self.state, exit_code=code, oom_killed=oom, now=now_ns(), error=error))
        if oom:
            self.emit("oom")
        self.emit("die", exitCode=str(code))
        if self.stop_requested:
            self.stop_requested = False
            self.emit("stop")
        restarting = self._after_exit(code, uptime)
        if not restarting:
            # A policy restart keeps it, so running joiners and the new run share one memory.
            self.release_shm()
        self.sup.notify_exit(self, restarting=restarting)

    def _after_exit(self, code: int, uptime: float) -> bool:
        """Applies the restart policy (or the restart-on-unhealthy); True if it will start again."""
        if self.restart_after_exit:
            self.restart_after_exit = False
            self.save(st.on_restarting(self.state))
            self.restart_timer = self.sup.loop.call_later(0, self._policy_start)
            return True
        reason = restart_reason(self.policy, exit_code=code, restart_count=self.state.restart_count,
                                manually_stopped=self.state.manually_stopped)
        if reason is None:
            if self.config.get("auto_remove") and not self.sup.shutting_down:
                self.sup.loop.call_later(0, lambda: self.sup.remove(self, auto=True))
            return False
        self.backoff = next_backoff(self.backoff, uptime=uptime)
        self.save(st.on_restarting(self.state))
        self.restart_timer = self.sup.loop.call_later(self.backoff, self._policy_start)
        return True

    def _policy_start(self) -> None:
        self.restart_timer = None
        if self.state.status is not st.Status.RESTARTING:
            return
        try:
            self.start(restart=True)
        except errdefs.StackyardError as exc:
            self.sup.log(f"{self.id[:12]}: restart failed: {exc}")
            # Counts as a failed run: the policy decides again, with a longer backoff.
            self.save(st.on_restarting(dataclasses.replace(self.state, restart_count=self.state.restart_count + 1)))
            self._after_exit(128, 0.0)
            self.sup.notify_exit(self, restarting=self.state.status is st.Status.RESTARTING)

    # -- requests -------------------------------------------------------------------------
    def signal(self, signum: int, *, all_processes: bool = False) -> None:
        if self.cgroup is None:
            raise errdefs.Conflict(f"Container {self.id} is not running")
        self.last_signal = signum
        self.executor.kill(self.cgroup, signum, all_processes=all_processes,
                           pid=None if all_processes else self.state.pid or None)

    def stop(self, timeout: float | None, signum: int) -> None:
        """Stop signal, then after `timeout` seconds SIGKILL to the whole cgroup."""
        self.save(st.on_stop_requested(self.state))
        self._cancel(("restart_timer",))
        if self.state.status is st.Status.RESTARTING:
            self.save(dataclasses.replace(self.state, status=st.Status.EXITED))
            self.sup.notify_exit(self, restarting=False)
            return
        self.begin_stop(timeout, signum)

    def begin_stop(self, timeout: float | None, signum: int) -> None:
        if self.cgroup is None:
            return
        self.stop_requested = True
        self.emit("kill", signal=str(signum))
        try:
            self.signal(signum)
        except errdefs.Conflict:
            return  # the init is exiting already: the reaper delivers its exit
        if self.state.status is st.Status.PAUSED:
            self.executor.resume(self.cgroup)  # a frozen process cannot act on the signal
            self.save(st.on_unpaused(self.state))
        if timeout is not None and timeout >= 0 and self.kill_timer is None:
            self.kill_timer = self.sup.loop.call_later(timeout, self._kill_now)

    def _kill_now(self) -> None:
        self.kill_timer = None
        if self.cgroup is not None:
            self.last_signal = signal.SIGKILL
            self.executor.kill(self.cgroup, signal.SIGKILL, all_processes=True)

    def pause(self) -> None:
        new = st.on_paused(self.state)
        self.executor.pause(self.cgroup)
        self.save(new)
        self.emit("pause")

    def unpause(self) -> None:
        new = st.on_unpaused(self.state)
        self.executor.resume(self.cgroup)
        self.save(new)
        self.emit("unpause")

    # -- healthchecks ---------------------------------------------------------------------
    def _schedule_probe(self) -> None:
        if self.health_cfg is None or self.cgroup is None:
            return
        delay = hc.next_probe_delay(self.health_cfg, self.state.health or {}, uptime=self.uptime())
        self.health_timer = self.sup.loop.call_later(delay, self._run_probe)

    def _run_probe(self) -> None:
        self.health_timer = None
        if self.cgroup is None or self.probe is not None:
            return
        if self.state.status is st.Status.PAUSED:
            self._schedule_probe()  # Docker skips checks while paused
            return
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        process = {**self.spec["process"], "args": list(self.health_cfg.argv), "terminal": False}
        start = now_ns()
        try:
            pid = self.executor.exec(self.state.pid, self.cgroup, process, stdin=devnull,
                                     stdout=write_fd, stderr=write_fd, spec=self.spec)
        except (OSError, errdefs.StackyardError) as exc:
            os.close(read_fd)
            self._record_probe(start, -1, f"exec failed: {exc}")
            return
        finally:
            os.close(write_fd)
            os.close(devnull)
        os.set_blocking(read_fd, False)
        self.probe = {"pid": pid, "fd": read_fd, "out": bytearray(), "start": start, "timed_out": False}
        probe = self.probe
        self.sup.loop.add_reader(read_fd, lambda: self._read_probe(probe))
        self.probe["timer"] = self.sup.loop.call_later(self.health_cfg.timeout, self._probe_timeout)
        self.sup.children[pid] = self._probe_exited

    def _read_probe(self, probe: dict) -> bool:
        """One read of the probe's output (kept up to MAX_OUTPUT); False at EOF or when empty."""
        try:
            data = os.read(probe["fd"], 65536)
        except BlockingIOError:
            return False
        if not data:
            self.sup.loop.remove_reader(probe["fd"])
            return False
        if len(probe["out"]) < hc.MAX_OUTPUT:
            probe["out"] += data[:hc.MAX_OUTPUT - len(probe["out"])]
        return True

    def _probe_timeout(self) -> None:
        if self.probe is not None:
            self.probe["timed_out"] = True
            try:
                os.kill(self.probe["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _stop_probe(self) -> dict | None:
        probe, self.probe = self.probe, None
        if probe is not None:
            while self._read_probe(probe):
                pass
            self.sup.loop.remove_reader(probe["fd"])
            os.close(probe["fd"])
            probe["timer"].cancel()
            self.sup.children.pop(probe["pid"], None)
        return probe

    def _probe_exited(self, status: int) -> None:
        probe = self._stop_probe()
        if probe is None or self.cgroup is None:
            return
        if probe["timed_out"]:
            code, output = -1, f"Health check exceeded timeout ({self.health_cfg.timeout:g}s)"
        else:
            code, output = exit_code_of(status), probe["out"].decode("utf-8", "replace")
        self._record_probe(probe["start"], code, output)

    def _record_probe(self, start: int, code: int, output: str) -> None:
        before = (self.state.health or {}).get("Status")
        health = hc.record_result(self.health_cfg, self.state.health or hc.initial_health(),
                                  exit_code=code, output=output, start=format_ns(start),
                                  end=format_ns(now_ns()), uptime=self.uptime())
        self.save(dataclasses.replace(self.state, health=health))
        if health["Status"] != before:
            self.emit(f"health_status: {health['Status']}")
            if health["Status"] == hc.UNHEALTHY and self.config.get("restart_on_unhealthy"):
                # Our extension (label io.stackyard.restart-on-unhealthy=true): a restart as
                # `docker restart` does it, counted in RestartCount.
                self.restart_after_exit = True
                self.begin_stop(self.config.get("stop_timeout", DEFAULT_STOP_TIMEOUT),
                                signal_number(self.config.get("stop_signal") or "SIGTERM"))
                return
        self._schedule_probe()

    # -- re-adoption ----------------------------------------------------------------------
    def adopt(self, cgroup, pids: list[int]) -> None:
        """Takes over a container that outlived the previous supervisor."""
        self.cgroup = cgroup
        pid = self.state.pid if self.state.pid in pids else min(pids)
        self.pidfd = os.pidfd_open(pid)
        self.sup.loop.add_reader(self.pidfd, lambda: self.on_exit(None))
        self.started_mono = time.monotonic()
        if not self.config.get("tty"):
            # The container holds its FIFOs open: reopen our read ends and keep logging.
            writer = self._open_writer()
            self.pumps = [Pump(self.sup.loop, os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), stream, writer, self._tee)
                          for stream, path in ensure_fifos(self.run_dir).items()]
        self._schedule_probe()

    def _cancel(self, names: tuple[str, ...]) -> None:
        for name in names:
            timer = getattr(self, name)
            if timer is not None:
                timer.cancel()
                setattr(self, name, None)

    def forget(self) -> None:
        """Drops every timer and fd (before the record is removed)."""
        self._cancel(("kill_timer", "restart_timer", "health_timer"))
        self._stop_probe()
        self._close_input()
        if self.pidfd >= 0:
            self.sup.loop.remove_reader(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = -1
        for pump in self.pumps:
            pump.close()
        self.pumps = []
        for attachment in self.attachments:
            attachment.close()
        self.attachments = []
        if self.writer is not None:
            self.writer.close()
            self.writer = None
