"""Persistent records in sqlite3: one small helper, transactions only.

Who calls it: `runtime.snapshots` (snapshot records) and `runtime.images` (image records and
references). Every change runs in one `BEGIN IMMEDIATE` transaction, so a crash leaves either
the old or the new state, never half of it. A connection per transaction keeps it safe to use
from the pull's worker threads (sqlite serialises writers; `busy_timeout` makes them wait).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import weakref
from typing import Any, Iterator


class _Connection(sqlite3.Connection):
    """A connection `close()` can find again (the built-in type takes no weak references)."""


class Database:
    def __init__(self, path: str, schema: str) -> None:
        self.path = path
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self._local = threading.local()
        # Every thread's connection, so that close() closes those of worker threads too (a
        # failed pull's traceback can keep a dead worker's connection alive). Weak: a thread
        # that ends normally drops its own.
        self._conns: "weakref.WeakSet[_Connection]" = weakref.WeakSet()
        self._conns_lock = threading.Lock()
        with self.transaction() as db:
            for statement in schema.split(";"):
                if statement.strip():
                    db.execute(statement)

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn not in self._conns:
            # check_same_thread=False only so close() may close it from another thread; each
            # thread still uses its own connection only.
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                   check_same_thread=False, factory=_Connection)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._conns_lock:
                self._conns.add(conn)
        return conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; commits on success, rolls back on any exception."""
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return self._connect().execute(sql, args).fetchall()

    def close(self) -> None:
        """Close every thread's connection (a later use opens a new one)."""
        with self._conns_lock:
            conns = list(self._conns)
            self._conns = weakref.WeakSet()
        for conn in conns:
            conn.close()
        self._local.conn = None
