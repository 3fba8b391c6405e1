"""The stack commands: plan, up, build, down, ps, logs, start, stop, restart, exec (run: run_command).

Registered on the Typer app by `cli.app.build_app()`. Each command loads the stack, reaches
the engine (`--engine`, STACKYARD_ENGINE, else Docker's socket), asks `reconcile` for a plan
and the executor to carry it out, and renders progress with `cli.display`. Decisions live in
the planner; this module only parses flags, prints and chooses exit codes.
"""

import os
import sys
from contextlib import contextmanager
from typing import Annotated, Optional

import typer

from orchestrator.cli.coercion import PlainCommand
from orchestrator.cli.options import (DebugOpt, EnvFileOpt, FileLongOpt, FileOpt, GlobalOptions,
                                      ProfileOpt, ProjectDirOpt, StackNameOpt)
from orchestrator.cli.terminal import interactive_exec, piped_exec, print_logs

EngineOpt = Annotated[Optional[str], typer.Option(
    "--engine", metavar="ENGINE", help="docker (DOCKER_HOST or /var/run/docker.sock), builtin (our daemon, "
                                      "started when needed), unix://PATH or tcp://HOST:PORT "
                                      "(default: STACKYARD_ENGINE, else builtin).")]
ProgressOpt = Annotated[str, typer.Option("--progress", help="auto (live on a terminal), plain, json or quiet.")]
TimeoutOpt = Annotated[Optional[int], typer.Option("-t", "--timeout", help="Seconds to wait for a container to stop.")]


def _connect(engine_option: Optional[str]):
    from orchestrator.engine import EngineClient
    from orchestrator.reconcile import engine_url

    url = engine_url(engine_option, os.environ)
    if (engine_option or os.environ.get("STACKYARD_ENGINE") or "builtin") == "builtin":
        from orchestrator.engine.builtin import builtin_paths, ensure_daemon

        url = ensure_daemon(builtin_paths(os.environ))
    return EngineClient(url)


def _load(opts, services=()):
    from orchestrator.loader import load_stack

    result = load_stack(opts.load_options(services=tuple(services)))
    return result


@contextmanager
def _observed_stack(opts, engine_option: Optional[str], *, images: bool = False):
    """What most stack commands start with: the loaded stack, the engine, its observed state
    (with which of the stack's images the engine holds, when `images`)."""
    from orchestrator.observe import observe
    from orchestrator.planner.builds import stack_images

    result = _load(opts)
    with _connect(engine_option) as client:
        yield result, client, observe(client, result.stack.name,
                                      images=stack_images(result.stack) if images else ())


def _execute(the_plan, stack, client, progress: str, options):
    """Carry a plan out with the chosen progress display."""
    from orchestrator.cli.display import display_for
    from orchestrator.reconcile import apply

    with display_for(progress) as sink:
        return apply(the_plan, stack, client, sink=sink, options=options)


def _failures(outcome) -> int:
    if outcome.ok:
        return 0
    for op_id, result in outcome.failed.items():
        sys.stderr.write(f"stackyard: {op_id.split(':', 1)[1]}: {result}\n")
    return 1


def _remember_converged(the_plan, observed, result, client, options) -> None:
    """Let the next identical `up -d` skip loading and planning while nothing changes: when
    this plan was empty, or a new plan after applying it is (orchestrator/converged.py)."""
    from orchestrator import converged
    from orchestrator.planner.builds import stack_images

    if not the_plan.is_empty:
        the_plan, observed = _make_plan(result, client, options)
        if not the_plan.is_empty:
            return
    converged.remember(engine=client.base_url, api_version=client.api_version, project=result.stack.name,
                       images=stack_images(result.stack), observed=observed,
                       stderr="".join(f"warning: {w}\n" for w in the_plan.warnings))


def _make_plan(result, client, options):
    from orchestrator.loader.tree import plain
    from orchestrator.reconcile import make_plan

    return make_plan(result.stack, plain(result.canonical), client, options)


