"""Issuer configuration: one pydantic-settings class, read once by the composition root and passed in.

Environment variables use the prefix ``CIVICPASS_ISSUER_``. Secrets are :class:`SecretStr` so they never
show in a repr or a log line. ``environment="prod"`` refuses the development defaults: the dev key
passphrase, the dev admin tokens, and the embedded chain (a loopback RPC URL).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEV_CLERK_TOKEN", "DEV_KEY_PASSPHRASE", "DEV_OPERATOR_TOKEN", "IssuerSettings", "token_actor"]

#: Development defaults. Fine on a laptop, refused when ``environment == "prod"``.
DEV_KEY_PASSPHRASE = "civicpass-dev-passphrase"  # noqa: S105 - refused in prod
DEV_CLERK_TOKEN = "dev-clerk-token"  # noqa: S105 - refused in prod
DEV_OPERATOR_TOKEN = "dev-operator-token"  # noqa: S105 - refused in prod


def token_actor(role: str, token: str) -> str:
    """An admin token's name in the audit log: ``<role>:<8 hex of the token's SHA-256>``, traceable, not replayable."""
    return f"{role}:{hashlib.sha256(token.encode()).hexdigest()[:8]}"


class IssuerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CIVICPASS_ISSUER_", extra="ignore")

    environment: Literal["dev", "test", "prod"] = "dev"
    #: The credential issuer identifier (OpenID4VCI §12.2.1) and base of every URL we publish.
    base_url: str = "http://127.0.0.1:8100"
    #: The ``iss`` of credentials; defaults to did:ethr of the chain account, else to ``base_url``.
    issuer_id: str | None = None
    issuer_name: str = "civicpass dev city"
    database_url: str = "sqlite:///.civicpass/issuer.db"
    key_passphrase: SecretStr = SecretStr(DEV_KEY_PASSPHRASE)
    #: Admin bearer tokens by role: a clerk issues; an operator revokes, suspends, reinstates, manages keys and types.
    clerk_tokens: list[SecretStr] = Field(default_factory=lambda: [SecretStr(DEV_CLERK_TOKEN)])
    operator_tokens: list[SecretStr] = Field(default_factory=lambda: [SecretStr(DEV_OPERATOR_TOKEN)])
    #: The office each clerk token issues for, by the token's audit name (:func:`token_actor`), so that the
    #: desk's clerks of that office find what it issued. What a token not named here issues belongs to no
    #: office: operators and auditors see it at the desk, no clerk does.
    token_offices: dict[str, str] = Field(default_factory=dict)
    #: Extra credential type files (YAML or JSON) beyond the packaged ones.
    types_dir: Path | None = None
    timezone: str = "Asia/Seoul"

    # --- OpenID4VCI ------------------------------------------------------------------------------
    offer_ttl: int = Field(600, gt=0)
    tx_code_length: int = Field(6, ge=4, le=10)
    tx_code_attempts: int = Field(5, ge=1)
    access_token_ttl: int = Field(300, gt=0)
    nonce_ttl: int = Field(300, gt=0)
    proof_max_age: int = Field(300, gt=0)
    batch_size: int = Field(20, ge=1, le=100)
    #: Refresh (RFC 6749 §6, DPoP-bound): new batches a wallet may fetch per day per credential; 0 turns
    #: refresh tokens off. A refresh token lives ``refresh_token_ttl`` and never past its credential's exp.
    refresh_batches_per_day: int = Field(3, ge=0, le=1000)
    refresh_token_ttl: int = Field(90 * 86400, gt=0)
    dpop_max_age: int = Field(300, gt=0)
    #: Server-provided DPoP nonces (RFC 9449 §8, §9): how long one stays good; 0 asks for none.
    dpop_nonce_ttl: int = Field(300, ge=0, le=3600)
    credential_ttl: int = Field(365 * 86400, gt=0)
    #: The desk's holder index rows of a credential are deleted this long after it expires (issuer/holder_index.py).
    holder_index_retention: int = Field(30 * 86400, ge=0)
    max_body_bytes: int = Field(256 * 1024, gt=0)
    #: Threads serving the (synchronous) routes in each worker process. None: 1 on SQLite, where writes
    #: queue on one lock and the rest is CPU under the GIL, so more threads only switch and contend (about
    #: a tenth more CPU per issuance with 4); 4 on PostgreSQL, where a few threads overlap round trips.
    worker_threads: int | None = Field(None, ge=1, le=64)

    # --- rate limits per client (httpedge/ratelimit.py; "N/second|minute|hour", several joined by ";") ------
    #: Failed token requests (wrong transaction code or pre-authorized code), counted across offers.
    rate_limit_tx_code: str = "10/minute;30/hour"
    rate_limit_nonce: str = "60/minute"
    #: Redis shared by the workers for the counts (``redis://`` or ``rediss://``); None: each worker counts alone.
    redis_url: str | None = None

    # --- slow clients (civicpass/_serving.py) ---------------------------------------------------------
    #: Seconds a client has for a request's line and headers, then for its body; an idle kept-alive
    #: connection is closed after ``http_keep_alive_s``.
    http_header_timeout_s: float = Field(10.0, gt=0)
    http_body_timeout_s: float = Field(30.0, gt=0)
    http_keep_alive_s: int = Field(5, gt=0)

    # --- status lists ------------------------------------------------------------------------------
    #: Entries per list (2 bits each): 2^20 is 256 KiB raw and a few hundred bytes compressed while sparse.
    status_list_size: int = Field(1 << 20, ge=64, le=1 << 22)
    status_list_max_fill: float = Field(0.5, gt=0, le=0.9)
    status_publish_interval: float = Field(60.0, gt=0)
    status_list_validity: int = Field(86400, gt=0)

    # --- chain and anchoring -------------------------------------------------------------------
    #: JSON-RPC URL of the chain; None runs without a chain (nothing anchored, status not published on chain).
    chain_rpc_url: str | None = None
    deployment_file: Path | None = None
    #: The issuer's chain account private key (hex); signs anchor and status transactions.
    chain_account_key: SecretStr | None = None
    anchor_interval: float = Field(10.0, gt=0)
    anchor_batch_size: int = Field(1000, ge=1)
    anchor_max_backoff: float = Field(300.0, gt=0)
    #: Every chain JSON-RPC call gives up after these (seconds): a hung node cannot hold the issuer. A refused
    #: call is retried by the worker; a key rotation answers 503 ``chain_unavailable``.
    chain_connect_timeout: float = Field(2.0, gt=0, le=60)
    chain_read_timeout: float = Field(5.0, gt=0, le=120)
    #: How long a sent transaction may take to be mined before the send counts as failed (and is retried).
    chain_tx_timeout: float = Field(30.0, gt=0)
    run_workers: bool = True
    #: Not ready (``/readyz`` 503) when an anchoring batch has waited longer than this for the chain.
    anchor_stall_s: float = Field(600.0, gt=0)
    #: ``/metrics`` needs this bearer token when set; without one it answers loopback clients only.
    metrics_token: SecretStr | None = None
    #: After a rotation the old key's window stays open this long (clock skew between issuer hosts plus one
    #: block): a process that has not seen the rotation yet may still sign with it until then, never after.
    key_close_grace: int = Field(10, ge=1, le=3600)

    # --- the desk (issuer/desk: pages for clerks, operators and auditors) ------------------------------
    desk_idle_timeout: int = Field(900, gt=0)
    desk_session_max_age: int = Field(12 * 3600, gt=0)
    #: Wrong passwords in a row before an account locks for ``desk_lockout`` seconds.
    desk_signin_failures: int = Field(5, ge=1)
    desk_lockout: int = Field(900, gt=0)
    #: Desk sign-in attempts per client address per minute (shared through ``redis_url`` where set, else per
    #: process).
    desk_signin_per_minute: int = Field(10, ge=1)
    #: Offers from a CSV are mailed, so they live longer than one shown at the counter.
    desk_bulk_offer_ttl: int = Field(14 * 86400, gt=0)
    #: Largest CSV upload (the API's ``max_body_bytes`` stays small).
    desk_max_upload_bytes: int = Field(8 * 1024 * 1024, gt=0)

    @field_validator("rate_limit_tx_code", "rate_limit_nonce")
    @classmethod
    def _rate_limit(cls, rule: str) -> str:
        from httpedge.ratelimit import check_rules

        return check_rules(rule)

    @model_validator(mode="after")
    def _token_offices_name_clerk_tokens(self) -> Self:
        clerks = {token_actor("clerk", t.get_secret_value()) for t in self.clerk_tokens}
        unknown = sorted(set(self.token_offices) - clerks)
        if unknown:
            raise ValueError(f"token_offices names no clerk token: {', '.join(unknown)}")
        if any(not office.strip() or len(office) > 100 for office in self.token_offices.values()):
            raise ValueError("an office in token_offices needs 1 to 100 characters")
        self.token_offices = {actor: office.strip() for actor, office in self.token_offices.items()}
        return self

    @model_validator(mode="after")
    def _refuse_dev_defaults_in_prod(self) -> Self:
        if self.environment != "prod":
            return self
        if self.key_passphrase.get_secret_value() == DEV_KEY_PASSPHRASE:
            raise ValueError("prod issuer must not use the development key passphrase")
        tokens = [t.get_secret_value() for t in (*self.clerk_tokens, *self.operator_tokens)]
        if any(t in {DEV_CLERK_TOKEN, DEV_OPERATOR_TOKEN} or len(t) < 32 for t in tokens):
            raise ValueError("prod admin tokens must be at least 32 characters and not the development ones")
        host = urlsplit(self.chain_rpc_url or "").hostname
        if self.chain_rpc_url is None or host in {"127.0.0.1", "localhost", "::1"}:
            raise ValueError("prod issuer needs a real chain, not none or the embedded chain on loopback")
        if self.chain_account_key is None:
            raise ValueError("prod issuer needs chain_account_key")
        return self
