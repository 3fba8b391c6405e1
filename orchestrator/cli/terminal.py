"""Attached terminal I/O for the stack commands: interleaved logs, exec and attached one-offs.

Called by `cli.stack_commands` (`logs`, foreground `up`, `exec`) and `cli.run_command` (`run`:
`pump_tty`, `pump_piped`). Everything here writes to the
user's terminal, which is why it lives in `cli/`.
"""

import os
import sys

_COLOURS = ("36", "33", "32", "35", "34", "31", "96", "93", "92", "95")


def print_logs(client, containers, *, follow: bool, tail: str, timestamps: bool,
               since: str | None = None, until: str | None = None) -> None:
    """Interleave the containers' logs line by line, `name | line`, coloured on a TTY; with
    `follow`, one reader thread per container until they all end or Ctrl-C. `since`/`until`
    are Unix seconds as the engine reads them (cli/timespec.py)."""
    import threading

    width = max((len(c.name) for c in containers), default=0)
    colour = sys.stdout.isatty()
    lock = threading.Lock()
    streams = []

    def pump(index: int, container) -> None:
        prefix = f"{container.name:<{width}} |"
        if colour:
            prefix = f"\033[{_COLOURS[index % len(_COLOURS)]}m{prefix}\033[0m"
        stream = client.container_logs(container.id, follow=follow, tail=tail, timestamps=timestamps,
                                      since=since, until=until)
        streams.append(stream)
        pending = b""
        for _kind, chunk in stream:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            with lock:
                for line in lines:
                    sys.stdout.write(f"{prefix} {line.decode('utf-8', 'replace')}\n")
                sys.stdout.flush()
        if pending:
            with lock:
                sys.stdout.write(f"{prefix} {pending.decode('utf-8', 'replace')}\n")

    if not follow:
        for index, container in enumerate(containers):
            pump(index, container)
        return
    threads = [threading.Thread(target=pump, args=(i, c), daemon=True) for i, c in enumerate(containers)]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.5)
    finally:
        for stream in streams:
            close = getattr(stream, "close", None)
            if close:
                close()


def piped_exec(client, container: str, command: list[str], options: dict) -> int:
    """`exec` without a TTY, as `docker compose exec -T`: our stdin is copied to the process
    (and closed when ours ends, so `exec -T db psql < dump.sql` works), its stdout and stderr
    to ours; its exit code is ours."""
    created = client.exec_create(container, {**options, "Cmd": command, "AttachStdin": True,
                                             "AttachStdout": True, "AttachStderr": True, "Tty": False})
    sock, pending = client.exec_attach(created["Id"], tty=False)
    pump_piped(sock, pending, stdin=True)
    return int(client.exec_inspect(created["Id"]).get("ExitCode") or 0)


def interactive_exec(client, container: str, command: list[str], options: dict | None = None) -> int:
    """`exec` on a terminal: a TTY in the container, our terminal in raw mode, bytes copied
    both ways until the process ends; its exit code is ours."""
    created = client.exec_create(container, {**(options or {}), "Cmd": command, "AttachStdin": True,
                                             "AttachStdout": True, "AttachStderr": True, "Tty": True})
    sock, pending = client.exec_attach(created["Id"], tty=True)
    pump_tty(sock, pending, lambda rows, columns: client.exec_resize(created["Id"], height=rows, width=columns))
    return int(client.exec_inspect(created["Id"]).get("ExitCode") or 0)


def close_input(sock) -> None:
    """Half-close a hijacked connection: the process reads end of file, we keep its output.
    Not over TLS: `SSLSocket.shutdown` drops the TLS layer and every later read returns raw
    ciphertext, so there the process's input stays open (as the docker CLI leaves it)."""
    import socket
    import ssl

    if isinstance(sock, ssl.SSLSocket):
        return
    sock.shutdown(socket.SHUT_WR)


def pump_piped(sock, pending: bytes, *, stdin: bool) -> None:
    """Copy a hijacked connection without a TTY until the engine closes it: its multiplexed
    output to our stdout and stderr, and (with `stdin`) our stdin to it in a thread, closing
    its write side at our end of input while the output keeps coming."""
    import threading

    from orchestrator.engine import streams

    def feed() -> None:
        try:
            while True:
                try:
                    data = os.read(sys.stdin.fileno(), 65536)
                except OSError:
                    data = b""  # stdin closed or unreadable (`<&-`): end of input all the same
                if not data:
                    break
                sock.sendall(data)
            close_input(sock)
        except OSError:
            pass  # the process ended first: nothing more to send

    def received():
        if pending:
            yield pending
        while True:
            data = sock.recv(65536)
            if not data:
                return
            yield data

    if stdin:
        threading.Thread(target=feed, daemon=True).start()
    try:
        for stream, payload in streams.iter_frames(received()):
            out = sys.stderr if stream == streams.STDERR else sys.stdout
            out.buffer.write(payload)
            out.flush()
    finally:
        sock.close()


def pump_tty(sock, pending: bytes, resize) -> None:
    """Copy a hijacked TTY connection both ways with our terminal in raw mode, until the
    engine closes it; `resize(rows, columns)` tells the engine our terminal's size first."""
    import select
    import shutil
    import termios
    import tty

    size = shutil.get_terminal_size()
    try:
        resize(size.lines, size.columns)
    except Exception:  # noqa: BLE001 - a size the engine refuses only affects line wrapping
        pass
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    saved = termios.tcgetattr(stdin)
    try:
        tty.setraw(stdin, termios.TCSANOW)  # not TCSAFLUSH: what was typed ahead is kept
        if pending:
            os.write(stdout, pending)
        sources = [sock, stdin]
        while True:
            readable, _, _ = select.select(sources, [], [])
            if sock in readable:
                data = sock.recv(65536)
                if not data:
                    break
                os.write(stdout, data)
            if stdin in readable:
                data = os.read(stdin, 65536)
                if not data:
                    close_input(sock)  # end of input, keep reading output
                    sources.remove(stdin)
                else:
                    sock.sendall(data)
    finally:
        termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
        sock.close()