def _run_builds(the_plan, stack, client, progress: str, *, no_cache: bool = False, pull: bool = False,
                build_args=None) -> int:
    """Carry out the `build-image` operations of a plan (and only those); 0, or 1 after
    printing each failure as one line (the service, the failing step, the engine's message).
    Credentials for base images come from the docker config's `auths` (X-Registry-Config)."""
    from dataclasses import replace

    from orchestrator.cli.display import display_for
    from orchestrator.engine.build import registry_config
    from orchestrator.engine_spec import build_request
    from orchestrator.executor import ExecuteOptions, execute
    from orchestrator.planner import OpType

    ops = tuple(op for op in the_plan.operations if op.type is OpType.BUILD_IMAGE)
    if not ops:
        return 0
    auth = registry_config()

    def build_for(op):
        request = build_request(stack, stack.services[op.target], environ=os.environ,
                                no_cache=no_cache, pull=pull, build_args=build_args or {})
        return replace(request, registry_config=auth)

    with display_for(progress) as sink:
        outcome = execute(replace(the_plan, operations=ops, warnings=()), engine=client, stack=stack,
                          spec_for=lambda op: None, sink=sink, options=ExecuteOptions(),
                          build_for=build_for)
    for result in outcome.failed.values():
        sys.stderr.write(f"stackyard: {result.split(': ', 1)[-1]}\n")
    return 0 if outcome.ok else 1


def _parse_build_args(values: list[str]) -> dict[str, str]:
    """`--build-arg K=V`; a bare `K` takes the value from the environment (skipped if unset)."""
    args = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not key:
            raise typer.BadParameter(f"--build-arg expects KEY=VALUE, got {item!r}")
        if sep:
            args[key] = value
        elif key in os.environ:
            args[key] = os.environ[key]
    return args


def _build_policy(build: bool, no_build: bool):
    from orchestrator.planner import PlanError
    from orchestrator.planner.plan import BuildPolicy

    if build and no_build:
        raise PlanError("--build and --no-build cannot be used together")
    return BuildPolicy.ALWAYS if build else BuildPolicy.NEVER if no_build else BuildPolicy.MISSING


def _parse_scale(values: list[str]) -> dict[str, int]:
    scale = {}
    for item in values:
        service, sep, count = item.partition("=")
        if not sep or not count.isdigit():
            raise typer.BadParameter(f"--scale expects SERVICE=N, got {item!r}")
        scale[service] = int(count)
    return scale


def explicit_environment(items) -> list[str]:
    """`-e` values of exec and run: `KEY=VALUE` as given, `KEY` alone passes ours on (left out
    when we have none), as docker does."""
    return [item if "=" in item else f"{item}={os.environ[item]}"
            for item in items if "=" in item or item in os.environ]


def _engine_errors(body):
    """Engine and planning failures are the user's to act on: one clear line, no traceback.

    A plan that cannot be made (e.g. a changed volume without --recreate-volumes) or a bad
    --engine exits 2; an engine error (unreachable, refused) exits 1.
    """
    def guarded() -> int:
        from orchestrator.planner import PlanError
        from runtime import errdefs

        try:
            return body()
        except (PlanError, ValueError) as exc:
            sys.stderr.write(f"stackyard: {exc}\n")
            return 2
        except errdefs.StackyardError as exc:
            sys.stderr.write(f"stackyard: {exc}\n")
            return 1

    return guarded


