"""RFC 3161 timestamps: which items and checkpoints have which tokens, external tokens added
once online, a token exported for ``openssl ts -verify``, an external TSA added.

Every item and checkpoint gets a token when it is made: from an external TSA when one is
configured and reachable, else from the store's own local TSA. ``upgrade`` adds an external
token to everything that has only a local one. An exported token names the root certificate
that vouches for it: ``public/tsa-root.pem`` (with ``public/tsa.pem`` as the untrusted signer)
for the local TSA, ``public/tsa-roots/NAME.pem`` for an external one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import items
from base.errors import UsageError
from base.fsio import atomic_write
from evidence import provision
from evidence.core.tokens import response_from_token
from evidence.storage.store import Store
from evidence.timestamping import stamping
from pipeline.stamp import upgrade_external

LOCAL_SIGNER_FILE = "tsa.pem"
"""The local TSA's signing certificate in ``public/`` (openssl's ``-untrusted``)."""
LOCAL_ROOT_FILE = "tsa-root.pem"
"""The local TSA's root certificate in ``public/`` (openssl's ``-CAfile``)."""


@dataclass(frozen=True)
class TimestampStatus:
    """How many items and checkpoints have which tokens."""

    items: int
    """Items in the store."""
    items_external: int
    """Items with a token from an external TSA."""
    items_local_only: int
    """Items with a token from the local TSA only."""
    items_without: int
    """Items with no token at all."""
    checkpoints: int
    """Checkpoints with a token."""
    checkpoints_external: int
    """Checkpoints with a token from an external TSA."""
    checkpoints_local_only: int
    """Checkpoints with a token from the local TSA only."""

    @property
    def upgrade_due(self) -> bool:
        """True when some item or checkpoint waits for an external token."""
        return bool(self.items_local_only or self.checkpoints_local_only)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: every count by name."""
        return {
            "items": self.items,
            "items_external": self.items_external,
            "items_local_only": self.items_local_only,
            "items_without": self.items_without,
            "checkpoints": self.checkpoints,
            "checkpoints_external": self.checkpoints_external,
            "checkpoints_local_only": self.checkpoints_local_only,
        }


def status(store: Store) -> TimestampStatus:
    """How many items and checkpoints have an external token, a local one only, or none."""
    index = store.index
    index.catch_up()
    counts = stamping.status(index)
    return TimestampStatus(
        items=counts["items"],
        items_external=counts["items_external"],
        items_local_only=counts["items_local_only"],
        items_without=counts["items_without"],
        checkpoints=counts["checkpoints"],
        checkpoints_external=counts["checkpoints_external"],
        checkpoints_local_only=counts["checkpoints_local_only"],
    )


@dataclass(frozen=True)
class Upgraded:
    """External tokens added by :func:`upgrade`."""

    upgraded: int
    """Items and checkpoints that got an external token now."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"upgraded": n}``."""
        return {"upgraded": self.upgraded}


def upgrade(store: Store) -> Upgraded:
    """Add an external token to every item and checkpoint that has only a local one. A usage
    error when no external TSA is configured; when none answers, the TSA's error (exit 4)."""
    return Upgraded(upgrade_external(store))


@dataclass(frozen=True)
class ExportedToken:
    """A token written as a TimeStampResp, and what ``openssl ts -verify`` needs to check it."""

    sha256: str
    """The item's SHA-256 (the token's message imprint)."""
    path: Path
    """Where the TimeStampResp was written."""
    kind: str
    """``external`` or ``local``."""
    source: str
    """The TSA's name (``local`` for the store's own)."""
    gen_time: str
    """The time the TSA put in the token (ISO 8601)."""
    ca_file: Path
    """The root certificate that vouches for the token (openssl's ``-CAfile``)."""
    untrusted: Path | None
    """The TSA's signing certificate when the token does not carry it (openssl's
    ``-untrusted``): the local TSA's."""

    @property
    def verify_command(self) -> str:
        """The ``openssl ts -verify`` command line that checks the token."""
        cmd = (
            f"openssl ts -verify -digest {self.sha256} -sha256 -in {self.path} "
            f"-CAfile {self.ca_file}"
        )
        return cmd + (f" -untrusted {self.untrusted}" if self.untrusted else "")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, with ``verify_command``."""
        return {
            "sha256": self.sha256,
            "path": str(self.path),
            "kind": self.kind,
            "source": self.source,
            "gen_time": self.gen_time,
            "ca_file": str(self.ca_file),
            "untrusted": str(self.untrusted) if self.untrusted else None,
            "verify_command": self.verify_command,
        }


def export(store: Store, item: str, out: Path, *, external: bool = False) -> ExportedToken:
    """Write the token of ``item`` (its SHA-256 or a unique prefix) to ``out`` as a
    TimeStampResp for ``openssl ts -verify``: its external token if it has one, else its local
    one; with ``external``, only an external token will do (a usage error when there is none)."""
    sha256 = items.resolve(store, item)
    found = store.index.tokens_for(sha256)
    if external:
        found = [t for t in found if t["kind"] == "external"]
    if not found:
        raise UsageError(
            f"no {'external ' if external else ''}token for {sha256[:16]}…",
            fix="run: dalel timestamp --upgrade" if external else None,
        )
    token = sorted(found, key=lambda t: t["kind"] != "external")[0]
    atomic_write(out, response_from_token(store.objects.read(token["token_sha256"])))
    local = token["source"] == stamping.LOCAL
    ca_file = store.public_dir / (
        LOCAL_ROOT_FILE if local else f"{stamping.ROOTS_DIR}/{token['source']}.pem"
    )
    return ExportedToken(
        sha256=sha256,
        path=out,
        kind=token["kind"],
        source=token["source"],
        gen_time=token["gen_time"],
        ca_file=ca_file,
        untrusted=store.public_dir / LOCAL_SIGNER_FILE if local else None,
    )


@dataclass(frozen=True)
class TsaAdded:
    """An external TSA configured by :func:`add_tsa`."""

    name: str
    """The name its tokens are recorded under."""
    url: str
    """Where it is asked for tokens."""
    timeout: float
    """Seconds to wait for its answer before the next source is tried."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"name": self.name, "url": self.url, "timeout": self.timeout}


def add_tsa(store: Store, name: str, url: str, roots_pem: bytes, timeout: float) -> TsaAdded:
    """Ask the external TSA ``name`` at ``url`` first from now on (the local TSA stays the
    fallback); ``roots_pem``: the root certificate(s) its tokens must chain to."""
    stamping.add_external(store, name, url, roots_pem, timeout)
    provision.write_trust_bundle(store.public_dir)  # its roots join the published bundle
    return TsaAdded(name, url, timeout)
