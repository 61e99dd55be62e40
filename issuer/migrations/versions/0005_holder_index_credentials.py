"""The holder index covers every issuance route: a row names an offer or, for direct issuance, a credential.

The existing rows (offers the desk made) are copied over. Rows for offers made through the admin API before
this revision are written at start from the claims those offers still hold (issuer/holder_index.py): the
digests are keyed with the issuer's key passphrase, which a migration does not have.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A new table rather than an altered one: the primary key changes, and PostgreSQL names the old one's
    # index desk_holder_index_pkey, so the old table is renamed out of the way first.
    op.rename_table("desk_holder_index", "desk_holder_index_0004")
    op.create_table(
        "desk_holder_index",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("offer_id", sa.String(32), nullable=True),
        sa.Column("credential_id", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_desk_holder_index"),
        sa.UniqueConstraint("digest", "offer_id", name="uq_desk_holder_offer"),
        sa.UniqueConstraint("digest", "credential_id", name="uq_desk_holder_credential"),
        sa.CheckConstraint("(offer_id IS NULL) <> (credential_id IS NULL)", name="ck_desk_holder_one_target"),
    )
    op.create_index("ix_desk_holder_index_offer_id", "desk_holder_index", ["offer_id"])
    op.execute("INSERT INTO desk_holder_index (digest, offer_id) SELECT digest, offer_id FROM desk_holder_index_0004")
    op.drop_table("desk_holder_index_0004")


def downgrade() -> None:
    # Rows of direct issuance have no offer and cannot be kept in the earlier shape.
    op.rename_table("desk_holder_index", "desk_holder_index_0005")
    op.create_table(
        "desk_holder_index",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("offer_id", sa.String(32), primary_key=True),
    )
    op.execute("INSERT INTO desk_holder_index (digest, offer_id) "
               "SELECT digest, offer_id FROM desk_holder_index_0005 WHERE offer_id IS NOT NULL")
    op.drop_table("desk_holder_index_0005")
