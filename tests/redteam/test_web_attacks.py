"""Red team, the web server's surface: what an observer's phone (or someone holding a link)
sends through `dalel serve` is held to the same promises as `dalel ingest`.

- An IIN typed into an upload's file name and note, and written into the photo's EXIF, is
  found in no file of the store afterwards (the photo itself, kept byte for byte, aside):
  not in the log, the index, a receipt, nor what the server keeps of the upload.
- A private key sent as a "photo" is refused as ``SECRET_KEY`` and not copied anywhere.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from PIL import Image

from evidence.storage.store import Store
from tests.conftest import VALID_IIN, dalel_subprocess
from tests.redteam.test_iin_nowhere import _leaks, forms
from tests.web.test_server import Server, _create, _invite, _patch, _receipt


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Server]:
    store = tmp_path_factory.mktemp("web-redteam") / "store"
    assert dalel_subprocess("--store", store, "init", "--org", "Coalition").returncode == 0
    server = Server(store).start()
    yield server
    server.stop()


def _upload(server: Server, token: str, data: bytes, **meta: str) -> dict:
    r = _create(server, token, data, **meta)
    assert r.status_code == 201, r.text
    location = r.headers["Location"]
    assert _patch(server, token, location, 0, data).status_code == 204
    r = _receipt(server, token, location)
    return {"status": r.status_code, "body": r.json() if r.content else {}}


def test_an_iin_sent_through_the_phone_page_is_found_nowhere(served: Server):
    o = forms(VALID_IIN)
    exif = Image.Exif()
    exif[0x010F] = o["spaces"]  # camera make
    buf = io.BytesIO()
    Image.new("RGB", (120, 80), (90, 20, 160)).save(
        buf, format="JPEG", exif=exif, comment=o["hyphens"].encode()
    )
    photo = buf.getvalue()
    token = _invite(served.store).token
    done = _upload(
        served,
        token,
        photo,
        filename=f"хаттама {o['plain']}.jpg",
        note=f"менің ЖСН {o['dots']}",
    )
    assert done["status"] == 200, done
    evidence = {hashlib.sha256(photo).hexdigest()}
    assert _leaks(served.store, evidence) == []


def test_a_private_key_sent_as_a_photo_is_refused_and_not_kept(served: Server):
    key = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    token = _invite(served.store).token
    done = _upload(served, token, key, filename="photo.jpg")
    assert done["status"] == 422 and done["body"]["state"] == "refused", done
    assert done["body"]["reason"] == "SECRET_KEY", done
    assert "Traceback" not in str(done)
    secret_line = key.splitlines()[1]
    for path in Path(served.store).rglob("*"):
        if path.is_file():
            assert secret_line not in path.read_bytes(), path
    index = Store.open(served.store).index
    index.catch_up()
    assert hashlib.sha256(key).hexdigest() not in {r["sha256"] for r in index.items_where()}
