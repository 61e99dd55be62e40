"""Creating the verifier's few tables, safely when several workers start at once.

``metadata.create_all`` checks, then creates: two uvicorn workers starting together can both see "no
table" and one CREATE then fails. The loser simply checks again. (The verifier's tables are caches and
short-lived requests, so they are created at start-up rather than by migrations.)
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from sqlalchemy import Engine, MetaData
from sqlalchemy.exc import DBAPIError

__all__ = ["create_tables", "private_dir", "private_sqlite_file"]


def private_dir(path: Path) -> None:
    """The verifier's data directory, its owner's only (replay keys, requests and their answers): set when
    it is created here, or when it already holds a verifier database (never a directory that is not ours)."""
    if not path.exists() or (path / "verifier.db").exists():
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)  # mkdir's mode passes through the umask


def private_sqlite_file(path: Path) -> None:
    """The database created 0600 before SQLite opens it (its -wal and -shm files take the same mode), and
    existing files tightened to 0600."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for f in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if f.exists() and f.stat().st_mode & 0o077:
            f.chmod(0o600)


def create_tables(metadata: MetaData, engine: Engine, attempts: int = 3) -> None:
    for attempt in range(attempts):
        try:
            metadata.create_all(engine)
            return
        except DBAPIError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
