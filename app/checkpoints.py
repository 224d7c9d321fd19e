"""Checkpoints published outside the store: to folders, HTTP endpoints and C2SP witnesses.

See :mod:`evidence.storage.publish`. A witness is given by its submission URL and its
verifier key (``name+keyid+base64``, a string or a file holding one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from base.errors import EXIT_ENVIRONMENT, EXIT_OK, EXIT_PROBLEMS, UsageError
from evidence.core.witness import CosignerKey
from evidence.storage import publish as publishing
from evidence.storage.store import Store


@dataclass(frozen=True)
class PublishResult:
    """What ``checkpoint publish`` did, per destination."""

    results: tuple[publishing.Published, ...]

    @property
    def exit_code(self) -> int:
        """1 when a destination refused (a rollback or a fork), 4 when one could not be
        reached, else 0."""
        outcomes = {r.outcome for r in self.results}
        if publishing.Outcome.REFUSED in outcomes:
            return EXIT_PROBLEMS
        if publishing.Outcome.UNREACHABLE in outcomes:
            return EXIT_ENVIRONMENT
        return EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"ok": self.exit_code == 0, "destinations": [r.to_dict() for r in self.results]}


def witness_key(text: str) -> CosignerKey:
    """A witness's verifier key: the string itself, or a file holding it."""
    candidate = text
    path = Path(text)
    if "+" not in text or path.is_file():
        try:
            candidate = path.read_text().strip()
        except (OSError, UnicodeDecodeError):
            raise UsageError(
                f"{text} is neither a witness verifier key nor a file holding one",
                fix="give the witness's key as name+keyid+base64 (its operator publishes it)",
            ) from None
    try:
        return CosignerKey.from_vkey(candidate)
    except ValueError as e:
        raise UsageError(
            f"{text} is not a witness verifier key: {e}",
            fix="give the witness's Ed25519 cosignature key (type 0x04) as name+keyid+base64",
        ) from None


def destinations(
    folders: Sequence[Path], urls: Sequence[str], witnesses: Sequence[str], keys: Sequence[str]
) -> list[publishing.Destination]:
    """The destinations a command names; a usage error when a URL is not http(s) or a
    witness lacks its key."""
    if len(witnesses) != len(keys):
        raise UsageError(
            f"{len(witnesses)} --witness and {len(keys)} --witness-key",
            fix="give one --witness-key for each --witness, in the same order",
        )
    for url in (*urls, *witnesses):
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"{url} is not an http:// or https:// URL")
    out = [publishing.Destination(publishing.Kind.FOLDER, str(f)) for f in folders]
    out += [publishing.Destination(publishing.Kind.HTTP, u) for u in urls]
    out += [
        publishing.Destination(publishing.Kind.WITNESS, w, witness_key(k))
        for w, k in zip(witnesses, keys, strict=True)
    ]
    if not out:
        raise UsageError(
            "no destination to publish to",
            fix="give --to DIR, --url URL or --witness URL --witness-key KEY",
        )
    return out


def publish(
    store: Store, targets: Sequence[publishing.Destination], *, timeout: float = 10.0
) -> PublishResult:
    """Publish the store's new checkpoints to each of ``targets``."""
    return PublishResult(tuple(publishing.Publisher(store, timeout=timeout).publish(list(targets))))
