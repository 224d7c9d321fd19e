"""`dalel serve`, as a phone meets it: a real server on loopback, tus uploads that resume,
receipts that verify, the public log, and every bad request answered without a trace."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app import observers, uploads
from evidence.core import checkpoint as cp
from evidence.core import merkle
from evidence.storage.store import Store
from testing.ports import free_port
from tests.conftest import ROOT, VALID_IIN, dalel_subprocess, make_photo


class Server:
    def __init__(self, store: Path) -> None:
        self.store = store
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = store.parent / f"serve-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cli",
                "--store",
                str(self.store),
                "serve",
                "--port",
                str(self.port),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "ab"),
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("the server did not start: " + self.log.read_text())

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()


def _meta(**fields: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in fields.items())


def _invite(store: Path, precinct: str = "31") -> observers.Issued:
    return observers.invite(Store.open(store), precinct)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}


def _create(server: Server, token: str, data: bytes, **meta: str) -> httpx.Response:
    fields = {"filename": "protocol.jpg", "sha256": hashlib.sha256(data).hexdigest(), **meta}
    return httpx.post(
        server.url + "/api/uploads",
        headers={
            **_auth(token),
            "Upload-Length": str(len(data)),
            "Upload-Metadata": _meta(**fields),
        },
    )


def _patch(server: Server, token: str, location: str, offset: int, body: bytes) -> httpx.Response:
    return httpx.patch(
        server.url + location,
        headers={
            **_auth(token),
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        },
        content=body,
    )


def _receipt(server: Server, token: str, location: str, timeout: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(server.url + location + "/receipt", headers=_auth(token))
        if r.status_code != 202 or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("serve")
    store = tmp / "store"
    assert dalel_subprocess("--store", store, "init", "--org", "Coalition").returncode == 0
    server = Server(store).start()
    yield server
    server.stop()


@pytest.fixture
def photo(tmp_path) -> bytes:
    return make_photo(tmp_path / "p.jpg", (10, 120, 200), (320, 240)).read_bytes()


def test_an_upload_cut_in_two_resumes_and_gets_a_receipt_that_verifies(served, photo, tmp_path):
    issued = _invite(served.store)
    r = _create(served, issued.token, photo, filename="../../etc/хаттама.jpg", kind="protocol")
    assert r.status_code == 201 and r.headers["Tus-Resumable"] == "1.0.0"
    loc = r.headers["Location"]
    half = len(photo) // 2
    assert _patch(served, issued.token, loc, 0, photo[:half]).headers["Upload-Offset"] == str(half)
    # The connection was cut: the phone asks where to go on, and goes on from there.
    head = httpx.head(served.url + loc, headers=_auth(issued.token))
    assert head.status_code == 200 and head.headers["Upload-Offset"] == str(half)
    assert head.headers["Upload-Length"] == str(len(photo))
    done = _patch(served, issued.token, loc, half, photo[half:])
    assert done.status_code == 204 and done.headers["Upload-Offset"] == str(len(photo))
    r = _receipt(served, issued.token, loc)
    assert r.status_code == 200, r.text
    receipt = r.json()
    entry = receipt["entry"]
    assert entry["item"]["sha256"] == hashlib.sha256(photo).hexdigest()
    assert entry["kind"] == "protocol" and entry["precinct"] == "31"
    assert entry["name"] == "хаттама.jpg" and "etc" not in entry["path"]
    assert entry["channel"] == "web:" + loc.rsplit("/", 1)[1]
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt))
    v = dalel_subprocess("receipt", "verify", path, "--store", served.store, "--json")
    assert v.returncode == 0, v.stdout + v.stderr
    assert dalel_subprocess("--store", served.store, "audit").returncode == 0


def test_the_acknowledgement_is_signed_by_the_log_key(served, photo):
    store = Store.open(served.store)
    inv = observers.authenticate(store, _invite(served.store).token)
    assert inv is not None
    up = uploads.create(store, inv, len(photo), {"filename": "a.jpg"})
    ack = uploads.acknowledgement(store, up, hashlib.sha256(photo).hexdigest())
    from evidence.core import custody

    sig = base64.b64decode(ack["signature"])
    assert store.public_key().verify(sig, custody.canonical(ack["statement"]))
    uploads.terminate(store, inv, up.id)


def test_a_phone_whose_hash_differs_is_refused_and_the_bytes_kept(served, photo):
    issued = _invite(served.store)
    r = _create(served, issued.token, photo, sha256="ab" * 32)
    loc = r.headers["Location"]
    assert _patch(served, issued.token, loc, 0, photo).status_code == 204
    r = _receipt(served, issued.token, loc)
    assert r.status_code == 422 and r.json()["reason"] == uploads.SHA256_MISMATCH
    kept = [p / "original" for p in (served.store / "quarantine").iterdir()]
    assert any(p.exists() and p.read_bytes() == photo for p in kept)


@pytest.mark.parametrize(
    "headers, status, reason",
    [
        ({"Authorization": "Bearer forged-token"}, 401, "UNAUTHORIZED"),
        ({"Authorization": "Basic abc"}, 401, "UNAUTHORIZED"),
        ({}, 401, "UNAUTHORIZED"),
    ],
)
def test_a_request_without_a_valid_token_learns_nothing(served, headers, status, reason):
    r = httpx.post(
        served.url + "/api/uploads",
        headers={**headers, "Tus-Resumable": "1.0.0", "Upload-Length": "10"},
    )
    assert r.status_code == status and r.json() == {"error": reason}


def test_a_revoked_link_stops_at_once(served, photo):
    issued = _invite(served.store)
    assert _create(served, issued.token, photo).status_code == 201
    observers.revoke(Store.open(served.store), issued.invite.id)
    assert _create(served, issued.token, photo).status_code == 401


def test_another_observers_upload_is_not_there(served, photo):
    a, b = _invite(served.store), _invite(served.store)
    loc = _create(served, a.token, photo).headers["Location"]
    assert httpx.head(served.url + loc, headers=_auth(b.token)).status_code == 404
    assert _patch(served, b.token, loc, 0, photo).status_code == 404
    assert httpx.get(served.url + loc + "/receipt", headers=_auth(b.token)).status_code == 404
    guess = "/api/uploads/" + "A" * 22
    assert httpx.head(served.url + guess, headers=_auth(a.token)).status_code == 404


@pytest.mark.parametrize(
    "headers, status, reason",
    [
        ({"Upload-Length": "abc"}, 400, "BAD_REQUEST"),
        ({"Upload-Length": str(3 * 1024**3)}, 413, "TOO_LARGE"),
        ({"Upload-Length": "0"}, 400, "BAD_METADATA"),
        ({"Upload-Length": "5", "Upload-Metadata": "filename ***"}, 400, "BAD_METADATA"),
        ({"Upload-Length": "5", "Upload-Metadata": _meta(kind="selfie")}, 400, "BAD_METADATA"),
        ({"Upload-Length": "5", "Upload-Metadata": _meta(precinct=VALID_IIN)}, 400, "BAD_METADATA"),
        ({"Upload-Length": "5", "Upload-Metadata": _meta(sha256="xyz")}, 400, "BAD_METADATA"),
        ({"Upload-Length": "5", "Tus-Resumable": "0.2.2"}, 412, "TUS_VERSION"),
    ],
)
def test_bad_creation_requests_get_a_named_reason(served, headers, status, reason):
    token = _invite(served.store).token
    r = httpx.post(served.url + "/api/uploads", headers={**_auth(token), **headers})
    assert r.status_code == status and r.json()["error"] == reason, r.text
    assert "Traceback" not in r.text


def test_bytes_beyond_the_declared_length_or_offset_are_refused(served, photo):
    token = _invite(served.store).token
    loc = _create(served, token, photo).headers["Location"]
    r = _patch(served, token, loc, 5, photo[:10])
    assert r.status_code == 409 and r.json()["error"] == "OFFSET_MISMATCH"
    r = _patch(served, token, loc, 0, photo + b"extra")
    assert r.status_code == 413
    r = httpx.patch(
        served.url + loc,
        headers={**_auth(token), "Upload-Offset": "0", "Content-Type": "text/plain"},
        content=b"x",
    )
    assert r.status_code == 415
    # A large body on a route that takes none is refused before it is read.
    r = httpx.post(served.url + "/api/uploads", headers=_auth(token), content=b"x" * (100 * 1024))
    assert r.status_code == 413


def test_terminated_uploads_go_but_received_ones_stay(served, photo):
    token = _invite(served.store).token
    loc = _create(served, token, photo).headers["Location"]
    assert httpx.delete(served.url + loc, headers=_auth(token)).status_code == 204
    assert httpx.head(served.url + loc, headers=_auth(token)).status_code == 404
    loc = _create(served, token, photo).headers["Location"]
    _patch(served, token, loc, 0, photo)
    r = httpx.delete(served.url + loc, headers=_auth(token))
    assert r.status_code == 409 and r.json()["error"] == "ALREADY_RECEIVED"


def test_the_public_log_proves_a_receipt_and_the_growth_since(served, photo):
    token = _invite(served.store).token
    loc = _create(served, token, photo).headers["Location"]
    _patch(served, token, loc, 0, photo)
    receipt = _receipt(served, token, loc).json()
    # More evidence arrives after it.
    loc2 = _create(served, token, photo + b"\0").headers["Location"]
    _patch(served, token, loc2, 0, photo + b"\0")
    assert _receipt(served, token, loc2).status_code == 200
    note = httpx.get(served.url + "/log/checkpoint")
    key = httpx.get(served.url + "/log/key").text
    head = cp.parse(note.text)
    old = cp.parse(receipt["checkpoint"]).checkpoint
    assert head.checkpoint.size > old.size
    store = Store.open(served.store)
    assert key.strip() == (store.public_dir / "log.pub").read_text().strip()
    r = httpx.get(
        served.url + "/log/proof/inclusion",
        params={"index": receipt["leaf_index"], "size": head.checkpoint.size},
    )
    proof = [base64.b64decode(h) for h in r.json()["hashes"]]
    line = receipt["entry_line"].encode()
    assert merkle.verify_inclusion(
        receipt["leaf_index"],
        head.checkpoint.size,
        merkle.leaf_hash(line),
        proof,
        head.checkpoint.root,
    )
    r = httpx.get(
        served.url + "/log/proof/consistency",
        params={"from": old.size, "to": head.checkpoint.size},
    )
    hashes = [base64.b64decode(h) for h in r.json()["hashes"]]
    assert merkle.verify_consistency(
        old.size, head.checkpoint.size, old.root, head.checkpoint.root, hashes
    )
    for bad in ({"index": "x", "size": "1"}, {"index": "0", "size": str(10**6)}):
        r = httpx.get(served.url + "/log/proof/inclusion", params=bad)
        assert r.status_code == 400 and "error" in r.json()


def test_every_answer_carries_a_strict_policy_and_the_access_log_keeps_no_secret(served, photo):
    issued = _invite(served.store)
    note = f"протокол [bold]<script>alert(1)</script> {VALID_IIN}"
    loc = _create(served, issued.token, photo, filename="Айгерім.jpg", note=note).headers[
        "Location"
    ]
    _patch(served, issued.token, loc, 0, photo)
    _receipt(served, issued.token, loc)
    for r in (
        httpx.get(served.url + "/health"),
        httpx.get(served.url + "/nowhere"),
        httpx.head(served.url + loc, headers=_auth(issued.token)),
    ):
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["x-content-type-options"] == "nosniff"
    logged = served.log.read_text()
    assert '"path": "/api/uploads/:id"' in logged
    for secret in (issued.token, loc.rsplit("/", 1)[1], "Айгерім", VALID_IIN, "script"):
        assert secret not in logged


def _received(store: Path, n: int) -> list[str]:
    """``n`` uploads received (every byte in, acknowledged) that no server has committed."""
    s = Store.open(store)
    inv = observers.authenticate(s, _invite(store).token)
    assert inv is not None
    ids = []
    for i in range(n):
        data = f"photo {i} {time.time_ns()}".encode() * 50
        up = uploads.create(s, inv, len(data), {"filename": f"{i}.jpg"})
        uploads.append(s, inv, up.id, 0, [data])
        ids.append(up.id)
    return ids


@pytest.mark.slow
def test_a_server_killed_at_any_moment_loses_nothing_it_acknowledged(tmp_path):
    """Uploads received by a server killed before it committed them are committed by the
    next one; killed while committing, none is lost and none logged twice."""
    store = tmp_path / "store"
    assert dalel_subprocess("--store", store, "init").returncode == 0
    ids = _received(store, 150)
    left = []
    for delay in (0.0, 0.1, 0.3, 0.6, 1.0, 1.6):
        server = Server(store).start()  # it starts committing what it holds at once
        time.sleep(delay)
        server.kill()
        left.append(len(uploads.pending(Store.open(store))))
    Server(store).start().stop()  # a last run commits what is left
    s = Store.open(store)
    s.index.catch_up()
    channels = [e.get("channel") for e in s.index.entries_by_event("ingest") if e.get("channel")]
    assert sorted(channels) == sorted("web:" + i for i in ids)  # each once, none lost
    assert not uploads.pending(s)
    for i in ids:
        outcome = json.loads((store / "uploads" / i / "outcome.json").read_text())
        assert outcome["status"] == "receipted", outcome
        assert (store / "receipts" / f"{outcome['seq']:08d}.json").exists()
    assert dalel_subprocess("--store", store, "audit").returncode == 0
    print("uploads left after each kill:", left)


def test_invites_from_the_command_line(tmp_path):
    store = tmp_path / "store"
    assert dalel_subprocess("--store", store, "init").returncode == 0
    qr = tmp_path / "qr.png"
    r = dalel_subprocess(
        "--store",
        store,
        "observer",
        "invite",
        "--precinct",
        "31",
        "--name",
        "Айгерім",
        "--qr",
        qr,
        "--json",
    )
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)
    assert made["url"].endswith("/o/#" + made["token"]) and qr.read_bytes()[:4] == b"\x89PNG"
    # The token is kept only as a hash; the log records the invite, not its token or name.
    held = b"".join(p.read_bytes() for p in store.rglob("*") if p.is_file())
    assert made["token"].encode() not in held
    assert "Айгерім".encode() not in (store / "log" / "custody.jsonl").read_bytes()
    listed = json.loads(dalel_subprocess("--store", store, "observer", "list", "--json").stdout)
    assert [i["id"] for i in listed] == [made["id"]] and listed[0]["active"]
    r = dalel_subprocess("--store", store, "observer", "revoke", made["id"])
    assert r.returncode == 0 and "withdrawn" in r.stdout
    assert observers.authenticate(Store.open(store), made["token"]) is None
    for bad in (("--precinct", VALID_IIN), ("--precinct", "31", "--expires", "99y")):
        r = dalel_subprocess("--store", store, "observer", "invite", *bad)
        assert r.returncode == 2 and "Traceback" not in r.stderr
    assert dalel_subprocess("--store", store, "audit").returncode == 0


def test_limits_per_invite_come_from_the_config(tmp_path):
    store = tmp_path / "store"
    assert dalel_subprocess("--store", store, "init").returncode == 0
    s = Store.open(store)
    s.write_config({**s.config.raw, "web": {"uploads_per_hour": 2, "max_upload_bytes": 1000}})
    s = Store.open(store)
    inv = observers.authenticate(s, _invite(store).token)
    assert inv is not None
    with pytest.raises(uploads.UploadRefused) as too_big:
        uploads.create(s, inv, 1001, {})
    assert too_big.value.reason is uploads.Reason.TOO_LARGE
    uploads.create(s, inv, 10, {})
    uploads.create(s, inv, 10, {})
    with pytest.raises(uploads.UploadRefused) as limited:
        uploads.create(s, inv, 10, {})
    assert limited.value.reason is uploads.Reason.RATE_LIMITED
    other = observers.authenticate(s, _invite(store).token)
    assert other is not None and uploads.create(s, other, 10, {}).offset == 0


def test_a_connection_cut_mid_patch_keeps_what_arrived(served, photo):
    token = _invite(served.store).token
    loc = _create(served, token, photo).headers["Location"]
    head = (
        f"PATCH {loc} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nContent-Length: {len(photo)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", served.port)) as s:
        s.sendall(head + photo[:1000])
        time.sleep(0.5)
    deadline = time.monotonic() + 10
    while True:
        offset = int(httpx.head(served.url + loc, headers=_auth(token)).headers["Upload-Offset"])
        if offset == 1000 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert offset == 1000
    assert _patch(served, token, loc, 1000, photo[1000:]).status_code == 204
    assert _receipt(served, token, loc).status_code == 200
    assert (
        not list((served.store / "logs").glob("web-*"))
        if (served.store / "logs").exists()
        else True
    )


def _give_iin(server: Server, token: str, iin: str, **kw) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    headers.update(kw.pop("headers", {}))
    return httpx.post(server.url + "/api/me/iin", headers=headers, **kw)


def test_an_iin_given_on_the_phone_becomes_the_same_observer_as_in_ingest(served, photo, tmp_path):
    from evidence.content import privacy
    from tests.conftest import OTHER_IIN

    issued = _invite(served.store)
    typo = VALID_IIN[:-1] + str((int(VALID_IIN[-1]) + 1) % 10)
    r = _give_iin(served, issued.token, "", json={"iin": typo})
    assert r.status_code == 422 and r.json()["error"] == "IIN_INVALID" and typo not in r.text
    form = _give_iin(
        served,
        issued.token,
        "",
        content=f"iin={VALID_IIN}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 415  # no form another site could make a browser send
    assert _give_iin(served, "forged-token", "", json={"iin": VALID_IIN}).status_code == 401
    spaced = f"{VALID_IIN[:6]} {VALID_IIN[6:]}"
    r = _give_iin(served, issued.token, "", json={"iin": spaced})
    store = Store.open(served.store)
    made = privacy.pseudonym(store.secret, VALID_IIN)
    assert r.status_code == 200 and r.json() == {"observer": made}
    assert VALID_IIN not in r.text
    me = httpx.get(served.url + "/api/me", headers=_auth(issued.token)).json()
    assert me["observer"] == made
    # Given once: the same IIN or another gets the same answer, so the link is no oracle
    # for guessing the observer's IIN.
    same = _give_iin(served, issued.token, "", json={"iin": VALID_IIN})
    other = _give_iin(served, issued.token, "", json={"iin": OTHER_IIN})
    assert same.status_code == other.status_code == 409
    assert same.json() == other.json() and same.json()["error"] == "IIN_ALREADY_GIVEN"
    # The phone's upload is this observer's, as `dalel ingest --observer IIN` makes them.
    loc = _create(served, issued.token, photo, filename="p.jpg").headers["Location"]
    _patch(served, issued.token, loc, 0, photo)
    receipt = _receipt(served, issued.token, loc).json()
    assert receipt["entry"]["actor"] == {"role": "observer", "id": made}
    # And the IIN is in no file of the store, nor in the server's log.
    for path in served.store.rglob("*"):
        if path.is_file():
            assert VALID_IIN.encode() not in path.read_bytes(), path
    assert VALID_IIN not in served.log.read_text()


def test_a_receipts_qr_code_is_a_link_to_the_check_page_holding_it(served, photo):
    import cv2
    import numpy as np

    issued = _invite(served.store)
    loc = _create(served, issued.token, photo, filename="p.jpg").headers["Location"]
    early = httpx.get(served.url + loc + "/receipt/qr", headers=_auth(issued.token))
    assert early.status_code == 409
    _patch(served, issued.token, loc, 0, photo)
    receipt = _receipt(served, issued.token, loc).json()
    other = _invite(served.store)
    assert (
        httpx.get(served.url + loc + "/receipt/qr", headers=_auth(other.token)).status_code == 404
    )
    r = httpx.get(served.url + loc + "/receipt/qr", headers=_auth(issued.token))
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    image = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    image = cv2.resize(image, None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST)
    link, _, _ = cv2.QRCodeDetectorAruco().detectAndDecode(image)
    base = observers.public_url(Store.open(served.store))
    assert link.startswith(base + "/verify#r=")
    import zlib

    packed = link.split("#r=", 1)[1]
    slim = json.loads(
        zlib.decompress(base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4)), -15)
    )
    assert slim == {k: v for k, v in receipt.items() if k not in ("entry", "timestamp")}


def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids += [int(k) for k in (task / "children").read_text().split()]
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_the_sequencer_is_a_process_that_lives_and_dies_with_the_server(tmp_path, photo):
    """Batches are committed in a process of their own; killed, it is started again and
    the upload it left is receipted; the server killed, it goes too."""
    store = tmp_path / "store"
    assert dalel_subprocess("--store", store, "init").returncode == 0
    server = Server(store).start()
    try:
        assert server.proc is not None
        (seq,) = _children(server.proc.pid)
        assert "web.sequencer" in Path(f"/proc/{seq}/cmdline").read_text()
        assert httpx.get(server.url + "/health").json()["sequencer"] == "running"
        os.kill(seq, signal.SIGKILL)
        token = _invite(store).token
        loc = _create(server, token, photo).headers["Location"]
        assert _patch(server, token, loc, 0, photo).status_code == 204
        r = httpx.get(
            server.url + loc + "/receipt",
            headers={**_auth(token), "Prefer": "wait=25"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        assert r.json()["entry"]["item"]["sha256"] == hashlib.sha256(photo).hexdigest()
        (again,) = _children(server.proc.pid)
        assert again != seq and httpx.get(server.url + "/health").json()["sequencer"] == "running"
        assert "the sequencer stopped" in server.log.read_text()
        server.kill()
        deadline = time.monotonic() + 10
        while _alive(again) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(again)
    finally:
        server.stop()
