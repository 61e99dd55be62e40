"""The verifier's app factory: settings in, a FastAPI app out. Nothing is built at import time.

``create_app`` wires the pieces (replay cache, policies, trust keeper, services) and stores them on
``app.state``; the routes only parse, call a service and shape the answer. Tests pass their own clock and
trust view; the command line passes nothing and gets the real ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

import httpedge
from credcore._defaults import SystemClock
from credcore.ports import Clock, ReplayGuard
from httpedge.ratelimit import RateLimits
from verifier._db import private_dir, private_sqlite_file
from verifier.api import routes
from verifier.api.fastlane import VERIFY_PATH, VerifyEndpoint
from verifier.api.images import ImageDecoder
from verifier.api.problems import PROBLEMS
from verifier.openid4vp import PresentationRequests
from verifier.operations import VerifierCollector, count_verification, probes
from verifier.policies import load_policies
from verifier.replay import AsyncRedisReplayCache, RedisReplayCache, SqlReplayCache
from verifier.service import TrustView, VerifierService
from verifier.settings import VerifierSettings
from verifier.trust_sync import TrustKeeper

__all__ = ["Components", "build_components", "create_app"]

log = logging.getLogger(__name__)
#: How often expired replay entries and old presentation requests are deleted.
HOUSEKEEPING_S = 300


@dataclass(slots=True)
class Components:
    settings: VerifierSettings
    engine: Engine
    replay: ReplayGuard
    trust: TrustView
    verifier: VerifierService
    requests: PresentationRequests
    keeper: TrustKeeper | None


def _engine(settings: VerifierSettings) -> Engine:
    url = settings.sqlalchemy_url
    if url.startswith("sqlite"):
        private_dir(settings.data_dir)
        database = make_url(url).database
        if database and database != ":memory:":
            private_sqlite_file(Path(database))
        engine = create_engine(url, connect_args={"timeout": 10})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _: Any) -> None:  # WAL: readers never block the replay writer
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def build_components(settings: VerifierSettings, *, clock: Clock | None = None,
                     trust: TrustView | None = None) -> Components:
    clock = clock or SystemClock()
    engine = _engine(settings)
    replay: ReplayGuard
    async_replay = None
    if settings.replay_backend == "redis":
        import redis

        replay = RedisReplayCache(redis.Redis.from_url(settings.redis_url, socket_timeout=2), clock)
        async_replay = AsyncRedisReplayCache.from_url(settings.redis_url, clock, timeout=2)
    else:
        replay = SqlReplayCache(engine, clock)
    keeper = None
    if trust is None:
        keeper = TrustKeeper.from_settings(settings, clock)
        trust = keeper
    policies = load_policies(*([settings.policies_dir] if settings.policies_dir else []))
    requests = PresentationRequests.from_settings(settings, engine, clock)
    service = VerifierService(policies=policies, trust=trust, replay=replay, clock=clock,
                              audience=settings.audience or requests.client_id,
                              max_snapshot_age_s=settings.max_snapshot_age_s, async_replay=async_replay,
                              on_verdict=count_verification)
    return Components(settings, engine, replay, trust, service, requests, keeper)


def create_app(settings: VerifierSettings, *, clock: Clock | None = None, trust: TrustView | None = None,
               fast_verify: bool = True) -> FastAPI:
    """The verifier app. ``fast_verify=False`` leaves ``POST /v1/verify`` to the router (tests compare the two)."""
    parts = build_components(settings, clock=clock, trust=trust)

    async def housekeeping() -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            try:
                await asyncio.to_thread(parts.requests.purge)
                purge = getattr(parts.replay, "purge", None)
                if purge is not None:
                    await asyncio.to_thread(purge)
            except Exception:  # the database may be briefly away; try again next round
                log.warning("verifier housekeeping failed", exc_info=True)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(housekeeping(), name="housekeeping")]
        if parts.keeper is not None and parts.keeper.online:
            follow = parts.keeper.run(settings.sync_interval_s, head_poll=settings.head_poll_s,
                                      status_poll=settings.status_poll_s)
            tasks.append(asyncio.create_task(follow, name="trust-sync"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if parts.keeper is not None:
                parts.keeper.close()
            aclose = getattr(parts.verifier.async_replay, "aclose", None)
            if aclose is not None:
                await aclose()
            parts.engine.dispose()
            app.state.images.close()

    # FastAPI's own OpenTelemetry hooks off: the service has its metrics (httpedge.metrics), and the check for a
    # configured provider would run on every request.
    app = httpedge.EdgeApp(title="civicpass verifier", version="1", lifespan=lifespan,
                           telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.parts = parts
    app.state.rate_limits = RateLimits({"requests": settings.rate_limit_requests}, namespace="civicpass-verifier",
                                       redis_url=settings.redis_url if settings.replay_backend == "redis" else None)
    app.state.images = ImageDecoder(settings.image_decoders, settings.image_decode_queue)
    routes.install(app)
    app.mount("/static", StaticFiles(directory=routes.STATIC), name="static")

    def limit_for(path: str) -> int:
        return settings.max_image_bytes if path.endswith("/image") else settings.max_body_bytes

    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    # The OpenID4VP request objects and the direct_post endpoint take CORS for the browser wallet.
    httpedge.install(app, problems=PROBLEMS, body_limit=limit_for, wallet_routes=("/v1/requests/", "/v1/openid4vp/"),
                     readiness=httpedge.Readiness(probes(parts)), metrics_token=lambda: token,
                     collectors=lambda: [VerifierCollector(parts)],
                     fast_routes={("POST", VERIFY_PATH): VerifyEndpoint()} if fast_verify else None)
    return app
