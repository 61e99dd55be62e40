"""Reading a QR code photo from an HTTP request: multipart upload (field ``image``) or a raw image body.

Only PNG and JPEG are accepted, recognised by their magic bytes rather than the declared type (a phone
browser may label a photo ``application/octet-stream``). Decoding is :mod:`verifier.scan` (zxing-cpp),
run off the event loop in a small pool per worker (:class:`ImageDecoder`): a decode holds memory in
proportion to the image's pixels, so the pool bounds how many run at once, a short queue absorbs a burst,
and anything beyond is refused at once with 503 ``image_decoder_busy`` and ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from fastapi import Request
from starlette.datastructures import UploadFile

from credcore.errors import MalformedInputError
from verifier import scan
from verifier.errors import DecoderBusyError, NoQrCodeError, UnsupportedMediaError

__all__ = ["ImageDecoder", "decode_text", "read_image"]


def _require_image(data: bytes) -> None:
    if not scan.is_image(data):
        raise UnsupportedMediaError("upload a PNG or JPEG image")


async def read_image(request: Request) -> bytes:
    """The image bytes of the request (multipart field ``image`` or the raw body); refuses non-images."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        try:
            async with request.form(max_files=1, max_fields=4) as form:  # closes the spooled upload files
                upload = form.get("image")
                if not isinstance(upload, UploadFile):
                    raise MalformedInputError("multipart body needs a file field 'image'")
                data = await upload.read()
        except MalformedInputError:
            raise
        except Exception:  # python-multipart's errors are not one class; all mean a broken upload
            raise MalformedInputError("multipart body cannot be parsed") from None
    else:
        data = await request.body()
    _require_image(data)  # refuse non-images before a decoder is spent on them
    return data


def decode_text(data: bytes) -> str:
    """The text of the QR code in ``data`` (PNG/JPEG bytes); raises when there is none."""
    _require_image(data)
    text = scan.read_qr_text(data)
    if not text:
        raise NoQrCodeError("no QR code found in the image")
    return text


class ImageDecoder:
    """At most ``workers`` decodes at once and ``queue`` more waiting; beyond that :class:`DecoderBusyError`.

    A slot is released when the decode itself ends, not when its request does: a client that hangs up
    mid-decode does not free memory that a thread is still using.
    """

    def __init__(self, workers: int, queue: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qr-decode")
        self._capacity = workers + queue
        self._admitted = 0
        self._lock = threading.Lock()

    def _release(self, _: Future[str]) -> None:
        with self._lock:
            self._admitted -= 1

    async def decode_text(self, data: bytes) -> str:
        with self._lock:
            if self._admitted >= self._capacity:
                raise DecoderBusyError("every image decoder is busy; retry shortly")
            self._admitted += 1
        future = self._pool.submit(decode_text, data)
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
