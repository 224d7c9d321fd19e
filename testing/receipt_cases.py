"""Receipts to check with every verifier (the CLI's, and the page's under node and in a
browser): good ones and every tamper case, each with the log key to pin."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evidence.core import receipts
from evidence.storage.store import Store


@dataclass(frozen=True)
class Case:
    name: str
    receipt: Any
    pinned: str | None
    """The verifier key to pin (None: the receipt's own, with a warning)."""


def _flip(text: str, at: int = 0) -> str:
    """``text`` with the base64 character at ``at`` changed."""
    return text[:at] + ("B" if text[at] != "B" else "C") + text[at + 1 :]


def cases(store_dir: Path, other_key: str) -> list[Case]:
    """Good receipts of ``store_dir`` and tampered ones; ``other_key``: another log's key."""
    store = Store.open(store_dir)
    key = store.public_key().verifier()
    paths = sorted((store_dir / "receipts").glob("*.json"))
    good = [json.loads(p.read_text()) for p in paths]
    r = good[0]
    out = [Case(f"good-{i}", g, key) for i, g in enumerate(good)]
    out.append(Case("good-unpinned", r, None))

    def case(name: str, pinned: str | None = key) -> Any:
        t = copy.deepcopy(r)
        out.append(Case(name, t, pinned))
        return t

    sha = r["entry"]["item"]["sha256"]
    case("item-in-copy")["entry"]["item"]["sha256"] = "0" * 64
    t = case("item-in-line")
    t["entry_line"] = t["entry_line"].replace(sha, "0" * 64)
    t["entry"]["item"]["sha256"] = "0" * 64
    t = case("proof")
    t["inclusion_proof"][0] = _flip(t["inclusion_proof"][0])
    t = case("checkpoint-size")
    lines = t["checkpoint"].split("\n")
    lines[1] = str(int(lines[1]) + 1)
    t["checkpoint"] = "\n".join(lines)
    t = case("checkpoint-signature")
    body, _, sig = t["checkpoint"].rstrip("\n").rpartition(" ")
    t["checkpoint"] = body + " " + _flip(sig, 10) + "\n"
    t = case("entry-signature")
    line = json.loads(t["entry_line"])
    line["sig"]["value"] = _flip(line["sig"]["value"], 5)
    t["entry_line"] = (
        t["entry_line"].rsplit(',"sig":', 1)[0]
        + ',"sig":'
        + json.dumps(line["sig"], separators=(",", ":"), sort_keys=True)
        + "}"
    )
    case("another-log", other_key)
    t = case("leaf-index")
    t["leaf_index"] = r["leaf_index"] + 1
    t = case("token-of-another-item")
    t["timestamp"] = copy.deepcopy(good[1]["timestamp"])
    t = case("token-garbage")
    t["timestamp"]["token"] = "bm90IGEgdG9rZW4="
    t = case("token-not-base64")
    t["timestamp"]["token"] = "not base64!"
    t = case("token-after-record")
    t["timestamp"]["recorded_at"] = "2020-01-01T00:00:00.000000Z"
    del case("no-timestamp")["timestamp"]
    case("not-a-receipt")["format"] = "something-else/1"
    t = case("line-not-canonical")
    t["entry_line"] = t["entry_line"].replace('{"entry":', '{"entry": ', 1)
    t = case("proof-too-long")
    t["inclusion_proof"] = t["inclusion_proof"] * 40
    t = case("proof-not-base64")
    t["inclusion_proof"][0] = "%%%"
    case("key-garbage")["log"]["key"] = "nobody+00000000+AAAA"
    t = case("index-negative")
    t["leaf_index"] = -1
    out.append(Case("not-an-object", [1, 2, 3], key))
    assert all(receipts.verify(g, store.public_key()).ok for g in good)
    return out
