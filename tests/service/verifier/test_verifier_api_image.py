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
    assert r.status_code == 422


def test_multipart_without_image_field(client):
    r = client.post("/v1/verify/image?policy=age-over-19", files={"other": ("a.txt", b"x", "text/plain")})
    assert (r.status_code, r.json()["code"]) == (400, "malformed_input")
