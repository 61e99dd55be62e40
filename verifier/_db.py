"""Creating the verifier's few tables, safely when several workers start at once.

``metadata.create_all`` checks, then creates: two uvicorn workers starting together can both see "no
table" and one CREATE then fails. The loser simply checks again. (The verifier's tables are caches and
short-lived requests, so they are created at start-up rather than by migrations.)
"""

from __future__ import annotations

import time

from sqlalchemy import Engine, MetaData
from sqlalchemy.exc import DBAPIError

__all__ = ["create_tables"]


def create_tables(metadata: MetaData, engine: Engine, attempts: int = 3) -> None:
    for attempt in range(attempts):
        try:
            metadata.create_all(engine)
            return
        except DBAPIError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
