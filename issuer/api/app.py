"""``create_app(settings)``: the composition root of the issuer service.

Builds the engine (running the packaged Alembic migrations first), the credential types, the chain
gateway (when a chain URL is configured) and the :class:`IssuerService`, then the FastAPI app behind
the shared HTTP edge (:mod:`httpedge`: error mapping, body-size cap). With ``run_workers`` the status
publisher and anchoring worker run in one background thread for the app's lifetime. Nothing here runs at import time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.to_thread
from fastapi import FastAPI

import httpedge
from credcore._defaults import SecretsSaltSource, SystemClock
from credcore.ports import Clock, SaltSource
from httpedge.ratelimit import RateLimits
from issuer.anchoring import ChainGateway
from issuer.api.deps import TokenTable
from issuer.api.problems import PROBLEMS
from issuer.api.routes import admin, oid4vci
from issuer.desk.service import DeskService
from issuer.desk.web import install as install_desk
from issuer.lease import WorkerLease
from issuer.operations import CountingChain, IssuerCollector, probes
from issuer.service import IssuerService
from issuer.settings import IssuerSettings
from issuer.store.db import make_engine, make_sessionmaker, upgrade
from issuer.types import TypeRegistry

__all__ = ["build_service", "create_app"]

_log = logging.getLogger("civicpass.issuer")


def build_service(
    settings: IssuerSettings,
    *,
    clock: Clock | None = None,
    salts: SaltSource | None = None,
    chain: ChainGateway | None = None,
) -> IssuerService:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    lease = WorkerLease(engine, on_change=_log.warning)
    if chain is None and settings.chain_rpc_url is not None:
        from issuer.chain import connect_chain

        chain = CountingChain(connect_chain(settings, order=lease.sending))
    service = IssuerService(
        settings,
        make_sessionmaker(engine),
        clock=clock or SystemClock(),
        salts=salts or SecretsSaltSource(),
        types=TypeRegistry.load(settings.types_dir),
        chain=chain,
        log=_log.warning,
        timer=time.monotonic if clock is None else None,  # an injected clock (tests) drives the rate limit too
        lease=lease,
    )
    service.start()
    return service


def create_app(
    settings: IssuerSettings,
    *,
    service: IssuerService | None = None,
    clock: Clock | None = None,
    chain: ChainGateway | None = None,
) -> FastAPI:
    svc = service or build_service(settings, clock=clock, chain=chain)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Routes are CPU-bound under one GIL: a few threads overlap I/O; forty (the default) only contend.
        threads = settings.worker_threads or (1 if svc.engine.dialect.name == "sqlite" else 4)
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        _app.state.chain_limiter = anyio.CapacityLimiter(1)  # request-driven chain work (key rotation)
        stop = threading.Event()
        worker = None
        if settings.run_workers:
            worker = threading.Thread(target=_work, args=(svc, stop), name="issuer-worker", daemon=True)
            worker.start()
        try:
            yield
        finally:
            stop.set()
            svc.worker.wake.set()
            if worker is not None:
                worker.join(timeout=10)
            svc.worker.lease.release()
            svc.sessions.kw["bind"].dispose()

    app = FastAPI(title="civicpass issuer", version="0.1.0", lifespan=lifespan)
    app.state.service = svc
    app.state.tokens = TokenTable(settings)
    app.state.rate_limits = RateLimits({"tx_code": settings.rate_limit_tx_code, "nonce": settings.rate_limit_nonce,
                                        "desk_signin": f"{settings.desk_signin_per_minute}/minute"},
                                       namespace="civicpass-issuer", redis_url=settings.redis_url)
    app.include_router(oid4vci.router)
    app.include_router(admin.router)
    admin.document(app)
    install_desk(app, DeskService(svc))

    def body_limit(path: str) -> int:  # the desk's CSV upload may be larger than any API body
        return settings.desk_max_upload_bytes if path == "/desk/bulk" else settings.max_body_bytes

    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    # The OpenID4VCI endpoints and status lists take CORS for the browser wallet; /credentials (admin) does not.
    httpedge.install(app, problems=PROBLEMS, body_limit=body_limit,
                     wallet_routes=("/.well-known/", "/token", "/nonce", "/credential", "/notification",
                                    "/status-lists/"), not_wallet_routes=("/credentials",),
                     readiness=httpedge.Readiness(probes(svc, stall_s=settings.anchor_stall_s)),
                     health=lambda: {"issuer": svc.issuer_id, "kid": svc.keys.ring.active_kid},
                     metrics_token=lambda: token, collectors=lambda: [IssuerCollector(svc)])
    return app


def _work(svc: IssuerService, stop: threading.Event) -> None:
    period = min(1.0, svc.settings.anchor_interval, svc.settings.status_publish_interval)
    while not stop.is_set():
        svc.worker.wake.clear()
        try:
            svc.worker.run_once()
        except Exception as exc:  # the worker must survive a bad round (e.g. database restarting)
            _log.warning("issuer worker round failed (%s)", type(exc).__name__, exc_info=True)
        # A status change wakes the worker at once; a publication the rate limit holds back is due the moment
        # the limit lapses, not at the next whole round.
        svc.worker.wake.wait(min(period, svc.status.publisher.seconds_until_allowed() or period))
