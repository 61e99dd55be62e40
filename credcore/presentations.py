"""One call for either presentation format: a ``CP1:`` QR text or an SD-JWT VC presentation.

The formats build on :mod:`credcore.verification` (the shared steps and the result); this module sits above
both and picks by the text's shape, so nothing below it imports a format back.
"""

from __future__ import annotations

from credcore.cp1 import verify_cp1
from credcore.errors import MalformedPresentationError
from credcore.ports import ReplayGuard
from credcore.sdjwt import verify_sd_jwt_vc
from credcore.trust import TrustSnapshot
from credcore.verification import VerificationResult

__all__ = ["verify_presentation"]


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

    Raises :class:`~credcore.errors.MalformedPresentationError` only when the text is neither format.
    """
    if not isinstance(presentation, str):
        raise MalformedPresentationError("presentation is not text")
    text = presentation.strip()
    if text.startswith("CP1:"):
        return verify_cp1(text, trust=trust, now=now, nonce=nonce, replay=replay)
    if "~" in text or text.startswith("{"):
        return verify_sd_jwt_vc(text, trust=trust, now=now, audience=audience, nonce=nonce, replay=replay)
    raise MalformedPresentationError("neither an SD-JWT nor a CP1: credential")
