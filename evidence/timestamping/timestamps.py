"""Obtaining RFC 3161 time-stamp tokens: external TSAs over HTTP first, then the local TSA.

Only ``ExternalTSA.exchange`` does I/O (HTTP with timeouts). Verification lives in
:mod:`evidence.core.tokens`; its public names are re-exported here for callers that want one
import.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from cryptography import x509

from base.errors import BrokenEnvironment
from evidence.core.tokens import (  # noqa: F401 - re-exported
    DEFAULT_TOLERANCE,
    MAX_RESPONSE_BYTES,
    Check,
    CheckStatus,
    MalformedTokenError,
    Reason,
    Status,
    TokenInfo,
    TokenReport,
    TokenVerificationError,
    _judge,
    _passed,
    build_request,
    load_certificates,
    read_token,
    response_from_token,
    token_from_response,
    verify_or_raise,
    verify_response,
    verify_token,
)
from evidence.timestamping.deadline import DEADLINE as _DEADLINE
from evidence.timestamping.tsa import LocalTSA, utc_now

if TYPE_CHECKING:
    import httpx

# ---------------------------------------------------------------------------------------------
# sources (I/O) and choosing among them


class TimestampUnavailableError(BrokenEnvironment):
    """No source, not even the local TSA, produced a token that verifies (exit code 4)."""

    def __init__(self, attempts: Sequence[Attempt]) -> None:
        tried = "; ".join(f"{a.source}: {','.join(a.reasons)}" for a in attempts) or "none"
        super().__init__(
            f"no time-stamp could be obtained (tried {tried})",
            fix="check the store's local TSA (keys/tsa.key, public/tsa.pem, public/tsa-root.pem "
            "and tsa/tsa.json: restore them from a backup if they are gone; `dalel init` makes "
            "them for a new store only) and the external TSAs' URLs in config.toml",
        )
        self.attempts = tuple(attempts)


#: Requests one call waits on at once from a TSA over the network: a batch of 190 files
#: waited 190 round trips one after the other (a TSA answering in 0.2 s: 39.7 s; 10.5 s now).
EXTERNAL_IN_FLIGHT = 4


class _SourceUnavailable(Exception):
    """A source gave no answer to check; ``reason`` names why."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class TimestampSource(Protocol):
    """Something that answers DER TimeStampReqs."""

    @property
    def name(self) -> str:
        """Shown in results and refusals."""
        ...

    @property
    def kind(self) -> Literal["external", "local"]:
        """``external`` or ``local``."""
        ...

    @property
    def trusted_roots(self) -> tuple[x509.Certificate, ...]:
        """The roots its tokens must chain to."""
        ...

    @property
    def certificates(self) -> tuple[x509.Certificate, ...]:
        """Extra certificates (intermediates, the TSA's own) its tokens may not carry."""
        ...

    def exchange(self, request_der: bytes) -> bytes:
        """Send a request, return the raw answer; raise ``_SourceUnavailable`` if none came."""
        ...


