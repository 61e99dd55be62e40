"""Claim paths ("address/street", "nationalities/0") and the issuer's packing of claims into digests.

A path is JSON-Pointer-like (RFC 6901 escapes ``~0`` for ``~`` and ``~1`` for ``/``, no leading slash):
object members by name, array elements by decimal index. The issuer marks paths disclosable; packing
replaces each marked member by a digest in its object's ``_sd`` array (sorted, RFC 9901 §4.2.4.1, so
the order reveals nothing) and each marked element by ``{"...": digest}`` (§4.2.4.2). A path below
another marked path gives recursive disclosures (§4.2.6): the parent's disclosure carries the child's digest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from credcore.disclosure import ARRAY_KEY, SD_ALG_KEY, SD_KEY, Disclosure, make_disclosure
from credcore.errors import MalformedInputError, ReservedClaimError
from credcore.ports import SaltSource

__all__ = ["Packer", "PathTree", "check_claim_names", "format_path", "parse_path", "path_tree", "value_at"]

_RESERVED_ANYWHERE = frozenset({SD_KEY, ARRAY_KEY, SD_ALG_KEY})


def parse_path(path: str) -> tuple[str, ...]:
    if not isinstance(path, str) or not path or path.startswith("/"):
        raise MalformedInputError("claim path must be a non-empty relative path like 'address/street'")
    segments = tuple(s.replace("~1", "/").replace("~0", "~") for s in path.split("/"))
    if any(not s for s in segments):
        raise MalformedInputError("claim path has an empty segment")
    return segments


def format_path(segments: Iterable[str]) -> str:
    return "/".join(s.replace("~", "~0").replace("/", "~1") for s in segments)


@dataclass(slots=True)
class PathTree:
    """Marked paths as a tree: ``disclose`` marks this node, ``children`` holds deeper marks."""

    disclose: bool = False
    children: dict[str, PathTree] = field(default_factory=dict)


def path_tree(paths: Iterable[tuple[str, ...]]) -> PathTree:
    root = PathTree()
    for segments in paths:
        node = root
        for segment in segments:
            node = node.children.setdefault(segment, PathTree())
        node.disclose = True
    return root


def check_claim_names(value: Any, depth: int = 0) -> None:
    """Refuse SD-JWT's own names anywhere in issuer input, and non-string object keys."""
    if depth > 64:
        raise MalformedInputError("claims are nested too deeply")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise MalformedInputError("claim names must be strings")
            if key in _RESERVED_ANYWHERE:
                raise ReservedClaimError("claim name is reserved by SD-JWT")
            check_claim_names(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            check_claim_names(item, depth + 1)


def _index(segment: str) -> int | None:
    """The array index a segment names, in canonical decimal only ("0", "12"; not "01" or "+1")."""
    if segment.isascii() and segment.isdigit() and str(int(segment)) == segment:
        return int(segment)
    return None


def value_at(claims: Any, segments: tuple[str, ...]) -> tuple[bool, Any]:
    """(found, value) at ``segments`` in plain (already unpacked) claims."""
    here = claims
    for segment in segments:
        if isinstance(here, dict) and segment in here:
            here = here[segment]
        elif isinstance(here, list) and (i := _index(segment)) is not None and i < len(here):
            here = here[i]
        else:
            return False, None
    return True, here


@dataclass(slots=True)
class Packer:
    """Replaces marked members and elements by digests, collecting the disclosures in creation order."""

    salts: SaltSource
    disclosures: list[Disclosure] = field(default_factory=list)

    def value(self, value: Any, tree: PathTree) -> Any:
        if not tree.children:
            return value
        if isinstance(value, Mapping):
            return self.object(value, tree)
        if isinstance(value, list | tuple):
            return self.array(list(value), tree)
        raise MalformedInputError("disclosable path goes below a claim that is neither object nor array")

    def object(self, obj: Mapping[str, Any], tree: PathTree, extra_digests: Iterable[str] = ()) -> dict[str, Any]:
        if not tree.children.keys() <= obj.keys():
            raise MalformedInputError("disclosable path names a claim that does not exist")
        out: dict[str, Any] = {}
        digests = list(extra_digests)
        for name, item in obj.items():
            node = tree.children.get(name)
            if node is None:
                out[name] = item
                continue
            packed = self.value(item, node)
            if node.disclose:
                disclosure = make_disclosure(self.salts.salt(), name, packed)
                self.disclosures.append(disclosure)
                digests.append(disclosure.digest)
            else:
                out[name] = packed
        if digests:
            out[SD_KEY] = sorted(digests)
        return out

    def array(self, arr: list[Any], tree: PathTree) -> list[Any]:
        for segment in tree.children:
            i = _index(segment)
            if i is None or i >= len(arr):
                raise MalformedInputError("disclosable path names an array element that does not exist")
        out: list[Any] = []
        for i, item in enumerate(arr):
            node = tree.children.get(str(i))
            if node is None:
                out.append(item)
                continue
            packed = self.value(item, node)
            if node.disclose:
                disclosure = make_disclosure(self.salts.salt(), None, packed)
                self.disclosures.append(disclosure)
                out.append({ARRAY_KEY: disclosure.digest})
            else:
                out.append(packed)
        return out
