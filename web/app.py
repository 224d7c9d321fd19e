"""The observers' web service: tus uploads, receipts, the public log, health.

Routes (public interface, keep them stable: native apps such as Tella upload to a tus server):

- ``OPTIONS /api/uploads``: tus discovery (``Tus-Version: 1.0.0``, creation, termination).
- ``POST /api/uploads`` (tus creation) with ``Authorization: Bearer TOKEN``; ``Upload-Metadata``
  keys ``filename``, ``sha256`` (hex), ``kind``, ``precinct``, ``note``; ``Location`` names the
  upload; ``HEAD``/``PATCH``/``DELETE`` on it as tus 1.0 says.
- ``GET <upload>/receipt``: 409 while bytes are missing, 202 with the signed acknowledgement
  while the batch is pending, 200 with the receipt JSON once committed, 422 with the named
  reason when the file was refused.
- ``GET /log/checkpoint``, ``GET /log/key``, ``GET /log/proof/inclusion?index=I&size=N``,
  ``GET /log/proof/consistency?from=M&to=N``: the public log (read-only, cacheable).
- ``GET /health``.

Every answer carries a strict Content-Security-Policy; an error is a JSON body with a named
reason and a plain message, never a stack trace (an unexpected one is saved to the store's
``logs/`` and answered with ``INTERNAL``). The access log (logger ``dalel.web.access``, JSON
lines) names the method, the path with upload ids masked, the status and the time taken:
never a token, a query string, a file name or an IIN.

We implement tus 1.0 core + creation + termination ourselves (about 150 lines) rather than
mount tuspyserver: the upload must stay the store's (0700, inside the store, fsynced before
it is acknowledged), be owned by an invite and be handed to the custody pipeline, and the
protocol part is small.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import math
import os
import re
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import observers, upload_parts, uploads
from app.publiclog import PublicLog
from base.errors import DalelError, cannot_write
from evidence.storage.backends import DatabaseUnavailable, database_unavailable
from evidence.storage.store import Store
from web import bundle, verifypage, workspace

STATIC = Path(__file__).parent / "static"
"""The pages' files: ``vendor/`` (vendored JavaScript), ``phone/`` (the observers' app, at
``/o/``), ``verify/`` (the receipt-check page, at ``/verify/``)."""
TUS_VERSION = "1.0.0"
MAX_SMALL_BODY = 64 * 1024
LARGER_BODIES = {"/api/coverage/import": 8 * 2**20}
"""Routes whose bodies may be larger: another organisation's coverage note (a whole country's
precincts; ``app.coverage.MAX_NOTE``)."""
WRITE_EVERY = 256 * 1024
"""An upload's bytes are written (and hashed) in pieces of about this size: 200 uploads at
once hold some 50 MB of them."""
"""Largest body any request but a PATCH may carry."""
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
_STATUS = {
    uploads.Reason.NOT_FOUND: 404,
    uploads.Reason.BAD_METADATA: 400,
    uploads.Reason.TOO_LARGE: 413,
    uploads.Reason.RATE_LIMITED: 429,
    uploads.Reason.OFFSET_MISMATCH: 409,
    uploads.Reason.ALREADY_RECEIVED: 409,
}
PUBLIC = {"Access-Control-Allow-Origin": "*"}
"""The public log is read by receipt-check pages hosted anywhere (or opened from a file)."""
_MASK = re.compile(r"/[A-Za-z0-9_-]{22}(?=/|$)")
access_log = logging.getLogger("dalel.web.access")
log = logging.getLogger("dalel.web")


class Refused(Exception):
    """An HTTP answer other than success, with a named reason."""

    def __init__(self, status: int, reason: str, message: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


def _tus_headers(**more: str) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, **more}


def _error(status: int, reason: str, message: str = "") -> JSONResponse:
    body: dict[str, Any] = {"error": reason}
    if message:
        body["message"] = message
    return JSONResponse(
        body, status_code=status, headers=_tus_headers(**{"Cache-Control": "no-store"})
    )


def parse_metadata(header: str) -> dict[str, str]:
    """tus ``Upload-Metadata``: comma-separated ``key base64value`` pairs."""
    out: dict[str, str] = {}
    if len(header) > 16 * 1024:
        raise Refused(400, "BAD_METADATA", "Upload-Metadata is too long")
    for pair in filter(None, (p.strip() for p in header.split(","))):
        key, _, value = pair.partition(" ")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", key) or key in out:
            raise Refused(400, "BAD_METADATA", "Upload-Metadata has a bad or repeated key")
        try:
            out[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Refused(
                400, "BAD_METADATA", f"Upload-Metadata {key} is not base64 UTF-8"
            ) from None
    return out


def _int_header(request: Request, name: str, *, required: bool = True) -> int | None:
    raw = request.headers.get(name)
    if raw is None:
        if required:
            raise Refused(400, "BAD_REQUEST", f"{name} is missing")
        return None
    if not re.fullmatch(r"\d{1,19}", raw.strip()):
        raise Refused(400, "BAD_REQUEST", f"{name} must be a whole number of bytes")
    return int(raw)


class Service:
    """One store served: its public log view, the routes, and the sequencer (a process of
    its own, :mod:`web.sequencer`, that commits received uploads in batches)."""

    def __init__(self, store: Store, *, batch_every: float = 2.0) -> None:
        self.store = store
        self.public = PublicLog(store)
        self.batch_every = batch_every
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._committed = asyncio.Event()
        """Set (and replaced) each time the sequencer has committed a batch."""
        self.shared = upload_parts.shared(store)
        """Whether uploads in progress are shared with other servers (PostgreSQL and S3)."""

    # --- the sequencer ---------------------------------------------------------------------
    def start(self) -> None:
        """Start the sequencer (from the event loop's thread: it dies with that thread); it
        first commits what a previous run received."""
        self._loop = asyncio.get_running_loop()
        self._committed = asyncio.Event()
        if not uploads.intake_only(self.store):  # (the server holding the log commits)
            self._spawn()

    def _spawn(self) -> None:
        if self._stopping or self._loop is None:
            return
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "web.sequencer",
                "--every",
                str(self.batch_every),
                "--parent",
                str(os.getpid()),
                str(self.store.root),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=Path(__file__).resolve().parents[1],
        )
        assert proc.stdin is not None and proc.stdout is not None
        os.set_blocking(proc.stdin.fileno(), False)
        self._proc = proc
        self._loop.add_reader(proc.stdout.fileno(), self._heard, proc)

    def _heard(self, proc: subprocess.Popen[bytes]) -> None:
        """In the event loop: the sequencer committed a batch, or ended."""
        assert proc.stdout is not None and self._loop is not None
        try:
            said = os.read(proc.stdout.fileno(), 4096)
        except OSError:
            said = b""
        if said:
            self._batch_done()
            return
        self._loop.remove_reader(proc.stdout.fileno())
        proc.stdout.close()
        if not self._stopping:  # it must not stay down: what it was doing is done again
            log.error("the sequencer stopped (exit %s); starting it again", proc.poll())
            self._loop.call_later(1.0, self._spawn)

    def wake(self) -> None:
        """Tell the sequencer an upload was received (it looks anyway every few seconds)."""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdin.closed:
            return
        try:
            os.write(proc.stdin.fileno(), b"w")
        except OSError:
            pass  # a full pipe already wakes it; a dead one is started again

    async def stop(self) -> None:
        """Commit what is received, then stop the sequencer."""
        self._stopping = True
        proc = self._proc
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()  # it commits what is left, then ends
        try:
            await anyio.to_thread.run_sync(proc.wait, 120)
        except subprocess.TimeoutExpired:
            proc.kill()
            await anyio.to_thread.run_sync(proc.wait)

    def _batch_done(self) -> None:
        """In the event loop: wake every receipt request waiting for a batch."""
        done, self._committed = self._committed, asyncio.Event()
        done.set()

    # --- auth ----------------------------------------------------------------------------
    def _invite(self, request: Request) -> observers.Invite:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        inv = (
            observers.authenticate(self.store, token.strip())
            if scheme.lower() == "bearer"
            else None
        )
        if inv is None:
            raise Refused(401, "UNAUTHORIZED")
        return inv

    async def me(self, request: Request) -> Response:
        """What the phone needs to know of its invite: its precinct and when it ends."""
        inv = self._invite(request)
        return JSONResponse(
            {
                "invite": inv.id,
                "precinct": inv.precinct,
                "expires": inv.expires,
                "observer": inv.observer,
            },
            headers={"Cache-Control": "no-store"},
        )

    async def give_iin(self, request: Request) -> Response:
        """The observer gives their IIN once: checked, made the store's pseudonym, dropped.
        Only a JSON body with the bearer token is read (no form, no cookie: nothing another
        site can make a browser send). The answer is the pseudonym, never the IIN."""
        inv = self._invite(request)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise Refused(415, "BAD_CONTENT_TYPE", "send the IIN as JSON")
        try:
            body = json.loads(await request.body())
            iin = body["iin"] if isinstance(body, dict) else None
        except (ValueError, KeyError):
            iin = None
        if not isinstance(iin, str):
            raise Refused(400, "BAD_REQUEST", 'send {"iin": "..."}')
        try:
            given = await anyio.to_thread.run_sync(observers.give_iin, self.store, inv.id, iin)
        except observers.IinRefused as e:
            status = {"IIN_INVALID": 422, "IIN_ALREADY_GIVEN": 409}.get(e.reason, 401)
            raise Refused(status, e.reason, e.message if status != 401 else "") from None
        return JSONResponse({"observer": given.observer}, headers={"Cache-Control": "no-store"})

    # --- tus -----------------------------------------------------------------------------
    async def options(self, request: Request) -> Response:
        return Response(
            status_code=204,
            headers=_tus_headers(
                **{
                    "Tus-Version": TUS_VERSION,
                    "Tus-Extension": "creation,termination",
                    "Tus-Max-Size": str(uploads.Limits.of(self.store).max_bytes),
                }
            ),
        )

    def _check_version(self, request: Request) -> None:
        v = request.headers.get("tus-resumable")
        if v is not None and v != TUS_VERSION:
            raise Refused(412, "TUS_VERSION", f"this server speaks tus {TUS_VERSION}")

    async def create(self, request: Request) -> Response:
        self._check_version(request)
        inv = self._invite(request)
        if request.headers.get("upload-defer-length"):
            raise Refused(400, "BAD_REQUEST", "Upload-Length must be given")
        length = _int_header(request, "upload-length")
        assert length is not None
        meta = parse_metadata(request.headers.get("upload-metadata", ""))
        up = await anyio.to_thread.run_sync(uploads.create, self.store, inv, length, meta)
        return Response(
            status_code=201,
            headers=_tus_headers(Location=f"/api/uploads/{up.id}", **{"Upload-Offset": "0"}),
        )

    async def head(self, request: Request) -> Response:
        self._check_version(request)
        inv = self._invite(request)
        up = uploads.get(self.store, inv, request.path_params["upload_id"])
        return Response(
            status_code=200,
            headers=_tus_headers(
                **{
                    "Upload-Offset": str(up.offset),
                    "Upload-Length": str(up.length),
                    "Cache-Control": "no-store",
                }
            ),
        )

    async def patch(self, request: Request) -> Response:
        self._check_version(request)
        inv = self._invite(request)
        if request.headers.get("content-type", "").split(";")[0].strip() != (
            "application/offset+octet-stream"
        ):
            raise Refused(
                415, "BAD_CONTENT_TYPE", "use Content-Type: application/offset+octet-stream"
            )
        offset = _int_header(request, "upload-offset")
        assert offset is not None
        appender = await anyio.to_thread.run_sync(
            uploads.open_append, self.store, inv, request.path_params["upload_id"], offset
        )
        # The bytes are written and hashed a MiB at a time in a worker thread (both release
        # the GIL): the event loop goes on reading the other observers' requests meanwhile.
        held: list[bytes] = []
        size = 0
        try:
            try:
                async for chunk in request.stream():
                    held.append(chunk)
                    size += len(chunk)
                    if size >= WRITE_EVERY:
                        data, held, size = b"".join(held), [], 0
                        await anyio.to_thread.run_sync(appender.write, data)
            except ClientDisconnect:
                pass  # a cut connection: what arrived is kept, the phone resumes from there
            if size:
                await anyio.to_thread.run_sync(appender.write, b"".join(held))
        finally:
            up = await anyio.to_thread.run_sync(appender.close)
        if up.received is not None:
            self.wake()
        return Response(status_code=204, headers=_tus_headers(**{"Upload-Offset": str(up.offset)}))

    async def delete(self, request: Request) -> Response:
        self._check_version(request)
        inv = self._invite(request)
        uploads.terminate(self.store, inv, request.path_params["upload_id"])
        return Response(status_code=204, headers=_tus_headers())

    async def receipt(self, request: Request) -> Response:
        """The receipt (200), or the acknowledgement while the batch is pending (202). With
        ``Prefer: wait=N`` (RFC 7240; at most :data:`MAX_WAIT` seconds) a pending answer
        waits until the upload's batch is committed or the time is up: a phone asks once
        instead of every second."""
        inv = self._invite(request)
        upload_id = request.path_params["upload_id"]
        wait = _prefer_wait(request)
        deadline = time.monotonic() + wait
        while True:
            committed = self._committed  # taken before looking: a batch done meanwhile sets it
            state = uploads.receipt(self.store, inv, upload_id)
            left = deadline - time.monotonic()
            if state.state != "received" or left <= 0:
                break
            # a batch committed by another server is not heard of here: look again each second
            with anyio.move_on_after(min(left, 1.0) if self.shared else left):
                await committed.wait()
        status = {"uploading": 409, "received": 202, "receipted": 200, "refused": 422}[state.state]
        body = {"state": state.state, **state.body} if state.state != "receipted" else state.body
        headers = {"Cache-Control": "no-store"}
        if wait:
            headers["Preference-Applied"] = f"wait={wait:g}"
        return JSONResponse(body, status_code=status, headers=headers)

    async def receipt_qr(self, request: Request) -> Response:
        """The receipt as a QR code (PNG): a link to ``/verify`` carrying the receipt without
        its timestamp token, which would not fit (the file keeps it)."""
        inv = self._invite(request)
        state = uploads.receipt(self.store, inv, request.path_params["upload_id"])
        if state.state != "receipted":
            raise Refused(409, "NOT_RECEIPTED", "this upload has no receipt yet")
        link = verifypage.qr_link(observers.public_url(self.store), state.body)
        png = await anyio.to_thread.run_sync(verifypage.qr_png, link)
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

    # --- the receipt-check page ---------------------------------------------------------------
    async def verify_page(self, request: Request) -> Response:
        key = self.store.public_key()
        html = verifypage.render(key, published_url=observers.public_url(self.store).rstrip("/"))
        return HTMLResponse(html, headers={"Cache-Control": "no-cache"})

    async def verify_script(self, request: Request) -> Response:
        return Response(
            bundle.verify_script(),
            media_type="text/javascript; charset=utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    # --- the public log --------------------------------------------------------------------
    async def checkpoint(self, request: Request) -> Response:
        return PlainTextResponse(
            self.public.checkpoint(), headers={"Cache-Control": "max-age=5", **PUBLIC}
        )

    async def key(self, request: Request) -> Response:
        return PlainTextResponse(
            self.public.key(), headers={"Cache-Control": "max-age=3600", **PUBLIC}
        )

    async def inclusion(self, request: Request) -> Response:
        index, size = _query_ints(request, "index", "size")
        proof = await anyio.to_thread.run_sync(self.public.inclusion, index, size)
        return JSONResponse(proof, headers={"Cache-Control": "public, max-age=3600", **PUBLIC})

    async def consistency(self, request: Request) -> Response:
        old, new = _query_ints(request, "from", "to")
        proof = await anyio.to_thread.run_sync(self.public.consistency, old, new)
        return JSONResponse(proof, headers={"Cache-Control": "public, max-age=3600", **PUBLIC})

    async def health(self, request: Request) -> Response:
        head = self.store.latest_checkpoint()
        return JSONResponse(
            {
                "status": "ok",
                "log_size": head.checkpoint.size if head else 0,
                "uploads_waiting": len(uploads.pending(self.store)),
                "sequencer": "on the server that holds the log"
                if uploads.intake_only(self.store)
                else "running"
                if self._proc is not None and self._proc.poll() is None
                else "starting again",
            },
            headers={"Cache-Control": "no-store"},
        )


MAX_WAIT = 30.0
"""Longest a receipt request may wait for its batch (``Prefer: wait=N``): below the 60 s
a reverse proxy such as nginx allows a response by default."""


def _prefer_wait(request: Request) -> float:
    """Seconds asked for by ``Prefer: wait=N`` (RFC 7240), within 0..MAX_WAIT; 0 without."""
    for pref in request.headers.get("prefer", "").split(","):
        name, _, value = pref.strip().partition("=")
        if name.strip().lower() == "wait":
            try:
                asked = float(value.strip().strip('"'))
            except ValueError:
                return 0.0
            return min(max(asked, 0.0), MAX_WAIT) if math.isfinite(asked) else 0.0
    return 0.0


def _query_ints(request: Request, *names: str) -> list[int]:
    out = []
    for name in names:
        raw = request.query_params.get(name, "")
        if not re.fullmatch(r"\d{1,19}", raw):
            raise Refused(400, "BAD_REQUEST", f"{name} must be a whole number")
        out.append(int(raw))
    return out


def _save_traceback(store: Store, where: str) -> str:
    logs = store.root / "logs"
    name = f"web-{where}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}.txt"
    try:
        logs.mkdir(exist_ok=True)
        (logs / name).write_text(traceback.format_exc())
    except OSError as e:  # a full or read-only disk: say so on the server's own log
        log.error("error in %s (%s); no details could be saved: %s", where, _last_line(), e)
        return ""
    log.error("internal error in %s; the details are in logs/%s", where, name)
    return name


def _last_line() -> str:
    lines = traceback.format_exc().strip().splitlines()
    return lines[-1][:300] if lines else ""


class Guard:
    """One ASGI middleware for every route: security headers, a size limit on bodies that
    are not uploads, the access log, and no stack trace ever reaching a client."""

    def __init__(self, app: ASGIApp, store: Store) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}
        sent = {"started": False}

        async def send_guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent["started"] = True
                status["code"] = message["status"]
                headers = list(message.get("headers", []))
                for k, v in (
                    (b"content-security-policy", CSP),
                    (b"x-content-type-options", "nosniff"),
                    (b"referrer-policy", "no-referrer"),
                    (b"x-frame-options", "DENY"),
                ):
                    headers.append((k, v.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            length = dict(scope.get("headers", [])).get(b"content-length")
            limit = LARGER_BODIES.get(scope.get("path", ""), MAX_SMALL_BODY)
            if scope["method"] != "PATCH" and length and int(length) > limit:
                await _error(413, "TOO_LARGE", "this request's body is too large")(
                    scope, receive, send_guarded
                )
            else:
                await self.app(scope, receive, send_guarded)
        except Exception as e:
            down = database_unavailable(e)
            if down is None:
                _save_traceback(self.store, "request")
            if not sent["started"]:  # (else the app's handler answered, and said why)
                answer = _database_down(down) if down else _internal()
                await answer(scope, receive, send_guarded)
        finally:
            line: dict[str, Any] = {
                "method": scope["method"],
                "path": _MASK.sub("/:id", scope["path"])[:200],
                "status": status["code"],
                "ms": round((time.perf_counter() - started) * 1000, 1),
            }
            offset = dict(scope.get("headers", [])).get(b"upload-offset")
            if scope["method"] == "PATCH" and offset and offset.isdigit():
                line["offset"] = int(offset)  # where a resumed upload went on from
            access_log.info(json.dumps(line))


DATABASE_DOWN = (
    "the server cannot reach its database just now; nothing was lost: try again in a minute"
)
RETRY_AFTER = 30
"""Seconds a client is asked to wait (``Retry-After``) when the database is down."""


def _internal() -> Response:
    return _error(500, "INTERNAL", "an internal error; it was logged")


def _database_down(down: DatabaseUnavailable) -> Response:
    """503, in plain words, for the store's database not answering: the server's log says
    why (one line, no traceback: it is the environment, not a bug); the client, when to
    try again."""
    log.warning("%s (answered 503)", down.message)
    answer = _error(503, "DATABASE_UNAVAILABLE", DATABASE_DOWN)
    answer.headers["Retry-After"] = str(RETRY_AFTER)
    return answer


def _unexpected(request: Request, exc: Exception) -> Response:
    """What an exception no other handler took is answered: 503 when it is the database
    down, else 500 (:class:`Guard` keeps its traceback in the store's ``logs/``)."""
    down = database_unavailable(exc)
    return _database_down(down) if down else _internal()


def _refused(request: Request, exc: Exception) -> Response:
    if isinstance(exc, Refused):
        return _error(exc.status, exc.reason, exc.message)
    if isinstance(exc, uploads.UploadRefused):
        return _error(_STATUS[exc.reason], exc.reason.value, exc.message)
    if isinstance(exc, DatabaseUnavailable):
        return _database_down(exc)
    if isinstance(exc, DalelError):
        return _error(400 if exc.exit_code == 2 else 500, type(exc).__name__, exc.message)
    service = getattr(request.app.state, "service", None)
    root = service.store.root if service is not None else None
    if isinstance(exc, OSError) and cannot_write(exc, disk=root) is not None:
        if service is not None:
            _save_traceback(service.store, "request")
        return _error(507, "STORE_CANNOT_WRITE", CANNOT_WRITE)  # the phone tries again
    raise exc


CANNOT_WRITE = (
    "the server cannot take files just now (its disk); what you sent so far is kept: "
    "try again later"
)


def create_app(store: Store, *, batch_every: float = 2.0, warm: bool = True) -> Starlette:
    """The ASGI application serving ``store``. With ``warm``, a thread reads the log into what
    the workspace keeps between requests as it starts (``app.state.warmed`` then holds the
    seconds each part took)."""
    service = Service(store, batch_every=batch_every)
    lock = threading.Lock()
    # A server on a machine without the log takes observers' uploads only (what it would
    # show of the log, the workspace and the receipt-check page is the log's server's).
    whole = not uploads.intake_only(store)
    warm = warm and whole

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.start()
        if warm:
            threading.Thread(
                target=lambda: app.state.warmed.update(workspace.warm_up(store, lock)),
                name="dalel-warm-up",
                daemon=True,
            ).start()
        try:
            yield
        finally:
            await service.stop()

    routes = [
        Route("/health", service.health, methods=["GET"]),
        Route("/api/me", service.me, methods=["GET"]),
        Route("/api/me/iin", service.give_iin, methods=["POST"]),
        Route("/api/uploads", service.options, methods=["OPTIONS"]),
        Route("/api/uploads", service.create, methods=["POST"]),
        Route("/api/uploads/{upload_id}", service.head, methods=["HEAD"]),
        Route("/api/uploads/{upload_id}", service.patch, methods=["PATCH"]),
        Route("/api/uploads/{upload_id}", service.delete, methods=["DELETE"]),
        Route("/api/uploads/{upload_id}/receipt", service.receipt, methods=["GET"]),
        Mount("/static/vendor", StaticFiles(directory=STATIC / "vendor")),
        Mount("/o", StaticFiles(directory=STATIC / "phone", html=True, check_dir=False)),
        Route("/api/uploads/{upload_id}/receipt/qr", service.receipt_qr, methods=["GET"]),
    ]
    if whole:
        routes += _log_and_workspace_routes(service, store, lock)
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            Refused: _refused,
            uploads.UploadRefused: _refused,
            DalelError: _refused,
            OSError: _refused,
            Exception: _unexpected,  # (Starlette's last resort: the database down, or a bug)
        },
    )
    app.state.service = service
    app.state.warmed = {}
    return app


def _log_and_workspace_routes(service: Service, store: Store, lock: threading.Lock) -> list[Any]:
    """What the server that holds the log serves besides uploads."""
    return [
        Route("/log/checkpoint", service.checkpoint, methods=["GET"]),
        Route("/log/key", service.key, methods=["GET"]),
        Route("/log/proof/inclusion", service.inclusion, methods=["GET"]),
        Route("/log/proof/consistency", service.consistency, methods=["GET"]),
        Route("/verify", service.verify_page, methods=["GET"]),
        Route("/verify/", service.verify_page, methods=["GET"]),
        Route("/verify/page.js", service.verify_script, methods=["GET"]),
        Mount("/static/verify", StaticFiles(directory=STATIC / "verify")),
        *workspace.routes(store, lock),
    ]


def guarded(store: Store, *, batch_every: float = 2.0) -> ASGIApp:
    """The application behind its guard: what a server runs."""
    return Guard(create_app(store, batch_every=batch_every), store)
