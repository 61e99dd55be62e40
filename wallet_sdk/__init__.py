"""The holder's library: keys, encrypted store, OpenID4VCI client, presentations and QR codes.

An app draws screens; this library does the protocol and the crypto. Time (``now``), the HTTP client
and the trust snapshot are handed in, so every flow is testable and nothing reads a clock or the chain.

- :mod:`wallet_sdk.store` / :mod:`wallet_sdk.backup`: the encrypted wallet directory, backup and restore.
- :mod:`wallet_sdk.receive`: OpenID4VCI 1.0 pre-authorized code flow (SD-JWT VC + a batch of CP1 copies).
- :mod:`wallet_sdk.present`: offline ``CP1:`` showings (fresh single-use copy, QR PNG/SVG/terminal).
- :mod:`wallet_sdk.openid4vp`: online OpenID4VP 1.0 answers (DCQL, consent, direct_post).
- :mod:`wallet_sdk.refresh`: new batches without a new offer (DPoP-bound refresh token), by itself when low.
- :mod:`wallet_sdk.status`: revoked / suspended, from the issuer's signed status list.
- :mod:`wallet_sdk.anchor`: anchor proofs checked against roots on chain, kept with the credential.
- :mod:`wallet_sdk.qr`: drawing and reading QR codes.
"""

from wallet_sdk.anchor import AnchorReport, attach_anchor_proofs
from wallet_sdk.backup import export_backup, restore_backup
from wallet_sdk.errors import WalletError
from wallet_sdk.openid4vp import Consent, PresentationRequest, decline, prepare, resolve_request, respond
from wallet_sdk.present import OfflinePresentation, present_offline, refresh
from wallet_sdk.receive import receive
from wallet_sdk.records import CredentialSummary, LogEntry, StoredCredential
from wallet_sdk.refresh import TopUp, refresh_credential, top_up
from wallet_sdk.status import StatusReport, check_status
from wallet_sdk.store import Wallet

__all__ = [
    "AnchorReport",
    "Consent",
    "CredentialSummary",
    "LogEntry",
    "OfflinePresentation",
    "PresentationRequest",
    "StatusReport",
    "StoredCredential",
    "TopUp",
    "Wallet",
    "WalletError",
    "attach_anchor_proofs",
    "check_status",
    "decline",
    "export_backup",
    "prepare",
    "present_offline",
    "receive",
    "refresh",
    "refresh_credential",
    "resolve_request",
    "respond",
    "restore_backup",
    "top_up",
]
