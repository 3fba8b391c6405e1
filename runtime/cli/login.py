"""`stackyard login [SERVER] -u USER [-p PASS | --password-stdin]` and `stackyard logout [SERVER]`.

Called by `runtime.cli` (registered on its typer app). Like `docker login`: the credentials
are checked against the registry first (runtime.registry.RegistryClient.check_login) and only
then stored in the docker config file (or its credential helper); `logout` forgets them.
Only this module prints: "Login Succeeded" on stdout, errors as one line on stderr,
exit 1 when the registry refuses or cannot be reached, 2 for bad input.
"""

from __future__ import annotations

import sys
from typing import Callable, Optional

import typer

from runtime import errdefs
from runtime.cli.errors import run_verb

# runtime.registry is imported inside the commands: it pulls in httpx, which the other
# runtime verbs (and `--help`) should not pay for.

DEFAULT_SERVER = "docker.io"


def registry_host(server: Optional[str]) -> str:
    """The registry host a SERVER argument names ("https://r:5000/v1/" -> "r:5000"; Hub -> docker.io).

    Raises:
        errdefs.InvalidArgument: an empty or malformed server.
    """
    from runtime.registry.endpoints import is_docker_hub, split_host

    text = (server or DEFAULT_SERVER).strip()
    if "://" in text:
        scheme, _, text = text.partition("://")
        if scheme not in ("http", "https"):
            raise errdefs.InvalidArgument(f"invalid registry address {server!r}: unsupported scheme {scheme!r}")
    host = text.split("/", 1)[0]
    if not host or any(c.isspace() for c in host):
        raise errdefs.InvalidArgument(f"invalid registry address {server!r}")
    split_host(host)
    return DEFAULT_SERVER if is_docker_hub(host) else host


def read_password_stdin() -> str:
    """The whole of stdin without its trailing newline (as `docker login --password-stdin`)."""
    return sys.stdin.read().rstrip("\r\n")


def _run(verb: str, body: Callable[[], None]) -> None:
    run_verb(f"stackyard {verb}", body)


def _credentials(username: Optional[str], password: Optional[str], password_stdin: bool) -> tuple[str, str]:
    """(username, password) from the flags, stdin or a terminal prompt.

    Raises:
        errdefs.InvalidArgument: conflicting or missing flags, an empty password.
    """
    if password is not None and password_stdin:
        raise errdefs.InvalidArgument("--password and --password-stdin are mutually exclusive")
    if password_stdin:
        if not username:
            raise errdefs.InvalidArgument("--password-stdin needs --username")
        password = read_password_stdin()
    if not username:
        if not sys.stdin.isatty():
            raise errdefs.InvalidArgument("a username is required (-u USER); there is no terminal to ask on")
        username = typer.prompt("Username").strip()
    if password is None:
        if not sys.stdin.isatty():
            raise errdefs.InvalidArgument("a password is required (--password-stdin or -p); there is no terminal to ask on")
        password = typer.prompt("Password", hide_input=True)
    if not username:
        raise errdefs.InvalidArgument("the username is empty")
    if not password:
        raise errdefs.InvalidArgument("the password is empty")
    return username, password


def register(app: typer.Typer) -> None:
    @app.command("login")
    def login(
        server: Optional[str] = typer.Argument(None, help="Registry (host[:port]); default Docker Hub."),
        username: Optional[str] = typer.Option(None, "--username", "-u", help="Username."),
        password: Optional[str] = typer.Option(None, "--password", "-p", help="Password (prefer --password-stdin)."),
        password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
        config_file: Optional[str] = typer.Option(
            None, "--config-file", help="Daemon config file for insecure-registries "
            "(default /etc/stackyard/daemon.json if it exists)"),
    ) -> None:
        """Log in to a registry: check the credentials, then store them in the docker config."""
        def body() -> None:
            from runtime.registry import RegistryClient, store_credentials
            from runtime.registry.daemon_settings import registry_config_from_daemon_file

            host = registry_host(server)
            if password is not None:
                typer.echo("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", err=True)
            user, secret = _credentials(username, password, password_stdin)
            # Interactive: one retry, not a minute of back-off, before saying the registry is down.
            # Registries the daemon treats as insecure are insecure here too.
            config = registry_config_from_daemon_file(config_file, attempts=2)
            with RegistryClient(config) as client:
                client.check_login(host, user, secret)
            # Only credentials the registry accepted are written.
            store_credentials(host, user, secret, config.docker_config_path)
            typer.echo("Login Succeeded")

        _run("login", body)

    @app.command("logout")
    def logout(server: Optional[str] = typer.Argument(None, help="Registry (host[:port]); default Docker Hub.")) -> None:
        """Forget the credentials stored for a registry."""
        def body() -> None:
            from runtime.registry import RegistryConfig, erase_credentials
            from runtime.registry.credentials import credentials_key

            host = registry_host(server)
            key = credentials_key(host)
            if erase_credentials(host, RegistryConfig().docker_config_path):
                typer.echo(f"Removing login credentials for {key}")
            else:
                typer.echo(f"Not logged in to {key}")

        _run("logout", body)
