"""The whole pipeline on small projects written to a temporary directory."""


import pytest

from orchestrator.errors import StackFileError
from orchestrator.loader import LoadOptions, load_stack, service_hashes
from orchestrator.loader.tree import plain


def write(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def load(root, **kwargs):
    kwargs.setdefault("environ", {"HOME": "/root"})
    return load_stack(LoadOptions(cwd=str(root), **kwargs))


def errors(root, **kwargs):
    with pytest.raises(StackFileError) as info:
        load(root, **kwargs)
    return [d.render() for d in info.value.errors]


def test_loader_discovers_compose_and_override_upward(tmp_path):
    write(tmp_path, {"compose.yaml": "services:\n  web:\n    image: a\n",
                     "compose.override.yaml": "services:\n  web:\n    image: b\n"})
    (tmp_path / "sub").mkdir()
    result = load(tmp_path / "sub")
    assert result.stack.services["web"].image == "b"
    assert result.stack.name == tmp_path.name.lower().replace(".", "")


def test_loader_missing_file_is_a_clear_error(tmp_path):
    assert errors(tmp_path)[0].endswith("no configuration file provided: none of compose.yaml, compose.yml, "
                                        "docker-compose.yaml, docker-compose.yml found here or in a parent directory")
    assert errors(tmp_path, files=("nope.yaml",)) == ["nope.yaml: no such file"]
    (tmp_path / "dir.yaml").mkdir()
    assert "is a directory" in errors(tmp_path, files=("dir.yaml",))[0]


def test_loader_compose_file_variable_and_separator(tmp_path):
    write(tmp_path, {"a.yaml": "services:\n  web:\n    image: a\n", "b.yaml": "services:\n  web:\n    image: b\n"})
    result = load(tmp_path, environ={"COMPOSE_FILE": "a.yaml;b.yaml", "COMPOSE_PATH_SEPARATOR": ";"})
    assert result.stack.services["web"].image == "b"


def test_loader_stdin(tmp_path):
    result = load(tmp_path, files=("-",), stdin_text="services:\n  web:\n    image: from-stdin\n")
    assert result.stack.services["web"].image == "from-stdin"


def test_loader_env_precedence_process_over_dotenv(tmp_path):
    write(tmp_path, {"compose.yaml": "services:\n  web:\n    image: ${IMG}:${TAG}\n", ".env": "IMG=dot\nTAG=1\n"})
    assert load(tmp_path).stack.services["web"].image == "dot:1"
    assert load(tmp_path, environ={"TAG": "2"}).stack.services["web"].image == "dot:2"


def test_loader_env_file_option_replaces_dotenv(tmp_path):
    write(tmp_path, {"compose.yaml": "services:\n  web:\n    image: ${IMG:-none}\n", ".env": "IMG=dot\n",
                     "a.env": "IMG=a\n", "b.env": "IMG=b\n"})
    assert load(tmp_path, env_files=("a.env", "b.env")).stack.services["web"].image == "b"
    assert errors(tmp_path, env_files=("missing.env",)) == ["missing.env: env file missing.env not found"]


def test_loader_extends_chain_from_other_file_with_relative_paths(tmp_path):
    write(tmp_path, {
        "compose.yaml": "services:\n  web:\n    extends: {file: common/base.yaml, service: app}\n"
                        "    environment: {B: '2'}\n",
        "common/base.yaml": "services:\n  root:\n    image: busybox\n    env_file: ./app.env\n"
                            "  app:\n    extends: root\n    environment: {A: '1'}\n",
        "common/app.env": "X=1\n"})
    web = load(tmp_path).stack.services["web"]
    assert web.image == "busybox"
    assert dict(web.environment) == {"A": "1", "B": "2"}
    assert web.env_files[0].path == str(tmp_path / "common" / "app.env")


def test_loader_extends_cycle_prints_the_chain(tmp_path):
    write(tmp_path, {"compose.yaml": "services:\n  a:\n    extends: b\n    image: x\n"
                                     "  b:\n    extends: a\n"})
    assert any("extends cycle detected: " in e and "a -> b -> a" in e or "b -> a -> b" in e
               for e in errors(tmp_path))


def test_loader_include_adds_resources_and_detects_cycles(tmp_path):
    write(tmp_path, {"compose.yaml": "include: [lib/db.yaml]\nservices:\n  web:\n    image: x\n"
                                     "    depends_on: [db]\n",
                     "lib/db.yaml": "services:\n  db:\n    image: postgres\n    volumes: [./data:/data]\n"})
    result = load(tmp_path)
    assert set(result.stack.services) == {"web", "db"}
    assert result.stack.services["db"].volumes[0].source == str(tmp_path / "lib" / "data")
    write(tmp_path, {"lib/db.yaml": "include: [../compose.yaml]\nservices:\n  db:\n    image: x\n"})
    assert any("include cycle detected" in e for e in errors(tmp_path))


def test_loader_reports_all_errors_sorted_with_positions(tmp_path):
    write(tmp_path, {"compose.yaml": "services:\n  web:\n    image: x\n    enviroment: {}\n"
                                     "    depends_on: [db]\n  worker:\n    image: 12\n"})
    assert errors(tmp_path) == [
        "compose.yaml:4:5: services.web.enviroment: unknown key `enviroment` in services.web "
        "(did you mean `environment`?)",
        'compose.yaml:5:18: services.web.depends_on.db: service "web" depends on undefined service "db"',
        "compose.yaml:7:12: services.worker.image: expected a string, got a number 12",
    ]


def test_loader_error_in_override_file_points_at_override(tmp_path):
    write(tmp_path, {"compose.yaml": "services:\n  web:\n    image: x\n",
                     "compose.override.yaml": "services:\n  web:\n    ports: 80\n"})
    assert errors(tmp_path) == ["compose.override.yaml:3:12: services.web.ports: expected a list, got a number 80"]


def test_loader_profiles_select_services(tmp_path):
    write(tmp_path, {"compose.yaml": "services:\n  web:\n    image: x\n"
                                     "  debug:\n    image: y\n    profiles: [dev]\n"})
    assert set(load(tmp_path).stack.services) == {"web"}
    assert set(load(tmp_path, profiles=("dev",)).stack.services) == {"web", "debug"}
    assert set(load(tmp_path, environ={"COMPOSE_PROFILES": "dev"}).stack.services) == {"web", "debug"}
    assert set(load(tmp_path, services=("debug",)).stack.services) == {"web", "debug"}


def test_loader_service_depending_on_disabled_profile_is_an_error(tmp_path):
    write(tmp_path, {"compose.yaml": "services:\n  web:\n    image: x\n    depends_on: [db]\n"
                                     "  db:\n    image: y\n    profiles: [db]\n"})
    assert errors(tmp_path) == ['compose.yaml:4:18: services.web.depends_on.db: service "web" depends on "db", '
                                "which is not enabled by the active profiles (enable its profile with --profile "
                                "or COMPOSE_PROFILES)"]


def test_loader_project_name_precedence_and_validation(tmp_path):
    write(tmp_path, {"compose.yaml": "name: from-file\nservices:\n  web:\n    image: x\n"})
    assert load(tmp_path).stack.name == "from-file"
    assert load(tmp_path, environ={"COMPOSE_PROJECT_NAME": "env"}).stack.name == "env"
    assert load(tmp_path, project_name="cli").stack.name == "cli"
    assert "invalid project name" in errors(tmp_path, project_name="Bad Name")[0]


def test_loader_hermetic_turns_missing_env_files_and_variables_into_warnings(tmp_path):
    write(tmp_path, {"compose.yaml": "services:\n  web:\n    image: ${IMAGE:?set IMAGE}\n"
                                     "    env_file: secrets.env\n"})
    assert errors(tmp_path) == ["compose.yaml:3:12: services.web.image: required variable IMAGE is missing "
                                "a value: set IMAGE"]
    assert errors(tmp_path, environ={"IMAGE": "x"})[0].startswith("compose.yaml:4:15: services.web.env_file[0]: "
                                                                  "env file ")
    result = load(tmp_path, hermetic=True)
    assert [d.code for d in result.diagnostics] == ["interpolation", "env-file"]


def test_loader_hash_changes_with_env_file_content(tmp_path):
    write(tmp_path, {"compose.yaml": "services:\n  web:\n    image: x\n    env_file: app.env\n",
                     "app.env": "A=1\n"})
    first = service_hashes(load(tmp_path))["web"]
    (tmp_path / "app.env").write_text("A=2\n")
    second = service_hashes(load(tmp_path))["web"]
    assert first.startswith("v1:") and first != second


def test_loader_canonical_form_is_plain_data(tmp_path):
    write(tmp_path, {"compose.yaml": "services:\n  web:\n    image: x\n    ports: ['8080:80']\n"})
    canonical = plain(load(tmp_path, project_name="demo").canonical)
    assert canonical["services"]["web"]["ports"] == [
        {"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"}]
    assert canonical["networks"] == {"default": {"name": "demo_default"}}


def test_loader_unsupported_keys_warn_by_default_and_fail_when_strict(tmp_path):
    write(tmp_path, {"compose.yaml": "services:\n  web:\n    image: x\n    develop:\n      watch: []\n"})
    warnings = [d.render() for d in load(tmp_path).diagnostics]
    assert warnings == ["compose.yaml:4:5: warning: services.web.develop: ignored: file watching (`develop`) "
                        "is not implemented by stackyard"]
    assert errors(tmp_path, strict=True) == ["compose.yaml:4:5: services.web.develop: unsupported: file watching "
                                             "(`develop`) is not implemented by stackyard"]


def test_loader_newer_compose_keys_warn_unless_strict(tmp_path, monkeypatch):
    from orchestrator.loader import validate
    monkeypatch.setitem(validate.NEWER_KEYS, "teleport", "Compose 9.9")
    write(tmp_path, {"compose.yaml": "services:\n  web:\n    image: x\n    teleport: true\n"})
    assert [d.message for d in load(tmp_path).diagnostics] == [
        "`teleport` was added in Compose 9.9 and is not supported by this stackyard"]
    assert len(errors(tmp_path, strict=True)) == 1


def test_loader_without_interpolation_returns_the_merged_document_as_written(tmp_path):
    write(tmp_path, {"compose.yaml": "services:\n  web:\n    image: x\n    ports: ['${PORT:-80}:80']\n",
                     "compose.override.yaml": "services:\n  web:\n    environment: [A=$B]\n"})
    result = load(tmp_path, interpolate=False)
    assert result.stack is None
    assert plain(result.canonical)["services"]["web"] == {
        "image": "x", "ports": ["${PORT:-80}:80"], "environment": ["A=$B"]}
