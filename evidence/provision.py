"""Making a new store: its storage, its own time-stamping authority, its organisation's
signing identity. The one place that knows what a whole store is made of."""

from __future__ import annotations

from pathlib import Path

from evidence.pdf import sign as pdfsign
from evidence.storage.store import Store
from evidence.timestamping import stamping


def init_store(root: Path, org: str = "Dalel") -> Store:
    """Create a store at ``root`` for ``org`` (refusing an existing one): the storage and log
    key, the local TSA (``public/tsa-root.pem``), the organisation's certificate for signing
    dossiers."""
    store = Store.create(root, org)
    stamping.create(root, org)
    pdfsign.create_org_identity(root / "keys", root / "public", org)
    return store
