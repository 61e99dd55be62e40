"""Verifier configuration: one pydantic-settings class, env prefix ``CIVICPASS_VERIFIER_``.

Built once by the composition root (``civicpass verifier serve``) or directly by tests, and passed to
:func:`verifier.api.app.create_app`; nothing reads the environment at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, NonNegativeInt, PositiveInt, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["VerifierSettings"]

_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class VerifierSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CIVICPASS_VERIFIER_", extra="ignore")

    environment: Literal["dev", "test", "prod"] = "dev"
    host: str = "127.0.0.1"
    port: PositiveInt = 8200
    #: Base URL wallets reach this verifier at (OpenID4VP request_uri and response_uri are built on it).
    public_url: str = "http://127.0.0.1:8200"
    data_dir: Path = Path(".civicpass/verifier")

    # --- trust ------------------------------------------------------------------------------------------
    #: JSON-RPC URL of the chain; default: the ``rpc_url`` recorded in the deployment file.
    chain_rpc_url: str | None = None
    #: contracts.Deployment JSON (``civicpass chain up`` writes .civicpass/deployment.json). Without it the
    #: verifier runs offline from the persisted snapshot only.
    deployment_file: Path | None = None
    #: Where the snapshot is persisted (JSON) so a counter keeps working offline; default under data_dir.
    snapshot_file: Path | None = None
    #: A full sync round at least this often (it also keeps the snapshot's age fresh on a quiet chain)...
    sync_interval_s: PositiveInt = 30
    #: ...and one as soon as a new block appears, checked this often (a single eth_blockNumber call).
    head_poll_s: float = Field(0.5, gt=0)
    #: Beyond this age the snapshot is stale: the verdict says so and each policy decides.
    max_snapshot_age_s: PositiveInt = 24 * 3600
    status_fetch_timeout_s: float = 5.0
    #: How often each issuer's newest signed status list is fetched: a revocation is enforced within this even
    #: while the chain is down (only stricter statuses are taken from a list the chain has not confirmed).
    status_poll_s: float = Field(5.0, gt=0, le=3600)
    #: When the chain has a newer digest for a list than the issuer serves yet, its previous chain-confirmed list
    #: stays in use this long (with the issuer's newer signed statuses that are stricter); then its credentials
    #: fail ``status_unknown``. 0: never, a list is dropped as soon as the chain moves past it.
    status_list_grace_s: float = Field(60.0, ge=0, le=3600)
    #: Every chain JSON-RPC call gives up after these: a hung node delays a sync round, never a verdict.
    chain_connect_timeout_s: float = Field(2.0, gt=0, le=60)
    chain_read_timeout_s: float = Field(5.0, gt=0, le=120)
    #: How often each HTTPS issuer's /.well-known/jwt-vc-issuer is checked against the chain (0: never).
    issuer_metadata_check_s: float = Field(300.0, ge=0)

    # --- replay cache --------------------------------------------------------------------------------
    replay_backend: Literal["sql", "redis"] = "sql"
    database_url: str | None = None  # default: SQLite (WAL) under data_dir
    redis_url: str = "redis://127.0.0.1:6379/0"

    # --- verification API ---------------------------------------------------------------------------
    #: Our audience (KB-JWT ``aud``) when a request names none; defaults to the OpenID4VP client_id.
    audience: str | None = None
    #: Shown to residents by wallets that ask who requests their claims (OpenID4VP ``client_metadata.client_name``).
    client_name: str = Field("civicpass verifier", min_length=1, max_length=100)
    policies_dir: Path | None = None
    max_body_bytes: PositiveInt = 64 * 1024
    max_image_bytes: PositiveInt = 8 * 1024 * 1024
    #: QR photo decodes running at once per worker (each holds memory in proportion to the image's pixels),
    #: and how many more may wait; beyond that ``POST /v1/verify/image`` answers 503 with Retry-After.
    image_decoders: PositiveInt = 1
    image_decode_queue: NonNegativeInt = 4

    #: ``POST /v1/requests`` per client (httpedge/ratelimit.py; "N/second|minute|hour", several joined by ";"),
    #: counted in Redis when the replay cache is there, so shared by every worker.
    rate_limit_requests: str = "60/minute"

    # --- slow clients (civicpass/_serving.py) ---------------------------------------------------------
    #: Seconds a client has for a request's line and headers, then for its body; an idle kept-alive
    #: connection is closed after ``http_keep_alive_s``.
    http_header_timeout_s: float = Field(10.0, gt=0)
    http_body_timeout_s: float = Field(30.0, gt=0)
    http_keep_alive_s: PositiveInt = 5

    # --- OpenID4VP ------------------------------------------------------------------------------------
    #: Private JWK (JSON) signing request objects; dev generates one and keeps it under data_dir.
    request_signing_jwk: SecretStr | None = None
    request_ttl_s: PositiveInt = 300
    #: ``/metrics`` needs this bearer token when set; without one it answers loopback clients only.
    metrics_token: SecretStr | None = None

    @field_validator("rate_limit_requests")
    @classmethod
    def _rate_limit(cls, rule: str) -> str:
        from httpedge.ratelimit import check_rules

        return check_rules(rule)

    @model_validator(mode="after")
    def _production_rules(self) -> Self:
        if self.environment != "prod":
            return self
        if self.chain_rpc_url is None or urlsplit(self.chain_rpc_url).hostname in _LOCAL_HOSTS:
            raise ValueError("a prod verifier needs chain_rpc_url, and not a local dev chain")
        if self.request_signing_jwk is None:
            raise ValueError("a prod verifier needs request_signing_jwk (dev keys are refused in prod)")
        if not self.public_url.startswith("https://"):
            raise ValueError("a prod verifier's public_url must be https")
        return self

    @property
    def snapshot_path(self) -> Path:
        return self.snapshot_file or self.data_dir / "trust-snapshot.json"

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'verifier.db'}"

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/")
