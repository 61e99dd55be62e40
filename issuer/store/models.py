"""The issuer's tables (SQLAlchemy 2 typed declarative). The Alembic migration in ``issuer/migrations``
creates exactly these; a test compares the two so they cannot drift.

What is stored about a person: an offer keeps the claims only until its credentials are issued (or it
expires); a credential row keeps type, times, status and digests, never claim values.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AnchorBatch",
    "AuditEvent",
    "Base",
    "Credential",
    "CredentialItem",
    "CredentialTypeRow",
    "DeskBulkChunk",
    "DeskBulkJob",
    "DeskHolderIndex",
    "DeskSession",
    "DeskUser",
    "Nonce",
    "Offer",
    "RefreshGrant",
    "SigningKeyRow",
    "StatusListRow",
    "table_of",
]


class Base(DeclarativeBase):
    pass


def table_of(model: type[Base]) -> Table:
    """The model's Core table, typed (for Core statements on the hot paths)."""
    return cast(Table, model.__table__)


class SigningKeyRow(Base):
    __tablename__ = "signing_keys"

    thumbprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_jwk: Mapped[str] = mapped_column(Text)
    #: scrypt salt || AES-GCM nonce || ciphertext+tag of the private scalar (see issuer/keys.py).
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[int] = mapped_column(BigInteger)
    valid_from: Mapped[int] = mapped_column(BigInteger)
    valid_until: Mapped[int | None] = mapped_column(BigInteger, default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    on_chain: Mapped[bool] = mapped_column(Boolean, default=False)


class CredentialTypeRow(Base):
    """Credential types added by an operator at run time (packaged ones come from issuer/types/*.yaml)."""

    __tablename__ = "credential_types"

    vct: Mapped[str] = mapped_column(String(200), primary_key=True)
    definition: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)


class Offer(Base):
    __tablename__ = "offers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    vct: Mapped[str] = mapped_column(String(200))
    claims_json: Mapped[str | None] = mapped_column(Text, default=None)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    tx_code_hash: Mapped[str] = mapped_column(String(64))
    tx_attempts: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    #: open -> redeemed (token issued) -> done; or locked (too many wrong PINs) / expired.
    state: Mapped[str] = mapped_column(String(16), default="open")
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    token_expires_at: Mapped[int | None] = mapped_column(BigInteger, default=None)
    issued_configs: Mapped[str] = mapped_column(String(400), default="")
    credential_id: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(64))
    #: RFC 9449 ``jkt`` of the wallet key the access token is bound to (None: a plain bearer token).
    token_jkt: Mapped[str | None] = mapped_column(String(64), default=None)


class RefreshGrant(Base):
    """A wallet's standing right to new batches of one credential (OAuth refresh token, DPoP-bound).

    The claims needed to sign again are kept only sealed under a key derived from the refresh token (and,
    while an access token from it lives, under that token), which the store holds only as hashes: the
    database alone does not reveal them (see issuer/refresh.py).
    """

    __tablename__ = "refresh_grants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    offer_id: Mapped[str] = mapped_column(String(32), index=True)
    vct: Mapped[str] = mapped_column(String(200))
    jkt: Mapped[str] = mapped_column(String(64))
    refresh_hash: Mapped[str] = mapped_column(String(64), unique=True)
    sealed_claims: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    #: Unix day of the last refresh and how many refreshes happened on it (the per-day limit).
    day: Mapped[int] = mapped_column(Integer, default=0)
    day_count: Mapped[int] = mapped_column(Integer, default=0)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    token_expires_at: Mapped[int | None] = mapped_column(BigInteger, default=None)
    token_claims: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    issued_configs: Mapped[str] = mapped_column(String(400), default="")
    created_at: Mapped[int] = mapped_column(BigInteger)


class Nonce(Base):
    """OpenID4VCI c_nonce values (hashed), single use."""

    __tablename__ = "nonces"

    nonce_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class Credential(Base):
    """One issued credential: an SD-JWT VC and its single-use CP1 copies share this row and its status."""

    __tablename__ = "credentials"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    vct: Mapped[str] = mapped_column(String(200), index=True)
    iat: Mapped[int] = mapped_column(BigInteger)
    exp: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[int] = mapped_column(Integer, default=0)
    key_thumbprint: Mapped[str] = mapped_column(String(64))
    offer_id: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[int] = mapped_column(BigInteger, index=True)
    created_by: Mapped[str] = mapped_column(String(64))


