"""The global options every command takes (`-f`, `-p`, `--env-file`, `--profile`,
`--project-directory`, `--debug`) and how they merge; used by `cli.app` and
`cli.stack_commands`.
"""

from dataclasses import dataclass
from typing import Annotated, Optional

import typer

# ---- global options ---------------------------------------------------------------------
# Accepted before the command name (on the callback) and after it (on every command), so both
# `stackyard -f a.yaml validate` and `stackyard validate -f a.yaml` work. Lists accumulate
# (global first), single values given after the command win.

FileOpt = Annotated[Optional[list[str]], typer.Option(
    "-f", "--file", metavar="FILE", help="Stack file (repeatable; '-' reads stdin).")]
# For commands where `-f` means something else (`logs -f` follows, as in docker compose):
# the stack file is then given with `--file`, or with `-f` before the command name.
FileLongOpt = Annotated[Optional[list[str]], typer.Option(
    "--file", metavar="FILE", help="Stack file (repeatable; '-' reads stdin).")]
StackNameOpt = Annotated[Optional[str], typer.Option(
    "-p", "--stack-name", "--project-name", metavar="NAME", help="Stack (project) name.")]
# For `run`, whose -p is --publish as in docker compose run (the stack name goes before `run`).
StackNameLongOpt = Annotated[Optional[str], typer.Option(
    "--stack-name", "--project-name", metavar="NAME", help="Stack (project) name.")]
EnvFileOpt = Annotated[Optional[list[str]], typer.Option(
    "--env-file", metavar="FILE", help="Environment file for interpolation (repeatable).")]
ProfileOpt = Annotated[Optional[list[str]], typer.Option(
    "--profile", metavar="NAME", help="Profile to enable (repeatable).")]
ProjectDirOpt = Annotated[Optional[str], typer.Option(
    "--project-directory", metavar="DIR", help="Project directory (default: the first file's).")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks of internal errors.")]


@dataclass(frozen=True)
class GlobalOptions:
    """The global options as given before the command; merged with the command's own."""

    files: tuple[str, ...] = ()
    stack_name: Optional[str] = None
    env_files: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    project_directory: Optional[str] = None
    debug: bool = False

    @classmethod
    def from_flags(cls, files, stack_name, env_files, profiles, project_directory,
                   debug) -> "GlobalOptions":
        return cls(tuple(files or ()), stack_name, tuple(env_files or ()),
                   tuple(profiles or ()), project_directory, debug)

    def merged(self, ctx: typer.Context) -> "GlobalOptions":
        outer = ctx.obj if isinstance(ctx.obj, GlobalOptions) else GlobalOptions()
        return GlobalOptions(
            files=outer.files + self.files,
            stack_name=self.stack_name or outer.stack_name,
            env_files=outer.env_files + self.env_files,
            profiles=outer.profiles + self.profiles,
            project_directory=self.project_directory or outer.project_directory,
            debug=self.debug or outer.debug,
        )

    def load_options(self, **overrides):
        """`LoadOptions` for the loader; `overrides` are the command's own flags."""
        from orchestrator.loader.context import LoadOptions

        fields = dict(files=self.files, project_name=self.stack_name, env_files=self.env_files,
                      profiles=self.profiles, project_directory=self.project_directory)
        fields.update(overrides)
        return LoadOptions(**fields)


