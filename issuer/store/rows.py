"""Plain multi-row ``INSERT``s for the issuance hot path, rendered once and sent with ``exec_driver_sql``.

Every issuance writes its credential, its status slots and its audit event. Through Core each statement
pays for a cache key, parameter processing and a compiled execution context: measured on SQLite, about
as much CPU as SQLite itself spends inserting the rows. A :class:`RowInsert` renders its SQL once per
dialect and row count and hands tuples to the driver as they are, while ``exec_driver_sql`` keeps
SQLAlchemy's error wrapping (``IntegrityError``, ``OperationalError``, disconnect handling) and events.
It is therefore only for columns whose values the driver takes unconverted: strings, integers, bytes
and None (both SQLite and PostgreSQL spell ``ON CONFLICT DO NOTHING`` and ``RETURNING`` the same way).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table

__all__ = ["RowInsert"]

_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


class RowInsert:
    """``INSERT INTO table (columns) VALUES (..), (..) [ON CONFLICT DO NOTHING] [RETURNING ..]``."""

    def __init__(
        self,
        table: Table,
        columns: Sequence[str] | None = None,
        *,
        ignore_conflicts: bool = False,
        returning: Sequence[str] = (),
    ) -> None:
        self.table = table
        self.columns = tuple(columns) if columns is not None else tuple(c.key for c in table.columns)
        unknown = [name for name in (*self.columns, *returning) if name not in table.c]
        if unknown:  # a misspelt column fails at import, not on the first issuance
            raise KeyError(f"{table.name} has no column {', '.join(unknown)}")
        self._ignore_conflicts = ignore_conflicts
        self._returning = tuple(returning)
        self._sql: dict[tuple[str, str, int], str] = {}

    def __call__(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> Sequence[Sequence[Any]]:
        """Insert ``rows`` (values in :attr:`columns` order) in the connection's transaction; returns the
        ``RETURNING`` rows (with ``ignore_conflicts``, only those of rows that went in)."""
        dialect = conn.dialect
        sql = self._sql.get((dialect.name, dialect.paramstyle, len(rows))) or self._render(conn, len(rows))
        params = tuple(value for row in rows for value in row)
        result = conn.exec_driver_sql(sql, params)
        return result.all() if self._returning else ()

    def _render(self, conn: Connection, count: int) -> str:
        dialect = conn.dialect
        mark = _PLACEHOLDERS[dialect.paramstyle]  # KeyError: a driver with named parameters; not supported
        quote = dialect.identifier_preparer.quote
        values = "(" + ", ".join([mark] * len(self.columns)) + ")"
        # only the table's own (quoted) identifiers and placeholders go into the text; values are bound
        sql = (f"INSERT INTO {dialect.identifier_preparer.format_table(self.table)} "  # noqa: S608
               f"({', '.join(quote(c) for c in self.columns)}) VALUES {', '.join([values] * count)}")
        if self._ignore_conflicts:
            sql += " ON CONFLICT DO NOTHING"
        if self._returning:
            sql += " RETURNING " + ", ".join(quote(c) for c in self._returning)
        self._sql[(dialect.name, dialect.paramstyle, count)] = sql
        return sql
