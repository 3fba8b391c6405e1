"""The `stackyard` command line: parse flags, call the core, print, choose the exit code.

`main()` is the console script (and `python -m orchestrator.cli.app`). The Typer app is built
by `build_app()` when `main()` runs, never at import time. Exit codes (ARCHITECTURE.md):
0 ok, 1 internal or runtime failure, 2 invalid input (stack-file errors, bad flags),
130 interrupted.

Imports are lazy on purpose: `stackyard validate` is benchmarked as a whole process, so the
loader, YAML and JSON are imported inside the commands, and nothing here pulls in rich,
httpx, networkx or `runtime/`.
"""

import enum
import sys
from typing import Annotated, Callable, NoReturn, Optional

import typer

from orchestrator.cli.coercion import PlainCommand, PlainGroup

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INVALID = 2
EXIT_INTERRUPTED = 130


class ValidateFormat(str, enum.Enum):
    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    GITHUB = "github"
    JUNIT = "junit"


class ConfigFormat(str, enum.Enum):
    YAML = "yaml"
    JSON = "json"


from orchestrator.cli.options import (DebugOpt, EnvFileOpt, FileOpt, GlobalOptions, ProfileOpt,
                                      ProjectDirOpt, StackNameOpt)


# ---- output and exit ----------------------------------------------------------------------

def _err(text: str) -> None:
    sys.stderr.write(text if text.endswith("\n") or not text else text + "\n")


def _print_diagnostics(diagnostics) -> None:
    from orchestrator.cli.formats import FileReport, render_text

    _err(render_text([FileReport("", tuple(diagnostics))]))


def _run(debug: bool, body: Callable[[], int]) -> NoReturn:
    """Run a command body and turn its outcome into an exit code; the only `except Exception`.

    Stack-file errors are the user's to fix: every diagnostic, exit 2. Anything else is our
    bug: one line (the traceback only with --debug), exit 1.
    """
    from orchestrator.errors import StackFileError

    try:
        code = body()
    except StackFileError as exc:
        _print_diagnostics(exc.diagnostics)
        code = EXIT_INVALID
    except (typer.Exit, typer.Abort):
        raise
    except typer.BadParameter as exc:  # an option value only the command body could check
        _err(f"Error: {exc.format_message()}")
        code = EXIT_INVALID
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        # `stackyard config | head`: the reader left. Point stdout at /dev/null so that the
        # flush at exit does not fail a second time, and say nothing.
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - the top level, by design
        if debug:
            import traceback
            traceback.print_exc()
        detail = str(exc).splitlines()[0] if str(exc) else ""
        _err(f"stackyard: internal error: {type(exc).__name__}"
             + (f": {detail}" if detail else "")
             + ("" if debug else " (run with --debug for the traceback)"))
        code = EXIT_FAILURE
    raise typer.Exit(code)


# ---- validate -----------------------------------------------------------------------------

def _validate_targets(paths: list[str], opts: GlobalOptions, *, strict: bool, hermetic: bool):
    """One `(name, LoadOptions)` per PATH: a directory is a project, a file is a stack file."""
    import os

    common = dict(strict=strict, hermetic=hermetic)
    if not paths:
        return [(None, opts.load_options(**common))]
    targets = []
    for path in paths:
        if os.path.isdir(path):
            # Discovery starts in the directory; names in diagnostics stay relative to the cwd.
            targets.append((path, opts.load_options(files=(), project_directory=path, **common)))
        else:
            targets.append((path, opts.load_options(files=(path,), **common)))
    return targets


