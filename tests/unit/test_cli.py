"""cli.app: `stackyard validate` and `stackyard config` run as real processes, plus exit paths.

Most tests run `python -m orchestrator.cli.app` in a temporary project directory, as a user
would; the exit-path tests call `main()` in-process with the loader replaced.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

VALID = """\
services:
  web:
    image: nginx:1.27
    environment:
      B: "2"
      A: "1"
    depends_on: [db]
    profiles: [front]
  db:
    image: postgres:16
    volumes: [data:/var/lib/postgresql/data]
  worker:
    build: .
volumes:
  data: {}
"""

UNDEFINED_DEPENDENCY = """\
services:
  web:
    image: nginx
    depends_on:
      - db
"""

SYNTAX_ERROR = """\
services:
  web:
    image: [nginx
"""


def run(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "orchestrator.cli.app", *args], cwd=cwd,
                          env=env, input=stdin, capture_output=True, text=True, timeout=60)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    directory = tmp_path / "shop"
    directory.mkdir()
    (directory / "compose.yaml").write_text(VALID)
    return directory


# ---- validate -----------------------------------------------------------------------------

def test_validate_valid_discovered_exits_0_silently(project):
    proc = run("validate", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr


def test_validate_warnings_go_to_stderr_and_exit_0(tmp_path):
    (tmp_path / "compose.yaml").write_text(
        "services:\n  a:\n    image: x\n    command: echo $STACKYARD_TEST_UNSET\n")
    proc = run("validate", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith("compose.yaml:4:") and "warning:" in line
    assert "STACKYARD_TEST_UNSET" in line


def test_validate_stdin(project):
    proc = run("validate", "-f", "-", cwd=project, stdin=UNDEFINED_DEPENDENCY)
    assert proc.returncode == 2
    assert proc.stderr.startswith("<stdin>:5:")


def test_validate_undefined_dependency_exits_2_with_position(tmp_path):
    (tmp_path / "compose.yaml").write_text(UNDEFINED_DEPENDENCY)
    proc = run("validate", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith("compose.yaml:5:")
    assert line.split(":")[2].isdigit()
    assert "services.web.depends_on" in line and '"db"' in line


def test_validate_yaml_syntax_error_exits_2_without_traceback(tmp_path):
    (tmp_path / "compose.yaml").write_text(SYNTAX_ERROR)
    proc = run("validate", "compose.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("compose.yaml:")


def test_validate_several_paths_reports_all(tmp_path, project):
    (tmp_path / "bad.yaml").write_text(UNDEFINED_DEPENDENCY)
    (tmp_path / "broken.yaml").write_text(SYNTAX_ERROR)
    proc = run("validate", "bad.yaml", "shop", "broken.yaml", "--format", "junit", cwd=tmp_path)
    assert proc.returncode == 2
    suite = ET.fromstring(proc.stdout)
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert sorted(cases) == ["bad.yaml", "broken.yaml", "shop"]
    assert cases["shop"].find("failure") is None
    assert cases["bad.yaml"].find("failure").text.startswith("bad.yaml:5:")
    assert cases["broken.yaml"].find("failure") is not None


def test_validate_directory_path(tmp_path, project):
    proc = run("validate", "shop", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_validate_missing_file_exits_2(tmp_path):
    proc = run("validate", "nope.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("nope.yaml")


def test_validate_json_format(tmp_path):
    (tmp_path / "compose.yaml").write_text(UNDEFINED_DEPENDENCY)
    proc = run("validate", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 2
    (item,) = [i for i in json.loads(proc.stdout) if i["severity"] == "error"]
    assert (item["file"], item["line"]) == ("compose.yaml", 5)
    assert set(item) >= {"file", "line", "column", "path", "message", "severity", "hint"}


def test_validate_sarif_and_github_formats(tmp_path):
    (tmp_path / "compose.yaml").write_text(UNDEFINED_DEPENDENCY)
    sarif = run("validate", "--format", "sarif", cwd=tmp_path)
    assert sarif.returncode == 2
    result = json.loads(sarif.stdout)["runs"][0]["results"][0]
    assert result["level"] == "error"
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 5
    github = run("validate", "--format", "github", cwd=tmp_path)
    assert github.stdout.startswith("::error file=compose.yaml,line=5,")


def test_validate_unknown_format_is_usage_error(project):
    proc = run("validate", "--format", "xml", cwd=project)
    assert proc.returncode == 2
    assert "xml" in proc.stderr and "Traceback" not in proc.stderr


def test_validate_global_options_before_and_after_command(tmp_path, project):
    before = run("-f", "shop/compose.yaml", "validate", cwd=tmp_path)
    after = run("validate", "-f", "shop/compose.yaml", cwd=tmp_path)
    assert before.returncode == after.returncode == 0, before.stderr + after.stderr


# ---- config -------------------------------------------------------------------------------

def test_config_prints_sorted_canonical_yaml(project):
    proc = run("config", cwd=project)
    assert proc.returncode == 0, proc.stderr
    data = yaml.safe_load(proc.stdout)
    assert data["name"] == "shop"
    assert set(data["services"]) == {"db", "worker"}   # `web` is in an inactive profile
    assert proc.stdout == yaml.safe_dump(data, sort_keys=True, default_flow_style=False,
                                         allow_unicode=True)
    assert run("config", cwd=project).stdout == proc.stdout   # deterministic


def test_config_json(project):
    proc = run("config", "--format", "json", "--profile", "front", cwd=project)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["services"]["web"]["environment"] == {"A": "1", "B": "2"}
    assert proc.stdout == json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_config_listings(project):
    assert run("config", "--services", cwd=project).stdout == "db\nworker\n"
    assert run("--profile", "front", "config", "--services", cwd=project).stdout == \
        "db\nweb\nworker\n"
    assert run("config", "--volumes", cwd=project).stdout == "data\n"
    assert run("config", "--networks", cwd=project).stdout == "default\n"
    assert run("config", "--profiles", cwd=project).stdout == "front\n"
    assert run("config", "--images", cwd=project).stdout == "postgres:16\nshop-worker\n"
    assert run("-p", "other", "config", "--images", cwd=project).stdout == \
        "postgres:16\nother-worker\n"


def test_config_hash(project):
    proc = run("config", "--hash", "*", cwd=project)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["db", "worker"]
    assert all(line.split()[1].startswith("v1:") for line in lines)
    one = run("config", "--hash", "db", cwd=project)
    assert one.stdout == lines[0] + "\n"
    missing = run("config", "--hash", "nope", cwd=project)
    assert missing.returncode == 2 and "nope" in missing.stderr


def test_config_quiet_and_output(project):
    quiet = run("config", "-q", cwd=project)
    assert (quiet.returncode, quiet.stdout) == (0, "")
    written = run("config", "-o", "out.yaml", cwd=project)
    assert written.returncode == 0 and written.stdout == ""
    assert (project / "out.yaml").read_text() == run("config", cwd=project).stdout


def test_config_no_interpolate_keeps_variables(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  a:\n    image: ${IMAGE:-x}\n")
    assert yaml.safe_load(run("config", cwd=tmp_path).stdout)["services"]["a"]["image"] == "x"
    raw = run("config", "--no-interpolate", cwd=tmp_path)
    assert yaml.safe_load(raw.stdout)["services"]["a"]["image"] == "${IMAGE:-x}"


def test_config_invalid_exits_2(tmp_path):
    (tmp_path / "compose.yaml").write_text(UNDEFINED_DEPENDENCY)
    proc = run("config", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("compose.yaml:5:")


# ---- start-up cost ------------------------------------------------------------------------

def test_validate_imports_stay_lean(project):
    """`validate` is benchmarked as a whole process: no rich, httpx, networkx, pydantic, runtime."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "orchestrator.cli.app",
                           "validate"], cwd=project, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    heavy = {m for m in imported
             if m.split(".")[0] in {"rich", "httpx", "networkx", "pydantic", "runtime"}}
    assert not heavy