def register(app: typer.Typer, *, run) -> None:
    """Add the stack commands to `app`; `run(debug, body)` turns a body into an exit code."""
    run = _wrap(run)

    def opts_of(ctx, file, stack_name, env_file, profile, project_directory, debug):
        return GlobalOptions.from_flags(file, stack_name, env_file, profile, project_directory, debug).merged(ctx)

    @app.command(cls=PlainCommand)
    def plan(ctx: typer.Context,
             services: Annotated[Optional[list[str]], typer.Argument(metavar="SERVICE", show_default=False)] = None,
             fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
             detailed_exitcode: Annotated[bool, typer.Option(
                 "--detailed-exitcode", help="Exit 2 when changes are pending, 0 when none.")] = False,
             remove_orphans: Annotated[bool, typer.Option("--remove-orphans")] = False,
             force_recreate: Annotated[bool, typer.Option("--force-recreate")] = False,
             build: Annotated[bool, typer.Option("--build", help="Plan to build every image the stack builds.")] = False,
             no_build: Annotated[bool, typer.Option("--no-build", help="Plan without building (a missing image is an error).")] = False,
             engine: EngineOpt = None,
             file: FileOpt = None, stack_name: StackNameOpt = None, env_file: EnvFileOpt = None,
             profile: ProfileOpt = None, project_directory: ProjectDirOpt = None, debug: DebugOpt = False) -> None:
        """Show what `up` would do, with the cause of every operation (a dry run)."""
        opts = opts_of(ctx, file, stack_name, env_file, profile, project_directory, debug)

        def body() -> int:
            from orchestrator.planner import PlanOptions

            result = _load(opts)
            with _connect(engine) as client:
                the_plan, _ = _make_plan(result, client, PlanOptions(
                    services=tuple(services or ()), remove_orphans=remove_orphans,
                    force_recreate=force_recreate, build=_build_policy(build, no_build)))
            sys.stdout.write(the_plan.to_json() + "\n" if fmt == "json" else the_plan.render())
            return 2 if detailed_exitcode and not the_plan.is_empty else 0

        run(opts.debug, body)

    @app.command(cls=PlainCommand)
    def up(ctx: typer.Context,
           services: Annotated[Optional[list[str]], typer.Argument(metavar="SERVICE", show_default=False)] = None,
           detach: Annotated[bool, typer.Option("-d", "--detach", help="Leave the containers running in the background (else follow their logs; Ctrl-C stops them).")] = False,
           wait: Annotated[bool, typer.Option("--wait", help="Wait until services are running/healthy.")] = False,
           wait_timeout: Annotated[int, typer.Option("--wait-timeout")] = 120,
           remove_orphans: Annotated[bool, typer.Option("--remove-orphans")] = False,
           force_recreate: Annotated[bool, typer.Option("--force-recreate")] = False,
           no_recreate: Annotated[bool, typer.Option("--no-recreate")] = False,
           no_deps: Annotated[bool, typer.Option("--no-deps")] = False,
           pull: Annotated[Optional[str], typer.Option("--pull", help="always, missing or never.")] = None,
           build: Annotated[bool, typer.Option("--build", help="Build the images of services with a build section first.")] = False,
           no_build: Annotated[bool, typer.Option("--no-build", help="Never build (a missing image is an error).")] = False,
           scale: Annotated[Optional[list[str]], typer.Option("--scale", metavar="SERVICE=N")] = None,
           recreate_volumes: Annotated[bool, typer.Option("--recreate-volumes")] = False,
           parallel: Annotated[int, typer.Option("--parallel", help="Operations at once (default 16).")] = 0,
           timeout: TimeoutOpt = None, progress: ProgressOpt = "auto", engine: EngineOpt = None,
           file: FileOpt = None, stack_name: StackNameOpt = None, env_file: EnvFileOpt = None,
           profile: ProfileOpt = None, project_directory: ProjectDirOpt = None, debug: DebugOpt = False) -> None:
        """Create and start the stack's containers; reapplying a converged stack changes nothing."""
        opts = opts_of(ctx, file, stack_name, env_file, profile, project_directory, debug)

        def body() -> int:
            from dataclasses import replace

            from orchestrator.executor import DEFAULT_PARALLEL, ExecuteOptions
            from orchestrator.planner import OpType, PlanOptions, PullPolicy
            from orchestrator.planner.plan import BuildPolicy

            result = _load(opts)
            options = PlanOptions(services=tuple(services or ()), no_deps=no_deps,
                                  force_recreate=force_recreate, no_recreate=no_recreate,
                                  remove_orphans=remove_orphans, scale=_parse_scale(scale or []),
                                  recreate_volumes=recreate_volumes,
                                  pull=PullPolicy(pull) if pull else None,
                                  build=_build_policy(build, no_build))
            with _connect(engine) as client:
                the_plan, observed = _make_plan(result, client, options)
                if any(op.type is OpType.BUILD_IMAGE for op in the_plan.operations):
                    # Build first, then plan again: the config hashes cover the ids of the
                    # images just built, so only a changed image recreates (planner/builds.py).
                    code = _run_builds(the_plan, result.stack, client, progress)
                    if code:
                        return code
                    options = replace(options, build=BuildPolicy.NEVER)
                    the_plan, observed = _make_plan(result, client, options)
                for warning in the_plan.warnings:
                    sys.stderr.write(f"warning: {warning}\n")
                outcome = _execute(the_plan, result.stack, client, progress,
                                   ExecuteOptions(parallel=parallel or DEFAULT_PARALLEL,
                                                  stop_timeout=timeout, wait_timeout=wait_timeout))
                code = _failures(outcome)
                # `--build` and pull_policy: build ask for a build on every up: never short-cut.
                always_builds = build or any(s.build is not None and s.pull_policy == "build"
                                             for s in result.stack.services.values())
                if code == 0 and detach and not wait and not always_builds:
                    _remember_converged(the_plan, observed, result, client, options)
                if code == 0 and wait:
                    code = _wait_all(client, result.stack, services or (), wait_timeout)
                if code == 0 and not detach and not wait:
                    code = _attach(client, result.stack, tuple(services or ()), progress, timeout)
            return code

        run(opts.debug, body)

    @app.command(cls=PlainCommand, name="build")
    def build_(ctx: typer.Context,
               services: Annotated[Optional[list[str]], typer.Argument(metavar="SERVICE", show_default=False)] = None,
               no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not use the build cache.")] = False,
               pull: Annotated[bool, typer.Option("--pull", help="Always try to pull newer base images.")] = False,
               build_arg: Annotated[Optional[list[str]], typer.Option("--build-arg", metavar="KEY=VALUE",
                                                                      help="Build argument (repeatable).")] = None,
               progress: ProgressOpt = "auto", engine: EngineOpt = None,
               file: FileOpt = None, stack_name: StackNameOpt = None, env_file: EnvFileOpt = None,
               profile: ProfileOpt = None, project_directory: ProjectDirOpt = None, debug: DebugOpt = False) -> None:
        """Build the images of the services with a build section, with the engine's builder."""
        opts = opts_of(ctx, file, stack_name, env_file, profile, project_directory, debug)

        def body() -> int:
            from orchestrator.planner.builds import plan_build_command

            result = _load(opts)
            the_plan = plan_build_command(result.stack, tuple(services or ()))
            if the_plan.is_empty:
                sys.stderr.write("no service to build (none has a build section)\n")
                return 0
            args = _parse_build_args(build_arg or [])
            with _connect(engine) as client:
                return _run_builds(the_plan, result.stack, client, progress, no_cache=no_cache,
                                   pull=pull, build_args=args)

        run(opts.debug, body)

    @app.command(cls=PlainCommand)
    def down(ctx: typer.Context,
             volumes: Annotated[bool, typer.Option("-v", "--volumes", help="Remove named volumes too.")] = False,
             rmi: Annotated[Optional[str], typer.Option("--rmi", help="Remove images too: local (built by the stack, no image: name) or all.")] = None,
             remove_orphans: Annotated[bool, typer.Option("--remove-orphans")] = False,
             timeout: TimeoutOpt = None, progress: ProgressOpt = "auto", engine: EngineOpt = None,
             file: FileOpt = None, stack_name: StackNameOpt = None, env_file: EnvFileOpt = None,
             profile: ProfileOpt = None, project_directory: ProjectDirOpt = None, debug: DebugOpt = False) -> None:
        """Stop and remove the stack's containers and networks (and volumes with -v)."""
        opts = opts_of(ctx, file, stack_name, env_file, profile, project_directory, debug)

        def body() -> int:
            from orchestrator.executor import ExecuteOptions
            from orchestrator.planner import DownOptions, plan_down

            if rmi not in (None, "local", "all"):
                raise typer.BadParameter(f"{rmi!r} is not one of 'local', 'all'.", param_hint="'--rmi'")
            with _observed_stack(opts, engine, images=bool(rmi)) as (result, client, observed):
                the_plan = plan_down(observed, result.stack,
                                     DownOptions(volumes=volumes, remove_orphans=remove_orphans, rmi=rmi))
                for warning in the_plan.warnings:
                    sys.stderr.write(f"warning: {warning}\n")
                outcome = _execute(the_plan, result.stack, client, progress, ExecuteOptions(stop_timeout=timeout))
            return _failures(outcome)

        run(opts.debug, body)

    @app.command(cls=PlainCommand)
    def ps(ctx: typer.Context,
           all_: Annotated[bool, typer.Option("-a", "--all", help="Also stopped containers.")] = False,
           fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
           engine: EngineOpt = None,
           file: FileOpt = None, stack_name: StackNameOpt = None, env_file: EnvFileOpt = None,
           profile: ProfileOpt = None, project_directory: ProjectDirOpt = None, debug: DebugOpt = False) -> None:
        """List the stack's containers."""
        opts = opts_of(ctx, file, stack_name, env_file, profile, project_directory, debug)

        def body() -> int:
            import time

            from orchestrator import labels
            from orchestrator.cli import ps_format

            if fmt not in ("table", "json"):
                raise typer.BadParameter(f"{fmt!r} is not a format: use table or json", param_hint="'--format'")
            result = _load(opts)
            with _connect(engine) as client:
                listed = client.list_containers(all=True, filters=labels.project_filter(result.stack.name))
            entries = ps_format.rows(listed, now=time.time(), all_=all_)
            sys.stdout.write(ps_format.render_json(entries) if fmt == "json" else ps_format.render_table(entries))
            return 0

        run(opts.debug, body)

    @app.command(cls=PlainCommand)
    def logs(ctx: typer.Context,
             services: Annotated[Optional[list[str]], typer.Argument(metavar="SERVICE", show_default=False)] = None,
             follow: Annotated[bool, typer.Option("-f", "--follow", help="Keep printing new lines.")] = False,
             tail: Annotated[str, typer.Option("--tail", help="Lines from the end, or 'all'.")] = "all",
             timestamps: Annotated[bool, typer.Option("-t", "--timestamps")] = False,
             since: Annotated[Optional[str], typer.Option(
                 "--since", help="Only lines after this time: 10m, 1h30m, 2026-11-28T10:00:00Z or Unix seconds.",
                 show_default=False)] = None,
             until: Annotated[Optional[str], typer.Option(
                 "--until", help="Only lines before this time (same forms as --since).", show_default=False)] = None,
             engine: EngineOpt = None,
             file: FileLongOpt = None, stack_name: StackNameOpt = None, env_file: EnvFileOpt = None,
             profile: ProfileOpt = None, project_directory: ProjectDirOpt = None, debug: DebugOpt = False) -> None:
        """Print the logs of the stack's containers, interleaved, each line prefixed with its container."""
        opts = opts_of(ctx, file, stack_name, env_file, profile, project_directory, debug)

        def body() -> int:
            import time

            from orchestrator.cli.timespec import engine_timestamp

            window = {}
            for name, value in (("since", since), ("until", until)):
                if value is not None:
                    try:
                        window[name] = engine_timestamp(value, now=time.time())
                    except ValueError as exc:
                        raise typer.BadParameter(str(exc), param_hint=f"'--{name}'") from None
            with _observed_stack(opts, engine) as (result, client, observed):
                chosen = [c for c in observed.containers if not services or c.service in services]
                print_logs(client, chosen, follow=follow, tail=tail, timestamps=timestamps, **window)
            return 0

        run(opts.debug, body)

    @app.command(cls=PlainCommand)
    def pull(ctx: typer.Context,
             services: Annotated[Optional[list[str]], typer.Argument(metavar="SERVICE", show_default=False)] = None,
             progress: ProgressOpt = "auto", engine: EngineOpt = None,
             file: FileOpt = None, stack_name: StackNameOpt = None, env_file: EnvFileOpt = None,
             profile: ProfileOpt = None, project_directory: ProjectDirOpt = None, debug: DebugOpt = False) -> None:
        """Pull the images of the stack's services."""
        opts = opts_of(ctx, file, stack_name, env_file, profile, project_directory, debug)

        def body() -> int:
            from orchestrator.executor import ExecuteOptions
            from orchestrator.planner import Operation, OpType, Plan, operation_id
            from orchestrator.planner.builds import is_built

            result = _load(opts)
            # Images the stack builds are not pulled (docker compose skips them too).
            images = sorted({s.image for name, s in result.stack.services.items()
                             if s.image and not is_built(result.stack, s)
                             and (not services or name in services)})
            the_plan = Plan(stack=result.stack.name, operations=tuple(
                Operation(id=operation_id(OpType.PULL_IMAGE, ref), type=OpType.PULL_IMAGE, target=ref,
                          cause="asked to pull") for ref in images))
            with _connect(engine) as client:
                outcome = _execute(the_plan, result.stack, client, progress, ExecuteOptions())
            return _failures(outcome)

        run(opts.debug, body)

    @app.command(cls=PlainCommand)
    def kill(ctx: typer.Context,
             services: Annotated[Optional[list[str]], typer.Argument(metavar="SERVICE", show_default=False)] = None,
             signal: Annotated[str, typer.Option("-s", "--signal", help="Signal to send.")] = "SIGKILL",
             engine: EngineOpt = None,
             file: FileOpt = None, stack_name: StackNameOpt = None, env_file: EnvFileOpt = None,
             profile: ProfileOpt = None, project_directory: ProjectDirOpt = None, debug: DebugOpt = False) -> None:
        """Send a signal to the stack's running containers."""
        opts = opts_of(ctx, file, stack_name, env_file, profile, project_directory, debug)

        def body() -> int:

            with _observed_stack(opts, engine) as (result, client, observed):
                for c in observed.containers:
                    if c.state == "running" and (not services or c.service in services):
                        client.kill_container(c.id, signal=signal)
                        sys.stderr.write(f"killed {c.name} ({signal})\n")
            return 0

        run(opts.debug, body)

    for name, op_name, summary in (("start", "start-container", "Start the stack's stopped containers."),
                                   ("stop", "stop-container", "Stop the stack's running containers."),
                                   ("restart", "restart-container", "Restart the stack's containers."),
                                   ("rm", "remove-container", "Remove the stack's stopped containers.")):
        _register_lifecycle(app, run, opts_of, name, op_name, summary)

    from orchestrator.cli.run_command import register_run

    register_run(app, run, opts_of)

    @app.command(cls=PlainCommand, name="exec",
                 context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True})
    def exec_(ctx: typer.Context,
              service: Annotated[str, typer.Argument(metavar="SERVICE")],
              command: Annotated[list[str], typer.Argument(metavar="COMMAND")],
              index: Annotated[int, typer.Option("--index", help="Replica number.")] = 1,
              no_tty: Annotated[bool, typer.Option("-T", "--no-TTY", help="No pseudo-terminal, even on a terminal.")] = False,
              env: Annotated[Optional[list[str]], typer.Option(
                  "-e", "--env", help="KEY=VALUE for the command (repeatable).", show_default=False)] = None,
              user: Annotated[Optional[str], typer.Option("-u", "--user", help="User (name or uid[:gid]).",
                                                          show_default=False)] = None,
              workdir: Annotated[Optional[str], typer.Option("-w", "--workdir", help="Working directory.",
                                                             show_default=False)] = None,
              privileged: Annotated[bool, typer.Option("--privileged", help="Extended privileges.")] = False,
              engine: EngineOpt = None,
              file: FileOpt = None, stack_name: StackNameOpt = None, env_file: EnvFileOpt = None,
              profile: ProfileOpt = None, project_directory: ProjectDirOpt = None, debug: DebugOpt = False) -> None:
        """Run COMMAND in a running container of SERVICE; exits with its exit code."""
        opts = opts_of(ctx, file, stack_name, env_file, profile, project_directory, debug)

        def body() -> int:

            with _observed_stack(opts, engine) as (result, client, observed):
                # never a one-off of the service (`stackyard run`), as Compose's exec
                target = next((c for c in observed.containers if c.service == service and c.number == index
                               and c.state == "running" and not c.oneoff), None)
                if target is None:
                    sys.stderr.write(f'stackyard: service "{service}" has no running container {index}\n')
                    return 1
                variables = explicit_environment(env or ())
                options = {key: value for key, value in (("Env", variables or None), ("User", user),
                                                         ("WorkingDir", workdir), ("Privileged", privileged or None))
                           if value is not None}
                if not no_tty and sys.stdin.isatty() and sys.stdout.isatty():
                    return interactive_exec(client, target.id, command, options)
                return piped_exec(client, target.id, command, options)

        run(opts.debug, body)


