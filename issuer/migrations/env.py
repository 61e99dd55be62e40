"""Alembic environment: always run with a connection handed in by :func:`issuer.store.db.upgrade`."""

from __future__ import annotations

from alembic import context

from issuer.store.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
