"""Overlay snapshotter: snapshot records with parent chains, directories, mount lists.

Who calls it: `runtime.images` (each layer is unpacked into an active snapshot's upper dir,
then committed under its chain id) and the container side (a container's rootfs is an active
snapshot prepared on the image's top chain id; see `Snapshotter.prepare`).

Layout under `root`: snapshots/<n>/fs (the upper dir or, for a committed layer, its files),
snapshots/<n>/work (overlay's work dir), metadata.db (records). Numeric ids keep overlay's
lowerdir option short. The record is written in the same transaction that decides; directories
are made before the record and removed after it, so after a crash a directory can be orphaned
(removed by `cleanup`) but a record never points at nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Optional

from runtime import errdefs
from runtime.metadata import Database
from runtime.snapshots.mount import Mount

KIND_ACTIVE, KIND_VIEW, KIND_COMMITTED = "active", "view", "committed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    name TEXT PRIMARY KEY,          -- key (active/view) or name (committed)
    id INTEGER NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    parent TEXT REFERENCES snapshots(name),
    labels TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    size INTEGER NOT NULL DEFAULT -1
);
CREATE INDEX IF NOT EXISTS snapshots_parent ON snapshots(parent)
"""


@dataclass(frozen=True)
class SnapshotInfo:
    kind: str
    name: str
    parent: Optional[str]
    labels: dict[str, str] = field(default_factory=dict)
    created: float = 0.0
    id: int = 0


def _info(row) -> SnapshotInfo:
    return SnapshotInfo(row["kind"], row["name"], row["parent"], json.loads(row["labels"]),
                        row["created"], row["id"])


def disk_usage(path: str) -> int:
    """Bytes used by the files under `path` (hard links counted once)."""
    total, seen = 0, set()
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except FileNotFoundError:
                continue
            if st.st_nlink > 1:
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512 if st.st_blocks else st.st_size
    return total


