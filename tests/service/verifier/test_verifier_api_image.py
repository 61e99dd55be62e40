"""POST /v1/verify/image: a QR photo in, the same verdict as the text would get."""

from __future__ import annotations

from verifier_world import photo_frame, qr_png


def test_multipart_png_upload_is_verified(client, world):
    png = qr_png(world.show(world.cp1()))
    r = client.post("/v1/verify/image?policy=age-over-19", files={"image": ("qr.png", png, "image/png")})
    assert r.status_code == 200, r.text
    assert r.json()["verified"] is True


def test_raw_jpeg_photo_of_a_phone_is_verified(client, world):
    r = client.post("/v1/verify/image?policy=age-over-19", content=photo_frame(world.show(world.cp1())),
                    headers={"content-type": "image/jpeg"})
    assert r.status_code == 200, r.text
    assert r.json()["verified"] is True


def test_image_without_a_qr_code_is_a_problem(client):
    blank = qr_png("x")[:8] + b"garbage"
    r = client.post("/v1/verify/image?policy=age-over-19", content=blank, headers={"content-type": "image/png"})
    assert r.status_code == 400 and r.json()["code"] == "malformed_input"
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(buf, format="PNG")
    r = client.post("/v1/verify/image?policy=age-over-19", content=buf.getvalue(),
                    headers={"content-type": "image/png"})
    assert (r.status_code, r.json()["code"]) == (400, "no_qr_code")


def test_non_image_is_415_and_policy_is_required(client):
    r = client.post("/v1/verify/image?policy=age-over-19", content=b"GIF89a....", headers={"content-type": "image/gif"})
    assert (r.status_code, r.json()["code"]) == (415, "unsupported_media_type")
    r = client.post("/v1/verify/image", content=qr_png("x"), headers={"content-type": "image/png"})
    assert (r.status_code, r.json()["code"]) == (400, "malformed_input")


def test_multipart_without_image_field(client):
    r = client.post("/v1/verify/image?policy=age-over-19", files={"other": ("a.txt", b"x", "text/plain")})
    assert (r.status_code, r.json()["code"]) == (400, "malformed_input")


def _bomb_png(width: int, height: int) -> bytes:
    """A PNG of blank gray rows: a few kilobytes declaring (and really holding) width x height pixels."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z, row, rows = zlib.compressobj(9), b"\x00" * (width + 1), b""
    block = row * max(1, (1 << 20) // len(row))
    left = height
    while left:
        n = min(left, len(block) // len(row))
        rows += z.compress(block[: n * len(row)])
        left -= n
    rows += z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def test_a_strip_of_forty_million_rows_is_refused_from_its_header(client):
    # 78 KB declaring 1 x 40,000,000: under the pixel bound, but no side may pass 8,192 pixels.
    r = client.post("/v1/verify/image?policy=age-over-19", content=_bomb_png(1, 40_000_000),
                    headers={"content-type": "image/png"})
    assert (r.status_code, r.json()["code"]) == (413, "image_too_large")
    r = client.post("/v1/verify/image?policy=age-over-19", content=_bomb_png(40_000, 1),
                    headers={"content-type": "image/png"})
    assert (r.status_code, r.json()["code"]) == (413, "image_too_large")


def test_an_image_over_sixteen_megapixels_is_refused(client):
    r = client.post("/v1/verify/image?policy=age-over-19", content=_bomb_png(5000, 4000),
                    headers={"content-type": "image/png"})
    assert (r.status_code, r.json()["code"]) == (413, "image_too_large")


def test_a_decoder_failure_is_a_400_not_a_500(client, monkeypatch):
    import zxingcpp

    def refuse(*_: object, **__: object) -> None:
        raise ValueError("Maximum image width/height is 65535")

    monkeypatch.setattr(zxingcpp, "read_barcodes", refuse)
    r = client.post("/v1/verify/image?policy=age-over-19", content=qr_png("x"), headers={"content-type": "image/png"})
    assert (r.status_code, r.json()["code"]) == (400, "malformed_input")


def test_beyond_the_decoders_and_their_queue_the_answer_is_503_with_retry_after(world, settings, monkeypatch):
    import threading

    from verifier_world import TestClient

    from verifier.api import images
    from verifier.api.app import create_app
    from verifier.service import StaticTrust

    started, release = threading.Event(), threading.Event()
    real = images.decode_text

    def slow(data: bytes) -> str:
        started.set()
        release.wait(10)
        return real(data)

    monkeypatch.setattr(images, "decode_text", slow)
    settings = settings.model_copy(update={"image_decoders": 1, "image_decode_queue": 0})
    png = qr_png(world.show(world.cp1()))
    app = create_app(settings, clock=world.clock, trust=StaticTrust(world.snapshot()))
    with TestClient(app, raise_server_exceptions=False) as c:
        first: list[int] = []
        t = threading.Thread(target=lambda: first.append(
            c.post("/v1/verify/image?policy=age-over-19", content=png, headers={"content-type": "image/png"})
            .status_code))
        t.start()
        assert started.wait(10)
        r = c.post("/v1/verify/image?policy=age-over-19", content=png, headers={"content-type": "image/png"})
        release.set()
        t.join(10)
        assert (r.status_code, r.json()["code"], r.headers["retry-after"]) == (503, "image_decoder_busy", "1")
        assert first == [200]
        # the slot is free again once the decode has ended
        r = c.post("/v1/verify/image?policy=age-over-19", content=qr_png(world.show(world.cp1())),
                   headers={"content-type": "image/png"})
        assert r.status_code == 200, r.text
