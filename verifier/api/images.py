"""Reading a QR code photo from an HTTP request: multipart upload (field ``image``) or a raw image body.

Only PNG and JPEG are accepted, recognised by their magic bytes rather than the declared type (a phone
browser may label a photo ``application/octet-stream``). Decoding is :mod:`verifier.scan` (zxing-cpp),
run in a worker thread: a 720p frame takes tens of milliseconds and must not stall the event loop.
"""

from __future__ import annotations

import asyncio

from fastapi import Request
from starlette.datastructures import UploadFile

from credcore.errors import MalformedInputError
from verifier import scan
from verifier.errors import NoQrCodeError, UnsupportedMediaError

__all__ = ["decode_text", "read_presentation"]


def _require_image(data: bytes) -> None:
    if not scan.is_image(data):
        raise UnsupportedMediaError("upload a PNG or JPEG image")


async def _image_bytes(request: Request) -> bytes:
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        try:
            async with request.form(max_files=1, max_fields=4) as form:  # closes the spooled upload files
                upload = form.get("image")
                if not isinstance(upload, UploadFile):
                    raise MalformedInputError("multipart body needs a file field 'image'")
                return await upload.read()
        except MalformedInputError:
            raise
        except Exception:  # python-multipart's errors are not one class; all mean a broken upload
            raise MalformedInputError("multipart body cannot be parsed") from None
    return await request.body()


def decode_text(data: bytes) -> str:
    """The text of the QR code in ``data`` (PNG/JPEG bytes); raises when there is none."""
    _require_image(data)
    text = scan.read_qr_text(data)
    if not text:
        raise NoQrCodeError("no QR code found in the image")
    return text


async def read_presentation(request: Request) -> str:
    data = await _image_bytes(request)
    _require_image(data)  # refuse non-images before a thread is spent on them
    return await asyncio.to_thread(decode_text, data)
