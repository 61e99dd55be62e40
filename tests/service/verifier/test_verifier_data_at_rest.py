"""The verifier's data directory and SQLite files are its owner's only (issue 13 §7)."""

from __future__ import annotations

import stat

from verifier_world import TestClient

from verifier.api.app import create_app
from verifier.service import StaticTrust


def test_the_data_directory_and_database_files_are_private(world, settings, tmp_path):
    data = tmp_path / "verifier-data"
    settings = settings.model_copy(update={"data_dir": data})
    app = create_app(settings, clock=world.clock, trust=StaticTrust(world.snapshot()))
    with TestClient(app) as c:
        assert c.post("/v1/verify", json={"presentation": world.show(world.cp1()), "policy": "age-over-19"}
                      ).json()["verified"] is True
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        for name in ("verifier.db", "verifier.db-wal", "verifier.db-shm"):
            assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
