"""Ethereum JSON-RPC 2.0 over :class:`chain_local.node.EmbeddedChain`, independent of the HTTP transport.

Wire conventions follow geth and anvil, because that is what web3.py, ethers, viem and foundry expect:
quantities as minimal 0x-hex, data as 0x-hex, ``null`` for "not found", reverts as error code 3 with the
revert bytes in ``data`` (so custom errors decode), "header not found" for unknown blocks. Runs of
``eth_sendRawTransaction`` inside one batch request are mined into one block.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak

from chain_local.node import DEFAULT_TIP_WEI, BlockId, EmbeddedChain, RpcError, checksum

log = logging.getLogger(__name__)
MAX_BATCH = 1000
_TAGS = ("latest", "pending", "earliest", "safe", "finalized")
_RENAMES = {"coinbase": "miner", "y_parity": "yParity", "sha3_uncles": "sha3Uncles"}


# -- decoding parameters ----------------------------------------------------------------------------
def _bad(what: str) -> RpcError:
    return RpcError(-32602, f"invalid params: {what}")


def quantity(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value  # lenient: some tools send plain numbers
    if not isinstance(value, str) or not re.fullmatch(r"0x[0-9a-fA-F]{1,64}", value):
        raise _bad(f"expected a 0x-hex quantity, got {value!r}")
    return int(value, 16)


def data(value: Any, size: int | None = None) -> bytes:
    if not isinstance(value, str) or not re.fullmatch(r"0x([0-9a-fA-F]{2})*", value):
        raise _bad(f"expected 0x-hex data, got {str(value)[:80]!r}")
    raw = bytes.fromhex(value[2:])
    if size is not None and len(raw) != size:
        raise _bad(f"expected {size} bytes, got {len(raw)}")
    return raw


def address(value: Any) -> bytes:
    return data(value, 20)


def block_id(chain: EmbeddedChain, value: Any) -> BlockId:
    if value is None:
        return "latest"
    if isinstance(value, dict):  # EIP-1898
        if "blockHash" in value:
            blk = chain.block(data(value["blockHash"], 32), False)
            if blk is None:
                raise RpcError(-32000, "header not found")
            return int(blk["number"])
        value = value.get("blockNumber", "latest")
    if value in _TAGS:
        return str(value)
    return quantity(value)


def normalize_call(tx: Any) -> dict[str, Any]:
    """A JSON transaction object -> eth-tester's normalized form (snake_case, bytes, ints)."""
    if not isinstance(tx, dict):
        raise _bad("expected a transaction object")
    out: dict[str, Any] = {}
    for key, name, conv in (
        ("from", "from", address),
        ("gas", "gas", quantity),
        ("gasPrice", "gas_price", quantity),
        ("maxFeePerGas", "max_fee_per_gas", quantity),
        ("maxPriorityFeePerGas", "max_priority_fee_per_gas", quantity),
        ("value", "value", quantity),
        ("nonce", "nonce", quantity),
    ):
        if tx.get(key) is not None:
            out[name] = conv(tx[key])
    if tx.get("to") is not None:
        out["to"] = address(tx["to"])
    payload = tx.get("input", tx.get("data"))
    if payload is not None:
        out["data"] = data(payload)
    return out


# -- encoding results --------------------------------------------------------------------------------
def _camel(key: str) -> str:
    if key in _RENAMES:
        return _RENAMES[key]
    head, *rest = key.split("_")
    return head + "".join(part.capitalize() for part in rest)


