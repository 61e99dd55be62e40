"""One call for either presentation format: a ``CP1:`` QR text or an SD-JWT VC presentation.

The formats build on :mod:`credcore.verification` (the shared steps and the result); this module sits above
both and picks by the text's shape, so nothing below it imports a format back.

Two calls, one pipeline. :func:`verify_presentation` takes a synchronous :class:`~credcore.ports.ReplayGuard` and
asks it once, after the pure checks. :func:`verify_presentation_deferred` leaves that question to the caller: it
returns a :class:`~credcore.verification.PendingVerification` whose ``replay_keys`` the caller puts to its guard
however it likes (a service's cache on an event loop), and whose ``settle`` turns the answers into the final
verdict. For the same answers both give the same verdict (:mod:`credcore.verification` says why)::

    pending = verify_presentation_deferred(text, trust=trust, now=now, nonce=nonce)
    answers = [await cache.first_use(key, expires_at) for key, expires_at in pending.replay_keys]
    result = pending.settle(answers)
"""

from __future__ import annotations

from credcore.cp1 import verify_cp1_deferred
from credcore.errors import MalformedPresentationError
from credcore.ports import ReplayGuard
from credcore.sdjwt import verify_sd_jwt_vc_deferred
from credcore.trust import TrustSnapshot
from credcore.verification import PendingVerification, VerificationResult

__all__ = ["verify_presentation", "verify_presentation_deferred"]


def verify_presentation(
    presentation: str,
    *,
    trust: TrustSnapshot,
    now: int,
    audience: str | None = None,
    nonce: str | None = None,
    replay: ReplayGuard | None = None,
) -> VerificationResult:
    """Verify an SD-JWT VC presentation or a ``CP1:`` text against ``trust`` at time ``now``.

    ``replay`` is asked once, after the pure checks; ``None`` checks no replay.
    Raises :class:`~credcore.errors.MalformedPresentationError` only when the text is neither format.
    """
    pending = verify_presentation_deferred(presentation, trust=trust, now=now, audience=audience, nonce=nonce)
    return pending.settle_with(replay)


def verify_presentation_deferred(
    presentation: str,
    *,
    trust: TrustSnapshot,
    now: int,
    audience: str | None = None,
    nonce: str | None = None,
) -> PendingVerification:
    """:func:`verify_presentation` with the replay decision left to the caller (see the module doc).

    Raises :class:`~credcore.errors.MalformedPresentationError` only when the text is neither format.
    """
    if not isinstance(presentation, str):
        raise MalformedPresentationError("presentation is not text")
    text = presentation.strip()
    if text.startswith("CP1:"):
        return verify_cp1_deferred(text, trust=trust, now=now, nonce=nonce)
    if "~" in text or text.startswith("{"):
        return verify_sd_jwt_vc_deferred(text, trust=trust, now=now, audience=audience, nonce=nonce)
    raise MalformedPresentationError("neither an SD-JWT nor a CP1: credential")
