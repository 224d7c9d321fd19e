"""Checkpoints leave the store: each new signed checkpoint goes to places the store's owner does
not control alone, so that a rewritten or rolled-back store no longer matches what others hold.

Destinations:

- a folder (``folder``): ``DIR/N.note``, written once; what the folder already holds must be
  extended by the log (a checkpoint there that the log does not extend is refused);
- an HTTP endpoint (``http``): each new checkpoint note POSTed (``text/plain``);
- a C2SP tlog-witness (``witness``): ``POST <url>/add-checkpoint`` with the last size it
  cosigned, a consistency proof from it and the latest checkpoint; the witness countersigns
  only a checkpoint consistent with the last one it saw (409 or 422 otherwise). Its
  cosignature line, checked against the witness's key, is kept beside the checkpoint in
  ``log/checkpoints/N.cosig``.

What was last published to each destination is remembered in ``publish.json`` (its size and
root): each checkpoint is sent once, and a witness gets a proof from the last one it cosigned.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx

from base.fsio import atomic_write
from evidence.core import checkpoint as cp
from evidence.core import merkle, witness
from evidence.storage.store import Store

STATE_FILE = "publish.json"
COSIGNATURE_SUFFIX = ".cosig"


class Kind(StrEnum):
    """Where a checkpoint goes."""

    FOLDER = "folder"
    HTTP = "http"
    WITNESS = "witness"


class Outcome(StrEnum):
    """What publishing to one destination did."""

    PUBLISHED = "PUBLISHED"
    """New checkpoints were sent and accepted (a witness cosigned the latest)."""
    UP_TO_DATE = "UP_TO_DATE"
    """The destination already has the latest checkpoint."""
    REFUSED = "REFUSED"
    """The destination holds a checkpoint the log does not extend (a rollback or a fork), or
    a witness refused the checkpoint as inconsistent."""
    UNREACHABLE = "UNREACHABLE"
    """The destination could not be reached or answered with an error."""


@dataclass(frozen=True)
class Destination:
    """One place checkpoints are published to."""

    kind: Kind
    target: str
    """The folder's path or the URL (a witness's submission prefix)."""
    key: witness.CosignerKey | None = None
    """A witness's public key (its cosignatures are checked against it)."""

    @property
    def id(self) -> str:
        """How the state file names it."""
        target = str(Path(self.target).resolve()) if self.kind is Kind.FOLDER else self.target
        return f"{self.kind.value}:{target}"


