"""Refresh grants (OAuth refresh tokens bound by DPoP) and the DPoP key an offer's access token is bound to.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("offers") as batch:
        batch.add_column(sa.Column("token_jkt", sa.String(64), nullable=True))
    op.create_table(
        "refresh_grants",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("offer_id", sa.String(32), nullable=False, index=True),
        sa.Column("vct", sa.String(200), nullable=False),
        sa.Column("jkt", sa.String(64), nullable=False),
        sa.Column("refresh_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("sealed_claims", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("day_count", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("token_expires_at", sa.BigInteger(), nullable=True),
        sa.Column("token_claims", sa.LargeBinary(), nullable=True),
        sa.Column("issued_configs", sa.String(400), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("refresh_grants")
    with op.batch_alter_table("offers") as batch:
        batch.drop_column("token_jkt")
