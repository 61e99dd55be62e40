"""Keeps the verifier's trust snapshot: loaded from disk at start-up, refreshed from the chain, saved back.

- Start-up: the persisted snapshot (JSON, :mod:`verifier.snapshot_file`) is served at once, so a counter
  that boots without network verifies from what it knew. The first sync runs in the background.
- Sync: :class:`contracts.sync.TrustSync` reads registry events incrementally into a ``TrustState`` kept in
  memory: a full round every ``sync_interval_s``, and at once when the chain head moves (checked every
  ``head_poll_s`` with one ``eth_blockNumber``), so a published revocation is seen a block later. (After
  a restart the events are read again from the deployment block: a city's registries hold thousands of
  events, not millions, and the persisted snapshot serves meanwhile.)
- Status lists: for each list whose latest on-chain version is not held yet, fetch the JWT over HTTP and
  accept it only when sha256 of the exact JWT text equals the digest on chain AND its signature verifies
  under a key the chain registered for that issuer, valid at the token's ``iat``. A list served with the
  wrong digest is rejected and logged; credentials on it fail ``status_unknown`` until a good copy comes
  (fail closed: an old list may miss revocations, see contracts.sync).
- Issuer metadata: every ``issuer_metadata_check_s``, each issuer accredited under an HTTPS identifier has
  its JWT VC Issuer Metadata (``/.well-known/jwt-vc-issuer``, the route generic SD-JWT VC verifiers take)
  checked against the chain: a document listing a key the chain did not register for it is refused and
  reported (``issuer_metadata_mismatch``), since verifiers we did not write would trust that key. Our own
  verdicts never use the document: keys come from the chain only.
- Failures: an unreachable chain or issuer keeps the last snapshot in service. It ages, and beyond
  ``max_snapshot_age_s`` every verdict says ``stale`` and each policy decides (verifier.service).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import httpx

from credcore import jws
from credcore.errors import CredError, InfrastructureError
from credcore.issuer_metadata import check_against_chain, metadata_url, parse_issuer_metadata
from credcore.ports import Clock
from credcore.status_list import STATUS_LIST_JWT_TYP, verify_status_list_jwt
from credcore.trust import TrustSnapshot
from verifier.settings import VerifierSettings
from verifier.snapshot_file import load_snapshot, save_snapshot

if TYPE_CHECKING:  # contracts pulls in web3 (a second of start-up): only an online keeper imports it
    from contracts.sync import PendingStatusList, TrustState, TrustSync

__all__ = ["MAX_STATUS_LIST_BYTES", "StatusListRejected", "TrustKeeper", "check_issuer_metadata", "fetch_status_list"]

log = logging.getLogger(__name__)
#: A status list JWT larger than this is refused before it is hashed or parsed.
MAX_STATUS_LIST_BYTES: Final = 2 * 1024 * 1024
MAX_METADATA_BYTES: Final = 64 * 1024


class StatusListRejected(Exception):
    """A fetched status list was not accepted; ``reason`` is a stable code."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def fetch_status_list(client: httpx.Client, pending: PendingStatusList, known: TrustSnapshot, now: int
                      ) -> tuple[str, Any]:
    """GET ``pending.uri`` and check it; returns ``(token, ParsedStatusListJwt)`` or raises StatusListRejected."""
    try:
        with client.stream("GET", pending.uri, headers={"accept": "application/statuslist+jwt"}) as r:
            if r.status_code != 200:
                raise StatusListRejected(f"http_{r.status_code}")
            body = b""
            for chunk in r.iter_bytes():
                body += chunk
                if len(body) > MAX_STATUS_LIST_BYTES:
                    raise StatusListRejected("too_large")
    except httpx.HTTPError:
        raise StatusListRejected("unreachable") from None
    try:
        token = body.decode("ascii").strip()
    except UnicodeDecodeError:
        raise StatusListRejected("not_ascii") from None
    # The chain's digest first: it is the anchor of trust, and a mismatch needs no parsing at all.
    from contracts.status_registry import status_list_digest

    if not hmac.compare_digest(status_list_digest(token), pending.digest):
        raise StatusListRejected("digest_mismatch")
    try:
        kid = jws.parse(token, algorithms=frozenset({"ES256"}), typ=STATUS_LIST_JWT_TYP).header.get("kid")
        found = known.key_by_thumbprint(kid) if isinstance(kid, str) else None
        if found is None or found[0].issuer_id != pending.issuer_id:
            raise StatusListRejected("unknown_key")
        parsed = verify_status_list_jwt(token, found[1].public_key, now=now, expected_uri=pending.uri)
    except CredError as exc:
        raise StatusListRejected(exc.code) from None
    if not found[1].valid_at(parsed.iat):
        raise StatusListRejected("key_not_valid_at_issuance")
    return token, parsed