def _validate(paths: list[str], opts: GlobalOptions, fmt: ValidateFormat, *, strict: bool,
              hermetic: bool) -> int:
    from orchestrator.cli.formats import FileReport, render
    from orchestrator.errors import StackFileError
    from orchestrator.loader import load_stack

    reports = []
    for name, options in _validate_targets(paths, opts, strict=strict, hermetic=hermetic):
        try:
            result = load_stack(options)
        except StackFileError as exc:
            diagnostics = tuple(exc.diagnostics)
            label = name or (diagnostics[0].position.file if diagnostics else ".")
        else:
            diagnostics = tuple(result.diagnostics)
            label = name or ", ".join(result.context.config_files) or "."
        reports.append(FileReport(label, diagnostics))

    output = render(fmt.value, reports)
    if fmt is ValidateFormat.TEXT:
        _err(output)
    else:
        sys.stdout.write(output)
    return EXIT_OK if all(r.is_valid for r in reports) else EXIT_INVALID


# ---- config -------------------------------------------------------------------------------

def _dump_yaml(data) -> str:
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, sort_keys=True, default_flow_style=False,
                     allow_unicode=True)


def _dump_json(data) -> str:
    import json

    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _lines(items) -> str:
    return "".join(f"{item}\n" for item in items)


def _images(canonical: dict) -> list[str]:
    # As `docker compose config --images`: a service without `image` builds `<stack>-<service>`.
    name = canonical.get("name", "")
    return [service.get("image") or f"{name}-{service_name}"
            for service_name, service in sorted(canonical.get("services", {}).items())]


def _hashes(result, selector: str) -> str:
    from orchestrator.errors import Diagnostic, Position, StackFileError
    from orchestrator.loader import service_hashes

    hashes = service_hashes(result)
    if selector.strip() == "*":
        wanted = sorted(hashes)
    else:
        wanted = [s.strip() for s in selector.split(",") if s.strip()]
        missing = [s for s in wanted if s not in hashes]
        if missing:
            raise StackFileError([Diagnostic(Position("--hash"), "", f'no such service: "{s}"',
                                             code="not-found") for s in missing])
    return _lines(f"{service} {hashes[service]}" for service in wanted)


def _config(services: list[str], opts: GlobalOptions, *, fmt: ConfigFormat, quiet: bool,
            interpolate: bool, list_services: bool, list_volumes: bool, list_networks: bool,
            list_profiles: bool, list_images: bool, hash_selector: Optional[str],
            output: Optional[str]) -> int:
    from orchestrator.loader import load_stack
    from orchestrator.loader.tree import plain

    result = load_stack(opts.load_options(services=tuple(services), interpolate=interpolate))
    if result.diagnostics:
        _print_diagnostics(result.diagnostics)
    if quiet:
        return EXIT_OK
    canonical = plain(result.canonical)
    # `name` leads the output as in `docker compose config`, whichever phase decided it.
    canonical.setdefault("name", result.context.project_name)

    # Listing flags, in the order `docker compose config` checks them.
    if list_services:
        text = _lines(sorted(canonical.get("services", {})))
    elif list_volumes:
        text = _lines(sorted(canonical.get("volumes", {})))
    elif list_networks:
        text = _lines(sorted(canonical.get("networks", {})))
    elif list_profiles:
        text = _lines(sorted(set(result.declared_profiles)))
    elif list_images:
        text = _lines(_images(canonical))
    elif hash_selector is not None:
        text = _hashes(result, hash_selector)
    elif fmt is ConfigFormat.JSON:
        text = _dump_json(canonical)
    else:
        text = _dump_yaml(canonical)

    if output:
        try:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            _err(f"stackyard: cannot write {output}: {exc.strerror or exc}")
            return EXIT_FAILURE
    else:
        sys.stdout.write(text)
    return EXIT_OK


# ---- the app ------------------------------------------------------------------------------

