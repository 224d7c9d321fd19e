"""Where a store keeps the TSA certificates its tokens are checked against, and reading them.

A module of its own (``stamping`` re-exports it), so that checking a receipt against a store
reads the roots without loading the TSAs, their HTTP client and the local TSA's signer.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from evidence.core.tokens import load_certificates

LOCAL = "local"
"""The name of the store's own TSA, as a token's source."""
ROOTS_DIR = "tsa-roots"
"""The folder of ``public/`` with each external TSA's roots, as ``NAME.pem``."""
LOCAL_ROOT_FILE = "tsa-root.pem"
"""The local TSA's root certificate, in ``public/``."""
LOCAL_CERT_FILE = "tsa.pem"
"""The local TSA's own certificate, in ``public/``."""


def local_roots(public_dir: Path) -> tuple[x509.Certificate, ...]:
    """The local TSA's root certificate(s)."""
    return load_certificates((public_dir / LOCAL_ROOT_FILE).read_bytes())


def local_certificates(public_dir: Path) -> tuple[x509.Certificate, ...]:
    """The local TSA's own certificate(s)."""
    return load_certificates((public_dir / LOCAL_CERT_FILE).read_bytes())


def roots_for(public_dir: Path, source: str) -> tuple[x509.Certificate, ...]:
    """The roots a token from ``source`` must chain to; () for a source nobody configured."""
    if source == LOCAL:
        return local_roots(public_dir)
    path = public_dir / ROOTS_DIR / f"{source}.pem"
    return load_certificates(path.read_bytes()) if path.is_file() else ()
