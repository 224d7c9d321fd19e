"""Setting a store up: create one, open one (with the pipeline's commit hooks), find the one a
command means, record where a precinct is, rebuild the index.

Which store a command works on comes from three places, strongest first: a ``--store`` option
(given to the command or to ``dalel`` itself), ``$DALEL_STORE``, and ``./dalel-store``. Every
command that needs a store opens it and fails when there is none. A receipt or a dossier can be
verified with no store at all, so :func:`open_optional` uses a store named only by default
(``$DALEL_STORE`` or ``./dalel-store``) when one is there, and verifies without one when
nothing is; a store named by ``--store`` must be there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # loaded by the functions that use them: every command imports this module
    from evidence.storage.store import Store

STORE_ENV = "DALEL_STORE"
"""The environment variable naming the default store."""
DEFAULT_STORE = Path("dalel-store")
"""The store used when neither ``--store`` nor ``$DALEL_STORE`` names one."""
CONFIG_FILE = "config.toml"
"""The file whose presence makes a directory a store."""


class StoreOrigin(StrEnum):
    """Where the store a command works on was named."""

    OPTION = "option"
    """A ``--store`` option, given to the command or to ``dalel``."""
    ENVIRONMENT = "environment"
    """``$DALEL_STORE``."""
    DEFAULT = "default"
    """Nothing named one: ``./dalel-store``."""


@dataclass(frozen=True)
class StoreChoice:
    """The store a command means: a directory and where it was named."""

    path: Path
    """The store's directory."""
    origin: StoreOrigin
    """Where it was named (an option must be obeyed; a default may be absent)."""

    @property
    def explicit(self) -> bool:
        """True when a ``--store`` option named it."""
        return self.origin is StoreOrigin.OPTION


def choose_store(option: Path | None, environ: dict[str, str] | None = None) -> StoreChoice:
    """The store named by a ``--store`` ``option`` if given, else by ``$DALEL_STORE`` (read from
    ``environ``, default ``os.environ``), else ``./dalel-store``."""
    if option is not None:
        return StoreChoice(option, StoreOrigin.OPTION)
    env = os.environ if environ is None else environ
    if env.get(STORE_ENV):
        return StoreChoice(Path(env[STORE_ENV]), StoreOrigin.ENVIRONMENT)
    return StoreChoice(DEFAULT_STORE, StoreOrigin.DEFAULT)


def open_store(root: Path, *, hooks: bool = True) -> Store:
    """Open the store at ``root`` with the pipeline's commit hooks (receipts, checkpoint
    stamping, the index); raises ``StoreNotFound`` (exit code 2) when there is none.
    ``hooks=False``: without them, for a batch that attaches them itself once its files are
    being read (:func:`pipeline.run.run_submissions`), so that the command's first file is
    copied before SQLAlchemy and the stampers have loaded."""
    if not hooks:
        from evidence.storage.store import Store

        return Store.open(root)
    from pipeline.hooks import open_store as _open_with_hooks

    return _open_with_hooks(root)


def open_optional(choice: StoreChoice) -> Store | None:
    """The store ``choice`` names, for operations that can do without one (verifying a receipt
    or a dossier): a store named by ``--store`` must exist; one named only by default
    (``$DALEL_STORE``, ``./dalel-store``) is used when a store is there and ignored (None) when
    nothing is."""
    if not choice.explicit and not (choice.path / CONFIG_FILE).is_file():
        return None
    # Only read: no commit hooks (the index, receipts and stamping behind them are loaded
    # by what uses them, so checking a receipt against a store loads no database).
    from evidence.storage.store import Store

    return Store.open(choice.path)


@dataclass(frozen=True)
class Initialized:
    """A store just created by :func:`init`."""

    root: Path
    """The store's directory."""
    org: str
    """The organisation it belongs to."""
    origin: str
    """The custody log's origin line (the name its checkpoints are signed under)."""
    public_key: Path
    """The log's public key, what auditors and observers pin."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "root": str(self.root),
            "org": self.org,
            "origin": self.origin,
            "public_key": str(self.public_key),
        }


def init(
    root: Path,
    org: str,
    *,
    db: str | None = None,
    objects: str | None = None,
    retain_days: int | None = None,
) -> Initialized:
    """Create a new store at ``root`` for ``org``: folders, the log key, the pseudonym secret,
    the local TSA, the organisation's signing identity and the public keys. Refuses to touch an
    existing store (``StoreExists``). ``db``: its index in that PostgreSQL database;
    ``objects``, ``retain_days``: its objects in that S3 bucket under Object Lock."""
    from evidence.provision import init_store

    store = init_store(root, org=org, db=db, objects=objects, retain_days=retain_days)
    return Initialized(store.root, org, store.config.origin, store.public_dir / "log.pub")


@dataclass(frozen=True)
class PrecinctLocation:
    """Where a precinct is, as :func:`set_precinct` recorded it."""

    precinct: str
    """The precinct number."""
    lat: float
    """Latitude, decimal degrees."""
    lon: float
    """Longitude, decimal degrees."""
    radius_km: float
    """Photos with GPS farther than this from the precinct are flagged."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "precinct": self.precinct,
            "lat": self.lat,
            "lon": self.lon,
            "radius_km": self.radius_km,
        }


def set_precinct(
    store: Store, precinct: str, lat: float, lon: float, radius_km: float
) -> PrecinctLocation:
    """Record where ``precinct`` is, so that photos taken far from it are flagged."""
    store.set_precinct_location(precinct, lat, lon, radius_km)
    return PrecinctLocation(str(precinct), lat, lon, radius_km)


@dataclass(frozen=True)
class Reindexed:
    """The index rebuilt from the custody log."""

    entries: int
    """Log entries indexed."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"entries": self.entries}


def reindex(store: Store) -> Reindexed:
    """Drop the index and build it again from the custody log (the source of truth)."""
    return Reindexed(store.index.rebuild())
