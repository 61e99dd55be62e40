"""Reading QR codes from PNG/JPEG bytes with zxing-cpp, for the counter page upload and ``civicpass verify``.

An image is untrusted input of arbitrary size, so it is bounded before any pixel is decoded: by bytes
(16 MiB), then by the dimensions in its header, read without decoding (Pillow's ``open`` is lazy): each
side at most 8,192 pixels and the whole at most 16 megapixels, room for a 12-megapixel phone photo. Each
side is bounded on its own because a 1-pixel-wide strip of many millions of rows costs Pillow a row
pointer per row and zxing-cpp refuses sides over 65,535 pixels. Pillow's own decompression-bomb guard
is turned into the same refusal. Only PNG and JPEG are opened, whatever else Pillow could read. A JPEG
is decoded straight to grayscale (no RGB copy). Any decoder failure is malformed input, never a crash;
decoding draws nothing: a blank or QR-less picture gives an empty list, not an error.
"""

from __future__ import annotations

import io
import warnings
from typing import Final

from credcore.errors import MalformedInputError, PayloadTooLargeError

__all__ = ["MAX_IMAGE_BYTES", "MAX_IMAGE_PIXELS", "MAX_IMAGE_SIDE", "ImageTooLargeError", "decode_qr_image", "is_image",
           "read_qr_text"]

MAX_IMAGE_BYTES: Final = 16 * 1024 * 1024
MAX_IMAGE_SIDE: Final = 8192
MAX_IMAGE_PIXELS: Final = 16_000_000
_MAGIC: Final = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")


class ImageTooLargeError(PayloadTooLargeError):
    code = "image_too_large"
    title = "Image dimensions are larger than allowed"


def is_image(data: bytes) -> bool:
    """True if ``data`` starts like a PNG or a JPEG file."""
    return data.startswith(_MAGIC)


def _check_size(width: int, height: int) -> None:
    if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE:
        raise ImageTooLargeError(f"image sides are limited to {MAX_IMAGE_SIDE} pixels")
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageTooLargeError("image has more than 16 megapixels")


def decode_qr_image(data: bytes) -> list[str]:
    """The texts of every QR code in a PNG/JPEG image, in zxing-cpp's order (empty if there is none).

    Raises:
        PayloadTooLargeError: more than 16 MiB (:class:`ImageTooLargeError`: a side over 8,192 pixels, or
            more than 16 megapixels).
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
            with Image.open(io.BytesIO(data), formats=["PNG", "JPEG"]) as img:  # lazy: reads the header only
                _check_size(img.width, img.height)
                if img.format == "JPEG":
                    img.draft("L", img.size)  # libjpeg converts while decoding: no full-size RGB buffer
                gray = img.convert("L")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLargeError("image has more than 16 megapixels") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, MemoryError):
        # SyntaxError: Pillow's PNG reader reports some corrupt chunks that way
        raise MalformedInputError("not a readable PNG or JPEG image") from None
    qr_only = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    try:
        codes = zxingcpp.read_barcodes(gray, formats=qr_only)
    except (ValueError, RuntimeError, MemoryError):  # zxing-cpp refuses what it cannot process
        raise MalformedInputError("the image cannot be decoded") from None
    finally:
        gray.close()
    return [str(code.text) for code in codes if code.text]


def read_qr_text(data: bytes) -> str | None:
    """The text of the first QR code in the image, or ``None`` when there is none."""
    texts = decode_qr_image(data)
    return texts[0] if texts else None
