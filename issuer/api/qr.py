"""The credential offer as a QR code (PNG) for the clerk's screen, drawn with segno."""

from __future__ import annotations

import io

import segno

__all__ = ["qr_png"]


def qr_png(text: str) -> bytes:
    buf = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buf, kind="png", scale=4, border=4)
    return buf.getvalue()
