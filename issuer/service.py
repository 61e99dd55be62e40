"""IssuerService: the issuer's domain services, built and wired in one place, with no HTTP in sight.

Each concern is a service of its own, and the routes and the desk call the one that owns the operation:

- ``oid4vci`` (issuer/openid4vci.py): offers, token, nonce, credential and notification endpoints;
- ``admin`` (issuer/admin.py): direct issuance, credential views, status changes, anchor proofs, audit log, types;
- ``keys`` (issuer/signing_keys.py): the signing keys, registered on chain, rotated, their windows closed;
- ``status`` (issuer/status_lists.py): status lists signed, served and published;
- ``worker`` (issuer/worker.py): the background round (publication, anchoring, sweeps, chain retries).

They share what is built here: the key ring, the holder index, the status slot allocator, issuance
(issuer/issuance.py signs before any transaction, and stores inside it) and the transaction helpers
(issuer/transactions.py: one transaction per operation). What one service needs of another (the worker's
events, the key service's signing window, the status lists' signing and republication after a rotation) is
passed in here. A layers contract in pyproject.toml keeps imports pointing down (this module; ``oid4vci``,
``admin``, ``worker``; ``keys``, ``status``; the transaction helpers) and the services of one layer apart.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from credcore.ports import Clock, SaltSource
from issuer import audit, holder_index
from issuer.admin import AdminService
from issuer.anchoring import ChainGateway
from issuer.holder_index import HolderIndex
from issuer.issuance import Issuance
from issuer.keys import KeyRing, derive_key
from issuer.lease import WorkerLease
from issuer.openid4vci import OpenID4VCI
from issuer.settings import IssuerSettings
from issuer.signing_keys import SigningKeys
from issuer.status import SlotAllocator
from issuer.status_lists import StatusLists
from issuer.store.models import CredentialTypeRow
from issuer.transactions import Transactions
from issuer.types import TypeRegistry, parse_type
from issuer.worker import Worker

__all__ = ["IssuerService"]


class IssuerService:
    def __init__(
        self,
        settings: IssuerSettings,
        sessions: sessionmaker[Session],
        *,
        clock: Clock,
        salts: SaltSource,
        types: TypeRegistry,
        chain: ChainGateway | None = None,
        rng: random.Random | None = None,
        log: Callable[[str], None] | None = None,
        timer: Callable[[], float] | None = None,
        lease: WorkerLease | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.engine: Engine = sessions.kw["bind"]
        self.clock = clock
        self.types = types
        self.chain = chain
        self.log = log or (lambda _msg: None)
        secret = settings.key_passphrase.get_secret_value()
        ring = KeyRing(secret)
        #: Keyed digests of holders' details, for the desk's look-up (issuer/holder_index.py).
        self.holders = HolderIndex(derive_key(secret, "holder index"))
        self._slots = SlotAllocator(self.engine, size=settings.status_list_size,
                                    max_fill=settings.status_list_max_fill, rng=rng)
        # The publication rate limit runs on ``timer`` (the monotonic clock in the service), else on ``clock``.
        self.status = StatusLists(settings, sessions, ring, clock=clock, chain=chain, log=self.log,
                                  timer=timer or (lambda: float(clock.now())))
        self.keys = SigningKeys(settings, sessions, ring, clock=clock, chain=chain, log=self.log,
                                on_rotated=self.status.publisher.republish_all)
        self.worker = Worker(settings, sessions, clock=clock, chain=chain, keys=self.keys, status=self.status,
                             lease=lease or WorkerLease(self.engine, on_change=self.log), log=self.log)
        issuance = Issuance(keys=ring, salts=salts, slots=self._slots, issuer_id=lambda: self.issuer_id,
                            status_uri=self.status.status_uri)
        tx = Transactions(sessions, slots=self._slots, issuance=issuance)
        self.admin = AdminService(settings, sessions, clock=clock, types=types, holders=self.holders, keys=self.keys,
                                  status=self.status, issuance=issuance, tx=tx, wake=self.worker.wake,
                                  erased=self.worker.erased)
        self.oid4vci = OpenID4VCI(settings, sessions, clock=clock, types=types, holders=self.holders, keys=self.keys,
                                  issuance=issuance, tx=tx, erased=self.worker.erased)

    @property
    def issuer_id(self) -> str:
        if self.settings.issuer_id:
            return self.settings.issuer_id
        return self.chain.issuer_id if self.chain is not None else self.settings.base_url

    @property
    def base_url(self) -> str:
        return self.settings.base_url.rstrip("/")

    def start(self) -> None:
        """Load (or create) the signing key, open the first status list, load operator-added types, index
        the held offers the holder index lacks."""
        now = self.clock.now()
        with self.sessions.begin() as session:
            created = self.keys.ring.load(session, now=now)
            self._slots.current_list(session, now=now)
            for row in session.scalars(select(CredentialTypeRow)):
                self.types.add(parse_type(json.loads(row.definition)))
            self.holders.index_held_offers(session)
            if holder_index.forget_ended_offers(session):
                self.worker.erased.set()
            if created:
                audit.append(session, at=now, actor="system", action="key.created", target=self.keys.ring.active_kid)
        self.keys.register()
