"""A real RFC 3161 TSA over HTTP on loopback, for tests, that can misbehave on demand.

    with LoopbackTSA() as server:
        source = ExternalTSA("loopback", server.url, (server.root_certificate,), timeout=1.0)
        server.mode = Mode.WRONG_NONCE
        ...

It binds 127.0.0.1 only, on a free port, and signs with in-memory keys (a fresh root and
TSA certificate per server). Each ``Mode`` is one way a TSA can go wrong; ``down_url()``
gives the URL of a port where nothing listens.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from evidence.timestamping.tsa import (
    Clock,
    LocalTSA,
    MemorySerialAllocator,
    issue_tsa_certificate,
    make_root_certificate,
    rejection_response,
    utc_now,
)

#: Policy OID of the loopback TSA (a UUID OID, distinct from the local TSA default).
LOOPBACK_POLICY_OID = "2.25.329800735698586629295641978511506172918"
#: Answer body in ``Mode.GARBAGE``.
GARBAGE = b"<html>503 Service Temporarily Unavailable</html>\n"


class Mode(enum.Enum):
    """How the server answers."""

    OK = "ok"
    """A correct token from the trusted TSA."""
    GARBAGE = "garbage"
    """HTTP 200 with a body that is not a TimeStampResp."""
    OTHER_HASH = "other_hash"
    """A valid token, but over a different digest than the one asked for."""
    WRONG_NONCE = "wrong_nonce"
    """A valid token echoing a nonce other than the request's."""
    SLOW = "slow"
    """A correct token, after ``slow_seconds``."""
    DRIP = "drip"
    """A correct token sent one byte every tenth of a second (each read is quick; the whole
    answer is not)."""
    DRIP_HEADERS = "drip_headers"
    """The status line and headers sent one byte every tenth of a second, then nothing: the
    client never even learns the status (a read timeout alone never fires)."""
    UNTRUSTED = "untrusted"
    """A valid token from a TSA whose root nobody configured."""
    EXPIRED_CERT = "expired_cert"
    """A token from a TSA certificate (under the trusted root) whose validity ended before
    the token's time."""
    BACKDATED = "backdated"
    """A valid token whose time is a day before the request (the TSA's clock is behind)."""
    HTTP_ERROR = "http_error"
    """HTTP 500."""
    REJECT = "reject"
    """A well-formed TimeStampResp with status ``rejection``."""


def _tsa(
    root_key: ec.EllipticCurvePrivateKey,
    root: x509.Certificate,
    org: str,
    not_before: dt.datetime,
    not_after: dt.datetime,
    clock: Clock = utc_now,
) -> LocalTSA:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = issue_tsa_certificate(
        root_key, root, key.public_key(), org, not_before=not_before, not_after=not_after
    )
    return LocalTSA(
        private_key=key,
        certificate=cert,
        root_certificate=root,
        serials=MemorySerialAllocator(),
        policy_oid=LOOPBACK_POLICY_OID,
        clock=clock,
    )


class LoopbackTSA:
    """An HTTP RFC 3161 TSA on 127.0.0.1; ``mode`` may be changed at any time."""

    def __init__(self, *, mode: Mode = Mode.OK, slow_seconds: float = 3.0) -> None:
        self.mode = mode
        self.slow_seconds = slow_seconds
        self.requests = 0
        """Number of requests received."""
        self.most_at_once = 0
        """The most requests it was answering at one time."""
        self._at_once = 0
        self._counting = threading.Lock()
        now = utc_now()
        root_key = ec.generate_private_key(ec.SECP256R1())
        self.root_certificate = make_root_certificate(
            root_key,
            "Loopback TSA",
            not_before=now - dt.timedelta(days=3650),
            not_after=now + dt.timedelta(days=3650),
        )
        """The root a client must trust for this server's good tokens."""
        self.tsa = _tsa(
            root_key,
            self.root_certificate,
            "Loopback TSA",
            now - dt.timedelta(days=1),
            now + dt.timedelta(days=365),
        )
        self.expired_tsa = _tsa(
            root_key,
            self.root_certificate,
            "Loopback TSA (expired)",
            now - dt.timedelta(days=1000),
            now - dt.timedelta(days=600),
        )
        self.backdated_tsa = _tsa(
            root_key,
            self.root_certificate,
            "Loopback TSA (slow clock)",
            now - dt.timedelta(days=30),
            now + dt.timedelta(days=365),
            clock=lambda: utc_now() - dt.timedelta(days=1),
        )
        rogue_key = ec.generate_private_key(ec.SECP256R1())
        rogue_root = make_root_certificate(
            rogue_key,
            "Rogue TSA",
            not_before=now - dt.timedelta(days=1),
            not_after=now + dt.timedelta(days=365),
        )
        self.untrusted_tsa = _tsa(
            rogue_key,
            rogue_root,
            "Rogue TSA",
            now - dt.timedelta(days=1),
            now + dt.timedelta(days=365),
        )
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where to POST RFC 3161 requests."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/tsa"

    def start(self) -> Self:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (slow answers in progress are abandoned)."""
        self._stopping.set()
        if self._thread is not None:  # shutdown() waits forever if serve_forever never ran
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def answer(self, request_der: bytes) -> tuple[int, bytes]:
        """The HTTP status and body this server gives to ``request_der`` in its current mode."""
        with self._counting:
            self.requests += 1
            self._at_once += 1
            self.most_at_once = max(self.most_at_once, self._at_once)
        try:
            return self._answer(request_der)
        finally:
            with self._counting:
                self._at_once -= 1

    def _answer(self, request_der: bytes) -> tuple[int, bytes]:
        mode = self.mode
        if mode is Mode.HTTP_ERROR:
            return 500, b"internal error"
        if mode is Mode.GARBAGE:
            return 200, GARBAGE
        if mode is Mode.REJECT:
            return 200, rejection_response("system_failure", "TSA is shutting down")
        if mode is Mode.SLOW and self._stopping.wait(self.slow_seconds):
            return 503, b"stopping"
        if mode is Mode.UNTRUSTED:
            return 200, self.untrusted_tsa.respond(request_der)
        if mode is Mode.BACKDATED:
            return 200, self.backdated_tsa.respond(request_der)
        if mode is Mode.EXPIRED_CERT:
            return 200, self.expired_tsa.respond(request_der)
        if mode in (Mode.OTHER_HASH, Mode.WRONG_NONCE):
            request = tsp.TimeStampReq.load(request_der)
            digest = request["message_imprint"]["hashed_message"].native
            nonce = request["nonce"].native
            if mode is Mode.OTHER_HASH:
                digest = hashlib.sha256(b"another item" + digest).digest()
            else:
                nonce = (nonce or 0) + 1
            return 200, self.tsa.timestamp(digest, nonce=nonce)
        return 200, self.tsa.respond(request_der)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, body = server.answer(self.rfile.read(length))
                if server.mode is Mode.DRIP_HEADERS:
                    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\n"
                    try:
                        for i in range(len(head)):
                            self.wfile.write(head[i : i + 1])
                            self.wfile.flush()
                            if server._stopping.wait(0.1):
                                return
                    except OSError:
                        pass
                    self.close_connection = True
                    return
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/timestamp-reply")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if server.mode is Mode.DRIP:
                        for i in range(len(body)):
                            self.wfile.write(body[i : i + 1])
                            self.wfile.flush()
                            if server._stopping.wait(0.1):
                                return
                    else:
                        self.wfile.write(body)
                except OSError:  # the client gave up (timeout): nothing to do
                    pass

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler


def down_url() -> str:
    """A loopback URL where nothing listens (a TSA that is down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/tsa"
