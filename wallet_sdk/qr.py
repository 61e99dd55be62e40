"""QR codes for the holder: draw them (PNG, SVG, terminal) and read them from a photo, with zxing-cpp.

Drawing uses zxing-cpp's writer (libzint, C) rather than segno: a ``CP1:`` PNG has a time budget (checked in
tests/bench), and segno spends most of a version-13 symbol's time in its pure-Python mask-penalty evaluation
(ISO/IEC 18004 §7.8.3), and still too much with a fixed mask. zint selects the mask by the same penalty rules
in C and Pillow writes the PNG. Every rendering (PNG, SVG, terminal) comes from the one encoded symbol.

A ``CP1:`` payload is Base45, whose alphabet is exactly QR alphanumeric mode, so the encoder uses that
mode and the symbol stays small. ECC level M, within the CP1 size budget (version 13 or lower).

Reading: an app hands in a photo of an ``openid-credential-offer://`` or ``openid4vp://`` QR code. The
verifier's scanner (``verifier.scan``) is off limits to the wallet by the layering rules, so this module
keeps its own few lines over zxing-cpp, with size caps so a hostile image cannot exhaust memory.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Final, cast

from credcore.errors import MalformedInputError, PayloadTooLargeError

__all__ = [
    "CP1_MAX_VERSION",
    "QrSymbol",
    "decode_qr_image",
    "make_qr",
    "render_png",
    "render_svg",
    "render_terminal",
]

#: The size budget of a ``CP1:`` QR (small enough for a phone camera at a counter): version 13 or lower at ECC M.
CP1_MAX_VERSION: Final = 13
QUIET_ZONE: Final = 4  # modules of light border on each side (ISO/IEC 18004 §5.3.8)
_MAX_IMAGE_BYTES: Final = 16 * 1024 * 1024
_MAX_PIXELS: Final = 40_000_000
_MAX_TEXT: Final = 4_000


@dataclass(frozen=True, slots=True)
class QrSymbol:
    """One encoded QR symbol: its module matrix (``True`` = dark), without quiet zone."""

    text: str
    size: int
    modules: bytes  # size * size bytes, row-major, 0 light / 1 dark
    error: str = "M"

    @property
    def version(self) -> int:
        return (self.size - 17) // 4

    def dark(self, row: int, col: int) -> bool:
        return 0 <= row < self.size and 0 <= col < self.size and self.modules[row * self.size + col] == 1


def make_qr(text: str) -> QrSymbol:
    """Encode ``text`` at ECC level M in the smallest version (mode chosen by the encoder).

    Raises:
        PayloadTooLargeError: the text does not fit a QR code.
    """
    import zxingcpp

    if len(text) > _MAX_TEXT:
        raise PayloadTooLargeError("text is too long for a QR code")
    try:
        barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    except ValueError:
        raise PayloadTooLargeError("text does not fit in a QR code") from None
    image = barcode.to_image(scale=1, add_quiet_zones=False)
    size = int(image.shape[0])
    # zxing-cpp images are 8-bit grey: 0x00 dark, 0xff light.
    raw = bytes(cast(Any, image))  # the stub does not declare the buffer protocol the image implements
    return QrSymbol(text, size, raw.translate(bytes([1] + [0] * 255)))


def render_png(text: str, *, scale: int = 4, border: int = QUIET_ZONE) -> bytes:
    """PNG bytes of the QR code for ``text``; ``scale`` pixels per module, ``border`` modules of quiet zone."""
    from PIL import Image, ImageOps

    symbol = make_qr(text)
    grey = symbol.modules.translate(bytes([255, 0] + [0] * 254))  # dark modules black, light white
    img = ImageOps.expand(Image.frombytes("L", (symbol.size, symbol.size), grey), border=border, fill=255)
    side = (symbol.size + 2 * border) * scale
    buf = io.BytesIO()
    img.resize((side, side), Image.Resampling.NEAREST).convert("1").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def render_svg(text: str, *, scale: int = 4, border: int = QUIET_ZONE) -> str:
    """An SVG of the QR code: one path of unit squares in a viewBox, scaled by ``scale``."""
    symbol = make_qr(text)
    side = symbol.size + 2 * border
    parts = [
        f"M{c + border} {r + border}h1v1h-1z"
        for r in range(symbol.size)
        for c in range(symbol.size)
        if symbol.modules[r * symbol.size + c]
    ]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{side * scale}" height="{side * scale}" '
        f'viewBox="0 0 {side} {side}" shape-rendering="crispEdges">'
        f'<rect width="{side}" height="{side}" fill="#fff"/><path fill="#000" d="{"".join(parts)}"/></svg>\n'
    )


def render_terminal(text: str, *, border: int = QUIET_ZONE) -> str:
    """The QR code as Unicode half blocks, two module rows per line, light modules drawn as blocks.

    Drawing light rather than dark keeps the code readable on the usual dark terminal background.
    """
    symbol = make_qr(text)
    glyph = {(False, False): "█", (False, True): "▀", (True, False): "▄", (True, True): " "}
    lines = []
    for r in range(-border, symbol.size + border, 2):
        cols = range(-border, symbol.size + border)
        lines.append("".join(glyph[(symbol.dark(r, c), symbol.dark(r + 1, c))] for c in cols))
    return "\n".join(lines) + "\n"


def decode_qr_image(data: bytes) -> list[str]:
    """Texts of the QR codes in a PNG/JPEG photo (empty when none is found).

    Raises:
        PayloadTooLargeError: the image is larger than 16 MiB or 40 megapixels.
        MalformedInputError: the bytes are not an image.
    """
    import zxingcpp
    from PIL import Image, UnidentifiedImageError
    from PIL.Image import DecompressionBombError

    if len(data) > _MAX_IMAGE_BYTES:
        raise PayloadTooLargeError("image is larger than 16 MiB")
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > _MAX_PIXELS:
                raise PayloadTooLargeError("image has too many pixels")
            qr_only = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
            found = zxingcpp.read_barcodes(img.convert("L"), formats=qr_only)
    except DecompressionBombError:
        raise PayloadTooLargeError("image has too many pixels") from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise MalformedInputError("not a readable PNG or JPEG image") from None
    return [str(b.text) for b in found if b.text]
