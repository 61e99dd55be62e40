"""Building a credcore :class:`TrustSnapshot` from registry events, incrementally, block range by block range.

Why events and not views: events carry everything a verifier needs (identifiers, names, credential type strings,
public keys, status list URIs) and a full history, and one ``eth_getLogs`` returns all three contracts' events.
:class:`TrustSync` reads bounded block ranges (nodes cap ``eth_getLogs``; the range halves when a node refuses)
into a :class:`TrustState`, which is kept by its owner and passed back for the next, incremental sync.

Status lists need a second step: the chain has only (version, digest, URI). ``TrustState.pending_status_lists``
names the lists whose latest version has not been fetched yet; the verifier fetches each over HTTP, checks the
JWT's signature (credcore.status_list) and hands it to :meth:`TrustState.accept_status_list`, which keeps it only
if its sha256 equals the digest on chain. A snapshot carries only lists at their latest on-chain version
(a superseded list may miss revocations, so it is not used: fail closed).
Reorganisations are out of scope: sync ``confirmations`` blocks behind the head on chains that reorganise.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.exceptions import Web3RPCError

from contracts._events import RegistryEvent, decode_log
from contracts._tx import chain_errors
from contracts.deployment import Deployment
from contracts.errors import StatusDigestMismatchError, StatusListNotPendingError
from contracts.status_registry import status_list_digest
from credcore._b64 import b64u_encode
from credcore.errors import CredError
from credcore.keys import PublicKey
from credcore.status_list import StatusList
from credcore.trust import IssuerKey, StatusListRecord, TrustedIssuer, TrustSnapshot

__all__ = ["PendingStatusList", "TrustState", "TrustSync"]


@dataclass(frozen=True, slots=True)
class PendingStatusList:
    """A status list version published on chain that the verifier has not fetched yet."""

    issuer_id: str
    account: ChecksumAddress
    list_id: int
    version: int
    digest: bytes
    uri: str


@dataclass(slots=True)
class _Issuer:
    account: ChecksumAddress
    identifier: str
    name: str
    types: set[str]
    keys: dict[bytes, IssuerKey] = field(default_factory=dict)
    suspended_at: int | None = None


class TrustState:
    """What the registries' events said up to :attr:`block_number`. Mutable; owned by one sync loop."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.block_number = deployment.from_block - 1
        self.events_applied = 0
        self.rejected_keys: list[tuple[ChecksumAddress, bytes]] = []  # thumbprint did not match the key
        self._issuers: dict[ChecksumAddress, _Issuer] = {}
        self._heads: dict[tuple[ChecksumAddress, int], PendingStatusList] = {}
        self._accepted: dict[tuple[ChecksumAddress, int], StatusListRecord] = {}
        self._roots: set[bytes] = set()

    # --- applying events -------------------------------------------------------------------------------
    def apply(self, event: RegistryEvent) -> None:
        handler = getattr(self, f"_on_{event.name}", None)
        if handler is not None:
            handler(event.args)
        self.events_applied += 1

    def _on_IssuerAccredited(self, a: dict[str, Any]) -> None:
        account = a["account"]
        self._issuers[account] = _Issuer(account, a["identifier"], a["name"], set(a["credentialTypes"]))

    def _on_IssuerSuspended(self, a: dict[str, Any]) -> None:
        if (issuer := self._issuers.get(a["account"])) is not None:
            issuer.suspended_at = a["suspendedAt"]

    def _on_CredentialTypeGranted(self, a: dict[str, Any]) -> None:
        if (issuer := self._issuers.get(a["account"])) is not None:
            issuer.types.add(a["credentialType"])

    def _on_CredentialTypeWithdrawn(self, a: dict[str, Any]) -> None:
        if (issuer := self._issuers.get(a["account"])) is not None:
            issuer.types.discard(a["credentialType"])

    def _on_KeyAdded(self, a: dict[str, Any]) -> None:
        issuer, thumb = self._issuers.get(a["issuer"]), a["thumbprint"]
        try:
            key = PublicKey.from_bytes("P-256", a["publicKey"])
        except CredError:
            key = None
        if issuer is None or key is None or not hmac.compare_digest(key.thumbprint_bytes(), thumb):
            self.rejected_keys.append((a["issuer"], thumb))
            return
        issuer.keys[thumb] = IssuerKey(
            key, valid_from=a["validFrom"], valid_until=a["validUntil"] or None, thumbprint=b64u_encode(thumb)
        )

    def _update_key(self, a: dict[str, Any], *, valid_until: int | None = None, revoked_at: int | None = None) -> None:
        issuer = self._issuers.get(a["issuer"])
        key = issuer.keys.get(a["thumbprint"]) if issuer else None
        if issuer is not None and key is not None:
            issuer.keys[a["thumbprint"]] = IssuerKey(
                key.public_key,
                valid_from=key.valid_from,
                valid_until=key.valid_until if valid_until is None else valid_until,
                revoked_at=key.revoked_at if revoked_at is None else revoked_at,
                thumbprint=key.thumbprint,
            )

    def _on_KeyExpirySet(self, a: dict[str, Any]) -> None:
        self._update_key(a, valid_until=a["validUntil"])

    def _on_KeyRevoked(self, a: dict[str, Any]) -> None:
        self._update_key(a, revoked_at=a["revokedAt"])

    def _on_RootAnchored(self, a: dict[str, Any]) -> None:
        self._roots.add(a["root"])

    def _on_StatusListPublished(self, a: dict[str, Any]) -> None:
        issuer = self._issuers.get(a["issuer"])
        if issuer is None:
            return
        key = (a["issuer"], a["listId"])
        self._heads[key] = PendingStatusList(
            issuer.identifier, a["issuer"], a["listId"], a["version"], a["digest"], a["uri"]
        )

    # --- status lists ----------------------------------------------------------------------------------
    @property
    def pending_status_lists(self) -> tuple[PendingStatusList, ...]:
        """Latest on-chain versions not yet accepted: fetch each ``uri`` and pass it to :meth:`accept_status_list`."""
        return tuple(
            head
            for key, head in self._heads.items()
            if (rec := self._accepted.get(key)) is None or rec.version != head.version
        )

    def accept_status_list(
        self, pending: PendingStatusList, token: str, status_list: StatusList, *, fetched_at: int
    ) -> StatusListRecord:
        """Keep ``status_list`` (parsed from the signature-checked JWT ``token``) if sha256(token) matches the chain.

        Raises StatusListNotPendingError if ``pending`` is no longer the latest version on chain, and
        StatusDigestMismatchError if the fetched token is not the one whose digest was published.
        """
        key = (pending.account, pending.list_id)
        head = self._heads.get(key)
        if head is None or head.version != pending.version:
            raise StatusListNotPendingError(list_id=pending.list_id, version=pending.version)
        if not hmac.compare_digest(status_list_digest(token), head.digest):
            raise StatusDigestMismatchError(list_id=pending.list_id, version=pending.version)
        record = StatusListRecord(
            issuer_id=head.issuer_id,
            list_id=head.list_id,
            uri=head.uri,
            status_list=status_list,
            version=head.version,
            digest=head.digest,
            fetched_at=fetched_at,
        )
        self._accepted[key] = record
        return record

    # --- output ------------------------------------------------------------------------------------------
    def snapshot(self, *, now: int) -> TrustSnapshot:
        """An immutable snapshot as of :attr:`block_number`, stamped ``synced_at=now``."""
        issuers = tuple(
            TrustedIssuer(
                issuer_id=i.identifier,
                name=i.name,
                credential_types=frozenset(i.types),
                keys=tuple(i.keys.values()),
                suspended_at=i.suspended_at,
                account=i.account,
            )
            for i in self._issuers.values()
        )
        lists = tuple(
            rec for key, rec in self._accepted.items() if (h := self._heads.get(key)) and h.version == rec.version
        )
        return TrustSnapshot(
            issuers=issuers,
            status_lists=lists,
            anchored_roots=frozenset(self._roots),
            block_number=self.block_number,
            synced_at=now,
        )


