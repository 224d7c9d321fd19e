"""An auditor needs no Dalel code: standard tools verify what the store says."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess

from evidence.storage.store import Store


def test_openssl_verifies_every_log_signature_and_sha256sum_every_object(filled_store, tmp_path):
    pem = filled_store / "public" / "log.pem"
    lines = (filled_store / "log" / "custody.jsonl").read_bytes().splitlines()
    for i, line in enumerate(lines):
        # The signed bytes are the line between '{"entry":' and ',"sig":' (documented).
        entry = line[len(b'{"entry":') : line.rindex(b',"sig":')]
        sig = base64.b64decode(json.loads(line)["sig"]["value"])
        (tmp_path / "entry").write_bytes(entry)
        (tmp_path / "sig").write_bytes(sig)
        ok = subprocess.run(
            [
                "openssl",
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                pem,
                "-rawin",
                "-in",
                tmp_path / "entry",
                "-sigfile",
                tmp_path / "sig",
            ],
            capture_output=True,
            text=True,
        )
        assert ok.returncode == 0 and "Success" in ok.stdout, (i, ok.stdout, ok.stderr)
        # and a changed byte is refused by openssl too
        (tmp_path / "entry").write_bytes(entry.replace(b'"v":1', b'"v":2'))
        bad = subprocess.run(
            [
                "openssl",
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                pem,
                "-rawin",
                "-in",
                tmp_path / "entry",
                "-sigfile",
                tmp_path / "sig",
            ],
            capture_output=True,
            text=True,
        )
        assert bad.returncode != 0
        if i:
            assert json.loads(line)["entry"]["prev"] == hashlib.sha256(lines[i - 1]).hexdigest()
    store = Store.open(filled_store)
    for sha in store.objects.list():  # the object's own file, or in S3 a download of it
        with store.objects.local_copy(sha) as path:
            out = subprocess.run(
                ["sha256sum", path], capture_output=True, text=True, check=True
            ).stdout
        assert out.split()[0] == sha