def to_rpc(value: Any) -> Any:
    if value is None or isinstance(value, bool | str | float):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict):
        return {_camel(k): to_rpc(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_rpc(v) for v in value]
    if hasattr(value, "address") and hasattr(value, "storage_keys"):  # py-evm access list entry
        return {"address": to_rpc(value.address), "storageKeys": [to_rpc(k) for k in value.storage_keys]}
    raise TypeError(f"cannot encode {type(value).__name__} for JSON-RPC")


def _tx_json(tx: dict[str, Any] | None) -> Any:
    if tx is None:
        return None
    tx = dict(tx)
    tx["input"] = tx.pop("data")
    tx["to"] = tx["to"] or None
    return to_rpc(tx)


def _block_json(blk: dict[str, Any] | None) -> Any:
    if blk is None:
        return None
    blk = dict(blk)
    if blk["transactions"] and isinstance(blk["transactions"][0], dict):
        blk["transactions"] = [_tx_json(t) for t in blk["transactions"]]
        return {**to_rpc({k: v for k, v in blk.items() if k != "transactions"}), "transactions": blk["transactions"]}
    return to_rpc(blk)


# -- the method table ------------------------------------------------------------------------------
class Dispatcher:
    """Answers JSON-RPC request bodies (single or batch) from one :class:`EmbeddedChain`."""

    def __init__(self, chain: EmbeddedChain, client_version: str = "civicpass-embedded/py-evm") -> None:
        self.chain = chain
        self.client_version = client_version
        c = chain
        self.methods: dict[str, Callable[[list[Any]], Any]] = {
            "web3_clientVersion": lambda p: self.client_version,
            "web3_sha3": lambda p: to_rpc(keccak(data(p[0]))),
            "net_version": lambda p: str(c.chain_id),
            "net_listening": lambda p: True,
            "net_peerCount": lambda p: "0x0",
            "eth_chainId": lambda p: hex(c.chain_id),
            "eth_syncing": lambda p: False,
            "eth_mining": lambda p: False,
            "eth_hashrate": lambda p: "0x0",
            "eth_coinbase": lambda p: checksum(b"\0" * 20),
            "eth_accounts": lambda p: [a.address for a in c.accounts],
            "eth_blockNumber": lambda p: hex(c.block_number()),
            "eth_getBalance": lambda p: hex(c.account("balance", address(p[0]), self._block(p, 1))),
            "eth_getTransactionCount": lambda p: hex(c.account("nonce", address(p[0]), self._block(p, 1))),
            "eth_getCode": lambda p: to_rpc(c.account("code", address(p[0]), self._block(p, 1))),
            "eth_getStorageAt": lambda p: to_rpc(
                c.account("storage", address(p[0]), self._block(p, 2), quantity(p[1])).to_bytes(32, "big")
            ),
            "eth_call": lambda p: to_rpc(c.call(normalize_call(p[0]), self._block(p, 1))),
            "eth_estimateGas": lambda p: hex(c.estimate_gas(normalize_call(p[0]), self._block(p, 1))),
            "eth_gasPrice": lambda p: hex(c.base_fee_next() + DEFAULT_TIP_WEI),
            "eth_maxPriorityFeePerGas": lambda p: hex(DEFAULT_TIP_WEI),
            "eth_feeHistory": self._fee_history,
            "eth_getBlockByNumber": lambda p: _block_json(c.block(self._block(p, 0), bool(p[1:2] and p[1]))),
            "eth_getBlockByHash": lambda p: _block_json(c.block(data(p[0], 32), bool(p[1:2] and p[1]))),
            "eth_getBlockTransactionCountByNumber": lambda p: self._tx_count(c.block(self._block(p, 0), False)),
            "eth_getBlockTransactionCountByHash": lambda p: self._tx_count(c.block(data(p[0], 32), False)),
            "eth_getTransactionByHash": lambda p: _tx_json(c.transaction(data(p[0], 32))),
            "eth_getTransactionByBlockNumberAndIndex": lambda p: self._tx_at(c.block(self._block(p, 0), True), p),
            "eth_getTransactionByBlockHashAndIndex": lambda p: self._tx_at(c.block(data(p[0], 32), True), p),
            "eth_getTransactionReceipt": lambda p: to_rpc(c.receipt(data(p[0], 32))),
            "eth_getBlockReceipts": self._block_receipts,
            "eth_getLogs": self._logs,
            "eth_sendRawTransaction": lambda p: self._send_raw([data(p[0])])[0],
            "eth_sendTransaction": lambda p: to_rpc(c.send_transaction(normalize_call(p[0]))),
            "eth_sign": lambda p: self._sign(address(p[0]), data(p[1])),
            "personal_sign": lambda p: self._sign(address(p[1]), data(p[0])),
            "eth_signTypedData_v4": lambda p: self._sign_typed(address(p[0]), p[1]),
            "evm_mine": self._evm_mine,
            "evm_increaseTime": lambda p: hex(c.increase_time(quantity(p[0]))),
            "evm_setNextBlockTimestamp": lambda p: c.set_next_block_timestamp(quantity(p[0])),
        }

    def _evm_mine(self, params: list[Any]) -> str:
        self.chain.mine_pending(force=True)
        return "0x0"

    def _block(self, params: list[Any], index: int) -> BlockId:
        return block_id(self.chain, params[index] if len(params) > index else None)

    @staticmethod
    def _tx_count(blk: dict[str, Any] | None) -> str | None:
        return None if blk is None else hex(len(blk["transactions"]))

    @staticmethod
    def _tx_at(blk: dict[str, Any] | None, params: list[Any]) -> Any:
        index = quantity(params[1])
        if blk is None or index >= len(blk["transactions"]):
            return None
        return _tx_json(blk["transactions"][index])

    def _block_receipts(self, params: list[Any]) -> Any:
        ref = params[0]
        blk = self.chain.block(
            data(ref, 32) if isinstance(ref, str) and len(ref) == 66 else self._block(params, 0), False
        )
        if blk is None:
            return None
        return [to_rpc(self.chain.receipt(h)) for h in blk["transactions"]]

    def _fee_history(self, params: list[Any]) -> Any:
        count = quantity(params[0])
        if not 1 <= count <= 1024:
            raise _bad("block count must be between 1 and 1024")
        percentiles = params[2] if len(params) > 2 and params[2] else []
        if not all(isinstance(x, int | float) and 0 <= x <= 100 for x in percentiles):
            raise _bad("reward percentiles must be numbers in [0, 100]")
        return to_rpc(self.chain.fee_history(count, self._block(params, 1), percentiles))

    def _logs(self, params: list[Any]) -> Any:
        flt = params[0] if params else {}
        if not isinstance(flt, dict):
            raise _bad("expected a filter object")
        addrs = flt.get("address") or []
        addrs = [address(a) for a in (addrs if isinstance(addrs, list) else [addrs])]
        topics = []
        for t in flt.get("topics") or []:
            topics.append(None if t is None else [data(x, 32) for x in (t if isinstance(t, list) else [t])])
        block_hash = data(flt["blockHash"], 32) if flt.get("blockHash") else None
        start = block_id(self.chain, flt.get("fromBlock"))
        end = block_id(self.chain, flt.get("toBlock"))
        return to_rpc(self.chain.logs(start, end, addrs, topics, block_hash))

    def _send_raw(self, raws: list[bytes]) -> list[Any]:
        return [r if isinstance(r, RpcError) else to_rpc(r) for r in self.chain.send_raw_transactions(raws)]

    def _dev_key(self, addr: bytes) -> str:
        for acct in self.chain.accounts:
            if acct.address.lower() == "0x" + addr.hex():
                return acct.private_key
        raise RpcError(-32000, "unknown account: only the dev accounts can sign here")

    def _sign(self, addr: bytes, message: bytes) -> str:
        signed = Account.sign_message(encode_defunct(primitive=message), self._dev_key(addr))
        return "0x" + bytes(signed.signature).hex()

    def _sign_typed(self, addr: bytes, typed: Any) -> str:
        full = json.loads(typed) if isinstance(typed, str) else typed
        signed = Account.sign_typed_data(self._dev_key(addr), full_message=full)
        return "0x" + bytes(signed.signature).hex()

    # -- request handling --------------------------------------------------------------------------
    def handle(self, body: bytes) -> bytes | None:
        """The response body for a request body; None when every request was a notification."""
        try:
            request = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _dump(_error(None, RpcError(-32700, "parse error")))
        if isinstance(request, list):
            if not request:
                return _dump(_error(None, RpcError(-32600, "invalid request: empty batch")))
            if len(request) > MAX_BATCH:
                return _dump(_error(None, RpcError(-32600, f"invalid request: batch larger than {MAX_BATCH}")))
            responses = [r for r in self._batch(request) if r is not None]
            return _dump(responses) if responses else None
        response = self._one(request)
        return None if response is None else _dump(response)

    def _batch(self, requests: list[Any]) -> list[dict[str, Any] | None]:
        out: list[dict[str, Any] | None] = []
        i = 0
        while i < len(requests):
            j = i
            while j < len(requests) and _is_raw_send(requests[j]):
                j += 1
            if j > i:  # a run of raw transactions: apply all, mine one block
                run = requests[i:j]
                try:
                    results = self._send_raw([data(r["params"][0]) for r in run])
                except RpcError as exc:
                    results = [exc] * len(run)
                out += [_reply(r, res) for r, res in zip(run, results, strict=True)]
                i = j
            else:
                out.append(self._one(requests[i]))
                i += 1
        return out

    def _one(self, request: Any) -> dict[str, Any] | None:
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return _error(None, RpcError(-32600, "invalid request"))
        method = self.methods.get(request["method"])
        if method is None:
            return _reply(request, RpcError(-32601, f"the method {request['method']} does not exist/is not available"))
        params = request.get("params", [])
        if not isinstance(params, list):
            return _reply(request, _bad("params must be an array"))
        try:
            result = method(params)
        except RpcError as exc:
            result = exc
        except (IndexError, KeyError, TypeError, ValueError) as exc:
            result = _bad(f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug here must not kill the server; it is logged and reported
            log.exception("internal error in %s", request["method"])
            result = RpcError(-32603, f"internal error: {type(exc).__name__}")
        return _reply(request, result)


def _is_raw_send(request: Any) -> bool:
    return (
        isinstance(request, dict)
        and request.get("method") == "eth_sendRawTransaction"
        and isinstance(request.get("params"), list)
        and len(request["params"]) == 1
    )


def _reply(request: dict[str, Any], result: Any) -> dict[str, Any] | None:
    if "id" not in request:
        return None  # a notification gets no response
    if isinstance(result, RpcError):
        return _error(request["id"], result)
    return {"jsonrpc": "2.0", "id": request["id"], "result": result}


def _error(request_id: Any, err: RpcError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": err.code, "message": err.message}
    if err.data is not None:
        body["data"] = "0x" + err.data.hex()
    return {"jsonrpc": "2.0", "id": request_id, "error": body}


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()
