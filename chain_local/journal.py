"""``--state FILE`` for the embedded chain: a write-ahead journal of py-evm's key-value writes.

eth-tester cannot save a chain to disk, so we persist the one thing py-evm keeps everything in: its
bytes -> bytes database (headers, bodies, receipts, state trie, canonical head, tx-hash index). Every write
to that store is logged; on start the log is read back into a dict and the chain continues from its head.

Why this and not the alternatives:
- Replaying the accepted raw transactions re-executes all of them on every start (py-evm is slow enough
  that start-up would grow with every day of demo use), and gives the same block hashes only if every
  timestamp and prevrandao value is reproduced exactly.
- Pickling py-evm's objects ties the file to its class layout and rewrites the whole state every time.
- The key-value log is blind to what py-evm does: whatever it wrote comes back byte for byte, so balances,
  code, logs, receipts and block hashes survive a restart by construction. Opening costs one read of the file.

File: ``MAGIC``, one JSON line (format metadata, compared on open), then records
``u32 length | u32 crc32 | payload`` with payload = repeated ``u8 op | u32 klen | key | u32 vlen | value``.
One record per mined block. A torn or corrupt tail (process killed mid-write) is dropped and truncated on
open; everything before it is complete blocks. Records reach the OS after every block, so a killed process
loses nothing; there is no fsync, so a power cut may lose the last blocks but cannot corrupt the file.
When the log holds much more than the live data (keys rewritten each block, such as the canonical head),
opening rewrites it compactly into a temporary file and renames it over the old one (atomic on POSIX).
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from eth.db.backends.memory import MemoryDB

from credcore.errors import MalformedInputError

MAGIC = b"CPCHAIN-JOURNAL-1\n"
_RECORD = struct.Struct(">II")
_LEN = struct.Struct(">I")
_SET, _DELETE = 1, 2
#: Compact on open when the file is larger than this many times the live data.
COMPACT_RATIO = 2.0


class ChainStateError(MalformedInputError):
    """The ``--state`` file is not a chain journal, or belongs to a different chain configuration."""

    code = "chain_state_invalid"
    title = "Chain state file invalid"


class JournalDB(MemoryDB):
    """py-evm's in-memory store that remembers its writes until :meth:`commit` appends them to the journal."""

    def __init__(self, kv_store: dict[bytes, bytes] | None = None, file: IO[bytes] | None = None) -> None:
        super().__init__(kv_store)
        self._file = file
        self._ops: list[tuple[int, bytes, bytes]] = []

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.kv_store[key] = value
        if self._file is not None:
            self._ops.append((_SET, key, value))

    def __delitem__(self, key: bytes) -> None:
        del self.kv_store[key]
        if self._file is not None:
            self._ops.append((_DELETE, key, b""))

    def commit(self) -> int:
        """Append the writes since the last commit as one record; returns its size in bytes (0 if none)."""
        if self._file is None or not self._ops:
            return 0
        payload = _encode_ops(self._ops)
        self._ops = []
        self._file.write(_RECORD.pack(len(payload), zlib.crc32(payload)) + payload)
        self._file.flush()
        return _RECORD.size + len(payload)

    def close(self) -> None:
        if self._file is not None:
            self.commit()
            self._file.close()
            self._file = None


def open_journal(path: Path, meta: Mapping[str, Any]) -> tuple[JournalDB, bool]:
    """Open (or create) the journal at ``path``; returns the store and whether it already held a chain.

    Raises:
        ChainStateError: the file is not a journal, or its metadata differs from ``meta``.
    """
    header = MAGIC + json.dumps(dict(meta), sort_keys=True).encode() + b"\n"
    if not path.exists() or path.stat().st_size == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
        file = path.open("wb")
        file.write(header)
        file.flush()
        return JournalDB(file=file), False
    kv, good_end, file_size = _load(path, header)
    live = sum(len(k) + len(v) + 10 for k, v in kv.items())
    if file_size > COMPACT_RATIO * live + len(header):
        _rewrite(path, header, kv)
    elif good_end < file_size:
        with path.open("r+b") as f:  # drop the torn tail so appends start on a record boundary
            f.truncate(good_end)
    return JournalDB(kv, file=path.open("ab")), bool(kv)


def _load(path: Path, header: bytes) -> tuple[dict[bytes, bytes], int, int]:
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        raise ChainStateError(f"{path} is not a civicpass chain state file")
    line_end = data.find(b"\n", len(MAGIC))
    if line_end < 0 or data[: line_end + 1] != header:
        found = data[len(MAGIC) : line_end if line_end > 0 else len(MAGIC) + 200].decode(errors="replace")
        raise ChainStateError(f"{path} was written for another chain configuration: {found}")
    kv: dict[bytes, bytes] = {}
    pos = line_end + 1
    for end, payload in _records(data, pos):
        for op, key, value in _decode_ops(payload):
            if op == _SET:
                kv[key] = value
            else:
                kv.pop(key, None)
        pos = end
    return kv, pos, len(data)


def _records(data: bytes, pos: int) -> Iterator[tuple[int, bytes]]:
    while pos + _RECORD.size <= len(data):
        length, crc = _RECORD.unpack_from(data, pos)
        start, end = pos + _RECORD.size, pos + _RECORD.size + length
        if end > len(data) or zlib.crc32(data[start:end]) != crc:
            return  # torn tail: the rest was never completely written
        yield end, data[start:end]
        pos = end


def _encode_ops(ops: list[tuple[int, bytes, bytes]]) -> bytes:
    parts: list[bytes] = []
    for op, key, value in ops:
        parts += (bytes([op]), _LEN.pack(len(key)), key, _LEN.pack(len(value)), value)
    return b"".join(parts)


def _decode_ops(payload: bytes) -> Iterator[tuple[int, bytes, bytes]]:
    pos = 0
    while pos < len(payload):
        op = payload[pos]
        (klen,) = _LEN.unpack_from(payload, pos + 1)
        key = payload[pos + 5 : pos + 5 + klen]
        pos += 5 + klen
        (vlen,) = _LEN.unpack_from(payload, pos)
        value = payload[pos + 4 : pos + 4 + vlen]
        pos += 4 + vlen
        yield op, key, value


def _rewrite(path: Path, header: bytes, kv: dict[bytes, bytes]) -> None:
    tmp = path.with_name(path.name + ".compact")
    payload = _encode_ops([(_SET, k, v) for k, v in kv.items()])
    with tmp.open("wb") as f:
        f.write(header + _RECORD.pack(len(payload), zlib.crc32(payload)) + payload)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
