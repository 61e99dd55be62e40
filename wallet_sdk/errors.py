"""Errors of the holder's library, each with a stable ``code`` under the project's one root.

Apps map these codes to screens ("wrong passphrase", "ask for a new batch") and the CLI maps them to
exit codes. Like every civicpass error, messages never carry keys, passphrases or claim values.
"""

from __future__ import annotations

from credcore.errors import ConflictError, CredError, InfrastructureError, MalformedInputError, RefusedError

__all__ = [
    "CredentialRejectedError",
    "IssuerRefusedError",
    "NoUnusedCopyError",
    "PresentationRequestError",
    "VerifierRefusedError",
    "WalletCorruptError",
    "WalletError",
    "WalletExistsError",
    "WalletNotFoundError",
    "WalletNotRefreshableError",
    "WalletUnreachableError",
    "WrongPassphraseError",
]


class WalletError(CredError):
    code = "wallet_error"
    title = "Wallet error"


class WrongPassphraseError(WalletError, RefusedError):
    code = "wallet_wrong_passphrase"
    title = "The passphrase does not open this wallet"


class WalletCorruptError(WalletError, MalformedInputError):
    """A wallet or backup file is damaged or was altered (authenticated decryption failed)."""

    code = "wallet_corrupt"
    title = "Wallet data is damaged or was altered"


class WalletExistsError(WalletError, ConflictError):
    code = "wallet_exists"
    title = "A wallet already exists there"


class WalletNotFoundError(WalletError, ConflictError):
    code = "wallet_not_found"
    title = "No wallet (or no such credential) there"


class WalletNotRefreshableError(WalletError, ConflictError):
    code = "wallet_not_refreshable"
    title = "The issuer gave no refresh token for this credential; new copies need a new offer"


class NoUnusedCopyError(WalletError, ConflictError):
    code = "wallet_no_unused_copy"
    title = "No unused single-use copy left; ask the issuer for a new batch"


class CredentialRejectedError(WalletError, RefusedError):
    """A credential received from an issuer failed the wallet's checks and was not stored."""

    code = "wallet_credential_rejected"
    title = "Received credential failed its checks"


class IssuerRefusedError(WalletError, RefusedError):
    """The issuer answered with an OAuth / OpenID4VCI error (``context['error']`` holds its code)."""

    code = "wallet_issuer_refused"
    title = "The issuer refused the request"


class PresentationRequestError(WalletError, MalformedInputError):
    """An OpenID4VP request (or credential offer) is malformed, unsigned where it must be signed, or unsafe."""

    code = "wallet_bad_request"
    title = "The request cannot be accepted"


class VerifierRefusedError(WalletError, RefusedError):
    code = "wallet_verifier_refused"
    title = "The verifier refused the presentation"


class WalletUnreachableError(WalletError, InfrastructureError):
    code = "wallet_peer_unreachable"
    title = "The issuer or verifier could not be reached"