@dataclass(frozen=True)
class ExternalTSA:
    """An RFC 3161 TSA over HTTP, trusted only through its own configured roots."""

    name: str
    url: str
    trusted_roots: tuple[x509.Certificate, ...]
    timeout: float = 10.0
    certificates: tuple[x509.Certificate, ...] = ()
    kind: Literal["external", "local"] = "external"
    client: httpx.Client | None = field(default=None, compare=False, repr=False)

    def exchange(self, request_der: bytes) -> bytes:
        """POST the request (RFC 3161 §3.4) and return the body of a 200 answer."""
        headers = {
            "Content-Type": "application/timestamp-query",
            "Accept": "application/timestamp-reply",
        }
        import httpx  # only when a TSA is asked: verifying a token needs no HTTP client

        from evidence.timestamping.http import shared_client

        client = self.client or shared_client()
        deadline = time.monotonic() + self.timeout
        token = _DEADLINE.set(deadline)
        body = b""
        try:
            with client.stream(
                "POST",
                self.url,
                content=request_der,
                headers=headers,
                timeout=httpx.Timeout(self.timeout),
            ) as r:
                if r.status_code != 200:
                    raise _SourceUnavailable(Reason.HTTP_ERROR, f"HTTP {r.status_code}")
                for chunk in r.iter_bytes():
                    body += chunk
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise _SourceUnavailable(Reason.HTTP_ERROR, "answer too large")
                    if time.monotonic() > deadline:  # a TSA dripping its answer byte by byte
                        raise _SourceUnavailable(
                            Reason.TSA_TIMEOUT,
                            f"the answer was not complete within {self.timeout} s "
                            f"({len(body)} bytes arrived)",
                        )
                return body
        except httpx.TimeoutException as exc:
            got = f"{len(body)} bytes of the body arrived" if body else "no answer"
            raise _SourceUnavailable(
                Reason.TSA_TIMEOUT,
                f"the answer was not complete within {self.timeout} s "
                f"({got}; {type(exc).__name__})",
            ) from exc
        except httpx.HTTPError as exc:
            raise _SourceUnavailable(
                Reason.TSA_UNREACHABLE, f"{type(exc).__name__}: {exc}"
            ) from exc
        finally:
            _DEADLINE.reset(token)


@dataclass(frozen=True)
class LocalSource:
    """The store's own TSA as a source (always last: the fallback)."""

    tsa: LocalTSA
    name: str = "local"
    kind: Literal["external", "local"] = "local"
    certificates: tuple[x509.Certificate, ...] = ()

    @property
    def trusted_roots(self) -> tuple[x509.Certificate, ...]:
        """The local TSA's own root."""
        return (self.tsa.root_certificate,)

    def exchange(self, request_der: bytes) -> bytes:
        """Answer in-process."""
        return self.tsa.respond(request_der)


@dataclass(frozen=True)
class Attempt:
    """A source that was tried and refused."""

    source: str
    """The source's name."""
    kind: str
    """``external`` or ``local``."""
    reasons: tuple[Reason, ...]
    """Why its answer was refused (or why there was none)."""
    detail: str = ""
    """Words for people."""


@dataclass(frozen=True)
class TimestampResult:
    """A verified token and where it came from."""

    token: bytes
    """The bare TimeStampToken (DER ContentInfo), as stored."""
    source: str
    """Name of the source that produced it."""
    kind: str
    """``external`` or ``local``."""
    info: TokenInfo
    """genTime, serial, TSA name... of the token."""
    report: TokenReport
    """The verification made on receipt."""
    refused: tuple[Attempt, ...] = field(default=())
    """Sources tried before it, and why each was refused."""


def _try_source(
    source: TimestampSource,
    digest: bytes,
    hash_name: str,
    clock: Callable[[], dt.datetime],
    tolerance: dt.timedelta,
) -> TimestampResult | Attempt:
    nonce = secrets.randbits(63) | 1
    request = build_request(digest, nonce=nonce, cert_req=True, hash_name=hash_name)
    sent_at = clock()
    try:
        answer = source.exchange(request)
    except _SourceUnavailable as exc:
        return Attempt(source.name, source.kind, (exc.reason,), exc.detail)
    report = verify_response(
        answer,
        expected_digest=digest,
        trusted_roots=source.trusted_roots,
        expected_nonce=nonce,
        recorded_at=clock(),
        tolerance=tolerance,
        certificates=source.certificates,
        requested_at=sent_at,
    )
    if not report.ok or report.info is None:
        detail = "; ".join(c.detail for c in report.checks if c.reason is not None)
        return Attempt(source.name, source.kind, report.reasons, detail)
    return TimestampResult(
        token_from_response(answer), source.name, source.kind, report.info, report
    )


