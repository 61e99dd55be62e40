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
  (fail closed: an old list may miss revocations, see contracts.sync). The issuer serves the list it is anchoring
  at ``<uri>/latest`` before it sends the digest and at ``<uri>`` once the transaction's receipt is in, so a
  digest that has just landed is looked for at both. If neither serves it yet (a transaction the issuer gave up
  on landed late), the previous chain-confirmed list stays in use for ``status_list_grace_s``, with the
  stricter statuses of the issuer's newest signed list on top, and is retried every round.
- Ahead of the chain (:meth:`TrustKeeper.poll_status_lists`, every ``status_poll_s``, in a task of its own):
  each issuer's newest signed list (``<uri>/latest``) is fetched and only the statuses it makes stricter are
  applied, so a revocation is enforced while the chain is down; a relaxation waits for the chain's digest.
  Successive lists only add: a status one of them made stricter stays until the chain confirms a list at
  least as new. What it applied is persisted with the snapshot, and with it the ``iat`` of each
  chain-confirmed list (the floor a newer list must reach) and of each list applied ahead of the chain, so a
  verifier restarted during an outage keeps enforcing, even where the chain answers it before the issuer does,
  and keeps polling.
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
import dataclasses
import hashlib
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
from credcore.status_list import STATUS_LIST_JWT_TYP, StatusList, stricter_only, verify_status_list_jwt
from credcore.trust import StatusListRecord, TrustSnapshot
from httpedge.metrics import CHAIN_RPC_ERRORS
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


def _get_token(client: httpx.Client, url: str) -> str:
    try:
        with client.stream("GET", url, headers={"accept": "application/statuslist+jwt"}) as r:
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
        return body.decode("ascii").strip()
    except UnicodeDecodeError:
        raise StatusListRejected("not_ascii") from None


def _check_signed(token: str, issuer_id: str, uri: str, known: TrustSnapshot, now: int) -> Any:
    """The list's signature, by a key the chain registered for ``issuer_id`` and valid at its ``iat``."""
    try:
        kid = jws.parse(token, algorithms=frozenset({"ES256"}), typ=STATUS_LIST_JWT_TYP).header.get("kid")
        found = known.key_by_thumbprint(kid) if isinstance(kid, str) else None
        if found is None or found[0].issuer_id != issuer_id:
            raise StatusListRejected("unknown_key")
        parsed = verify_status_list_jwt(token, found[1].public_key, now=now, expected_uri=uri)
    except CredError as exc:
        raise StatusListRejected(exc.code) from None
    if not found[1].valid_at(parsed.iat):
        raise StatusListRejected("key_not_valid_at_issuance")
    return parsed


def fetch_status_list(client: httpx.Client, pending: PendingStatusList, known: TrustSnapshot, now: int
                      ) -> tuple[str, Any]:
    """GET ``pending.uri`` and check it; returns ``(token, ParsedStatusListJwt)`` or raises StatusListRejected."""
    token = _get_token(client, pending.uri)
    # The chain's digest first: it is the anchor of trust, and a mismatch needs no parsing at all.
    from contracts.status_registry import status_list_digest

    if not hmac.compare_digest(status_list_digest(token), pending.digest):
        # Between the transaction landing and its receipt reaching the issuer, the list is at /latest only
        # (issuer.status_publisher); whichever URL served it, the chain's digest is what is trusted.
        try:
            token = _get_token(client, pending.uri + "/latest")
        except StatusListRejected:
            raise StatusListRejected("digest_mismatch") from None
        if not hmac.compare_digest(status_list_digest(token), pending.digest):
            raise StatusListRejected("digest_mismatch")
    return token, _check_signed(token, pending.issuer_id, pending.uri, known, now)