class Snapshotter:
    """Overlay snapshotter rooted at `root` (containerd's snapshot model)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.dirs = os.path.join(root, "snapshots")
        os.makedirs(self.dirs, exist_ok=True)
        self.db = Database(os.path.join(root, "metadata.db"), _SCHEMA)

    # -- paths -------------------------------------------------------------------------------
    def _dir(self, sid: int) -> str:
        return os.path.join(self.dirs, str(sid))

    def _row(self, name: str):
        rows = self.db.query("SELECT * FROM snapshots WHERE name = ?", (name,))
        if not rows:
            raise errdefs.NotFound(f"snapshot {name} does not exist")
        return rows[0]

    def upper_dir(self, key: str) -> str:
        """The directory holding the snapshot's own files (where a layer is unpacked)."""
        return os.path.join(self._dir(self._row(key)["id"]), "fs")

    def parent_dirs(self, name: Optional[str]) -> list[str]:
        """fs dirs of `name` and its ancestors, nearest first (overlay's lowerdir order)."""
        out: list[str] = []
        while name is not None:
            row = self._row(name)
            out.append(os.path.join(self._dir(row["id"]), "fs"))
            name = row["parent"]
        return out

    # -- create ------------------------------------------------------------------------------
    def _create(self, key: str, parent: Optional[str], kind: str, labels) -> list[Mount]:
        with self.db.transaction() as db:
            if db.execute("SELECT 1 FROM snapshots WHERE name = ?", (key,)).fetchone():
                raise errdefs.AlreadyExists(f"snapshot {key} already exists")
            if parent is not None:
                row = db.execute("SELECT kind FROM snapshots WHERE name = ?", (parent,)).fetchone()
                if row is None:
                    raise errdefs.NotFound(f"parent snapshot {parent} does not exist")
                if row["kind"] != KIND_COMMITTED:
                    raise errdefs.FailedPrecondition(f"parent snapshot {parent} is not committed")
            sid = (db.execute("SELECT COALESCE(MAX(id), 0) FROM snapshots").fetchone()[0]) + 1
            while os.path.exists(self._dir(sid)):  # an orphan left by a crash
                sid += 1
            os.makedirs(os.path.join(self._dir(sid), "fs"), mode=0o755)
            os.chmod(os.path.join(self._dir(sid), "fs"), 0o755)
            if kind == KIND_ACTIVE:
                os.makedirs(os.path.join(self._dir(sid), "work"), mode=0o700)
            db.execute("INSERT INTO snapshots (name, id, kind, parent, labels, created) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       (key, sid, kind, parent, json.dumps(dict(labels or {})), time.time()))
        return self.mounts(key)

    def prepare(self, key: str, parent: Optional[str], labels=None) -> list[Mount]:
        """An active (writable) snapshot on `parent`; returns its mounts.

        Raises:
            errdefs.AlreadyExists: `key` is taken. errdefs.NotFound: no such parent.
        """
        return self._create(key, parent, KIND_ACTIVE, labels)

    def view(self, key: str, parent: Optional[str], labels=None) -> list[Mount]:
        """A read-only snapshot of `parent`; returns its mounts."""
        return self._create(key, parent, KIND_VIEW, labels)

    def mounts(self, key: str) -> list[Mount]:
        row = self._row(key)
        base = self._dir(row["id"])
        lowers = self.parent_dirs(row["parent"])
        if row["kind"] == KIND_COMMITTED:
            raise errdefs.FailedPrecondition(f"snapshot {key} is committed; prepare or view it to mount")
        if row["kind"] == KIND_VIEW:
            if not lowers:
                return [Mount("bind", os.path.join(base, "fs"), ["ro", "rbind"])]
            if len(lowers) == 1:
                return [Mount("bind", lowers[0], ["ro", "rbind"])]
            return [Mount("overlay", "overlay", [f"lowerdir={':'.join(lowers)}"])]
        if not lowers:
            return [Mount("bind", os.path.join(base, "fs"), ["rw", "rbind"])]
        return [Mount("overlay", "overlay", [
            f"workdir={os.path.join(base, 'work')}", f"upperdir={os.path.join(base, 'fs')}",
            f"lowerdir={':'.join(lowers)}"])]

    def commit(self, name: str, key: str, *, parent: Optional[str] = "", labels=None) -> None:
        """Turn active snapshot `key` into committed snapshot `name`.

        `parent=<name>` (keyword) sets the parent of a snapshot prepared without one: a layer
        unpacked in parallel with its predecessors is chained at commit time — its upper dir's
        contents do not depend on what lies below.

        Raises:
            errdefs.NotFound, errdefs.AlreadyExists, errdefs.FailedPrecondition.
        """
        size = -1
        with self.db.transaction() as db:
            row = db.execute("SELECT * FROM snapshots WHERE name = ?", (key,)).fetchone()
            if row is None:
                raise errdefs.NotFound(f"snapshot {key} does not exist")
            if row["kind"] != KIND_ACTIVE:
                raise errdefs.FailedPrecondition(f"snapshot {key} is not active")
            if db.execute("SELECT 1 FROM snapshots WHERE name = ?", (name,)).fetchone():
                raise errdefs.AlreadyExists(f"snapshot {name} already exists")
            new_parent = row["parent"]
            if parent != "":
                if row["parent"] is not None and parent != row["parent"]:
                    raise errdefs.FailedPrecondition(f"snapshot {key} already has parent {row['parent']}")
                if parent is not None:
                    prow = db.execute("SELECT kind FROM snapshots WHERE name = ?", (parent,)).fetchone()
                    if prow is None or prow["kind"] != KIND_COMMITTED:
                        raise errdefs.NotFound(f"parent snapshot {parent} is not committed")
                new_parent = parent
            size = disk_usage(os.path.join(self._dir(row["id"]), "fs"))
            merged = json.loads(row["labels"])
            merged.update(labels or {})
            db.execute("UPDATE snapshots SET name = ?, kind = ?, parent = ?, labels = ?, size = ? "
                       "WHERE name = ?",
                       (name, KIND_COMMITTED, new_parent, json.dumps(merged), size, key))
        shutil.rmtree(os.path.join(self._dir(row["id"]), "work"), ignore_errors=True)

    def remove(self, key_or_name: str) -> None:
        """Remove a snapshot and its files.

        Raises:
            errdefs.NotFound: no such snapshot. errdefs.Conflict: other snapshots build on it.
        """
        with self.db.transaction() as db:
            row = db.execute("SELECT * FROM snapshots WHERE name = ?", (key_or_name,)).fetchone()
            if row is None:
                raise errdefs.NotFound(f"snapshot {key_or_name} does not exist")
            child = db.execute("SELECT name FROM snapshots WHERE parent = ? LIMIT 1",
                               (key_or_name,)).fetchone()
            if child is not None:
                raise errdefs.Conflict(f"snapshot {key_or_name} is the parent of {child['name']}")
            db.execute("DELETE FROM snapshots WHERE name = ?", (key_or_name,))
        self._remove_dir(row["id"])

    def _remove_dir(self, sid: int) -> None:
        path = self._dir(sid)
        # Rename first so a half-removed tree never looks like a live snapshot's directory.
        trash = os.path.join(self.dirs, f"rm-{sid}-{time.time_ns()}")
        try:
            os.rename(path, trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    # -- query -------------------------------------------------------------------------------
    def stat(self, key_or_name: str) -> SnapshotInfo:
        return _info(self._row(key_or_name))

    def exists(self, key_or_name: str) -> bool:
        return bool(self.db.query("SELECT 1 FROM snapshots WHERE name = ?", (key_or_name,)))

    def list(self) -> list[SnapshotInfo]:
        return [_info(r) for r in self.db.query("SELECT * FROM snapshots ORDER BY id")]

    def children(self, name: str) -> list[str]:
        return [r["name"] for r in self.db.query("SELECT name FROM snapshots WHERE parent = ?", (name,))]

    def usage(self, key_or_name: str) -> int:
        """Bytes used by the snapshot's own files (cached at commit for committed ones)."""
        row = self._row(key_or_name)
        if row["kind"] == KIND_COMMITTED and row["size"] >= 0:
            return row["size"]
        return disk_usage(os.path.join(self._dir(row["id"]), "fs"))

    def cleanup(self) -> None:
        """Remove directories without a record (left by a crash between mkdir and insert)."""
        # Inside a write transaction: another process creating a snapshot holds the write lock
        # from its mkdir to its insert, so we never see its directory without its record.
        with self.db.transaction() as db:
            known = {str(r["id"]) for r in db.execute("SELECT id FROM snapshots")}
            orphans = [e for e in os.listdir(self.dirs) if e not in known]
            for entry in orphans:
                if not entry.startswith("rm-"):
                    os.rename(os.path.join(self.dirs, entry), os.path.join(self.dirs, f"rm-{entry}-{time.time_ns()}"))
        for entry in os.listdir(self.dirs):
            if entry.startswith("rm-"):
                shutil.rmtree(os.path.join(self.dirs, entry), ignore_errors=True)