def check_issuer_metadata(client: httpx.Client, iss: str, known: TrustSnapshot) -> str:
    """Fetch ``iss``'s JWT VC Issuer Metadata and check it against the chain: "ok", or a stable code."""
    try:
        url = metadata_url(iss)
        r = client.get(url, headers={"accept": "application/json"})
        if r.status_code != 200:
            return f"http_{r.status_code}"
        if len(r.content) > MAX_METADATA_BYTES:
            return "too_large"
        check_against_chain(parse_issuer_metadata(r.json(), expected_issuer=iss), known)
    except httpx.HTTPError:
        return "unreachable"
    except ValueError:
        return "malformed_issuer_metadata"
    except CredError as exc:
        return exc.code
    return "ok"


@dataclass(frozen=True, slots=True)
class SyncReport:
    ok: bool
    block: int | None
    accepted: int = 0
    rejected: tuple[tuple[str, str], ...] = ()  # (uri, reason)
    error: str | None = None


class TrustKeeper:
    """The current :class:`TrustSnapshot` for the service (``current()``), and the loop that refreshes it."""

    def __init__(self, *, snapshot_path: Path, clock: Clock, sync: TrustSync | None = None,
                 http: httpx.Client | None = None, metadata_check_s: float = 0) -> None:
        self.snapshot_path = snapshot_path
        self.clock = clock
        self._sync = sync
        self._http = http
        self._metadata_check_s = metadata_check_s
        self._metadata_checked: dict[str, int] = {}  # issuer id -> when its metadata was last checked
        #: Issuer id -> "ok" or why its JWT VC Issuer Metadata was refused (a stable code).
        self.metadata_verdicts: dict[str, str] = {}
        self._state: TrustState | None = None
        self._lock = threading.Lock()  # one sync at a time; readers never wait (they read a reference)
        self.last_report: SyncReport | None = None
        try:
            loaded = load_snapshot(snapshot_path)
        except CredError:
            log.error("persisted trust snapshot %s is damaged; starting empty", snapshot_path)
            loaded = None
        self._snap = loaded[0] if loaded else TrustSnapshot()

    @classmethod
    def from_settings(cls, settings: VerifierSettings, clock: Clock) -> TrustKeeper:
        """Online when a deployment file is configured; the RPC URL defaults to the one recorded in it."""
        if settings.deployment_file is None:
            if settings.chain_rpc_url is not None:
                raise ValueError("chain_rpc_url needs deployment_file (the registries' addresses)")
            return cls(snapshot_path=settings.snapshot_path, clock=clock)
        from contracts import connect
        from contracts.deployment import Deployment
        from contracts.sync import TrustSync

        deployment = Deployment.load(settings.deployment_file)
        rpc_url = settings.chain_rpc_url or deployment.rpc_url
        if rpc_url is None:
            raise ValueError("no chain RPC URL: set chain_rpc_url or record rpc_url in the deployment file")
        w3 = connect(rpc_url, connect_timeout=settings.chain_connect_timeout_s,
                     read_timeout=settings.chain_read_timeout_s)
        http = httpx.Client(timeout=settings.status_fetch_timeout_s, follow_redirects=False)
        return cls(snapshot_path=settings.snapshot_path, clock=clock, sync=TrustSync(w3, deployment), http=http,
                   metadata_check_s=settings.issuer_metadata_check_s)

    @property
    def online(self) -> bool:
        return self._sync is not None

    def current(self) -> TrustSnapshot:
        return self._snap

    def sync_once(self) -> SyncReport:
        """Read new events, fetch new status lists, publish and persist the snapshot. Never raises for I/O."""
        if self._sync is None or self._http is None:
            return SyncReport(False, self._snap.block_number, error="offline")
        with self._lock:
            try:
                state = self._sync.sync(self._state, progress=_log_progress)
            except InfrastructureError as exc:
                log.warning("trust sync: %s; serving the snapshot of block %s", exc.code, self._snap.block_number)
                self.last_report = SyncReport(False, self._snap.block_number, error=exc.code)
                return self.last_report
            except Exception:  # a node answering nonsense is as good as no node: keep serving
                log.exception("trust sync failed; serving the snapshot of block %s", self._snap.block_number)
                self.last_report = SyncReport(False, self._snap.block_number, error="sync_failed")
                return self.last_report
            self._state = state
            now = self.clock.now()
            known = state.snapshot(now=now)
            accepted, rejected = 0, []
            for pending in state.pending_status_lists:
                try:
                    token, parsed = fetch_status_list(self._http, pending, known, now)
                    state.accept_status_list(pending, token, parsed.status_list, fetched_at=now)
                    accepted += 1
                except (StatusListRejected, CredError) as exc:
                    reason = exc.reason if isinstance(exc, StatusListRejected) else exc.code
                    log.warning("status list %s v%d rejected: %s", pending.uri, pending.version, reason)
                    rejected.append((pending.uri, reason))
            snap = state.snapshot(now=now)
            rejected += self._check_issuer_metadata(snap, now)
            self._snap = snap
            try:
                save_snapshot(self.snapshot_path, snap)
            except OSError:
                log.error("cannot persist the trust snapshot to %s", self.snapshot_path, exc_info=True)
            self.last_report = SyncReport(True, snap.block_number, accepted, tuple(rejected))
            return self.last_report

    def _check_issuer_metadata(self, snap: TrustSnapshot, now: int) -> list[tuple[str, str]]:
        if not self._metadata_check_s or self._http is None:
            return []
        refused = []
        for issuer in snap.issuers:
            iss = issuer.issuer_id
            due = self._metadata_checked.get(iss, -self._metadata_check_s - 1) + self._metadata_check_s
            if not iss.startswith(("https://", "http://")) or now < due:
                continue
            self._metadata_checked[iss] = now
            verdict = check_issuer_metadata(self._http, iss, snap)
            self.metadata_verdicts[iss] = verdict
            if verdict != "ok":
                log.warning("issuer metadata of %s refused: %s", iss, verdict)
                refused.append((iss, verdict))
        return refused

    def head_moved(self) -> bool:
        """Whether the chain has a block the snapshot has not read (one ``eth_blockNumber``; False if unreachable)."""
        if self._sync is None:
            return False
        known = self._state.block_number if self._state is not None else -1
        try:
            return self._sync.head() > known
        except Exception:  # the next full round logs the outage; a head probe stays quiet
            return False

    async def run(self, interval: float, *, head_poll: float | None = None) -> None:
        """Sync now, then every ``interval`` seconds, until cancelled. With ``head_poll``, the chain head is
        also checked that often in between, and a new block starts a round at once: a revocation then reaches
        the counter one block after the issuer publishes it, however long ``interval`` is."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                await asyncio.to_thread(self.sync_once)
            except Exception:  # a bug in one round must not stop the loop that keeps the counter current
                log.exception("trust sync round failed")
            due = loop.time() + interval
            while (left := due - loop.time()) > 0:
                await asyncio.sleep(left if head_poll is None else min(head_poll, left))
                if head_poll is not None and await asyncio.to_thread(self.head_moved):
                    break

    def close(self) -> None:
        if self._http is not None:
            with contextlib.suppress(Exception):
                self._http.close()


def _log_progress(first: int, done: int, last: int) -> None:
    """A sync from the first block of a long chain reads many block ranges: say how far it got."""
    if done < last:
        log.info("trust sync: read blocks %d to %d of %d", first, done, last)