def build_app() -> typer.Typer:
    """The Typer app with every command; built per run, never at import time."""
    app = typer.Typer(
        name="stackyard",
        cls=PlainGroup,
        help="Declarative compose-style stacks: validate, print and run compose files.",
        add_completion=False,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def _global(ctx: typer.Context, file: FileOpt = None, stack_name: StackNameOpt = None,
                env_file: EnvFileOpt = None, profile: ProfileOpt = None,
                project_directory: ProjectDirOpt = None, debug: DebugOpt = False) -> None:
        ctx.obj = GlobalOptions.from_flags(file, stack_name, env_file, profile,
                                           project_directory, debug)

    @app.command(cls=PlainCommand)
    def validate(
        ctx: typer.Context,
        paths: Annotated[Optional[list[str]], typer.Argument(
            metavar="PATH", help="Stack files or project directories (default: discovered).",
            show_default=False)] = None,
        fmt: Annotated[ValidateFormat, typer.Option(
            "--format", help="Output format.", case_sensitive=False)] = ValidateFormat.TEXT,
        strict: Annotated[bool, typer.Option(
            "--strict", help="Unknown or unsupported keys are errors.")] = False,
        hermetic: Annotated[bool, typer.Option(
            "--hermetic", help="Missing env files and unset variables are warnings.")] = False,
        file: FileOpt = None, stack_name: StackNameOpt = None, env_file: EnvFileOpt = None,
        profile: ProfileOpt = None, project_directory: ProjectDirOpt = None,
        debug: DebugOpt = False,
    ) -> None:
        """Check stack files; exit 0 when valid, 2 when not."""
        opts = GlobalOptions.from_flags(file, stack_name, env_file, profile, project_directory,
                             debug).merged(ctx)
        _run(opts.debug, lambda: _validate(list(paths or ()), opts, fmt, strict=strict,
                                           hermetic=hermetic))

    @app.command(cls=PlainCommand)
    def config(
        ctx: typer.Context,
        services: Annotated[Optional[list[str]], typer.Argument(
            metavar="SERVICE", help="Only these services (and their dependencies).",
            show_default=False)] = None,
        fmt: Annotated[ConfigFormat, typer.Option(
            "--format", help="Output format.", case_sensitive=False)] = ConfigFormat.YAML,
        quiet: Annotated[bool, typer.Option(
            "-q", "--quiet", help="Only validate; print nothing.")] = False,
        no_interpolate: Annotated[bool, typer.Option(
            "--no-interpolate", help="Don't substitute variables.")] = False,
        list_services: Annotated[bool, typer.Option("--services", help="List services.")] = False,
        list_volumes: Annotated[bool, typer.Option("--volumes", help="List volumes.")] = False,
        list_networks: Annotated[bool, typer.Option("--networks", help="List networks.")] = False,
        list_profiles: Annotated[bool, typer.Option(
            "--profiles", help="List the profiles declared in the files.")] = False,
        list_images: Annotated[bool, typer.Option(
            "--images", help="List the image of every service.")] = False,
        hash_selector: Annotated[Optional[str], typer.Option(
            "--hash", metavar="SERVICE|*",
            help="Print the config hash of services (comma-separated, or '*').")] = None,
        output: Annotated[Optional[str], typer.Option(
            "-o", "--output", metavar="FILE", help="Write to FILE instead of stdout.")] = None,
        file: FileOpt = None, stack_name: StackNameOpt = None, env_file: EnvFileOpt = None,
        profile: ProfileOpt = None, project_directory: ProjectDirOpt = None,
        debug: DebugOpt = False,
    ) -> None:
        """Print the canonical stack (YAML or JSON), or list parts of it."""
        opts = GlobalOptions.from_flags(file, stack_name, env_file, profile, project_directory,
                             debug).merged(ctx)
        _run(opts.debug, lambda: _config(
            list(services or ()), opts, fmt=fmt, quiet=quiet, interpolate=not no_interpolate,
            list_services=list_services, list_volumes=list_volumes, list_networks=list_networks,
            list_profiles=list_profiles, list_images=list_images, hash_selector=hash_selector,
            output=output))

    from orchestrator.cli.stack_commands import register

    register(app, run=_run)
    return app


def main(argv: Optional[list[str]] = None) -> NoReturn:
    """Console-script entry point: run one command and exit with its code."""
    try:
        command = typer.main.get_command(build_app())
        command.main(args=argv, prog_name="stackyard", standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(EXIT_OK)


if __name__ == "__main__":
    main()
