"""A real C2SP tlog-witness over HTTP on loopback, for tests.

    with LoopbackWitness({origin: log_public_key}) as witness:
        witness.url, witness.key  # the submission prefix, the cosigner's public key
        ...

``POST /add-checkpoint`` follows c2sp.org/tlog-witness: 404 for a log it does not know, 403
when no trusted signature verifies, 400 for an old size above the checkpoint's, 409 (with its
latest size, ``text/x.tlog.size``) when the old size is not the last one it cosigned, 422 when
the consistency proof does not verify (or the same size comes with another root); otherwise it
records the checkpoint (check and update under one lock) and answers with its Ed25519
cosignature (cosignature/v1). ``GET /<sha256(origin) hex>/checkpoint`` serves the latest
cosigned checkpoint. It binds 127.0.0.1 only, on a free port, with an in-memory key.
"""

from __future__ import annotations

import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

from evidence.core import checkpoint as cp
from evidence.core import merkle, witness
from evidence.core.keys import PublicKey

MAX_BODY = 64 * 1024


class LoopbackWitness:
    """A witness for the logs it is given (origin -> the log's public key)."""

    def __init__(self, logs: dict[str, PublicKey], *, name: str = "witness.test/w1") -> None:
        self.logs = dict(logs)
        self.signer = witness.CosigningKey.generate(name)
        #: per origin: the latest cosigned checkpoint (size, root, note with cosignature)
        self.latest: dict[str, tuple[int, bytes, str]] = {}
        #: every request answered: (status, origin or "")
        self.answers: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def key(self) -> witness.CosignerKey:
        """The cosigner's public key (``key.vkey()`` is what a log is configured with)."""
        return self.signer.public

    @property
    def url(self) -> str:
        """The submission prefix."""
        assert self._server is not None, "the witness is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Self:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def add_checkpoint(self, body: bytes) -> tuple[int, str, bytes]:
        """(HTTP status, content type, body) of the answer to an ``add-checkpoint``."""
        try:
            old, proof, note = witness.parse_add_checkpoint(body)
            head = cp.parse(note)
        except (ValueError, UnicodeDecodeError) as e:
            return 400, "text/plain", f"{e}\n".encode()
        c = head.checkpoint
        key = self.logs.get(c.origin)
        if key is None:
            return 404, "text/plain", b"unknown log\n"
        if not head.signed_by(key):
            return 403, "text/plain", b"no valid signature from the log's key\n"
        if old > c.size:
            return 400, "text/plain", b"old size above the checkpoint's\n"
        if c.size == 0 and c.root != merkle.EMPTY_ROOT:
            return 422, "text/plain", b"an empty tree with another root\n"
        with self._lock:  # check and update atomically (tlog-witness)
            size, root, _ = self.latest.get(c.origin, (0, merkle.EMPTY_ROOT, ""))
            if old != size:
                return 409, witness.SIZE_CONTENT_TYPE, f"{size}\n".encode()
            if old == 0:
                consistent = not proof
            elif old == c.size:
                consistent = not proof and root == c.root
            else:
                consistent = merkle.verify_consistency(old, c.size, root, c.root, proof)
            if not consistent:
                return 422, "text/plain", b"not consistent with the last checkpoint seen\n"
            line = self.signer.cosign(c.body(), int(time.time()))
            self.latest[c.origin] = (c.size, c.root, note + line)
        return 200, "text/plain; charset=utf-8", line.encode()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, ctype: str, body: bytes, origin: str = "") -> None:
                server.answers.append((status, origin))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                if self.path.rstrip("/") != "/add-checkpoint":
                    self._answer(404, "text/plain", b"not found\n")
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._answer(413, "text/plain", b"too large\n")
                    return
                status, ctype, body = server.add_checkpoint(self.rfile.read(length))
                self._answer(status, ctype, body)

            def do_GET(self) -> None:
                parts = self.path.strip("/").split("/")
                with server._lock:
                    found = [
                        note
                        for origin, (_, _, note) in server.latest.items()
                        if parts == [hashlib.sha256(origin.encode()).hexdigest(), "checkpoint"]
                    ]
                if found:
                    self._answer(200, "text/plain; charset=utf-8", found[0].encode())
                else:
                    self._answer(404, "text/plain", b"never cosigned\n")

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        return Handler


class LoopbackCollector:
    """An HTTP endpoint on loopback that keeps every body POSTed or PUT to it
    (``received``), answering ``status`` (201 by default)."""

    def __init__(self, *, status: int = 201) -> None:
        self.status = status
        self.received: list[bytes] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the collector is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/checkpoints"

    def __enter__(self) -> Self:
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
                body = self.rfile.read(length)
                if 200 <= collector.status < 300:
                    collector.received.append(body)
                self.send_response(collector.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_PUT = do_POST

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
