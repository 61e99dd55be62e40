"""The issuer's chain gateway over the contracts bindings (TrustRegistry, AnchorRegistry, StatusRegistry).

The issuer sends its own transactions from its account (``chain_account_key``, or the ``issuer`` dev
account of a dev deployment file), and its identifier (``iss``) is the one the TrustRegistry accredited that
account under: its HTTPS URL (SD-JWT VC §3.5, JWT VC Issuer Metadata), or the account's ``did:ethr``. Every write waits
for its receipt, so the caller records a transaction only once it is in a block. Re-sends after a crash
are safe: roots and keys are looked up first, and status versions continue from the chain's latest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from web3 import Web3

from contracts import AnchorRegistry, Deployment, Signer, StatusRegistry, TrustRegistry, connect, registries
from contracts.errors import InvalidKeyWindowError
from credcore.did import did_ethr
from credcore.errors import ConflictError, NotFoundError
from credcore.keys import PublicKey
from issuer.anchoring import ChainReceipt
from issuer.settings import IssuerSettings

__all__ = ["Web3Chain", "connect_chain"]

_CLOSE_MARGINS = (2, 30, 120)


def _receipt(rx: Any, w3: Web3 | None = None) -> ChainReceipt:
    timestamp = None if w3 is None else int(w3.eth.get_block(rx.block_number)["timestamp"])
    return ChainReceipt("0x" + bytes(rx.tx_hash).hex(), int(rx.block_number), timestamp)


class Web3Chain:
    """:class:`issuer.anchoring.ChainGateway` over web3 and the contracts facades."""

    def __init__(self, w3: Web3, deployment: Deployment, account_key: str | bytes, *, timeout: float = 30.0,
                 order: Callable[[float], AbstractContextManager[None]] | None = None,
                 order_timeout: float = 10.0) -> None:
        self._w3 = w3
        self._order, self._order_timeout = order, order_timeout  # issuer.lease.WorkerLease.sending with replicas
        self._signer = Signer(w3, account_key)
        self._trust, self._anchors, self._status = registries(w3, deployment)
        self._timeout = timeout
        self._did = did_ethr(self._signer.address, deployment.chain_id)
        self._identifier: str | None = None

    @property
    def issuer_id(self) -> str:
        """The ``iss`` of our credentials: the identifier we are accredited under (see :meth:`load_identifier`);
        before that is read, the account's did:ethr (what earlier versions always used)."""
        return self._identifier or self._did

    def load_identifier(self) -> str:
        """Read the identifier the TrustRegistry accredited this account under (an HTTPS URL, or a did:ethr
        for issuers accredited before JWT VC Issuer Metadata). Raises when unreachable or not accredited."""
        record = self._trust.issuer(self._signer.address)
        if record is None:
            raise ConflictError("this chain account is not an accredited issuer")
        self._identifier = record.identifier
        return record.identifier

    @property
    def address(self) -> str:
        return str(self._signer.address)

    @property
    def trust(self) -> TrustRegistry:
        return self._trust

    @property
    def anchors(self) -> AnchorRegistry:
        return self._anchors

    @property
    def status(self) -> StatusRegistry:
        return self._status

    def head(self) -> int:
        """The chain's latest block number (the desk's health page)."""
        return int(self._w3.eth.block_number)

    @contextmanager
    def _sending(self) -> Iterator[None]:
        """Around every send and its receipt: with replicas, the cross-process lock, and the nonce re-read in it."""
        if self._order is None:
            yield
            return
        with self._order(self._order_timeout):
            self._signer.reset_nonce()  # another issuer process may have sent from this account meanwhile
            yield

    def anchor_root(self, root: bytes, count: int) -> ChainReceipt:
        try:
            with self._sending():
                return _receipt(self._anchors.anchor(root, count, sender=self._signer).wait(self._timeout))
        except Exception:
            self._signer.reset_nonce()  # a failed send may have left the local nonce ahead of the node
            raise

    def find_anchor(self, root: bytes) -> ChainReceipt | None:
        record = self._anchors.anchor_of(root)
        return None if record is None else ChainReceipt(None, record.block_number)

    def publish_status(self, list_id: int, digest: bytes, uri: str) -> ChainReceipt:
        head = self._status.latest(self._signer.address, list_id)
        version = (head.version if head else 0) + 1
        try:
            with self._sending():
                pending = self._status.publish(list_id, version, digest, uri, sender=self._signer)
                return _receipt(pending.wait(self._timeout))
        except Exception:
            self._signer.reset_nonce()
            raise

    def add_key(self, key: PublicKey) -> ChainReceipt:
        with self._sending():
            found = self._trust.key(self._signer.address, key.thumbprint())
            if found is not None:  # registered before a crash, or by another process: report the chain's window
                return ChainReceipt(None, None, found.valid_from)
            return _receipt(self._trust.add_key(key, sender=self._signer).wait(self._timeout), self._w3)

    def close_key(self, thumbprint: str, not_before: int) -> int:
        found = self._trust.key(self._signer.address, thumbprint)
        if found is None:
            raise NotFoundError("the key is not registered on chain")
        if found.valid_until is not None:
            return found.valid_until
        # The contract refuses an end before the block's time: when blocks run ahead, end it a little later.
        for margin in _CLOSE_MARGINS:
            head = int(self._w3.eth.get_block("latest")["timestamp"])
            until = max(not_before, head + margin)
            try:
                with self._sending():
                    self._trust.set_key_expiry(thumbprint, until, sender=self._signer).wait(self._timeout)
                return until
            except InvalidKeyWindowError:
                continue
            except Exception:
                self._signer.reset_nonce()
                raise
        raise InvalidKeyWindowError("the chain's block time kept passing the key's end")


def connect_chain(settings: IssuerSettings, *, order: Callable[[float], AbstractContextManager[None]] | None = None
                  ) -> Web3Chain:
    """The gateway for ``settings``: RPC URL, deployment file and the issuer's account key; ``order`` serialises
    sends across issuer processes sharing the account (issuer.lease)."""
    if settings.deployment_file is None:
        raise ConflictError("chain_rpc_url needs deployment_file")
    deployment = Deployment.load(settings.deployment_file)
    if settings.chain_account_key is not None:
        key = settings.chain_account_key.get_secret_value()
    else:
        key = deployment.account("issuer").private_key or ""  # dev deployment files only carry keys
    w3 = connect(settings.chain_rpc_url or "", connect_timeout=settings.chain_connect_timeout,
                 read_timeout=settings.chain_read_timeout)
    return Web3Chain(w3, deployment, key, timeout=settings.chain_tx_timeout, order=order,
                     order_timeout=2 * settings.chain_read_timeout)
