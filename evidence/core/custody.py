"""Custody log entries: canonical JSON, signed with Ed25519, chained by hash.

A log line is the canonical JSON (RFC 8785) of ``{"entry": E, "sig": S}`` where E is the
entry (which names the previous line's SHA-256 in ``prev``) and S is
``{"alg": "ed25519", "key": <signed-note key id, hex>, "value": <base64 signature>}``, the
signature being over the exact canonical bytes of E. The line (without its newline) is
the Merkle leaf. Verifiers take E's bytes from the line itself: nothing is re-serialized
before a signature check.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785

from evidence.core.keys import SigningKey

FORMAT_VERSION = 1
GENESIS_PREV = "0" * 64
_PREFIX = b'{"entry":'


def canonical(obj: Any) -> bytes:
    """RFC 8785 canonical JSON bytes: what is signed and hashed."""
    return rfc8785.dumps(obj)


def utc_now() -> str:
    """Now, UTC, RFC 3339 with microseconds."""
    return rfc3339(datetime.now(UTC))


def rfc3339(t: datetime) -> str:
    """A timezone-aware datetime as RFC 3339 UTC (``...Z``)."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def line_hash(line: bytes) -> str:
    """SHA-256 hex of a log line (without its newline): what ``prev`` names."""
    return hashlib.sha256(line).hexdigest()


def make_line(entry: dict[str, Any], key: SigningKey) -> bytes:
    """Sign ``entry`` and return the log line (no newline)."""
    body = canonical(entry)
    sig = {
        "alg": "ed25519",
        "key": key.public.id_hex,
        "value": base64.b64encode(key.sign(body)).decode(),
    }
    line = _PREFIX + body + b',"sig":' + canonical(sig) + b"}"
    return line


@dataclass(frozen=True)
class Record:
    """A parsed log line."""

    line: bytes
    entry: dict[str, Any]
    entry_bytes: bytes
    key_id: str
    signature: bytes

    @property
    def seq(self) -> int:
        return int(self.entry["seq"])

    @property
    def hash(self) -> str:
        """SHA-256 hex of the line."""
        return line_hash(self.line)


_PLAIN = re.compile(r"[A-Za-z0-9+/=]*")


def _sig_suffix(sig: dict[str, Any]) -> bytes:
    """``,"sig":<canonical sig>}``; a fast path for the usual all-ASCII signature object."""
    key, value = sig.get("key"), sig.get("value")
    if (
        set(sig) == {"alg", "key", "value"}
        and isinstance(key, str)
        and isinstance(value, str)
        and _PLAIN.fullmatch(key)
        and _PLAIN.fullmatch(value)
    ):
        return f',"sig":{{"alg":"ed25519","key":"{key}","value":"{value}"}}}}'.encode()
    return b',"sig":' + canonical(sig) + b"}"


def parse_line(line: bytes) -> Record:
    """Parse a log line. Raises ValueError when it is not a well-formed signed entry."""
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"not JSON: {e}") from None
    except RecursionError:
        raise ValueError("not JSON: nested too deeply") from None
    if not isinstance(obj, dict) or set(obj) != {"entry", "sig"}:
        raise ValueError("a log line holds exactly 'entry' and 'sig'")
    entry, sig = obj["entry"], obj["sig"]
    if not isinstance(entry, dict) or not isinstance(sig, dict):
        raise ValueError("'entry' and 'sig' must be objects")
    if sig.get("alg") != "ed25519" or not isinstance(sig.get("key"), str):
        raise ValueError("unknown signature algorithm or key")
    if not isinstance(entry.get("seq"), int) or not isinstance(entry.get("prev"), str):
        raise ValueError("entry lacks 'seq' or 'prev'")
    if not isinstance(sig.get("value"), str):
        raise ValueError("signature value is not text")
    try:
        suffix = _sig_suffix(sig)
    except (TypeError, ValueError, RecursionError):
        raise ValueError("signature is not in canonical form") from None
    if not line.startswith(_PREFIX) or not line.endswith(suffix):
        raise ValueError("line is not in canonical form")
    entry_bytes = line[len(_PREFIX) : len(line) - len(suffix)]
    try:
        signature = base64.b64decode(sig["value"], validate=True)
    except (binascii.Error, TypeError):
        raise ValueError("signature is not base64") from None
    return Record(line, entry, entry_bytes, sig["key"], signature)


def entry_text(line: bytes) -> str:
    """The entry's canonical JSON text, cut from a line this code wrote (no re-encoding)."""
    return line[len(_PREFIX) : line.rindex(b',"sig":')].decode()