@dataclass(frozen=True)
class Published:
    """What publishing to one destination did."""

    destination: str
    outcome: Outcome
    size: int | None
    """The size of the latest checkpoint the destination holds from this log, as far as known."""
    sent: int
    """Checkpoints sent this time."""
    detail: str
    cosignature: Path | None = None
    """Where the witness's cosignature was kept."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "outcome": self.outcome.value,
            "size": self.size,
            "sent": self.sent,
            "detail": self.detail,
            "cosignature": str(self.cosignature) if self.cosignature else None,
        }


class _Refused(Exception):
    def __init__(self, outcome: Outcome, detail: str, size: int | None = None) -> None:
        super().__init__(detail)
        self.outcome, self.detail, self.size = outcome, detail, size


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


class Publisher:
    """Publishes a store's checkpoints (read-only on the log; writes the state and
    cosignatures)."""

    def __init__(self, store: Store, *, timeout: float = 10.0) -> None:
        self.store = store
        self.timeout = timeout
        self.heads: list[cp.SignedCheckpoint] = []
        for p in store.checkpoint_paths():
            try:
                self.heads.append(cp.parse(p.read_text()))
            except (OSError, ValueError):
                continue  # audit reports it
        self.heads.sort(key=lambda h: h.checkpoint.size)
        self._tree: merkle.MerkleTree | None = None
        self.state_path = store.root / STATE_FILE
        try:
            self.state: dict[str, Any] = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            self.state = {}

    @property
    def tree(self) -> merkle.MerkleTree:
        if self._tree is None:
            self._tree = self.store.load_tree()
        return self._tree

    def extends(self, size: int, root: bytes) -> bool:
        """Whether the log's first ``size`` entries have ``root``."""
        return size <= self.tree.size and self.tree.root(size) == root

    def publish(self, destinations: list[Destination]) -> list[Published]:
        """Publish the new checkpoints to each destination; every outcome is reported."""
        out = []
        for d in destinations:
            try:
                out.append(self._one(d))
            except _Refused as e:
                out.append(Published(d.id, e.outcome, e.size, 0, e.detail))
        atomic_write(self.state_path, json.dumps(self.state, indent=1, sort_keys=True).encode())
        return out

    def _one(self, d: Destination) -> Published:
        if not self.heads:
            return Published(d.id, Outcome.UP_TO_DATE, None, 0, "no checkpoint signed yet")
        latest = self.heads[-1].checkpoint
        last = self.state.get(d.id)
        last_size = int(last["size"]) if last else 0
        if last:
            root = base64.b64decode(last["root"])
            if last_size > latest.size or not self.extends(last_size, root):
                raise _Refused(
                    Outcome.REFUSED,
                    f"checkpoint {last_size} was published here and the log does not extend "
                    "it: the store was rolled back or its history rewritten",
                    last_size,
                )
            if last_size == latest.size:
                return Published(d.id, Outcome.UP_TO_DATE, last_size, 0, "already published")
        new = [h for h in self.heads if h.checkpoint.size > last_size]
        if d.kind is Kind.FOLDER:
            sent, detail, cosig = self._folder(Path(d.target), new), f"written to {d.target}", None
        elif d.kind is Kind.HTTP:
            sent, detail, cosig = self._http(d.target, new), f"sent to {d.target}", None
        else:
            assert d.key is not None
            cosig = self._witness(d, last_size)
            sent, detail = 1, f"cosigned by {d.key.name}"
        self.state[d.id] = {"size": latest.size, "root": _b64(latest.root)}
        return Published(d.id, Outcome.PUBLISHED, latest.size, sent, detail, cosig)

    # --- folder ------------------------------------------------------------------------
    def _folder(self, folder: Path, new: list[cp.SignedCheckpoint]) -> int:
        folder.mkdir(parents=True, exist_ok=True)
        for p in sorted(folder.glob("*.note")):  # what others hold must be extended
            try:
                held = cp.parse(p.read_text()).checkpoint
            except (OSError, ValueError):
                continue
            if held.origin != self.store.config.origin:
                raise _Refused(
                    Outcome.REFUSED,
                    f"{folder} holds checkpoints of another log ({held.origin}); give each "
                    "store its own folder",
                )
            if not self.extends(held.size, held.root):
                raise _Refused(
                    Outcome.REFUSED,
                    f"{p} holds checkpoint {held.size}, which the log does not extend: the "
                    "store was rolled back or its history rewritten",
                    held.size,
                )
        for h in new:
            atomic_write(folder / f"{h.checkpoint.size:012d}.note", h.text.encode())
        return len(new)

    # --- HTTP --------------------------------------------------------------------------
    def _post(self, url: str, body: bytes) -> httpx.Response:
        try:
            return httpx.post(
                url,
                content=body,
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=self.timeout,
                follow_redirects=False,
            )
        except httpx.HTTPError as e:
            raise _Refused(Outcome.UNREACHABLE, f"could not reach {url}: {e}") from None

    def _http(self, url: str, new: list[cp.SignedCheckpoint]) -> int:
        for i, h in enumerate(new):
            r = self._post(url, h.text.encode())
            if not 200 <= r.status_code < 300:
                raise _Refused(
                    Outcome.UNREACHABLE,
                    f"{url} answered HTTP {r.status_code} for checkpoint {h.checkpoint.size} "
                    f"({i} of {len(new)} sent)",
                )
        return len(new)

    # --- witness -----------------------------------------------------------------------
    def _witness(self, d: Destination, old: int) -> Path:
        assert d.key is not None
        head = self.heads[-1]
        url = d.target.rstrip("/") + "/add-checkpoint"
        r = self._post(url, self._request(old, head))
        if r.status_code == 409:
            seen = self._witness_size(r)
            if seen > head.checkpoint.size:
                raise _Refused(
                    Outcome.REFUSED,
                    f"the witness has cosigned checkpoint {seen}, larger than the store's latest "
                    f"({head.checkpoint.size}): the store was rolled back",
                    seen,
                )
            r = self._post(url, self._request(seen, head))  # what this store forgot
        if r.status_code in (409, 422):
            raise _Refused(
                Outcome.REFUSED,
                f"the witness refuses checkpoint {head.checkpoint.size} (HTTP {r.status_code}): "
                "it is not consistent with the last one the witness cosigned (a fork or a "
                "rollback)",
            )
        if r.status_code != 200:
            raise _Refused(
                Outcome.UNREACHABLE,
                f"the witness answered HTTP {r.status_code}: {r.text[:200].strip()} (does it "
                "know this log's origin and key?)",
            )
        body = head.checkpoint.body()
        lines = [ln for ln in witness.cosignature_lines(r.text) if d.key.verify(ln, body)]
        if not lines:
            raise _Refused(
                Outcome.REFUSED, f"the witness's answer holds no valid cosignature by {d.key.name}"
            )
        path = self.store.checkpoints_dir / f"{head.checkpoint.size:012d}{COSIGNATURE_SUFFIX}"
        kept = path.read_text() if path.is_file() else ""
        atomic_write(path, (kept + "".join(ln for ln in lines if ln not in kept)).encode())
        return path

    def _request(self, old: int, head: cp.SignedCheckpoint) -> bytes:
        size = head.checkpoint.size
        proof = self.tree.consistency_proof(old, size) if 0 < old < size else []
        return witness.add_checkpoint_body(old, proof, head.text)

    @staticmethod
    def _witness_size(r: httpx.Response) -> int:
        text = r.text.strip()
        if not text.isdigit():
            raise _Refused(Outcome.UNREACHABLE, "the witness's 409 answer names no tree size")
        return int(text)


def cosigned(note: str, cosignatures: str) -> str:
    """The checkpoint note with the witnesses' cosignature lines appended (a note any
    signed-note verifier reads)."""
    return note + "".join(witness.cosignature_lines(cosignatures))
