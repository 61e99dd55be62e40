"""Typed facade over the TrustRegistry: accredited issuers, their credential types and signing keys.

Keys are identified by their RFC 7638 thumbprint (bytes, or the base64url string JWS ``kid`` uses). Only
P-256 keys go on chain (SEC1 compressed); the thumbprint is computed here from the key, so the two always
agree for keys registered through this facade (the sync re-checks every key it reads).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from eth_typing import ChecksumAddress
from eth_utils import is_address, keccak, to_checksum_address

from contracts._facade import Facade, as_bytes32
from contracts._tx import PendingTx, Signer, call_view
from contracts.errors import InvalidRegistryArgumentError
from credcore._b64 import b64u_decode
from credcore.errors import CredError
from credcore.keys import PublicKey

__all__ = ["IssuerRecord", "KeyRecord", "Thumbprint", "TrustRegistry", "thumbprint_bytes"]

Thumbprint = bytes | str
_MAX_TEXT = 256

# Explicit gas limits (py-evm under-estimates; limits are caps, unused gas is not charged).
GAS_ADD_KEY = 150_000
GAS_ROTATE_KEY = 200_000
GAS_KEY_CHANGE = 70_000
GAS_TYPE_CHANGE = 90_000
GAS_ADMIN = 60_000
GAS_PER_REGISTRY = 45_000


@dataclass(frozen=True, slots=True)
class IssuerRecord:
    account: ChecksumAddress
    identifier: str
    name: str
    accredited_at: int
    suspended_at: int | None


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A key as the registry holds it now. ``None`` = open-ended / not revoked."""

    issuer: ChecksumAddress
    thumbprint: bytes
    public_key: PublicKey
    valid_from: int
    valid_until: int | None
    revoked_at: int | None


def thumbprint_bytes(thumbprint: Thumbprint) -> bytes:
    """32 thumbprint bytes from bytes or the base64url string."""
    if isinstance(thumbprint, str):
        try:
            thumbprint = b64u_decode(thumbprint)
        except CredError:
            raise InvalidRegistryArgumentError("thumbprint is not base64url") from None
    return as_bytes32(thumbprint, "thumbprint")


def _account(value: str) -> ChecksumAddress:
    if not isinstance(value, str) or not is_address(value) or int(value, 16) == 0:
        raise InvalidRegistryArgumentError("not a usable account address")
    return to_checksum_address(value)


def _text(value: str, what: str) -> str:
    if not isinstance(value, str) or not 0 < len(value.encode()) <= _MAX_TEXT:
        raise InvalidRegistryArgumentError(f"{what} must be 1 to {_MAX_TEXT} bytes")
    return value


def _key_bytes(key: PublicKey) -> tuple[bytes, bytes]:
    if key.curve != "P-256":
        raise InvalidRegistryArgumentError("only P-256 keys are registered on chain")
    return key.thumbprint_bytes(), key.to_bytes(compressed=True)


def _time(value: int | None, what: str) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or not 0 < value < 2**64:
        raise InvalidRegistryArgumentError(f"{what} must be a positive unix time")
    return value