def fetch_latest_status_list(client: httpx.Client, record: StatusListRecord, known: TrustSnapshot, now: int
                             ) -> tuple[str, Any]:
    """The issuer's newest signed list (``<uri>/latest``), which may be ahead of the chain: signature checked,
    digest not (the caller takes only stricter statuses from it). Raises StatusListRejected."""
    token = _get_token(client, record.uri + "/latest")
    return token, _check_signed(token, record.issuer_id, record.uri, known, now)


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
                 http: httpx.Client | None = None, metadata_check_s: float = 0, status_list_grace_s: float = 0
                 ) -> None:
        self.snapshot_path = snapshot_path
        self.clock = clock
        self._sync = sync
        self._http = http
        self._metadata_check_s = metadata_check_s
        self._grace_s = status_list_grace_s
        #: (issuer id, list id, version) on chain -> when its list was first found nowhere (see _keep_previous).
        self._unfetched: dict[tuple[str, int, int], int] = {}
        self._metadata_checked: dict[str, int] = {}  # issuer id -> when its metadata was last checked
        #: Issuer id -> "ok" or why its JWT VC Issuer Metadata was refused (a stable code).
        self.metadata_verdicts: dict[str, str] = {}
        self._state: TrustState | None = None
        self._lock = threading.Lock()  # one sync at a time; readers never wait (they read a reference)
        self.last_report: SyncReport | None = None
        self._head: int | None = None  # the chain head last seen (readiness probe, head poll)
        self._behind_since: int | None = None  # when the head first passed what the snapshot has read
        try:
            loaded = load_snapshot(snapshot_path)
        except CredError:
            log.error("persisted trust snapshot %s is damaged; starting empty", snapshot_path)
            loaded = None
        self._snap = loaded[0] if loaded else TrustSnapshot()
        # Status lists signed by their issuer but not yet on chain (see poll_status_lists): the chain-confirmed
        # snapshot is ``_base``; ``_snap`` is it with the stricter statuses of these applied. A snapshot loaded
        # from disk already carries those it had applied (stricter only, so taking it as the base is safe).
        self._base = self._snap
        self._snap_lock = threading.Lock()  # never held across I/O
        self._save_lock = threading.Lock()  # one writer at a time, and the last one writes the newest snapshot
        self._chain_iat: dict[tuple[str, int], int] = _iats(loaded[1], "status_list_iat") if loaded else {}
        #: (issuer id, list id) -> (iat, statuses, digest) of the newest list applied ahead of the chain, its
        #: statuses merged stricter-only with those applied before it. After a restart, the loaded snapshot's
        #: statuses stand for them (digest unknown), until the chain confirms a list at least as new.
        self._overlays: dict[tuple[str, int], tuple[int, StatusList, bytes]] = {}
        for key, iat in (_iats(loaded[1], "overlay_iat") if loaded else {}).items():
            record = self._snap.status_list_by_id(*key)
            if record is not None:
                self._overlays[key] = (iat, record.status_list, b"")

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
                   metadata_check_s=settings.issuer_metadata_check_s,
                   status_list_grace_s=settings.status_list_grace_s)

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
                CHAIN_RPC_ERRORS.labels("verifier", "sync").inc()
                log.warning("trust sync: %s; serving the snapshot of block %s", exc.code, self._snap.block_number)
                self.last_report = SyncReport(False, self._snap.block_number, error=exc.code)
                return self.last_report
            except Exception:  # a node answering nonsense is as good as no node: keep serving
                CHAIN_RPC_ERRORS.labels("verifier", "sync").inc()
                log.exception("trust sync failed; serving the snapshot of block %s", self._snap.block_number)
                self.last_report = SyncReport(False, self._snap.block_number, error="sync_failed")
                return self.last_report
            self._state = state
            now = self.clock.now()
            known = state.snapshot(now=now)
            accepted, rejected, unfetched = 0, [], []
            iats: dict[tuple[str, int], int] = {}
            for pending in state.pending_status_lists:
                try:
                    token, parsed = fetch_status_list(self._http, pending, known, now)
                    state.accept_status_list(pending, token, parsed.status_list, fetched_at=now)
                    iats[(pending.issuer_id, pending.list_id)] = parsed.iat
                    accepted += 1
                except (StatusListRejected, CredError) as exc:
                    reason = exc.reason if isinstance(exc, StatusListRejected) else exc.code
                    log.warning("status list %s v%d rejected: %s", pending.uri, pending.version, reason)
                    rejected.append((pending.uri, reason))
                    unfetched.append(pending)
            snap = self._keep_previous(state.snapshot(now=now), unfetched, now)
            rejected += self._check_issuer_metadata(snap, now)
            with self._snap_lock:
                self._chain_iat.update(iats)
                self._base = snap
                self._snap = self._overlaid(snap)
                snap = self._snap
            self._persist()
            self.last_report = SyncReport(True, snap.block_number, accepted, tuple(rejected))
            if self._head is None or (snap.block_number or 0) >= self._head:
                self._behind_since = None
            return self.last_report

    def poll_status_lists(self) -> int:
        """Fetch every issuer's newest signed list (``<uri>/latest``) and apply its stricter statuses now.

        Revocation fails closed during a chain outage: a list the issuer signed after the one the chain confirmed
        (by a key the chain registered for it, valid at its ``iat``) may revoke or suspend at once; anything it
        would relax waits for the chain's digest (credcore.status_list.stricter_only). Returns how many lists
        carry statuses ahead of the chain.
        """
        if self._http is None:
            return 0
        base, now = self._base, self.clock.now()
        found: dict[tuple[str, int], tuple[int, StatusList, bytes]] = {}
        for record in base.status_lists:
            key = (record.issuer_id, record.list_id)
            chain_iat = self._chain_iat.get(key)
            if chain_iat is None:  # not confirmed by this process's chain sync yet: nothing to compare with
                continue
            try:
                token, parsed = fetch_latest_status_list(self._http, record, base, now)
            except StatusListRejected as exc:
                log.debug("latest status list %s not taken: %s", record.uri, exc.reason)
                continue
            digest = hashlib.sha256(token.encode("ascii")).digest()
            if digest != record.digest and parsed.iat >= chain_iat:
                found[key] = (parsed.iat, parsed.status_list, digest)
        with self._snap_lock:
            before, under = self._snap.status_lists, self._base
            for key, newest in found.items():
                self._overlays[key] = _accumulated(self._overlays.get(key), newest)
            updated, ahead = self._overlaid(under), len(self._overlays)
        if updated.status_lists != before:
            # On disk before it is served, so a counter killed right after it refused a credential, and restarted
            # without network, still refuses it.
            self._persist(updated)
        with self._snap_lock:  # a sync round may have replaced the base meanwhile
            self._snap = updated if self._base is under else self._overlaid(self._base)
        return ahead

    def _keep_previous(self, snap: TrustSnapshot, unfetched: list[PendingStatusList], now: int) -> TrustSnapshot:
        """``snap`` with the last chain-confirmed version of each list whose newer version was found nowhere, for
        ``status_list_grace_s`` after it first was: a transaction the issuer gave up on may land before the issuer
        serves its list. Beyond that the list is dropped and its credentials fail ``status_unknown``, since a
        server that never serves the chain's list could otherwise hold its revocations back for ever. Meanwhile
        poll_status_lists applies the stricter statuses of the issuer's newest signed list on top. A list read
        from disk whose digest is still the chain's is the chain's list itself: it stays, however long the
        issuer is unreachable after a restart."""
        missed: dict[tuple[str, int, int], int] = {}
        kept = []
        for pending in unfetched:
            key = (pending.issuer_id, pending.list_id, pending.version)
            missed[key] = since = self._unfetched.get(key, now)
            previous = self._base.status_list_by_id(pending.issuer_id, pending.list_id)
            if previous is None:
                continue
            if previous.version == pending.version and previous.digest == pending.digest:
                kept.append(previous)  # the very list the chain holds (loaded from disk): not superseded at all
            elif previous.version < pending.version and now - since < self._grace_s:
                log.warning("status list %s v%d not served yet: v%d stays in use", pending.uri, pending.version,
                            previous.version)
                kept.append(previous)
        self._unfetched = missed
        return dataclasses.replace(snap, status_lists=(*snap.status_lists, *kept)) if kept else snap

    def _persist(self, snap: TrustSnapshot | None = None) -> None:
        """Save ``snap`` (by default the snapshot in service), each chain-confirmed list's ``iat``
        (poll_status_lists' floor) and that of each list applied ahead of the chain."""
        with self._save_lock:
            with self._snap_lock:
                snap = snap or self._snap
                chain = [[issuer_id, list_id, iat] for (issuer_id, list_id), iat in sorted(self._chain_iat.items())]
                ahead = [[issuer_id, list_id, overlay[0]]
                         for (issuer_id, list_id), overlay in sorted(self._overlays.items())]
            try:
                save_snapshot(self.snapshot_path, snap, cursor={"status_list_iat": chain, "overlay_iat": ahead})
            except OSError:
                log.error("cannot persist the trust snapshot to %s", self.snapshot_path, exc_info=True)

    def _overlaid(self, base: TrustSnapshot) -> TrustSnapshot:
        """``base`` with the overlays' stricter statuses; overlays the chain caught up with are dropped."""
        if not self._overlays:
            return base
        records, changed = [], False
        for record in base.status_lists:
            key = (record.issuer_id, record.list_id)
            overlay = self._overlays.get(key)
            if overlay is None:
                records.append(record)
                continue
            iat, status_list, digest = overlay
            if digest == record.digest or iat < self._chain_iat.get(key, iat + 1):
                del self._overlays[key]
                records.append(record)
                continue
            try:
                merged = stricter_only(record.status_list, status_list)
            except CredError:
                del self._overlays[key]
                records.append(record)
                continue
            records.append(dataclasses.replace(record, status_list=merged))
            changed = True
        return dataclasses.replace(base, status_lists=tuple(records)) if changed else base

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
            return self.chain_head() > known
        except Exception:  # the next full round logs the outage; a head probe stays quiet
            return False

    def chain_head(self) -> int:
        """The newest block a sync would read (one ``eth_blockNumber``); raises when the chain does not answer."""
        if self._sync is None:
            raise InfrastructureError("no chain configured")
        try:
            head = self._sync.head()
        except Exception:
            CHAIN_RPC_ERRORS.labels("verifier", "head").inc()
            raise
        self._head = head
        known = self._snap.block_number
        if (known is None or head > known) and self._behind_since is None:
            self._behind_since = self.clock.now()
        return head

    def lag(self, now: int) -> tuple[int, int]:
        """How far the snapshot trails the chain head last seen: (blocks, seconds since it first did)."""
        if self._head is None:
            return 0, 0
        blocks = max(0, self._head - (self._snap.block_number or 0))
        since = self._behind_since
        return blocks, 0 if blocks == 0 or since is None else max(0, now - since)

    async def run(self, interval: float, *, head_poll: float | None = None, status_poll: float | None = None
                  ) -> None:
        """Sync now, then every ``interval`` seconds, until cancelled. With ``head_poll``, the chain head is
        also checked that often in between, and a new block starts a round at once: a revocation then reaches
        the counter one block after the issuer publishes it, however long ``interval`` is. With
        ``status_poll``, issuers' newest lists are polled that often in a task of their own, so a hung chain
        (a sync round waiting on it) does not delay a revocation."""
        poller = None if status_poll is None else asyncio.create_task(self._poll_loop(status_poll))
        try:
            await self._sync_loop(interval, head_poll)
        finally:
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller

    async def _poll_loop(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await asyncio.to_thread(self.poll_status_lists)
            except Exception:
                log.exception("status list poll failed")

    async def _sync_loop(self, interval: float, head_poll: float | None) -> None:
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


def _accumulated(held: tuple[int, StatusList, bytes] | None, newest: tuple[int, StatusList, bytes]
                 ) -> tuple[int, StatusList, bytes]:
    """``newest`` with the stricter statuses of the list applied before it kept: a list the issuer signed
    later may relax a status only once the chain confirms it."""
    if held is None:
        return newest
    iat, status_list, digest = newest
    try:
        return max(iat, held[0]), stricter_only(held[1], status_list), digest if iat >= held[0] else held[2]
    except CredError:  # another shape: the chain will have to say which is right
        return newest


def _iats(cursor: dict[str, Any], name: str) -> dict[tuple[str, int], int]:
    """(issuer id, list id) -> ``iat``, as :meth:`TrustKeeper._persist` stored it under ``name`` (unusable rows
    skipped)."""
    found: dict[tuple[str, int], int] = {}
    rows = cursor.get(name)
    for row in rows if isinstance(rows, list) else ():
        if (isinstance(row, list) and len(row) == 3 and isinstance(row[0], str)
                and all(type(v) is int for v in row[1:])):
            found[(row[0], row[1])] = row[2]
    return found


def _log_progress(first: int, done: int, last: int) -> None:
    """A sync from the first block of a long chain reads many block ranges: say how far it got."""
    if done < last:
        log.info("trust sync: read blocks %d to %d of %d", first, done, last)
