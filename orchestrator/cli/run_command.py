"""`stackyard run`: a one-off container of a service, as `docker compose run`.

Registered on the Typer app by `stack_commands.register`. Brings up what the service needs
(networks, volumes, its image, and the services it depends on unless `--no-deps`) with the
`up` machinery, then creates the one-off container (`orchestrator.oneoff` decides its request),
attaches to it before starting it so no output is lost, and exits with its exit code.
"""

import os
import signal
import sys
from typing import Annotated, Optional

import typer

from orchestrator.cli.coercion import PlainCommand
from orchestrator.cli.options import DebugOpt, EnvFileOpt, FileOpt, ProfileOpt, ProjectDirOpt, StackNameLongOpt
from orchestrator.cli.stack_commands import (EngineOpt, ProgressOpt, _build_policy, _connect, _execute,
                                             _failures, _load, _make_plan, _run_builds, explicit_environment)
from orchestrator.cli.terminal import pump_piped, pump_tty


def register_run(app: typer.Typer, run, opts_of) -> None:
    @app.command(cls=PlainCommand, name="run",
                 context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True})
    def run_(ctx: typer.Context,
             service: Annotated[str, typer.Argument(metavar="SERVICE")],
             command: Annotated[Optional[list[str]], typer.Argument(metavar="[COMMAND]...", show_default=False)] = None,
             detach: Annotated[bool, typer.Option("-d", "--detach", help="Run in the background; print its name.")] = False,
             remove: Annotated[bool, typer.Option("--rm", help="Remove the container when it exits.")] = False,
             name: Annotated[Optional[str], typer.Option("--name", help="Container name.", show_default=False)] = None,
             env: Annotated[Optional[list[str]], typer.Option(
                 "-e", "--env", help="KEY=VALUE (repeatable); KEY alone passes ours on.", show_default=False)] = None,
             label: Annotated[Optional[list[str]], typer.Option(
                 "-l", "--label", help="KEY=VALUE label (repeatable).", show_default=False)] = None,
             user: Annotated[Optional[str], typer.Option("-u", "--user", show_default=False)] = None,
             workdir: Annotated[Optional[str], typer.Option("-w", "--workdir", show_default=False)] = None,
             entrypoint: Annotated[Optional[str], typer.Option(
                 "--entrypoint", help="Override the entrypoint ('' clears it).", show_default=False)] = None,
             no_tty: Annotated[bool, typer.Option("-T", "--no-TTY", help="No pseudo-terminal, even on a terminal.")] = False,
             no_deps: Annotated[bool, typer.Option("--no-deps", help="Do not start the services it depends on.")] = False,
             service_ports: Annotated[bool, typer.Option("-P", "--service-ports",
                                                         help="Publish the service's ports.")] = False,
             publish: Annotated[Optional[list[str]], typer.Option(
                 "-p", "--publish", metavar="[IP:][HOST:]PORT[/PROTO]", help="Publish a port (repeatable).",
                 show_default=False)] = None,
             use_aliases: Annotated[bool, typer.Option("--use-aliases", help="Keep the service's network aliases.")] = False,
             build: Annotated[bool, typer.Option("--build", help="Build the image first.")] = False,
             progress: ProgressOpt = "auto", engine: EngineOpt = None,
             file: FileOpt = None, stack_name: StackNameLongOpt = None, env_file: EnvFileOpt = None,
             profile: ProfileOpt = None, project_directory: ProjectDirOpt = None, debug: DebugOpt = False) -> None:
        """Run a one-off command in a new container of SERVICE; exits with its exit code."""
        opts = opts_of(ctx, file, stack_name, env_file, profile, project_directory, debug)

        def body() -> int:
            from dataclasses import replace

            from orchestrator import oneoff
            from orchestrator.engine_spec import SpecError, container_spec
            from orchestrator.environment import container_environment
            from orchestrator.executor import ExecuteOptions
            from orchestrator.planner import OpType, PlanOptions
            from orchestrator.planner.plan import BuildPolicy

            for mapping in publish or ():
                try:
                    oneoff.parse_publish(mapping)
                except ValueError as exc:
                    raise typer.BadParameter(str(exc), param_hint="'--publish'") from None
            labels = {}
            for item in label or ():
                key, sep, value = item.partition("=")
                if not key:
                    raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="'--label'")
                labels[key] = value
            # named on the command line, a service of an inactive profile is enabled (as Compose)
            result = _load(opts, services=(service,))
            stack = result.stack
            if service not in stack.services:
                raise typer.BadParameter(f'no such service: "{service}"', param_hint="'SERVICE'")
            tty = not no_tty and not detach and sys.stdin.isatty() and sys.stdout.isatty()
            request = oneoff.OneOff(
                command=tuple(command) if command else None, entrypoint=entrypoint,
                environment=tuple(explicit_environment(env or ())), user=user, workdir=workdir, name=name,
                tty=tty, detach=detach, remove=remove, service_ports=service_ports,
                publish=tuple(publish or ()), use_aliases=use_aliases, labels=labels)
            the_service = stack.services[service]
            try:
                regular = container_spec(stack, the_service, 1, config_hash="", config="",
                                         environment=container_environment(the_service, host=dict(os.environ)))
            except SpecError as exc:
                raise typer.BadParameter(str(exc), param_hint="'SERVICE'") from None
            spec = oneoff.one_off_spec(regular, stack.name, service, request)
            with _connect(engine) as client:
                options = PlanOptions(services=(service,), no_deps=no_deps, build=_build_policy(build, False))
                the_plan, _ = _make_plan(result, client, options)
                if any(op.type is OpType.BUILD_IMAGE for op in the_plan.operations):
                    code = _run_builds(the_plan, stack, client, progress)
                    if code:
                        return code
                    the_plan, _ = _make_plan(result, client, replace(options, build=BuildPolicy.NEVER))
                needed = oneoff.plan_for_run(the_plan, service)
                if not needed.is_empty:
                    code = _failures(_execute(needed, stack, client, progress, ExecuteOptions()))
                    if code:
                        return code
                if not no_deps:
                    code = _await_dependencies(client, oneoff.dependency_waits(stack, service))
                    if code:
                        return code
                return _run_one_off(client, spec, request)

        run(opts.debug, body)