def _wrap(run):
    return lambda debug, body: run(debug, _engine_errors(body))


def _register_lifecycle(app: typer.Typer, run, opts_of, name: str, op_name: str, summary: str) -> None:
    """`start`, `stop`, `restart`, `rm`: one plan of one operation type, carried out."""

    @app.command(name=name, cls=PlainCommand, help=summary)
    def command(ctx: typer.Context,
                services: Annotated[Optional[list[str]], typer.Argument(metavar="SERVICE", show_default=False)] = None,
                timeout: TimeoutOpt = None, progress: ProgressOpt = "auto", engine: EngineOpt = None,
                file: FileOpt = None, stack_name: StackNameOpt = None, env_file: EnvFileOpt = None,
                profile: ProfileOpt = None, project_directory: ProjectDirOpt = None,
                debug: DebugOpt = False) -> None:
        opts = opts_of(ctx, file, stack_name, env_file, profile, project_directory, debug)

        def body() -> int:
            from orchestrator.executor import ExecuteOptions
            from orchestrator.planner import OpType, plan_lifecycle

            with _observed_stack(opts, engine) as (result, client, observed):
                the_plan = plan_lifecycle(OpType(op_name), observed, result.stack, tuple(services or ()))
                outcome = _execute(the_plan, result.stack, client, progress, ExecuteOptions(stop_timeout=timeout))
            return _failures(outcome)

        run(opts.debug, body)


