"""The stack-file loader: compose files in, a typed `model.Stack` out.

Called by the CLI (`validate`, `config`, and every command that needs a stack) through
`load_stack(LoadOptions)`. The phases run in this order; each is one module with one public
function, and the order is forced by what each phase needs from the ones before it:

1. `discover`     which files, in which order, and the project directory. Everything else
                  (the `.env` file, relative paths) is relative to that directory.
2. `parse`        YAML -> positioned tree (`tree.PMap`). Positions are attached here, once,
                  and travel with the values through every later phase, so errors found in
                  the merged tree still name the file, line and column that wrote the value.
3. `interpolate`  `${VAR}` per file, before any merging: each file is interpolated with the
                  environment of the project it belongs to (included projects have their
                  own), and typed fields are cast so that later phases see real types.
4. `include`, `extends`, `merge`
                  included projects are loaded whole and added; then the documents of all
                  files are merged in order (override rules, `!reset`, `!override`); then
                  `extends` is resolved on the merged services, so a base may come from any
                  file. All three move values around, never create them.
5. `validate`     JSON Schema (`schemas/stack.schema.json`) on the merged document: types
                  are final only after 3 and the document is whole only after 4.
6. `normalize`    canonical form (short syntax -> long syntax, defaults, absolute paths);
                  needs schema-valid input, so it comes after 5.
7. `check`        semantic checks (undefined references, cycles, conflicts) on the canonical
                  form, where every reference has one shape.
8. `project`      profiles and service selection, after 7 so that a file is checked whole
                  whatever profile is active. (The project name is decided just before 6:
                  resource names such as `<stack>_default` need it.)
9. `bind`         the typed, immutable model; no `dict[str, Any]` travels past it.

Every phase reports to one `errors.Report`; the pipeline stops after a phase that found
errors (later phases would only repeat them) and raises `StackFileError` with all of them.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

from orchestrator import inputs
from orchestrator.errors import Diagnostic, Position, Report, StackFileError, format_path
from orchestrator.loader.context import LoadContext, LoadOptions
from orchestrator.loader.discover import SourceFile, discover
from orchestrator.loader.envfile import parse_env_file
from orchestrator.loader.extends import extends
from orchestrator.loader.include import IncludeSpec, include, read_includes
from orchestrator.loader.interpolate import interpolate, substitute, TemplateError
from orchestrator.loader.merge import apply_reset_tags, merge
from orchestrator.loader.parse import parse, read_text
from orchestrator.loader.project import active_profiles, project_name, select_services
from orchestrator.loader.tree import PList, PMap, plain

if TYPE_CHECKING:
    from orchestrator.model import Stack

__all__ = ["LoadOptions", "LoadResult", "StackFileError", "load_stack", "service_hashes"]


@dataclass
class LoadResult:
    """A loaded stack: the typed model, its canonical tree, and the warnings found."""

    stack: "Stack | None"
    canonical: PMap
    diagnostics: list[Diagnostic]
    context: LoadContext
    profiles: tuple[str, ...] = ()
    declared_profiles: tuple[str, ...] = field(default=())


def load_stack(options: LoadOptions) -> LoadResult:
    """Run every phase; returns the stack or raises `StackFileError` with all errors.

    Raises:
        StackFileError: the stack files are invalid (every error, sorted by position).
    """
    environ: Mapping[str, str] = options.environ if options.environ is not None else os.environ
    cwd = os.path.abspath(options.cwd or os.getcwd())
    report = Report()

    # .env of the working (or given project) directory may set COMPOSE_FILE & co.
    early_dir = os.path.abspath(os.path.join(cwd, options.project_directory or "."))
    # Read once: the same values serve COMPOSE_* settings and, in the usual case where the
    # project directory is the working one, interpolation.
    settings, settings_report = _environment(environ, early_dir, options)
    found = discover(options.files, cwd=cwd, environ=settings,
                     project_directory=options.project_directory, report=report)
    report.raise_if_errors()

    if found.project_dir == early_dir:
        env, env_report = settings, settings_report
    else:
        env, env_report = _environment(environ, found.project_dir, options)
    report.diagnostics.extend(env_report.diagnostics)
    ctx = LoadContext(options=options, project_dir=found.project_dir, env=env, report=report)
    files = _Files(ctx)

    # Phases 2-4a: parse, interpolate and include, file by file.
    layers: list[PMap] = []
    for source in found.files:
        ctx.base_dirs[source.display] = found.project_dir
        layers.extend(files.load_source(source, env=env, chain=(source.path or "<stdin>",)))
    report.raise_if_errors()
    if not layers:
        raise StackFileError(report.diagnostics)

    # Phase 4b-c: override merge, then extends on the whole.
    document = apply_reset_tags(layers[0])
    for layer in layers[1:]:
        document = merge(document, layer)
    apply_reset_tags(document)
    _empty_sections_as_mappings(document)
    extends(document, report, files.load_extended, base_dir=_real_dir(ctx))
    _check_legacy_format(document, report)
    report.raise_if_errors()
    if not options.interpolate:
        # `config --no-interpolate`: the merged document as written. The later phases need
        # real values (a port of `${PORT}:80` cannot be normalised), so they do not run.
        from orchestrator.loader.project import all_profiles

        ctx.project_name = project_name(document, option=options.project_name, environ=settings,
                                        project_dir=found.project_dir, report=report)
        return LoadResult(None, document, sorted(report.diagnostics, key=Diagnostic.sort_key), ctx,
                          (), tuple(all_profiles(document)))

    # Phase 5: schema. Invalid values are cut out and the later phases still run on the
    # rest, so one run reports a misspelt key *and* an undefined dependency; what they say
    # about the cut-out values themselves is dropped (it would only repeat the schema error).
    invalid: list[tuple] = []
    if options.validate_schema:
        from orchestrator.loader.validate import validate
        invalid = validate(document, report, strict=options.strict)
    schema_errors = len(report.diagnostics)
    if invalid and not _prune(document, invalid):
        report.raise_if_errors()
    try:
        return _finish(document, ctx, settings, found.project_dir)
    except StackFileError:
        if not invalid:
            raise
        _drop_cascades(report, schema_errors, invalid)
        raise StackFileError(report.diagnostics) from None
    except Exception:
        # After schema errors the later phases see a document with holes; if one of them
        # trips over it, the schema errors already tell the user what to fix.
        if not invalid:
            raise
        del report.diagnostics[schema_errors:]
        raise StackFileError(report.diagnostics) from None


def _finish(document: PMap, ctx: LoadContext, settings: Mapping[str, str], project_dir: str) -> LoadResult:
    """Phases 6-9 on a document that passed (or was pruned to pass) the schema."""
    options, report = ctx.options, ctx.report

    # Phases 6-8.
    from orchestrator.loader.check import check
    from orchestrator.loader.normalize import normalize
    from orchestrator.loader.project import all_profiles

    declared = tuple(all_profiles(document))
    ctx.project_name = project_name(document, option=options.project_name, environ=settings,
                                    project_dir=project_dir, report=report)
    before = len(report.errors_so_far())
    canonical = normalize(document, ctx)
    if len(report.errors_so_far()) > before:  # the checks need a whole canonical form
        report.raise_if_errors()
    if options.consistency:
        check(canonical, ctx)
        _check_env_files(canonical, ctx)
    profiles = active_profiles(options.profiles, settings)
    select_services(canonical, profiles=profiles, requested=options.services, report=report)
    report.raise_if_errors()

    # Phase 9.
    from orchestrator.loader.bind import bind
    stack = bind(canonical, ctx)
    return LoadResult(stack, canonical, sorted(report.diagnostics, key=Diagnostic.sort_key), ctx,
                      profiles, declared)


def _prune(document: PMap, paths: list[tuple]) -> bool:
    """Remove the values at `paths`; False when one is structural (the root or a section)."""
    if any(len(path) < 2 for path in paths):
        return False
    # Deepest and last indexes first, so removing one never shifts another.
    for path in sorted(set(paths), key=lambda p: (len(p), [str(x).zfill(9) for x in p]), reverse=True):
        parent = document
        for part in path[:-1]:
            try:
                parent = parent[part]
            except (KeyError, IndexError, TypeError):
                parent = None
                break
        last = path[-1]
        if isinstance(parent, PMap) and last in parent:
            parent.remove(last)
        elif isinstance(parent, PList) and isinstance(last, int) and last < len(parent):
            del parent[last]
            del parent.item_pos[last]
    return True


def _drop_cascades(report: Report, keep: int, invalid: list[tuple]) -> None:
    """Forget later diagnostics about values the schema phase already rejected and cut out."""
    cut = [format_path(p) for p in invalid]
    services_missing_image = {p[1] for p in invalid if len(p) >= 3 and p[0] == "services"
                              and p[2] in ("image", "build")}

    def is_cascade(d: Diagnostic) -> bool:
        if any(d.path == c or d.path.startswith(c + ".") or d.path.startswith(c + "[") for c in cut):
            return True
        return "neither an image nor a build" in d.message and d.path.split(".")[-1] in services_missing_image

    report.diagnostics[keep:] = [d for d in report.diagnostics[keep:] if not is_cascade(d)]


def service_hashes(result: LoadResult) -> dict[str, str]:
    """The config hash of every service of a loaded stack (see `orchestrator.hashing`)."""
    from orchestrator.hashing import service_hash

    canonical = plain(result.canonical)
    return {name: service_hash(canonical, name) for name in sorted(canonical.get("services", {}))}


# ---- environment -------------------------------------------------------------------------

def _read_env_file(path: str, display: str, lookup: Mapping[str, str], report: Report,
                   *, required: bool, where: Position) -> dict[str, str]:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        inputs.note(path, data)
    except FileNotFoundError:
        inputs.note(path, None)
        if required:
            report.error(where, "", f"env file {display} not found")
        return {}
    except OSError as exc:
        report.error(where, "", f"cannot read env file {display}: {exc.strerror}")
        return {}
    text = read_text(data, display, report)
    if text is None:
        return {}
    return parse_env_file(text, display, report, lookup=lookup,
                          substitute=lambda value, get: _safe_substitute(value, get))


def _safe_substitute(value: str, get) -> str:
    try:
        return substitute(value, get)
    except TemplateError:
        return value


def _dotenv(environ: Mapping[str, str], directory: str, options: LoadOptions,
            report: Report, cwd_display) -> dict[str, str]:
    """Values from `--env-file`s, or else from `<directory>/.env` (process env not applied)."""
    values: dict[str, str] = {}
    if options.env_files:
        for name in options.env_files:
            path = os.path.abspath(os.path.join(options.cwd or os.getcwd(), name))
            merged = {**values, **environ}
            values.update(_read_env_file(path, cwd_display(path), merged, report, required=True,
                                         where=Position(cwd_display(path))))
        return values
    path = os.path.join(directory, ".env")
    inputs.probe(path)
    if os.path.isfile(path):
        values.update(_read_env_file(path, cwd_display(path), environ, report, required=False,
                                     where=Position(cwd_display(path))))
    return values


def _display(options: LoadOptions):
    cwd = os.path.abspath(options.cwd or os.getcwd())

    def name(path: str) -> str:
        rel = os.path.relpath(path, cwd)
        return path if rel.startswith("..") else rel

    return name


def _environment(environ: Mapping[str, str], directory: str, options: LoadOptions) -> tuple[dict[str, str], Report]:
    """`.env` (or `--env-file`) values under the process environment, which wins as in
    Compose; with the problems found reading them."""
    found = Report()
    return {**_dotenv(environ, directory, options, found, _display(options)), **environ}, found


# ---- files -------------------------------------------------------------------------------

class _Files:
    """Reads, parses, interpolates and includes files for one load (with caching)."""

    def __init__(self, ctx: LoadContext):
        self.ctx = ctx
        self.extended: dict[str, PMap | None] = {}

    def load_source(self, source: SourceFile, *, env: Mapping[str, str],
                    chain: tuple[str, ...]) -> list[PMap]:
        report = self.ctx.report
        if source.path is None:
            inputs.unrepeatable()
            text = self.ctx.options.stdin_text
            if text is None:
                text = sys.stdin.read()
        else:
            self.ctx.config_files[source.display] = source.path
            data = self._read(source.path, source.display, Position(source.display))
            if data is None:
                return []
            text = read_text(data, source.display, report)
            if text is None:
                return []
        documents = parse(text, source.display, report)
        out = []
        for document in documents:
            if self.ctx.options.interpolate:
                interpolate(document, env, report, hermetic=self.ctx.options.hermetic)
            specs = read_includes(document, report, self.ctx.base_dirs.get(source.display, self.ctx.project_dir))
            if specs or "include" in document:
                include(document, specs, self._load_included, chain, report)
            out.append(document)
        return out

    def _read(self, path: str, display: str, where: Position) -> bytes | None:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
            inputs.note(path, data)
            return data
        except IsADirectoryError:
            self.ctx.report.error(where, "", f"{display} is a directory, not a stack file", code="not-a-file")
        except FileNotFoundError:
            self.ctx.report.error(where, "", f"{display}: no such file", code="not-found")
        except OSError as exc:
            self.ctx.report.error(where, "", f"cannot read {display}: {exc.strerror}", code="io")
        return None

    def _load_included(self, spec: IncludeSpec, chain: tuple[str, ...]) -> PMap | None:
        report = self.ctx.report
        env_values: dict[str, str] = {}
        env_files = spec.env_files or (os.path.join(spec.project_dir, ".env"),)
        display = _display(self.ctx.options)
        for path in env_files:
            env_values.update(_read_env_file(path, display(path), self.ctx.env, report,
                                             required=spec.env_files_explicit, where=spec.position))
        env = {**self.ctx.env, **env_values, **(self.ctx.options.environ or os.environ)}
        documents: list[PMap] = []
        for path in spec.paths:
            source = SourceFile(path, display(path))
            inputs.probe(path)
            if not os.path.isfile(path):
                report.error(spec.position, "include", f"included file {source.display} not found",
                             code="not-found")
                return None
            self.ctx.base_dirs[source.display] = spec.project_dir
            documents.extend(self.load_source(source, env=env, chain=chain + (path,)))
        if not documents:
            return None
        document = apply_reset_tags(documents[0])
        for layer in documents[1:]:
            document = merge(document, layer)
        apply_reset_tags(document)
        extends(document, report, self.load_extended, base_dir=_real_dir(self.ctx))
        return document

    def load_extended(self, path: str, where: Position) -> PMap | None:
        """The document of a file named by `extends.file` (parsed and interpolated once)."""
        if path in self.extended:
            return self.extended[path]
        display = _display(self.ctx.options)(path)
        self.ctx.base_dirs.setdefault(display, os.path.dirname(path))
        inputs.probe(path)
        if not os.path.isfile(path):
            self.ctx.report.error(where, "", f"extends: file {display} not found", code="not-found")
            self.extended[path] = None
            return None
        documents = self.load_source(SourceFile(path, display), env=self.ctx.env, chain=(path,))
        document = None
        if documents:
            document = apply_reset_tags(documents[0])
            for layer in documents[1:]:
                document = merge(document, layer)
        self.extended[path] = document
        return document


def _real_dir(ctx: LoadContext):
    """Directory of the file a position is in (for `extends.file`, relative to its file)."""

    def directory(pos: Position) -> str:
        path = ctx.config_files.get(pos.file)
        if path:
            return os.path.dirname(path)
        return ctx.base_dir(pos)

    return directory


def _empty_sections_as_mappings(document: PMap) -> None:
    """`services:` with nothing under it, or a service written as `web:` alone, is empty (as
    Compose reads it), not null: later phases can rely on mappings."""
    for kind in ("services", "networks", "volumes", "secrets", "configs"):
        if kind in document and document[kind] is None:
            document.put(kind, PMap(document.value_position(kind)), document.key_position(kind),
                         document.value_position(kind))
    services = document.get("services")
    if isinstance(services, PMap):
        for name, service in list(services.items()):
            if service is None:
                services.put(name, PMap(services.value_position(name)), services.key_position(name),
                             services.value_position(name))


def _check_legacy_format(document: PMap, report: Report) -> None:
    if "services" in document:
        return
    for key, value in document.items():
        if not key.startswith("x-") and isinstance(value, dict) and ("image" in value or "build" in value):
            report.error(document.key_position(key), key,
                         "legacy v1 format (services at top level) is not a compose-spec model: "
                         "move the services under a `services:` key", code="legacy-format")
            return


def _check_env_files(canonical: PMap, ctx: LoadContext) -> None:
    """A required `env_file` must exist (a warning with --hermetic, for CI without secrets)."""
    services = canonical.get("services") or {}
    for name, service in services.items():
        entries = service.get("env_file") if isinstance(service, dict) else None
        if not isinstance(entries, PList):
            continue
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                continue
            inputs.probe(entry["path"])
            if entry.get("required", True) is False or os.path.isfile(entry["path"]):
                continue
            pos = entries.item_position(index)
            path = format_path(("services", name, "env_file", index))
            message = f"env file {entry['path']} not found (required env_file missing)"
            if ctx.options.hermetic:
                ctx.report.warning(pos, path, message, code="env-file")
            else:
                ctx.report.error(pos, path, message, code="env-file")
