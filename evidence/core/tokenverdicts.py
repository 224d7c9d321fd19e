"""Each token verified once, however many checks meet it.

An audit meets a token more than once: the log records it, a receipt carries a copy of it,
a checkpoint's token also lies beside its note as ``N.tsr``. What a token's bytes say under
the trust given (the digest it must cover, the roots it must chain to, the certificates
added) does not depend on which record checks it; the two checks of time do. A
:class:`TokenVerdicts` keeps the first (a :class:`~evidence.core.tokens.TokenVerdict`) and
makes the second for each use, so each report is the one ``verify_token`` gives for the same
inputs, and the cryptography runs once per token and trust.

Pure: bytes in, reports out; the verdicts are kept in memory for the object's life.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from evidence.core import tokenfast
from evidence.core.checks import Check
from evidence.core.tokens import (
    DEFAULT_TOLERANCE,
    TokenReport,
    TokenVerdict,
    _split,
    token_verdict,
)


def _raw_token(data: bytes) -> bytes:
    """The bare token in ``data`` (a token or a response): by the fast reader when it can
    tell, else by asn1crypto (which raises for what is no token)."""
    try:
        return tokenfast.split(data)
    except tokenfast._NotFast:
        return _split(data)[0]


_Key = tuple[bytes, bytes, tuple[bytes, ...]]
"""The token's SHA-256, the digest it must cover, the DER of the roots trusted (in order)."""


class TokenVerdicts:
    """``verify_token`` (nonce, policy and request time aside) with a memory of verdicts.

    A verdict is reused only when every input it depends on is the same: the token's bytes
    (bare, or the same token inside a TimeStampResp), the digest, the roots in the same
    order, and the certificates given that the token does not carry itself (a given one it
    carries changes nothing). The times (``recorded_at``, ``tolerance``) are checked anew for
    each call. With ``second_opinion``, rfc3161-client's verifier is asked too, once per
    verdict, when every other check passes; without, that check is SKIPPED.
    """

    def __init__(self, *, second_opinion: bool = False) -> None:
        self.second_opinion = second_opinion
        """Whether rfc3161-client's verifier gives its opinion too."""
        self.verified = 0
        """Verdicts made (tokens verified), as against reused."""
        self._carried: dict[_Key, frozenset[bytes]] = {}
        self._kept: dict[tuple[_Key, tuple[bytes, ...]], TokenVerdict] = {}
        self._raw: dict[bytes, bytes] = {}  # SHA-256 of the bytes given -> of the token's
        self._ders: dict[int, tuple[Sequence[x509.Certificate], tuple[bytes, ...]]] = {}
        self._checks: dict[tuple[Check, ...], tuple[Check, ...]] = {}

    def __call__(
        self,
        token_der: bytes,
        *,
        expected_digest: bytes,
        trusted_roots: Sequence[x509.Certificate],
        recorded_at: dt.datetime | None = None,
        tolerance: dt.timedelta = DEFAULT_TOLERANCE,
        certificates: Sequence[x509.Certificate] = (),
    ) -> TokenReport:
        """The report ``verify_token`` gives for these inputs; never raises."""
        verdict = self.verdict(
            token_der,
            expected_digest=expected_digest,
            trusted_roots=trusted_roots,
            certificates=certificates,
        )
        return verdict.report(
            recorded_at=recorded_at, tolerance=tolerance, second_opinion=self.second_opinion
        )

    def verdict(
        self,
        token_der: bytes,
        *,
        expected_digest: bytes,
        trusted_roots: Sequence[x509.Certificate],
        certificates: Sequence[x509.Certificate] = (),
    ) -> TokenVerdict:
        """The verdict on the token under this trust: the one kept, else a new one."""
        given_sha = hashlib.sha256(token_der).digest()
        raw_sha = self._raw.get(given_sha)
        if raw_sha is None:
            try:
                raw = _raw_token(token_der)
            except Exception:  # not a token: nothing to keep, and quickly refused again
                return self._new(token_der, expected_digest, trusted_roots, certificates)
            raw_sha = given_sha if raw == token_der else hashlib.sha256(raw).digest()
            self._raw[given_sha] = raw_sha
        key = (raw_sha, bytes(expected_digest), self._der(trusted_roots))
        given = self._der(certificates)
        carried = self._carried.get(key)
        if carried is not None:
            kept = self._kept.get((key, tuple(d for d in given if d not in carried)))
            if kept is not None:
                return kept
        verdict = self._new(token_der, expected_digest, trusted_roots, certificates)
        if not verdict.final:  # a malformed one is refused again, as quickly
            self._carried[key] = verdict.carried
            self._kept[(key, tuple(d for d in given if d not in verdict.carried))] = verdict
        return verdict

    def _new(
        self,
        token_der: bytes,
        digest: bytes,
        roots: Sequence[x509.Certificate],
        certificates: Sequence[x509.Certificate],
    ) -> TokenVerdict:
        self.verified += 1
        verdict = token_verdict(
            token_der, expected_digest=digest, trusted_roots=roots, certificates=certificates
        )
        if not self.second_opinion:
            verdict.token = None  # never asked: the bytes need not be kept
        # the tokens that pass share their checks (same TSA, same details): kept once
        verdict.checks = self._checks.setdefault(verdict.checks, verdict.checks)
        return verdict

    def _der(self, certs: Sequence[x509.Certificate]) -> tuple[bytes, ...]:
        """The certificates' DER, converted once per sequence given (the callers pass the
        same few, read once, for every token) and held with it."""
        held = self._ders.get(id(certs))
        if held is not None and held[0] is certs:
            return held[1]
        ders = tuple(c.public_bytes(serialization.Encoding.DER) for c in certs)
        if isinstance(certs, tuple):  # immutable: its DER cannot change while it is held
            self._ders[id(certs)] = (certs, ders)
        return ders