class TrustRegistry(Facade):
    """Read and change the TrustRegistry. Write methods return a :class:`PendingTx` (call ``.wait()``)."""

    contract_name = "TrustRegistry"

    # --- admin ---------------------------------------------------------------------------------------
    def accredit_issuer(
        self,
        account: str,
        *,
        identifier: str,
        name: str,
        credential_types: Iterable[str],
        sender: Signer,
        preflight: bool = True,
    ) -> PendingTx:
        """Accredit ``account`` as issuer ``identifier`` (its ``iss``) of ``credential_types`` (vct strings)."""
        types = [_text(t, "credential type") for t in credential_types]
        text = len(identifier.encode()) + len(name.encode()) + sum(len(t) for t in types)
        gas = 250_000 + 60_000 * len(types) + 700 * text + GAS_PER_REGISTRY * len(self.registries())
        args = [_account(account), _text(identifier, "identifier"), _text(name, "name"), types]
        return self._send("accreditIssuer", args, sender=sender, gas=gas, preflight=preflight)

    def suspend_issuer(self, account: str, *, sender: Signer, preflight: bool = True) -> PendingTx:
        gas = GAS_ADMIN + GAS_PER_REGISTRY * len(self.registries())
        return self._send("suspendIssuer", [_account(account)], sender=sender, gas=gas, preflight=preflight)

    def grant_credential_type(
        self, account: str, credential_type: str, *, sender: Signer, preflight: bool = True
    ) -> PendingTx:
        args = [_account(account), _text(credential_type, "credential type")]
        return self._send("grantCredentialType", args, sender=sender, gas=GAS_TYPE_CHANGE, preflight=preflight)

    def withdraw_credential_type(
        self, account: str, credential_type: str, *, sender: Signer, preflight: bool = True
    ) -> PendingTx:
        args = [_account(account), credential_type]
        return self._send("withdrawCredentialType", args, sender=sender, gas=GAS_TYPE_CHANGE, preflight=preflight)

    def attach_registry(self, registry: str, *, sender: Signer, preflight: bool = True) -> PendingTx:
        """Attach an Anchor/StatusRegistry so it receives issuer standing (``deploy_all`` does this)."""
        gas = 120_000 + GAS_PER_REGISTRY * self.issuer_count()
        return self._send("attachRegistry", [_account(registry)], sender=sender, gas=gas, preflight=preflight)

    def transfer_admin(self, new_admin: str, *, sender: Signer, preflight: bool = True) -> PendingTx:
        return self._send("transferAdmin", [_account(new_admin)], sender=sender, gas=GAS_ADMIN, preflight=preflight)

    # --- issuer keys -----------------------------------------------------------------------------------
    def add_key(
        self,
        key: PublicKey,
        *,
        sender: Signer,
        valid_from: int | None = None,
        valid_until: int | None = None,
        preflight: bool = True,
    ) -> PendingTx:
        """Register ``key`` for the sending issuer, valid from ``valid_from`` (None = now) to ``valid_until``."""
        thumb, pub = _key_bytes(key)
        args = [thumb, pub, _time(valid_from, "valid_from"), _time(valid_until, "valid_until")]
        return self._send("addKey", args, sender=sender, gas=GAS_ADD_KEY, preflight=preflight)

    def rotate_key(
        self,
        old: Thumbprint,
        new_key: PublicKey,
        *,
        sender: Signer,
        switch_at: int | None = None,
        preflight: bool = True,
    ) -> PendingTx:
        """In one transaction: register ``new_key`` from ``switch_at`` (None = now) and end ``old`` then."""
        thumb, pub = _key_bytes(new_key)
        args = [thumbprint_bytes(old), thumb, pub, _time(switch_at, "switch_at")]
        return self._send("rotateKey", args, sender=sender, gas=GAS_ROTATE_KEY, preflight=preflight)

    def set_key_expiry(
        self, thumbprint: Thumbprint, valid_until: int | None, *, sender: Signer, preflight: bool = True
    ) -> PendingTx:
        """End the sending issuer's key at ``valid_until`` (None = now); it can only be shortened."""
        args = [thumbprint_bytes(thumbprint), _time(valid_until, "valid_until")]
        return self._send("setKeyExpiry", args, sender=sender, gas=GAS_KEY_CHANGE, preflight=preflight)

    def revoke_key(
        self,
        thumbprint: Thumbprint,
        *,
        sender: Signer,
        issuer: str | None = None,
        revoked_at: int | None = None,
        preflight: bool = True,
    ) -> PendingTx:
        """Revoke a key of ``issuer`` (default: the sender) from ``revoked_at`` (None = now; may be back-dated)."""
        target = _account(issuer) if issuer is not None else sender.address
        args = [target, thumbprint_bytes(thumbprint), _time(revoked_at, "revoked_at")]
        return self._send("revokeKey", args, sender=sender, gas=GAS_KEY_CHANGE, preflight=preflight)

    # --- reads -------------------------------------------------------------------------------------------
    def admin(self) -> ChecksumAddress:
        return to_checksum_address(call_view(self._c.functions.admin().call))

    def registries(self) -> list[ChecksumAddress]:
        return list(call_view(self._c.functions.registries().call))

    def issuer_count(self) -> int:
        return int(call_view(self._c.functions.issuerCount().call))

    def issuer(self, account: str) -> IssuerRecord | None:
        """The issuer registered for ``account``, or None."""
        acct = _account(account)
        try:
            identifier, name, accredited, suspended = call_view(self._c.functions.issuer(acct).call)
        except CredError as exc:
            if exc.code == "registry_issuer_not_found":
                return None
            raise
        return IssuerRecord(acct, identifier, name, accredited, suspended or None)

    def issuer_by_identifier(self, identifier: str) -> ChecksumAddress | None:
        found = call_view(self._c.functions.issuerByIdentifier(identifier).call)
        return None if int(found, 16) == 0 else to_checksum_address(found)

    def may_issue(self, account: str, credential_type: str) -> bool:
        return bool(call_view(self._c.functions.mayIssue(_account(account), keccak(text=credential_type)).call))

    def key(self, issuer: str, thumbprint: Thumbprint) -> KeyRecord | None:
        """The key's current record, or None if the issuer never registered it."""
        acct, thumb = _account(issuer), thumbprint_bytes(thumbprint)
        try:
            pub, valid_from, valid_until, revoked_at = call_view(self._c.functions.keyOf(acct, thumb).call)
        except CredError as exc:
            if exc.code == "registry_key_not_found":
                return None
            raise
        key = PublicKey.from_bytes("P-256", pub)
        return KeyRecord(acct, thumb, key, valid_from, valid_until or None, revoked_at or None)

    def was_key_valid_at(self, issuer: str, thumbprint: Thumbprint, t: int) -> bool:
        """Was the key in force at ``t`` (and its issuer not suspended by then)?"""
        return bool(call_view(self._c.functions.wasKeyValidAt(_account(issuer), thumbprint_bytes(thumbprint), t).call))

    def key_history(self, issuer: str, *, from_block: int | None = None) -> list[KeyRecord]:
        """Every key ``issuer`` ever registered, in registration order, with its current window."""
        acct = _account(issuer)
        added = self._events("KeyAdded", topics=[bytes.fromhex(acct[2:])], from_block=from_block)
        records = [self.key(acct, e.args["thumbprint"]) for e in added]
        return [r for r in records if r is not None]