def obtain_timestamp(
    digest: bytes,
    sources: Sequence[TimestampSource],
    *,
    hash_name: str = "sha256",
    clock: Callable[[], dt.datetime] = utc_now,
    tolerance: dt.timedelta = DEFAULT_TOLERANCE,
) -> TimestampResult:
    """Try ``sources`` in order (external TSAs first, the local TSA last) and return the first
    token that verifies, with the refusals before it. Raises ``TimestampUnavailableError``."""
    refused: list[Attempt] = []
    for source in sources:
        outcome = _try_source(source, digest, hash_name, clock, tolerance)
        if isinstance(outcome, TimestampResult):
            return TimestampResult(
                outcome.token,
                outcome.source,
                outcome.kind,
                outcome.info,
                outcome.report,
                tuple(refused),
            )
        refused.append(outcome)
    raise TimestampUnavailableError(refused)


def obtain_timestamps(
    digests: Sequence[bytes],
    sources: Sequence[TimestampSource],
    *,
    clock: Callable[[], dt.datetime] = utc_now,
    tolerance: dt.timedelta = DEFAULT_TOLERANCE,
    verify_local: Literal["each", "first"] = "each",
    refused_before: Sequence[Sequence[Attempt]] = (),
) -> list[TimestampResult]:
    """``obtain_timestamp`` for many SHA-256 digests. An external source that was unreachable or
    timed out is not asked again in this call (offline: one timeout, not one per item); the
    local TSA signs what is left in one batch. ``verify_local="each"`` verifies each local
    token in full; ``"first"`` verifies the first in full and, for the others (same key, same
    certificate, same code), reads them back and checks their imprint only (the other checks
    are SKIPPED, said so in their detail); ``audit`` verifies every token in full later.
    ``refused_before``: per digest, the sources already asked in vain (before the write lock
    was taken), recorded first among the refusals."""
    results, refused = try_timestamps(
        digests,
        sources,
        clock=clock,
        tolerance=tolerance,
        verify_local=verify_local,
        refused_before=refused_before,
    )
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:
        raise TimestampUnavailableError(list(refused[missing[0]]))
    return [r for r in results if r is not None]


def try_timestamps(
    digests: Sequence[bytes],
    sources: Sequence[TimestampSource],
    *,
    clock: Callable[[], dt.datetime] = utc_now,
    tolerance: dt.timedelta = DEFAULT_TOLERANCE,
    verify_local: Literal["each", "first"] = "each",
    refused_before: Sequence[Sequence[Attempt]] = (),
) -> tuple[list[TimestampResult | None], list[tuple[Attempt, ...]]]:
    """What :func:`obtain_timestamps` does, without raising: per digest its token (None when
    no source gave one) and the refusals met."""
    results: list[TimestampResult | None] = [None] * len(digests)
    refused: list[list[Attempt]] = [
        list(refused_before[i]) if refused_before else [] for i in range(len(digests))
    ]
    for source in sources:
        pending = [i for i, r in enumerate(results) if r is None]
        if not pending:
            break
        if isinstance(source, LocalSource):
            answers = source.tsa.timestamp_batch([digests[i] for i in pending])
            first: TokenReport | None = None
            for i, answer in zip(pending, answers, strict=True):
                if verify_local == "each" or first is None:
                    report = verify_response(
                        answer,
                        expected_digest=digests[i],
                        trusted_roots=source.trusted_roots,
                        recorded_at=clock(),
                        tolerance=tolerance,
                    )
                    first = report
                else:
                    report = _read_back(answer, digests[i], first)
                if report.ok and report.info is not None:
                    results[i] = TimestampResult(
                        token_from_response(answer),
                        source.name,
                        source.kind,
                        report.info,
                        report,
                        tuple(refused[i]),
                    )
                else:
                    refused[i].append(Attempt(source.name, source.kind, report.reasons))
            continue
        outcomes = _ask_each(source, [digests[i] for i in pending], clock, tolerance)
        dead = next((o for o in outcomes if isinstance(o, Attempt) and _gone(o)), None)
        for i, outcome in zip(pending, outcomes, strict=True):
            if outcome is None:  # not asked: the source had stopped answering
                assert dead is not None
                refused[i].append(
                    Attempt(
                        source.name,
                        source.kind,
                        (Reason.SKIPPED_AFTER_FAILURE,) + dead.reasons,
                        dead.detail,
                    )
                )
            elif isinstance(outcome, TimestampResult):
                results[i] = TimestampResult(
                    outcome.token,
                    outcome.source,
                    outcome.kind,
                    outcome.info,
                    outcome.report,
                    tuple(refused[i]),
                )
            else:
                refused[i].append(outcome)
    return results, [tuple(r) for r in refused]


