"""What ``civicpass up`` keeps in its data directory, and the settings it hands to each service.

Everything that must survive a restart lives here: the ports (credentials carry their issuer's status list
URL, so an issuer must come back on the same port), the chain choice, the dev secrets (admin tokens and key
passphrases, generated once per data directory, file mode 0600, never printed) and each part's state::

    <data-dir>/up.json               chain choice and ports of the first run
    <data-dir>/dev-secrets.json      admin tokens, key passphrases, demo wallet passphrase (0600)
    <data-dir>/chain.journal         embedded chain state (anvil: anvil-state.json)
    <data-dir>/deployment.json       where the registries live (written by `civicpass chain up`)
    <data-dir>/issuers/<name>/       each demo issuer's SQLite database
    <data-dir>/verifier/             verifier database, trust snapshot, request-signing key
    <data-dir>/wallets/<name>/       demo wallets (--demo)
    <data-dir>/logs/chain.log        the chain's own output
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

RESIDENT = "urn:civicpass:ResidentCredential:1"
MERCHANT = "urn:civicpass:MerchantCredential:1"
GRANT = "urn:civicpass:GrantEligibilityCredential:1"

#: Short intervals so a demo shows anchoring, revocation and sync within seconds; env variables win.
ISSUER_DEFAULTS = {"ANCHOR_INTERVAL": "5", "STATUS_PUBLISH_INTERVAL": "5"}
VERIFIER_DEFAULTS = {"SYNC_INTERVAL_S": "5"}


class UpError(Exception):
    """A problem the operator can fix (port taken, other chain than last time...): exit 2 with the message."""


@dataclass(frozen=True, slots=True)
class DemoIssuer:
    name: str  # directory, log and schema name
    title: str  # registered on chain as the issuer's name
    account_role: str  # dev account in the deployment file that signs its transactions
    types: tuple[str, ...]
    default_port: int


DEMO_ISSUERS = (
    DemoIssuer("cityhall", "Busan City Hall (demo)", "issuer", (RESIDENT,), 8100),
    DemoIssuer("market", "Busan Market Support Centre (demo)", "issuer-2", (MERCHANT, GRANT), 8101),
)
DEFAULT_CHAIN_PORT, DEFAULT_VERIFIER_PORT, DEFAULT_WALLET_PORT = 8545, 8200, 8300


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is no conflict
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def chain_kind(chain: str) -> str:
    """``embedded``, ``anvil`` or ``url`` for the --chain value."""
    if chain in ("embedded", "anvil"):
        return chain
    if chain.startswith(("http://", "https://")):
        return "url"
    raise UpError(f"--chain must be embedded, anvil or an http(s) JSON-RPC URL, not {chain!r}")


class Layout:
    """Paths, ports and secrets of one data directory."""

    def __init__(self, data_dir: Path, host: str = "127.0.0.1") -> None:
        self.root = data_dir.resolve()
        self.host = host
        if not self.root.exists() or (self.root / "dev-secrets.json").exists():
            # databases with personal data, dev secrets, keys: the owner's only (never chmod a directory
            # that is not a civicpass data directory, such as one passed by mistake)
            self.root.mkdir(parents=True, exist_ok=True)
            self.root.chmod(0o700)
        (self.root / "logs").mkdir(exist_ok=True)

    # --- paths --------------------------------------------------------------------------------------
    @property
    def deployment(self) -> Path:
        return self.root / "deployment.json"

    @property
    def secrets_path(self) -> Path:
        return self.root / "dev-secrets.json"

    @property
    def chain_log(self) -> Path:
        return self.root / "logs" / "chain.log"

    def chain_state(self, engine: str) -> Path:
        return self.root / ("anvil-state.json" if engine == "anvil" else "chain.journal")

    def wallet_dir(self, name: str) -> Path:
        return self.root / "wallets" / name

    # --- saved choices ----------------------------------------------------------------------------------
    def resolve_ports(self, chain: str, requested: dict[str, int | None]) -> dict[str, int]:
        """Ports by part (``chain``, each issuer name, ``verifier``): the ones asked for, else last run's, else
        the defaults; 0 picks a free one. Saved with the chain choice; a different chain than last time is
        refused (the issuers' keys and credentials belong to that chain)."""
        path = self.root / "up.json"
        saved: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        if saved.get("chain") not in (None, chain) and self.deployment.exists():
            raise UpError(f"{self.root} was set up with --chain {saved['chain']}; use that, or a new --data-dir")
        defaults = {"chain": DEFAULT_CHAIN_PORT, "verifier": DEFAULT_VERIFIER_PORT, "wallet": DEFAULT_WALLET_PORT}
        defaults.update({i.name: i.default_port for i in DEMO_ISSUERS})
        ports: dict[str, int] = {}
        for part, default in defaults.items():
            port = requested.get(part)
            if port is None:
                port = int(saved.get("ports", {}).get(part, default))
            if port == 0:
                port = free_port(self.host)
            elif not 0 < port < 65536:
                raise UpError(f"port {port} for {part} is not a TCP port")
            ports[part] = port
        path.write_text(json.dumps({"chain": chain, "ports": ports}, indent=2) + "\n")
        return ports

    def secrets(self) -> dict[str, Any]:
        """The dev secrets of this data directory, created on first use (mode 0600)."""
        path = self.secrets_path
        if path.exists():
            data: dict[str, Any] = json.loads(path.read_text())
            return data
        data = {
            "note": "development secrets of `civicpass up`; admin tokens go in 'Authorization: Bearer <token>'",
            "issuers": {
                i.name: {
                    "url": None,
                    "clerk_token": secrets.token_urlsafe(24),
                    "operator_token": secrets.token_urlsafe(24),
                    "key_passphrase": secrets.token_urlsafe(24),
                }
                for i in DEMO_ISSUERS
            },
            "wallet_passphrase": secrets.token_urlsafe(12),
        }
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        tmp.replace(path)
        return data

    def record_issuer_urls(self, urls: dict[str, str]) -> None:
        """Write each issuer's URL next to its tokens, so the file says where each token works."""
        data = self.secrets()
        for name, url in urls.items():
            data["issuers"][name]["url"] = url
        self.write_secrets(data)

    def write_secrets(self, data: dict[str, Any]) -> None:
        tmp = self.secrets_path.with_name(self.secrets_path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        tmp.replace(self.secrets_path)


def database_url(db: str | None, default_sqlite: Path, schema: str) -> str:
    """SQLite in the data directory by default; with ``--db`` (PostgreSQL) one schema per service."""
    if db is None:
        return f"sqlite:///{default_sqlite}"
    url = make_url(db)
    if url.get_backend_name() != "postgresql":
        raise UpError("--db takes a PostgreSQL URL (postgresql+psycopg://...); SQLite is the default")
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


def create_schemas(db: str, schemas: list[str]) -> None:
    """Create the per-service schemas (idempotent)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for schema in schemas:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    finally:
        engine.dispose()
