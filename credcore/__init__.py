"""credcore: the pure core of civicpass.

Formats (SD-JWT VC, compact ``CP1:`` QR credentials, Token Status List), keys and signatures, Merkle
trees compatible with OpenZeppelin, and the verification decision. No I/O, no wall clock and no
randomness of its own: time, salts and replay state come in as parameters (see :mod:`credcore.ports`), or
the replay guard's answer comes back to a pending verdict (:func:`verify_presentation_deferred`).
"""

from credcore.errors import CredError
from credcore.keys import PublicKey, SigningKey
from credcore.presentations import verify_presentation, verify_presentation_deferred
from credcore.trust import IssuerKey, StatusListRecord, TrustedIssuer, TrustSnapshot
from credcore.verification import Check, CheckOutcome, Code, PendingVerification, VerificationResult

__all__ = [
    "Check",
    "CheckOutcome",
    "Code",
    "CredError",
    "IssuerKey",
    "PendingVerification",
    "PublicKey",
    "SigningKey",
    "StatusListRecord",
    "TrustSnapshot",
    "TrustedIssuer",
    "VerificationResult",
    "verify_presentation",
    "verify_presentation_deferred",
]