def _gone(attempt: Attempt) -> bool:
    """Whether a source that gave this refusal has stopped answering (unreachable, or no
    answer in time): it is not asked again in this call."""
    return bool({Reason.TSA_UNREACHABLE, Reason.TSA_TIMEOUT} & set(attempt.reasons))


def _ask_each(
    source: TimestampSource,
    digests: Sequence[bytes],
    clock: Callable[[], dt.datetime],
    tolerance: dt.timedelta,
) -> list[TimestampResult | Attempt | None]:
    """What ``source`` (a TSA over the network) answers for each digest, in their order:
    the first alone (a TSA that is down is asked once), then up to
    :data:`EXTERNAL_IN_FLIGHT` requests waiting at once. Once it has stopped answering
    (:func:`_gone`), the digests not asked yet are not asked (None)."""
    outcomes: list[TimestampResult | Attempt | None] = [None] * len(digests)
    first = outcomes[0] = _try_source(source, digests[0], "sha256", clock, tolerance)
    if len(digests) == 1 or (isinstance(first, Attempt) and _gone(first)):
        return outcomes
    from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

    workers = min(EXTERNAL_IN_FLIGHT, len(digests) - 1)
    waiting: dict[Future[TimestampResult | Attempt], int] = {}
    stopped = False
    with ThreadPoolExecutor(workers, thread_name_prefix="dalel-tsa") as pool:
        ahead = iter(range(1, len(digests)))
        while True:
            while not stopped and len(waiting) < workers:
                i = next(ahead, None)
                if i is None:
                    break
                ask = pool.submit(_try_source, source, digests[i], "sha256", clock, tolerance)
                waiting[ask] = i
            if not waiting:
                return outcomes
            done, _ = wait(waiting, return_when=FIRST_COMPLETED)
            for ask in done:
                outcome = outcomes[waiting.pop(ask)] = ask.result()
                stopped = stopped or (isinstance(outcome, Attempt) and _gone(outcome))


def _read_back(answer: bytes, digest: bytes, first: TokenReport) -> TokenReport:
    """The light check of a local batch token after the batch's first one was verified."""
    if not first.ok:
        return first
    try:
        info = read_token(answer)
    except MalformedTokenError as exc:
        return TokenReport((Check("well_formed", Status.FAILED, Reason.MALFORMED, str(exc)),), None)
    skipped = tuple(
        Check(c.id, Status.SKIPPED, None, "verified in full on the first token of this local batch")
        for c in first.checks
        if c.id not in ("status", "well_formed", "imprint")
    )
    imprint = _judge(
        "imprint", None if info.imprint == digest else "another digest", Reason.IMPRINT_MISMATCH
    )
    return TokenReport((_passed("well_formed"), imprint) + skipped, info)


def response_callable(sources: Sequence[TimestampSource]) -> Callable[[bytes], bytes]:
    """``digest -> DER TimeStampResp`` through ``obtain_timestamp``: the form
    ``evidence.pdf.sign.CallableTimeStamper`` takes for the dossier's PAdES timestamp."""
    return lambda digest: response_from_token(obtain_timestamp(digest, sources).token)
