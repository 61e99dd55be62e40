"""Typed facade over the StatusRegistry: the digest and version of each issuer's latest status list.

The digest is ``sha256`` of the status list JWT text; :func:`status_list_digest` (credcore's, re-exported)
computes it, so issuer and verifier hash the same bytes. The list itself is served over HTTP at the URI
published with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import to_checksum_address

from contracts._facade import Facade, as_bytes32
from contracts._tx import PendingTx, Signer, call_view
from contracts.errors import InvalidRegistryArgumentError
from credcore.status_list import status_list_digest

__all__ = ["StatusHead", "StatusRegistry", "status_list_digest"]

_MAX_URI = 512


@dataclass(frozen=True, slots=True)
class StatusHead:
    """The latest published version of one status list."""

    digest: bytes
    version: int
    updated_at: int


class StatusRegistry(Facade):
    """Publish status list digests and read the latest one."""

    contract_name = "StatusRegistry"

    def publish(
        self,
        list_id: int,
        version: int,
        digest: bytes,
        uri: str,
        *,
        sender: Signer,
        preflight: bool = True,
    ) -> PendingTx:
        """Publish ``version`` (greater than the current one) of the sender's list ``list_id``."""
        for value, what in ((list_id, "list_id"), (version, "version")):
            if not isinstance(value, int) or not 0 <= value < 2**64:
                raise InvalidRegistryArgumentError(f"{what} must be a 64-bit unsigned integer")
        digest = as_bytes32(digest, "digest")
        if digest == bytes(32):
            raise InvalidRegistryArgumentError("digest must not be zero")
        if not isinstance(uri, str) or not 0 < len(uri.encode()) <= _MAX_URI:
            raise InvalidRegistryArgumentError(f"uri must be 1 to {_MAX_URI} bytes")
        gas = 110_000 + 64 * len(uri.encode())
        return self._send("publish", [list_id, version, digest, uri], sender=sender, gas=gas, preflight=preflight)

    def latest(self, issuer: str, list_id: int) -> StatusHead | None:
        """The latest published digest of ``issuer``'s list, or None if never published."""
        digest, version, updated_at = call_view(self._c.functions.latest(to_checksum_address(issuer), list_id).call)
        return None if version == 0 else StatusHead(bytes(digest), version, updated_at)

    def is_active_issuer(self, account: str) -> bool:
        """The standing this registry last received from the TrustRegistry."""
        return bool(call_view(self._c.functions.isActiveIssuer(to_checksum_address(account)).call))
