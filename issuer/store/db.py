"""Engine and session factory for the issuer, and the Alembic upgrade run at start.

SQLite (the embedded default) runs in WAL mode with ``synchronous=NORMAL`` and every transaction
opened as ``BEGIN IMMEDIATE``: pysqlite's lazy ``BEGIN`` lets two readers both try to upgrade to
writers, and one then fails with "database is locked" no matter the busy timeout. Taking the write
lock up front makes SQLite transactions queue instead. Within one process they queue on a lock held
from ``BEGIN`` to ``COMMIT``/``ROLLBACK``: SQLite's own busy handler sleeps in steps of up to 100 ms,
which left the database idle under concurrent issuance; other processes still meet the busy timeout.
Temporary files stay in memory: a multi-row insert inside a transaction keeps a statement journal, by
default a file created and deleted for every issuance (about a fifth of SQLite's CPU there); it only
ever undoes one failed statement and plays no part in crash recovery.
PostgreSQL runs at READ COMMITTED; the places that race (status slots, audit sequence) rely on unique
constraints, not on isolation.

The SQLite file holds personal data while an offer is open (its claims), so it is private: a directory
the engine creates is 0700, and the database is created 0600 before SQLite opens it (SQLite gives its
``-wal`` and ``-shm`` files the database file's permissions). ``secure_delete`` zeroes what is deleted or
overwritten, and :func:`checkpoint` (run by the worker after claims were erased) moves the WAL's pages into
the database and truncates it, so erased claims do not linger in either file.
"""

from __future__ import annotations

import os
import threading
from importlib.resources import files
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["checkpoint", "make_engine", "make_sessionmaker", "private_sqlite_file", "upgrade"]


def private_sqlite_file(path: Path) -> None:
    """Create ``path``'s directory 0700 if missing, the database 0600, and tighten existing files to 0600."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
        path.parent.chmod(0o700)  # mkdir's mode passes through the umask
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for f in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if f.exists() and f.stat().st_mode & 0o077:
            f.chmod(0o600)


def checkpoint(engine: Engine) -> None:
    """SQLite: copy the WAL into the database and truncate it (erased data then lives in neither file)."""
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; creates the parent directory of a SQLite file."""
    parsed = make_url(url)
    kwargs.setdefault("hide_parameters", True)  # errors (and the tracebacks we log) never quote bound values
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        kwargs.setdefault("pool_recycle", 1800)  # not pre_ping: a round trip per checkout on the hot path
        return create_engine(url, **kwargs)
    if parsed.database and parsed.database != ":memory:":
        private_sqlite_file(Path(parsed.database))
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA secure_delete=ON")  # erased claims are zeroed, not left in free space
        cur.close()

    writer = threading.RLock()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        writer.acquire()
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            writer.release()
            raise

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(_conn: Any) -> None:
        writer.release()

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with the packaged Alembic scripts."""
    cfg = Config()
    cfg.set_main_option("script_location", str(files("issuer") / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