def _await_dependencies(client, waits) -> int:
    """Wait, as `up` does before starting the service, for each dependency's condition (healthy,
    completed successfully, started), also when the dependencies were already running; 1 after
    printing why one that is required will not hold."""
    from orchestrator.executor import ExecuteOptions, WaitFailed, await_condition

    for wait in waits:
        try:
            await_condition(client, wait, timeout=ExecuteOptions().wait_timeout)
        except WaitFailed as exc:
            if wait.required:
                sys.stderr.write(f"stackyard: dependency {wait.service} failed: {exc}\n")
                return 1
            sys.stderr.write(f"stackyard: warning: dependency {wait.service} not ready: {exc}\n")
    return 0


def _interrupt_on_termination() -> None:
    """SIGTERM and SIGHUP (a cancelled CI job, a closed terminal) end an attached run like
    Ctrl-C: the one-off is stopped and, with --rm, removed instead of left behind."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)


def _run_one_off(client, spec, request) -> int:
    """Create, attach, start; the container's exit code (0 after printing its name with -d)."""
    created = client.create_container(spec.body, name=spec.name)
    container = created["Id"]
    try:
        for network, endpoint in spec.extra_networks:
            client.connect_network(network, container, endpoint_config=endpoint)
        if request.detach:
            client.start_container(container)
            sys.stdout.write(spec.name + "\n")
            return 0
        _interrupt_on_termination()
        # Attached before the start, so not a byte of output is missed.
        sock, pending = client.attach_container(container, stdin=request.interactive, tty=request.tty)
        client.start_container(container)
        try:
            if request.tty:
                pump_tty(sock, pending, lambda rows, columns: client.resize_container(
                    container, height=rows, width=columns))
            else:
                pump_piped(sock, pending, stdin=request.interactive)
        except KeyboardInterrupt:
            client.stop_container(container, timeout=10)
            return 130
        return int(client.wait_container(container, condition="not-running").get("StatusCode") or 0)
    finally:
        # --rm of an attached run is done here rather than by the engine (AutoRemove), so the
        # exit code can still be read; a detached one is removed by the engine.
        if request.remove and not request.detach:
            try:
                client.remove_container(container, force=True)
            except Exception:  # noqa: BLE001 - already gone is fine; the exit code matters more
                pass