def _attach(client, stack, services: tuple[str, ...], progress: str, timeout) -> int:
    """`up` in the foreground, as docker compose: follow the logs; Ctrl-C stops the stack."""
    from orchestrator.executor import ExecuteOptions
    from orchestrator.observe import observe
    from orchestrator.planner import OpType, plan_lifecycle

    observed = observe(client, stack.name)
    chosen = [c for c in observed.containers if not services or c.service in services]
    try:
        print_logs(client, chosen, follow=True, tail="all", timestamps=False)
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("Gracefully stopping... (press Ctrl+C again to force)\n")
        stop = plan_lifecycle(OpType.STOP_CONTAINER, observe(client, stack.name), stack, services)
        _execute(stop, stack, client, progress, ExecuteOptions(stop_timeout=timeout))
        return 130


def _wait_all(client, stack, services, timeout: int) -> int:
    """`up --wait`: every container running (healthy when it has a healthcheck); a one-shot
    container that exited 0 counts as done."""
    from orchestrator.executor import WaitFailed, await_condition
    from orchestrator.model import Condition
    from orchestrator.observe import observe
    from orchestrator.planner import Wait

    observed = observe(client, stack.name)
    for container in observed.containers:
        if services and container.service not in services:
            continue
        if container.state == "exited" and container.exit_code == 0:
            continue
        service = stack.services.get(container.service)
        healthy = service is not None and service.healthcheck is not None and not service.healthcheck.disable
        condition = Condition.HEALTHY if healthy else Condition.STARTED
        try:
            await_condition(client, Wait(container=container.name, service=container.service,
                                         condition=condition), timeout=timeout)
        except WaitFailed as exc:
            sys.stderr.write(f"stackyard: {exc}\n")
            return 1
    return 0
