"""`stackyard daemon` (run in the foreground), `stackyard daemon status`, `stackyard daemon stop`.

Called by `runtime.cli` (registered on its typer app). Only this module prints; the daemon
itself lives in `runtime.daemon`.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import time
from pathlib import Path
from typing import List, Optional

import typer

from runtime import errdefs
from runtime.config import DEFAULT_EXEC_ROOT, DEFAULT_SOCKET, make_config, read_config_file

DEFAULT_CONFIG_FILE = "/etc/stackyard/daemon.json"


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 3.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def query_version(socket_path: str) -> Optional[dict]:
    """The daemon's /version, or None when nothing answers on the socket."""
    connection = _UnixHTTPConnection(socket_path)
    try:
        connection.request("GET", "/version")
        response = connection.getresponse()
        if response.status != 200:
            return None
        return json.loads(response.read())
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (a parent may not have reaped it yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _stop_supervisor(exec_root: str, timeout: float) -> None:
    from runtime.supervisor.client import SupervisorClient
    try:
        pid = SupervisorClient(os.path.join(exec_root, "supervisor.sock")).ping()["pid"]
    except errdefs.StackyardError:
        typer.echo("supervisor: not running")
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        _fail(f"supervisor (pid {pid}) did not stop within {timeout:g} s", 1)
    typer.echo(f"supervisor stopped (pid {pid})")


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"stackyard daemon: {message}", err=True)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    daemon_app = typer.Typer(help="Run or control the built-in engine's daemon.", no_args_is_help=False)

    @daemon_app.callback(invoke_without_command=True)
    def run(ctx: typer.Context,
            root: Optional[str] = typer.Option(None, "--root", "--data-root", help="state directory (default /var/lib/stackyard)"),
            exec_root: Optional[str] = typer.Option(None, "--exec-root", help="run-time state (default /run/stackyard)"),
            host: Optional[List[str]] = typer.Option(None, "--host", "-H", help="unix://PATH or tcp://HOST:PORT (repeatable)"),
            log_level: Optional[str] = typer.Option(None, "--log-level", help="debug, info, warning, error"),
            config_file: Optional[str] = typer.Option(None, "--config-file", help="JSON file in dockerd's daemon.json keys "
                                                      "(default /etc/stackyard/daemon.json when it exists)"),
            ) -> None:
        """Run the daemon in the foreground (Ctrl-C or SIGTERM stops it)."""
        if ctx.invoked_subcommand is not None:
            return
        if config_file is None and os.path.exists(DEFAULT_CONFIG_FILE):
            config_file = DEFAULT_CONFIG_FILE  # the file the in-process image verbs read too
        try:
            values = read_config_file(config_file) if config_file else {}
            config = make_config(values, root=root, exec_root=exec_root, hosts=host, log_level=log_level)
        except errdefs.InvalidArgument as exc:
            _fail(str(exc), 2)
        if os.geteuid() != 0:
            _fail("the daemon needs root (namespaces, mounts, cgroups)", 1)
        from runtime.daemon.app import run as run_daemon
        try:
            run_daemon(config)
        except errdefs.StackyardError as exc:
            _fail(str(exc), 1)
        except OSError as exc:
            _fail(f"cannot listen: {exc.strerror or exc}", 1)

    @daemon_app.command("status")
    def status(host: str = typer.Option(f"unix://{DEFAULT_SOCKET}", "--host", "-H")) -> None:
        """Say whether a daemon answers on the socket (exit 0) or not (exit 1)."""
        path = host[len("unix://"):] if host.startswith("unix://") else host
        version = query_version(path)
        if version is None:
            typer.echo(f"not running (nothing answers on {path})")
            raise typer.Exit(1)
        typer.echo(f"running: stackyard {version.get('Version')} (API {version.get('ApiVersion')}) on {path}")

    @daemon_app.command("stop")
    def stop(exec_root: str = typer.Option(DEFAULT_EXEC_ROOT, "--exec-root"),
             timeout: float = typer.Option(10.0, "--timeout", "-t"),
             supervisor: bool = typer.Option(False, "--supervisor", help="stop the supervisor too "
                                             "(containers keep running; the next one re-adopts them)")) -> None:
        """Stop the daemon by the PID in its pid file (containers keep running)."""
        if supervisor:
            _stop_supervisor(exec_root, timeout)
        pidfile = Path(exec_root) / "stackyard.pid"
        try:
            pid = int(pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            typer.echo("not running (no pid file)")
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pidfile.unlink(missing_ok=True)
            typer.echo("not running (stale pid file removed)")
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                typer.echo(f"stopped (pid {pid})")
                return
            time.sleep(0.05)
        _fail(f"daemon (pid {pid}) did not stop within {timeout:g} s", 1)

    app.add_typer(daemon_app, name="daemon")
