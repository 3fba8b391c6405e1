"""Image records and references, persisted in sqlite (runtime.metadata).

Who calls it: `runtime.images.service` only. An image record is keyed by its image id
("sha256:" + config digest) and names the manifest it came from, its top chain id and size;
references ("docker.io/library/busybox:latest", "…/busybox@sha256:…") point at image ids.
Each change is one transaction: a pull records the image and moves its tag atomically.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Optional

from runtime import errdefs
from runtime.metadata import Database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,
    manifest_digest TEXT NOT NULL,
    manifest_media_type TEXT NOT NULL,
    chain_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    created TEXT NOT NULL,
    added REAL NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS refs (
    name TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES images(id),
    kind TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS refs_image ON refs(image_id)
"""

KIND_TAG, KIND_DIGEST = "tag", "digest"


@dataclass(frozen=True)
class ImageRecord:
    id: str
    manifest_digest: str
    manifest_media_type: str
    chain_id: str
    size: int
    created: str
    added: float
    labels: dict


def _record(row) -> ImageRecord:
    return ImageRecord(row["id"], row["manifest_digest"], row["manifest_media_type"], row["chain_id"],
                       row["size"], row["created"], row["added"], json.loads(row["labels"]))


class ImageRecords:
    def __init__(self, path: str) -> None:
        self.db = Database(path, _SCHEMA)

    def put(self, record: ImageRecord, refs: list[tuple[str, str]]) -> list[str]:
        """Insert or update an image and point `refs` [(name, kind)] at it, atomically.

        Returns the ids of images that lost their last reference (now dangling)."""
        with self.db.transaction() as db:
            db.execute("INSERT INTO images (id, manifest_digest, manifest_media_type, chain_id, size, "
                       "created, added, labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                       "ON CONFLICT(id) DO UPDATE SET manifest_digest = excluded.manifest_digest, "
                       "manifest_media_type = excluded.manifest_media_type",
                       (record.id, record.manifest_digest, record.manifest_media_type, record.chain_id,
                        record.size, record.created, record.added or time.time(),
                        json.dumps(record.labels)))
            return self._point(db, record.id, refs)

    def _point(self, db, image_id: str, refs: list[tuple[str, str]]) -> list[str]:
        orphaned = []
        for name, kind in refs:
            row = db.execute("SELECT image_id FROM refs WHERE name = ?", (name,)).fetchone()
            db.execute("INSERT INTO refs (name, image_id, kind) VALUES (?, ?, ?) "
                       "ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id, kind = excluded.kind",
                       (name, image_id, kind))
            if row is not None and row["image_id"] != image_id:
                orphaned.append(row["image_id"])
        return [i for i in orphaned
                if not db.execute("SELECT 1 FROM refs WHERE image_id = ?", (i,)).fetchone()]

    def add_refs(self, image_id: str, refs: list[tuple[str, str]]) -> list[str]:
        with self.db.transaction() as db:
            if not db.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone():
                raise errdefs.NotFound(f"No such image: {image_id}")
            return self._point(db, image_id, refs)

    def get(self, image_id: str) -> ImageRecord:
        rows = self.db.query("SELECT * FROM images WHERE id = ?", (image_id,))
        if not rows:
            raise errdefs.NotFound(f"No such image: {image_id}")
        return _record(rows[0])

    def by_prefix(self, hex_prefix: str) -> list[ImageRecord]:
        return [_record(r) for r in self.db.query(
            "SELECT * FROM images WHERE substr(id, 8, ?) = ?", (len(hex_prefix), hex_prefix))]

    def lookup_ref(self, name: str) -> Optional[str]:
        rows = self.db.query("SELECT image_id FROM refs WHERE name = ?", (name,))
        return rows[0]["image_id"] if rows else None

    def refs_of(self, image_id: str) -> list[tuple[str, str]]:
        return [(r["name"], r["kind"]) for r in self.db.query(
            "SELECT name, kind FROM refs WHERE image_id = ? ORDER BY name", (image_id,))]

    def all(self) -> list[ImageRecord]:
        return [_record(r) for r in self.db.query("SELECT * FROM images ORDER BY added DESC")]

    def all_refs(self) -> dict[str, list[tuple[str, str]]]:
        out: dict[str, list[tuple[str, str]]] = {}
        for r in self.db.query("SELECT name, kind, image_id FROM refs ORDER BY name"):
            out.setdefault(r["image_id"], []).append((r["name"], r["kind"]))
        return out

    def remove_ref(self, name: str) -> Optional[str]:
        with self.db.transaction() as db:
            row = db.execute("SELECT image_id FROM refs WHERE name = ?", (name,)).fetchone()
            if row is None:
                return None
            db.execute("DELETE FROM refs WHERE name = ?", (name,))
            return row["image_id"]

    def remove_image(self, image_id: str) -> list[str]:
        """Delete the image and every reference to it; returns the references removed."""
        with self.db.transaction() as db:
            names = [r["name"] for r in db.execute("SELECT name FROM refs WHERE image_id = ?", (image_id,))]
            db.execute("DELETE FROM refs WHERE image_id = ?", (image_id,))
            db.execute("DELETE FROM images WHERE id = ?", (image_id,))
            return names
