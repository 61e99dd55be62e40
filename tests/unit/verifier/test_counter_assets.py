"""The counter page's vendored jsQR build is the pinned npm package's file, byte for byte."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
VENDOR = ROOT / "verifier" / "api" / "static" / "vendor"
JSQR_SHA256 = "bc40c8a15196236b2314db0856f72ca0b49980cd5413b8c852a7349f5fee0859"


def test_vendored_jsqr_has_the_recorded_digest():
    assert hashlib.sha256((VENDOR / "jsQR.js").read_bytes()).hexdigest() == JSQR_SHA256
    assert JSQR_SHA256 in (VENDOR / "README.md").read_text()


def test_jsqr_version_is_pinned_in_package_json():
    assert json.loads((ROOT / "package.json").read_text())["devDependencies"]["jsqr"] == "1.4.0"


def test_vendored_jsqr_matches_node_modules(node_modules):
    assert (VENDOR / "jsQR.js").read_bytes() == (node_modules / "jsqr" / "dist" / "jsQR.js").read_bytes()


def test_counter_page_loads_nothing_from_outside():
    html = (ROOT / "verifier" / "api" / "static" / "counter.html").read_text()
    assert "http://" not in html and "https://" not in html
    assert 'src="/static/vendor/jsQR.js"' in html