# ---- exit paths (in-process) ----------------------------------------------------------------

def _main_with_loader_raising(monkeypatch, capsys, exc: BaseException, *args: str):
    import orchestrator.loader
    from orchestrator.cli import app

    def boom(options):
        raise exc

    monkeypatch.setattr(orchestrator.loader, "load_stack", boom)
    with pytest.raises(SystemExit) as exit_info:
        app.main(["validate", *args])
    return exit_info.value.code, capsys.readouterr()


def test_internal_error_one_line_exit_1(monkeypatch, capsys):
    code, out = _main_with_loader_raising(monkeypatch, capsys, RuntimeError("kaboom\nmore"))
    assert code == 1
    assert out.err.splitlines() == [
        "stackyard: internal error: RuntimeError: kaboom (run with --debug for the traceback)"]


def test_internal_error_traceback_with_debug(monkeypatch, capsys):
    code, out = _main_with_loader_raising(monkeypatch, capsys, RuntimeError("kaboom"), "--debug")
    assert code == 1
    assert "Traceback" in out.err and out.err.rstrip().endswith("RuntimeError: kaboom")


def test_keyboard_interrupt_exits_130(monkeypatch, capsys):
    code, _ = _main_with_loader_raising(monkeypatch, capsys, KeyboardInterrupt())
    assert code == 130


def test_stack_file_error_prints_every_diagnostic(monkeypatch, capsys):
    import orchestrator.loader
    from orchestrator.cli import app
    from orchestrator.errors import Diagnostic, Position, StackFileError

    error = StackFileError([Diagnostic(Position("b.yaml", 2, 1), "x", "second"),
                            Diagnostic(Position("a.yaml", 9, 3), "y", "first")])

    monkeypatch.setattr(orchestrator.loader, "load_stack",
                        lambda options: (_ for _ in ()).throw(error))
    with pytest.raises(SystemExit) as exit_info:
        app.main(["config"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines() == ["a.yaml:9:3: y: first",
                                                    "b.yaml:2:1: x: second"]
