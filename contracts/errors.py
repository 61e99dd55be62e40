"""Registry reverts as credcore errors with stable codes: the one place custom errors are decoded.

Every Solidity custom error of the three registries (and their IssuerGate base) and of TrustGovernance maps
to a :class:`credcore.errors.CredError` subclass below, so services map chain failures to HTTP like any
other error. Codes carry a ``registry_`` or ``governance_`` prefix so they cannot collide with codes other
packages define.
Context holds only public identifiers (addresses, thumbprints, versions), never key material.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, Final

from eth_abi import decode as abi_decode
from eth_utils import keccak

from contracts._artifacts import CONTRACT_NAMES, GOVERNANCE, load_artifact
from credcore.errors import (
    AlreadyRevokedError,
    ConflictError,
    CredError,
    InfrastructureError,
    MalformedInputError,
    NotFoundError,
    RefusedError,
)

__all__ = [
    "CredentialTypeUnchangedError",
    "DeploymentFileError",
    "IdentifierTakenError",
    "InvalidKeyWindowError",
    "InvalidMemberKeyError",
    "InvalidProofOfPossessionError",
    "InvalidRegistryArgumentError",
    "InvalidSignatureError",
    "InvalidThresholdError",
    "IssuerExistsError",
    "IssuerNotActiveError",
    "IssuerNotFoundError",
    "IssuerSuspendedError",
    "KeyAlreadyRevokedError",
    "KeyExistsError",
    "KeyNotFoundError",
    "NotAuthorizedError",
    "RegistryNotAttachableError",
    "RootAlreadyAnchoredError",
    "StaleNonceError",
    "StaleStatusVersionError",
    "StatusDigestMismatchError",
    "StatusListNotPendingError",
    "TooFewSignersError",
    "TransactionFailedError",
    "UnknownActionError",
    "UnknownMemberError",
    "UnknownSignerError",
    "decode_revert",
    "error_selectors",
    "revert_data_of",
]


# --- refused ------------------------------------------------------------------------------------
class NotAuthorizedError(RefusedError):
    code = "registry_not_authorized"
    title = "The sending account may not do this on the registry"


class IssuerNotActiveError(RefusedError):
    code = "registry_issuer_not_active"
    title = "The account is not an accredited, unsuspended issuer"


class IssuerSuspendedError(IssuerNotActiveError):
    code = "registry_issuer_suspended"
    title = "The issuer is suspended"


class InvalidKeyWindowError(RefusedError):
    code = "registry_invalid_key_window"
    title = "The key validity window or revocation time is not allowed"


class StatusDigestMismatchError(RefusedError):
    code = "registry_status_digest_mismatch"
    title = "The fetched status list does not match the digest on chain"


# --- malformed arguments (the facades check these before sending, the contracts check them again) ------
class InvalidRegistryArgumentError(MalformedInputError):
    code = "registry_invalid_argument"
    title = "An argument is not acceptable to the registry"


class DeploymentFileError(MalformedInputError):
    code = "registry_deployment_file_invalid"
    title = "The deployment file cannot be used"


# --- conflicts ----------------------------------------------------------------------------------
class IssuerExistsError(ConflictError):
    code = "registry_issuer_exists"
    title = "The account is already an accredited issuer"


class IdentifierTakenError(IssuerExistsError):
    code = "registry_identifier_taken"
    title = "The issuer identifier is already registered"


class IssuerNotFoundError(NotFoundError):
    code = "registry_issuer_not_found"
    title = "No such issuer"


class CredentialTypeUnchangedError(ConflictError):
    code = "registry_credential_type_unchanged"
    title = "The issuer already has, or never had, this credential type"


class KeyExistsError(ConflictError):
    code = "registry_key_exists"
    title = "The key thumbprint is already registered"


class KeyNotFoundError(NotFoundError):
    code = "registry_key_not_found"
    title = "No such key"


class KeyAlreadyRevokedError(AlreadyRevokedError):
    code = "registry_key_already_revoked"
    title = "The key is already revoked"


class RegistryNotAttachableError(ConflictError):
    code = "registry_not_attachable"
    title = "The registry is already attached or follows another trust registry"


class RootAlreadyAnchoredError(ConflictError):
    code = "registry_root_already_anchored"
    title = "The Merkle root is already anchored"


class StaleStatusVersionError(ConflictError):
    code = "registry_status_version_not_newer"
    title = "The status list version is not newer than the published one"


class StatusListNotPendingError(ConflictError):
    code = "registry_status_list_not_pending"
    title = "That status list version is not the latest one on chain"


# --- infrastructure -----------------------------------------------------------------------------------
# --- TrustGovernance (codes governance_*) -------------------------------------------------------
class StaleNonceError(ConflictError):
    code = "governance_stale_nonce"
    title = "The proposal's nonce was already used or is not yet due (a replay, or a race)"


class UnknownActionError(MalformedInputError):
    code = "governance_unknown_action"
    title = "Unknown governance action"


class UnknownSignerError(RefusedError):
    code = "governance_unknown_signer"
    title = "The signer bitmap names a non-member"


class TooFewSignersError(RefusedError):
    code = "governance_too_few_signers"
    title = "Fewer signers than the consortium threshold"


class InvalidSignatureError(RefusedError):
    code = "governance_signature_invalid"
    title = "The aggregate signature does not verify for the named signers"


class InvalidMemberKeyError(MalformedInputError):
    code = "governance_member_key_invalid"
    title = "Member key malformed, the identity, or already a member"


class InvalidProofOfPossessionError(RefusedError):
    code = "governance_pop_invalid"
    title = "The member key's proof of possession does not verify"


class UnknownMemberError(NotFoundError):
    code = "governance_member_not_found"
    title = "No such consortium member"


class InvalidThresholdError(RefusedError):
    code = "governance_threshold_invalid"
    title = "The threshold must lie between 1 and the member count"


class TransactionFailedError(InfrastructureError):
    """A transaction failed without a known custom error: out of gas, a panic, a rejected send."""

    code = "registry_transaction_failed"
    title = "The registry transaction failed"


_BY_ERROR_NAME: Final[Mapping[str, type[CredError]]] = {
    "TrustRegistryNotAdmin": NotAuthorizedError,
    "TrustRegistryNotIssuerOperator": NotAuthorizedError,
    "IssuerGateNotTrustRegistry": NotAuthorizedError,
    "IssuerGateNotActiveIssuer": IssuerNotActiveError,
    "TrustRegistryIssuerSuspended": IssuerSuspendedError,
    "TrustRegistryUnknownIssuer": IssuerNotFoundError,
    "TrustRegistryIssuerExists": IssuerExistsError,
    "TrustRegistryIdentifierTaken": IdentifierTakenError,
    "TrustRegistryZeroAddress": InvalidRegistryArgumentError,
    "TrustRegistryInvalidText": InvalidRegistryArgumentError,
    "TrustRegistryInvalidCredentialType": InvalidRegistryArgumentError,
    "TrustRegistryInvalidKey": InvalidRegistryArgumentError,
    "TrustRegistryCredentialTypeUnchanged": CredentialTypeUnchangedError,
    "TrustRegistryKeyExists": KeyExistsError,
    "TrustRegistryUnknownKey": KeyNotFoundError,
    "TrustRegistryKeyAlreadyRevoked": KeyAlreadyRevokedError,
    "TrustRegistryInvalidWindow": InvalidKeyWindowError,
    "TrustRegistryRevocationInFuture": InvalidKeyWindowError,
    "TrustRegistryInvalidRegistry": RegistryNotAttachableError,
    "AnchorRegistryZeroRoot": InvalidRegistryArgumentError,
    "AnchorRegistryEmptyBatch": InvalidRegistryArgumentError,
    "AnchorRegistryRootExists": RootAlreadyAnchoredError,
    "StatusRegistryZeroDigest": InvalidRegistryArgumentError,
    "StatusRegistryInvalidUri": InvalidRegistryArgumentError,
    "StatusRegistryStaleVersion": StaleStatusVersionError,
    "GovernanceStaleNonce": StaleNonceError,
    "GovernanceUnknownAction": UnknownActionError,
    "GovernanceUnknownSigner": UnknownSignerError,
    "GovernanceTooFewSigners": TooFewSignersError,
    "GovernanceInvalidSignature": InvalidSignatureError,
    "GovernanceInvalidMemberKey": InvalidMemberKeyError,
    "GovernanceInvalidProofOfPossession": InvalidProofOfPossessionError,
    "GovernanceUnknownMember": UnknownMemberError,
    "GovernanceInvalidThreshold": InvalidThresholdError,
    "GovernanceStorageFailed": TransactionFailedError,
    "BLS12381PrecompileFailed": TransactionFailedError,
}


def error_selectors(abi: Iterable[Mapping[str, Any]]) -> dict[bytes, tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """4-byte selector -> (error name, argument names, argument types) for the custom errors in ``abi``."""
    table: dict[bytes, tuple[str, tuple[str, ...], tuple[str, ...]]] = {}
    for item in abi:
        if item["type"] != "error":
            continue
        types = tuple(i["type"] for i in item["inputs"])
        names = tuple(i["name"] for i in item["inputs"])
        table[keccak(text=f"{item['name']}({','.join(types)})")[:4]] = (item["name"], names, types)
    return table


@cache
def _selectors() -> Mapping[bytes, tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """The selector table of the committed ABIs: the three registries and TrustGovernance."""
    table: dict[bytes, tuple[str, tuple[str, ...], tuple[str, ...]]] = {}
    for contract in (*CONTRACT_NAMES, GOVERNANCE):
        table.update(error_selectors(load_artifact(contract).abi))
    return table


def _safe(value: Any) -> Any:
    return "0x" + value.hex() if isinstance(value, bytes) else value


def decode_revert(data: bytes | None) -> CredError:
    """The credcore error for revert ``data`` (selector + ABI arguments); unknown data -> TransactionFailedError."""
    if not data or len(data) < 4:
        return TransactionFailedError("transaction reverted without a reason")
    entry = _selectors().get(data[:4])
    if entry is None:
        return TransactionFailedError("transaction reverted with an unknown error", selector="0x" + data[:4].hex())
    name, arg_names, types = entry
    try:
        values = abi_decode(list(types), data[4:])
    except Exception:
        return TransactionFailedError("transaction reverted with undecodable data", error=name)
    context = {n: _safe(v) for n, v in zip(arg_names, values, strict=True)}
    return _BY_ERROR_NAME.get(name, TransactionFailedError)(name, error=name, **context)


def revert_data_of(exc: BaseException) -> bytes | None:
    """The revert data carried by an exception from a web3 call, or ``None`` if it carries none.

    web3 puts it in ``ContractLogicError.data`` (hex). The in-process EthereumTesterProvider instead raises
    eth-tester's ``TransactionFailed("execution reverted: b'...'")`` with the bytes' Python repr, parsed here.
    """
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return None
    if isinstance(data, bytes):
        return data
    message = exc.args[0] if exc.args and isinstance(exc.args[0], str) else ""
    prefix = "execution reverted: "
    if message.startswith(prefix + "b'") or message.startswith(prefix + 'b"'):
        try:
            value = ast.literal_eval(message[len(prefix) :])
        except (ValueError, SyntaxError):
            return None
        return value if isinstance(value, bytes) else None
    return None