class TrustSync:
    """Reads registry events into a :class:`TrustState`, from the deployment block or where the state left off."""

    def __init__(
        self, w3: Web3, deployment: Deployment, *, max_block_range: int = 5_000, confirmations: int = 0
    ) -> None:
        self._w3 = w3
        self._deployment = deployment
        self._max_range = max_block_range
        self._confirmations = confirmations

    def head(self) -> int:
        """The newest block a sync would read up to: the chain head less the confirmations."""
        with chain_errors():
            return int(self._w3.eth.block_number) - self._confirmations

    def sync(
        self,
        state: TrustState | None = None,
        *,
        to_block: int | None = None,
        progress: Callable[[int, int, int], None] | None = None,
    ) -> TrustState:
        """Apply every event after ``state.block_number`` up to ``to_block`` (default: :meth:`head`).

        ``progress(first, done, last)`` is called after each block range read: a sync from the first block of a
        long chain reads many ranges, and callers show how far it got.
        """
        state = state if state is not None else TrustState(self._deployment)
        head = self.head()
        target = head if to_block is None else min(to_block, head)
        span = self._max_range
        start = first = state.block_number + 1
        while start <= target:
            end = min(start + span - 1, target)
            try:
                logs = self._get_logs(start, end)
            except Web3RPCError:
                if span == 1:
                    raise
                span = max(1, span // 2)  # the node caps ranges or results: retry a smaller range
                continue
            for log in logs:
                event = decode_log(log)
                if event is not None:
                    state.apply(event)
            state.block_number = end
            start = end + 1
            if progress is not None:
                progress(first, end, target)
        state.block_number = max(state.block_number, target)
        return state

    def _get_logs(self, start: int, end: int) -> list[Any]:
        addresses = list(self._deployment.addresses)
        with chain_errors():
            if getattr(self._w3.provider, "endpoint_uri", None) is None:  # in-process eth-tester: web3 formats
                return list(self._w3.eth.get_logs({"address": addresses, "fromBlock": start, "toBlock": end}))
            # JSON-RPC nodes: the raw response, skipping web3's per-field formatting (most of the time otherwise)
            params = {"address": addresses, "fromBlock": hex(start), "toBlock": hex(end)}
            response = self._w3.provider.make_request("eth_getLogs", [params])  # type: ignore[arg-type]
        if "error" in response:
            raise Web3RPCError(str(response["error"]), rpc_response=response)
        return list(response["result"])
