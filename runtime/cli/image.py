"""`stackyard image pull|push|ls|inspect|tag|rm|import|load|save`, in-process.

Called by `runtime.cli` (registered on its typer app). Each verb opens an ImageService on
`--root` (default $STACKYARD_ROOT or /var/lib/stackyard) and prints what `docker image …`
prints: plain progress lines, tables, JSON for inspect. Errors are one line on stderr; exit 2
for invalid input, 1 for everything else that failed. Only this module prints.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from typing import Callable, List, Optional

import typer

from runtime import errdefs
from runtime.cli.errors import run_verb

DEFAULT_ROOT = "/var/lib/stackyard"


def _service(ctx: typer.Context):
    from runtime.images import ImageService
    from runtime.registry.daemon_settings import registry_config_from_daemon_file
    # The registry settings (insecure registries, mirrors) are the daemon's, from its file.
    config = registry_config_from_daemon_file(ctx.obj.get("config_file"))
    return ImageService(ctx.obj["root"], platform=ctx.obj.get("platform"), registry_config=config)


def _run(verb: str, body: Callable[[], None]) -> None:
    run_verb(f"stackyard image {verb}", body)


@contextlib.contextmanager
def _naming(path: str):
    """Bad input read from a file: the error says which file."""
    try:
        yield
    except errdefs.InvalidArgument as exc:
        raise errdefs.InvalidArgument(f"{path}: {exc}") from None


def _plain_progress(event: dict) -> None:
    """Plain lines like `docker pull` off a terminal: every status once, no progress bars."""
    if "progressDetail" in event and event.get("status") in ("Downloading", "Extracting", "Pushing"):
        return
    if "aux" in event:
        return
    if "stream" in event:
        typer.echo(event["stream"].rstrip("\n"))
        return
    text = event.get("status", "")
    if event.get("id"):
        text = f"{event['id']}: {text}"
    typer.echo(text)


def _human_size(size: float) -> str:
    units = ["B", "kB", "MB", "GB", "TB"]
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.3g}{units[i]}"


def _human_ago(seconds: float) -> str:
    if seconds <= 0:
        return "N/A"
    delta = time.time() - seconds
    if delta < 1:
        return "Less than a second ago"
    for limit, unit, div in ((120, "seconds", 1), (7200, "minutes", 60), (172800, "hours", 3600),
                             (1209600, "days", 86400), (5259600, "weeks", 604800),
                             (63115200, "months", 2629800)):
        if delta < limit:
            count = max(1, int(delta // div))
            return f"{count} {unit if count != 1 else unit[:-1]} ago"
    return f"{int(delta // 31557600)} years ago"


def _in_use_by_snapshots(svc) -> Callable[[str], bool]:
    """In-process stand-in for "a container uses it": an active snapshot built on the image."""
    active = {s.parent for s in svc.snapshots.list() if s.kind == "active" and s.parent}

    def in_use(image_id: str) -> bool:
        try:
            return svc.get(image_id).chain_id in active
        except errdefs.NotFound:
            return False
    return in_use


def register(app: typer.Typer) -> None:
    images = typer.Typer(help="Manage images (pull, push, list, inspect, tag, remove, import, load, save)",
                         no_args_is_help=True, add_completion=False)
    app.add_typer(images, name="image")

    @images.callback()
    def _root(ctx: typer.Context,
              root: str = typer.Option(os.environ.get("STACKYARD_ROOT") or DEFAULT_ROOT, "--root",
                                       help="State root of the image store ($STACKYARD_ROOT)"),
              config_file: Optional[str] = typer.Option(
                  None, "--config-file", help="Daemon config file for insecure-registries and "
                  "registry-mirrors (default /etc/stackyard/daemon.json if it exists)")) -> None:
        ctx.obj = {"root": root, "config_file": config_file}

    @images.command("pull")
    def pull(ctx: typer.Context, reference: str,
             platform: Optional[str] = typer.Option(None, "--platform", help="os/arch[/variant]"),
             quiet: bool = typer.Option(False, "-q", "--quiet")) -> None:
        """Pull an image from a registry."""
        def body() -> None:
            svc = _service(ctx)
            image = svc.pull(reference, platform=platform, progress=None if quiet else _plain_progress)
            from runtime.images.reference import parse_reference
            typer.echo(str(parse_reference(reference)) if not quiet else image.id)
        _run("pull", body)

    @images.command("push")
    def push(ctx: typer.Context, reference: str, quiet: bool = typer.Option(False, "-q", "--quiet")) -> None:
        """Push an image to its registry."""
        def body() -> None:
            digest = _service(ctx).push(reference, progress=None if quiet else _plain_progress)
            if quiet:
                typer.echo(digest)
        _run("push", body)

    @images.command("ls")
    def ls(ctx: typer.Context, all_: bool = typer.Option(False, "-a", "--all"),
           quiet: bool = typer.Option(False, "-q", "--quiet"),
           digests: bool = typer.Option(False, "--digests"),
           no_trunc: bool = typer.Option(False, "--no-trunc"),
           filters: List[str] = typer.Option([], "-f", "--filter", help="dangling=true|false, reference=PATTERN"),
           fmt: Optional[str] = typer.Option(None, "--format", help="json")) -> None:
        """List images."""
        def body() -> None:
            dangling, reference = None, None
            for item in filters:
                key, _, value = item.partition("=")
                if key == "dangling":
                    dangling = value.lower() in ("true", "1")
                elif key == "reference":
                    reference = value
                else:
                    raise errdefs.InvalidArgument(f"invalid filter {key!r} (dangling, reference)")
            rows = _service(ctx).list(dangling=dangling, reference_filter=reference)
            if quiet:
                for image in rows:
                    typer.echo(image.id if no_trunc else image.short_id)
                return
            table = []
            for image in rows:
                names = [t.rsplit(":", 1) for t in image.repo_tags] or [["<none>", "<none>"]]
                digest = image.repo_digests[0].rpartition("@")[2] if image.repo_digests else "<none>"
                for repo, tag in names:
                    table.append({"Repository": repo, "Tag": tag, "Digest": digest,
                                  "ID": image.id if no_trunc else image.short_id,
                                  "CreatedSince": _human_ago(image.created_unix),
                                  "Size": _human_size(image.size)})
            if fmt == "json":
                for row in table:
                    typer.echo(json.dumps(row))
                return
            columns = ["Repository", "Tag"] + (["Digest"] if digests else []) + ["ID", "CreatedSince", "Size"]
            headers = {"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
                       "CreatedSince": "CREATED", "Size": "SIZE"}
            widths = {c: max([len(headers[c])] + [len(r[c]) for r in table]) for c in columns}
            typer.echo("   ".join(headers[c].ljust(widths[c]) for c in columns).rstrip())
            for row in table:
                typer.echo("   ".join(row[c].ljust(widths[c]) for c in columns).rstrip())
        _run("ls", body)

    @images.command("inspect")
    def inspect(ctx: typer.Context, references: List[str]) -> None:
        """Show images' details as JSON."""
        def body() -> None:
            svc = _service(ctx)
            found, missing = [], []
            for ref in references:
                try:
                    found.append(svc.inspect(ref))
                except errdefs.NotFound as exc:
                    missing.append(str(exc))
            typer.echo(json.dumps(found, indent=4))
            if missing:
                raise errdefs.NotFound("; ".join(missing))
        _run("inspect", body)

    @images.command("tag")
    def tag(ctx: typer.Context, source: str, target: str) -> None:
        """Create a tag TARGET that refers to SOURCE."""
        _run("tag", lambda: _service(ctx).tag(source, target))

    @images.command("rm")
    def rm(ctx: typer.Context, references: List[str], force: bool = typer.Option(False, "-f", "--force")) -> None:
        """Remove images (refused while a container's rootfs is built on them, unless forced)."""
        def body() -> None:
            svc = _service(ctx)
            failed = []
            for ref in references:
                try:
                    for item in svc.remove(ref, force=force, in_use=_in_use_by_snapshots(svc)):
                        key, value = next(iter(item.items()))
                        typer.echo(f"{key}: {value}")
                except errdefs.StackyardError as exc:
                    failed.append(exc)
            if failed:
                for exc in failed[:-1]:
                    typer.echo(f"stackyard image rm: {exc}", err=True)
                raise failed[-1]
        _run("rm", body)

    @images.command("import")
    def import_(ctx: typer.Context, source: str = typer.Argument(..., help="tarball path, or - for stdin"),
                reference: Optional[str] = typer.Argument(None),
                change: List[str] = typer.Option([], "-c", "--change"),
                message: str = typer.Option("", "-m", "--message"),
                platform: Optional[str] = typer.Option(None, "--platform")) -> None:
        """Create an image from a rootfs tarball (plain, gzip or zstd)."""
        def body() -> None:
            svc = _service(ctx)
            if source == "-":
                image = svc.import_rootfs(sys.stdin.buffer, reference, changes=change, message=message,
                                          platform=platform)
            else:
                with open(source, "rb") as f, _naming(source):
                    image = svc.import_rootfs(f, reference, changes=change, message=message, platform=platform)
            typer.echo(image.id)
        _run("import", body)

    @images.command("load")
    def load(ctx: typer.Context, input_: Optional[str] = typer.Option(None, "-i", "--input"),
             quiet: bool = typer.Option(False, "-q", "--quiet")) -> None:
        """Load images from a `docker save` or OCI layout archive (file or stdin)."""
        def body() -> None:
            svc = _service(ctx)
            if input_:
                with open(input_, "rb") as f, _naming(input_):
                    lines = svc.load(f)
            else:
                if sys.stdin.isatty():
                    raise errdefs.InvalidArgument("requested load from stdin, but stdin is a terminal "
                                                  "(use -i FILE or a pipe)")
                lines = svc.load(sys.stdin.buffer)
            if not quiet:
                for line in lines:
                    typer.echo(line)
        _run("load", body)

    @images.command("save")
    def save(ctx: typer.Context, references: List[str],
             output: Optional[str] = typer.Option(None, "-o", "--output"),
             fmt: str = typer.Option("docker", "--format", help="docker (docker save) or oci (image layout)")) -> None:
        """Save images to a tar archive (file or stdout)."""
        def body() -> None:
            svc = _service(ctx)
            if output:
                tmp = f"{output}.tmp-{os.getpid()}"
                try:
                    with open(tmp, "wb") as f:
                        svc.save(references, f, format=fmt)
                    os.replace(tmp, output)
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
            else:
                if sys.stdout.isatty():
                    raise errdefs.InvalidArgument("refusing to write an archive to a terminal (use -o FILE)")
                svc.save(references, sys.stdout.buffer, format=fmt)
                sys.stdout.buffer.flush()
        _run("save", body)
