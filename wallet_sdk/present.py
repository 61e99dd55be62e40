"""Offline presentation: a fresh single-use ``CP1:`` copy with a holder proof, as text and as a QR code.

Each showing spends one copy (marked spent on disk before the text exists, :meth:`Wallet.take_copy`),
so two scans of two showings carry different credentials, keys and status slots and cannot be linked.
The holder proof covers the 30-second time step of ``now`` and the verifier's nonce when it gave one;
verifiers accept the step before and after their own. A showing kept on screen is refreshed each step
with the *same* copy (:func:`refresh`): one showing is one use, whatever its length, and the verifier's
replay guard keys on (credential, step, nonce), so a refreshed QR is accepted once per step.

When the copies of a profile run low the result says so (:attr:`OfflinePresentation.low`); when online, the
app calls :func:`wallet_sdk.refresh.top_up`, which fetches a new batch by refresh (no new offer) where the
issuer gave a refresh token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from credcore.cp1 import TIME_STEP, decode_cp1, present_cp1
from wallet_sdk.errors import NoUnusedCopyError, WalletCorruptError
from wallet_sdk.qr import make_qr, render_png, render_svg, render_terminal
from wallet_sdk.records import LogEntry
from wallet_sdk.store import Wallet

__all__ = ["LOW_COPIES", "OfflinePresentation", "present_offline", "refresh"]

#: At or below this many unused copies of a profile, the holder is told to ask for a new batch.
LOW_COPIES: Final = 3


@dataclass(frozen=True, slots=True)
class OfflinePresentation:
    """One showing: the ``CP1:`` text for the QR code and what the holder should know about it."""

    text: str
    credential_id: str
    profile: str
    copy_index: int
    remaining: int  # unused copies of this profile left after this one
    time_step: int
    nonce: str | None
    warnings: tuple[str, ...] = ()

    @property
    def low(self) -> bool:
        return self.remaining <= LOW_COPIES

    @property
    def valid_until(self) -> int:
        """Last second a verifier (accepting one step of skew) takes this proof."""
        return (self.time_step + 2) * TIME_STEP - 1

    @property
    def payload_bytes(self) -> int:
        return decode_cp1(self.text).size_bytes

    @property
    def qr_version(self) -> int:
        return int(make_qr(self.text).version)

    def png(self, *, scale: int = 4) -> bytes:
        return render_png(self.text, scale=scale)

    def svg(self, *, scale: int = 4) -> str:
        return render_svg(self.text, scale=scale)

    def terminal(self) -> str:
        return render_terminal(self.text)


def _profile_for(wallet: Wallet, credential_id: str, profile: str | None) -> str:
    summary = wallet.summary(credential_id)
    if profile is not None:
        if profile not in summary.profiles:
            raise NoUnusedCopyError("this credential has no copies for that profile", profile=profile)
        return profile
    if len(summary.profiles) != 1:
        what = "no offline (CP1) copies" if not summary.profiles else "copies for several profiles; choose one"
        raise NoUnusedCopyError(f"this credential has {what}", profiles=",".join(summary.profiles))
    return summary.profiles[0]


def _warnings(wallet: Wallet, credential_id: str, remaining: int, now: int) -> tuple[str, ...]:
    s = wallet.summary(credential_id)
    out = []
    if s.expires_at is not None and now >= s.expires_at:
        out.append("expired")
    if s.status in ("revoked", "suspended"):
        out.append(s.status)
    if remaining <= LOW_COPIES:
        out.append("few_copies_left")
    return tuple(out)


def present_offline(
    wallet: Wallet, credential_id: str, *, now: int, profile: str | None = None, nonce: str | None = None
) -> OfflinePresentation:
    """Spend a fresh copy of ``credential_id`` and prove possession for the time step of ``now``.

    Args:
        profile: the CP1 profile to show (``resident-basic``...); optional when the credential has one.
        nonce: the verifier's nonce, when its app shows one (1-32 URL-safe characters).

    Raises:
        NoUnusedCopyError: no unused copy of that profile is left (ask the issuer for a new batch).
        WalletNotFoundError: no such credential.
    """
    chosen = _profile_for(wallet, credential_id, profile)
    ref = wallet.take_copy(credential_id, chosen)
    text = present_cp1(ref.copy.credential, holder_key=ref.copy.holder_key, now=now, nonce=nonce)
    warnings = _warnings(wallet, ref.credential_id, ref.remaining, now)
    try:
        wallet.log(LogEntry(at=now, credential_id=ref.credential_id, kind="cp1", profile=chosen))
    except WalletCorruptError:
        # The copy is spent: its QR must be shown, or a damaged history would burn a copy per try. The
        # history is the holder's own record, not a safeguard, so the showing goes on without its line.
        warnings = (*warnings, "history_damaged")
    return OfflinePresentation(
        text=text,
        credential_id=ref.credential_id,
        profile=chosen,
        copy_index=ref.index,
        remaining=ref.remaining,
        time_step=now // TIME_STEP,
        nonce=nonce,
        warnings=warnings,
    )


def refresh(wallet: Wallet, shown: OfflinePresentation, *, now: int, nonce: str | None = None) -> OfflinePresentation:
    """The same showing re-proved for the time step of ``now`` (same copy: still one use)."""
    copy = wallet.load(shown.credential_id).copies[shown.copy_index]
    text = present_cp1(copy.credential, holder_key=copy.holder_key, now=now, nonce=nonce)
    return OfflinePresentation(
        text=text,
        credential_id=shown.credential_id,
        profile=shown.profile,
        copy_index=shown.copy_index,
        remaining=shown.remaining,
        time_step=now // TIME_STEP,
        nonce=nonce,
        warnings=shown.warnings,
    )
