"""Reads `../shared/corpus/manifest.tsv` and lays a case out on disk so the loader can load it.

Used by `tests/corpus/test_corpus.py` and `bench/validate.py`. A case's neighbours (its
`group`: files it includes or extends, its override base, its env files) are written at their
original paths inside a temporary folder, as the corpus README describes.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path


def shared_dir() -> Path | None:
    """`../shared` beside the repository (or $STACKYARD_SHARED), when present."""
    env = os.environ.get("STACKYARD_SHARED")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[3] / "shared")
    for candidate in candidates:
        if (candidate / "corpus" / "manifest.tsv").is_file():
            return candidate
    return None


@dataclass(frozen=True)
class Case:
    row: dict

    @property
    def id(self) -> str:
        return self.row["id"]

    @property
    def category(self) -> str:
        return self.row["category"]

    @property
    def scope(self) -> str:
        return self.row["scope"]

    @property
    def role(self) -> str:
        return self.row["role"]

    @property
    def expected_error(self) -> str:
        return self.row["expected_error"]


def load_manifest(shared: Path) -> list[Case]:
    with open(shared / "corpus" / "manifest.tsv", newline="", encoding="utf-8") as handle:
        return [Case(row) for row in csv.DictReader(handle, delimiter="\t")]


def _layout_path(row: dict) -> str:
    """Where a case's file goes: its original path; inline fixtures beside their test file."""
    path = row["path"]
    if "#" in path:
        source, test = path.split("#", 1)
        return os.path.join(os.path.dirname(source), "inline-" + re.sub(r"[^A-Za-z0-9_.-]", "_", test) + ".yaml")
    return path


def _env_path(row: dict, flattened: str) -> str:
    """An env file's original path: its flattened name with `__` turned back into `/`."""
    return flattened.replace("__", "/")


def lay_out(case: Case, cases: list[Case], shared: Path, root: Path) -> list[str]:
    """Write the case's group under `root`; returns the `-f` files to load, in order."""
    group = [c for c in cases if c.row["group"] == case.row["group"]]
    source_dir = shared / "corpus"
    for member in group + [case]:
        target = root / _layout_path(member.row)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((source_dir / member.row["file"]).read_bytes())
        for flattened in filter(None, member.row["env_files"].split(",")):
            flattened = flattened.strip()
            stored = source_dir / "files" / member.row["source"] / flattened
            if stored.is_file():
                env_target = root / _env_path(member.row, flattened)
                env_target.parent.mkdir(parents=True, exist_ok=True)
                env_target.write_bytes(stored.read_bytes())
    files = [_layout_path(case.row)]
    if case.role == "override":
        base = next((c for c in cases if c.id == case.row["group"]), None)
        if base is not None and base.id != case.id:
            files = [_layout_path(base.row)] + files
    elif case.role == "multi-file-part":
        # Parts of one Go test (`…__1`, `…__2`) load together in order; a part of a
        # published stack is laid over the group's main file (`-f docker-compose.yml -f part`).
        prefix = re.sub(r"__\d+$", "", case.id)
        parts = [c for c in group if c.role == "multi-file-part" and re.sub(r"__\d+$", "", c.id) == prefix
                 and re.search(r"__\d+$", c.id)]
        parts.sort(key=lambda c: int(re.search(r"__(\d+)$", c.id).group(1)))
        if len(parts) > 1:
            files = [_layout_path(c.row) for c in parts]
        else:
            root = next((c for c in cases if c.id == case.row["group"]), None)
            if root is not None and root.id != case.id:
                files = [_layout_path(root.row)] + files
            # docker-elk: an extension part that needs its directory's main part
            # (`fleet/agent-apmserver-compose.yml` runs beside `fleet/fleet-compose.yml`).
            folder = os.path.dirname(_layout_path(case.row))
            main_part = os.path.join(folder, os.path.basename(folder) + "-compose.yml")
            if folder and main_part not in files and any(_layout_path(c.row) == main_part for c in group):
                files.insert(len(files) - 1, main_part)
    return files


def stub_value(name: str) -> str:
    """A stub that fits how a variable is typically used: the corpus only says "must be set",
    but `"${ADM_PORT}:8080"` needs a number and `${APP_CODE_PATH_HOST}:/app` a path."""
    upper = name.upper()
    if upper.endswith("PORT_RANGE"):
        return "7000-7005"
    if "PORT" in upper:
        return str(10000 + sum(map(ord, name)) % 20000)  # distinct per variable
    if upper == "FILE" or upper.endswith("_FILE"):
        return "/stub/file"
    if upper.endswith("SIZE") or "MEMORY" in upper:
        return "64m"
    if upper.endswith("_IP") or "_IP_" in upper:
        return "127.0.0.1"
    if "PATH" in upper or upper.endswith("_DIR") or "_DIR_" in upper or upper.endswith("_HOST_PATH"):
        return "/stub"
    if upper.endswith("_FLAG"):
        return ""
    return "stub"


def _stubbed(case: Case) -> list[str]:
    return [v.strip() for v in case.row["stubbed_vars"].split(",") if v.strip()]


def stub_environment(case: Case) -> dict[str, str]:
    """The variables the case itself needs, as the process environment."""
    env = {"HOME": "/root", "PATH": "/usr/bin:/bin"}
    env.update({name: stub_value(name) for name in _stubbed(case)})
    return env


def write_group_stubs(case: Case, cases: list[Case], project_dir: Path) -> None:
    """Variables the rest of the group needs, appended to the project's `.env`: a file that
    includes others (laradock's docker-compose.yml) needs what they use, at the lowest
    precedence, so an include's own `env_file` still wins."""
    own = set(_stubbed(case))
    names = sorted({n for c in cases if c.row["group"] == case.row["group"] for n in _stubbed(c)} - own)
    if names:
        with open(project_dir / ".env", "a", encoding="utf-8") as handle:
            handle.write("\n" + "".join(f"{n}={stub_value(n)}\n" for n in names))


_QUOTED = re.compile(r"\"([^\"]+)\"|'([^']+)'|`([^`]+)`")
_DOTTED = re.compile(r"\b(?:services|networks|volumes|secrets|configs)\.[\w.\-\[\]]+")


def expected_tokens(expected: str) -> list[str]:
    """Keys or values an expected error names: quoted words and the parts of dotted paths."""
    tokens = [next(g for g in m.groups() if g) for m in _QUOTED.finditer(expected)]
    for match in _DOTTED.finditer(expected):
        parts = [p for p in re.split(r"[.\[\]]", match.group(0)) if p and not p.isdigit()]
        tokens.extend(parts[1:] or parts)
    return tokens