class CredentialItem(Base):
    """One signed artefact (the SD-JWT VC or one CP1 copy): its status slot, digest and anchor batch.

    ``batch_id IS NULL`` is the durable anchoring queue.
    """

    __tablename__ = "credential_items"
    __table_args__ = (UniqueConstraint("list_id", "idx", name="uq_status_slot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    credential_id: Mapped[str] = mapped_column(ForeignKey("credentials.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    list_id: Mapped[int] = mapped_column(Integer)
    idx: Mapped[int] = mapped_column(Integer)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("anchor_batches.id"), index=True, default=None)


class StatusListRow(Base):
    __tablename__ = "status_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(Integer)
    bits: Mapped[int] = mapped_column(Integer)
    #: Bumped on every status change; the publisher catches ``published_version`` up to it.
    version: Mapped[int] = mapped_column(Integer, default=1)
    published_version: Mapped[int] = mapped_column(Integer, default=0)
    published_at: Mapped[int | None] = mapped_column(BigInteger, default=None)
    jwt: Mapped[str | None] = mapped_column(Text, default=None)
    jwt_exp: Mapped[int | None] = mapped_column(BigInteger, default=None)
    #: Chain version counter of the last digest written to the StatusRegistry.
    chain_version: Mapped[int] = mapped_column(Integer, default=0)
    #: The newest signed list while its digest is not on chain yet: signed with each status change and served at
    #: ``/status-lists/{id}/latest``, so verifiers enforce revocations (only stricter statuses) during an outage.
    pending_jwt: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[int] = mapped_column(BigInteger)


class AnchorBatch(Base):
    __tablename__ = "anchor_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    root: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    count: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[int] = mapped_column(BigInteger, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200), default=None)
    tx_hash: Mapped[str | None] = mapped_column(String(66), default=None)
    block: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[int] = mapped_column(BigInteger)
    anchored_at: Mapped[int | None] = mapped_column(BigInteger, default=None)


class AuditEvent(Base):
    """Append-only, hash-chained: ``hash = sha256(prev_hash || canonical event)``; ``seq`` has no gaps."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), index=True)  # a credential's history (the desk)
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class DeskUser(Base):
    """A person who signs in to the desk (issuer/desk): clerk, operator or auditor. Machines use bearer tokens."""

    __tablename__ = "desk_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    office: Mapped[str] = mapped_column(String(100))
    #: argon2id, PHC string format (argon2-cffi).
    password_hash: Mapped[str] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_signins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[int] = mapped_column(BigInteger)


class DeskSession(Base):
    """A signed-in browser: the cookie's SHA-256 (the cookie itself is never stored) and its CSRF token."""

    __tablename__ = "desk_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("desk_users.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_seen: Mapped[int] = mapped_column(BigInteger)


class DeskBulkJob(Base):
    """One uploaded CSV of offers. ``digest`` (SHA-256 of the file and type) makes a second upload find this job
    instead of issuing again; ``payload`` (the validated rows, sealed) is dropped once every row has its offer."""

    __tablename__ = "desk_bulk_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    vct: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(200))
    rows: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default="running")
    payload: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
    finished_at: Mapped[int | None] = mapped_column(BigInteger, default=None)


class DeskBulkChunk(Base):
    """The result rows (offer link and transaction code) of one committed chunk of a job, sealed at rest."""

    __tablename__ = "desk_bulk_chunks"

    job_id: Mapped[str] = mapped_column(ForeignKey("desk_bulk_jobs.id"), primary_key=True)
    chunk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


class DeskHolderIndex(Base):
    """Keyed digests (HMAC-SHA256) of ``field=value`` for every credential issued, so a clerk can find a
    holder's credential by an exact field value while no claim value is stored (issuer/holder_index.py).

    A row names the offer the claims came with (desk form, CSV job, ``POST /v1/offers``) or, for direct
    issuance, which has no offer, the credential."""

    __tablename__ = "desk_holder_index"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="pk_desk_holder_index"),
        UniqueConstraint("digest", "offer_id", name="uq_desk_holder_offer"),
        UniqueConstraint("digest", "credential_id", name="uq_desk_holder_credential"),
        CheckConstraint("(offer_id IS NULL) <> (credential_id IS NULL)", name="ck_desk_holder_one_target"),
    )

    id: Mapped[int] = mapped_column(Integer, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(64))
    offer_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    credential_id: Mapped[str | None] = mapped_column(String(32), default=None)
