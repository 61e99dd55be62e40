"""Reading QR codes from PNG/JPEG bytes with zxing-cpp, for the counter page upload and ``civicpass verify``.

An image is untrusted input of arbitrary size, so it is bounded twice before any pixel is decoded: by
bytes (16 MiB) and by the dimensions in its header (40 megapixels, well above a phone photo). Pillow's own
decompression-bomb guard is turned into the same refusal. Only PNG and JPEG are opened, whatever else
Pillow could read. Decoding draws nothing: a blank or QR-less picture gives an empty list, not an error.
"""

from __future__ import annotations

import io
import warnings
from typing import Final

from credcore.errors import MalformedInputError, PayloadTooLargeError

__all__ = ["MAX_IMAGE_BYTES", "MAX_IMAGE_PIXELS", "decode_qr_image", "is_image", "read_qr_text"]

MAX_IMAGE_BYTES: Final = 16 * 1024 * 1024
MAX_IMAGE_PIXELS: Final = 40_000_000
_MAGIC: Final = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")


def is_image(data: bytes) -> bool:
    """True if ``data`` starts like a PNG or a JPEG file."""
    return data.startswith(_MAGIC)


def decode_qr_image(data: bytes) -> list[str]:
    """The texts of every QR code in a PNG/JPEG image, in zxing-cpp's order (empty if there is none).

    Raises:
        PayloadTooLargeError: more than 16 MiB, or more than 40 megapixels.
        MalformedInputError: not a PNG/JPEG image that can be decoded.
    """
    import zxingcpp
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_IMAGE_BYTES:
        raise PayloadTooLargeError("image is larger than 16 MiB")
    if not is_image(data):
        raise MalformedInputError("not a PNG or JPEG image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["PNG", "JPEG"]) as img:
                if img.width * img.height > MAX_IMAGE_PIXELS:
                    raise PayloadTooLargeError("image has more than 40 megapixels")
                gray = img.convert("L")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PayloadTooLargeError("image has more than 40 megapixels") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        # SyntaxError: Pillow's PNG reader reports some corrupt chunks that way
        raise MalformedInputError("not a readable PNG or JPEG image") from None
    qr_only = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    return [str(code.text) for code in zxingcpp.read_barcodes(gray, formats=qr_only) if code.text]


def read_qr_text(data: bytes) -> str | None:
    """The text of the first QR code in the image, or ``None`` when there is none."""
    texts = decode_qr_image(data)
    return texts[0] if texts else None
