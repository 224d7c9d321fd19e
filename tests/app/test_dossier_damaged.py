"""One damaged photo does not stop a dossier: it is shown by its hash with a note."""

from __future__ import annotations

import hashlib
import io
import subprocess

import pytest
from PIL import Image

from tests.conftest import VALID_IIN, filing_details

NOTE = {
    "ru": "Изображение не удаётся показать: файл повреждён",
    "kk": "Суретті көрсету мүмкін емес: файл зақымдалған",
    "en": "The image cannot be shown: the file is damaged",
}


@pytest.mark.parametrize("edition", ["court", "public"])
def test_a_damaged_photo_is_named_by_its_hash_and_the_dossier_builds(dalel, tmp_path, edition):
    store = tmp_path / "store"
    assert dalel("--store", store, "init", "--org", "Org").code == 0
    good = io.BytesIO()
    Image.new("RGB", (800, 600), (200, 30, 30)).save(good, "JPEG")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(good.getvalue()[:400] + b"\x00" * 2000)  # a header, then nothing
    sha = hashlib.sha256(broken.read_bytes()).hexdigest()
    r = dalel("--store", store, "ingest", broken, "--observer", VALID_IIN, "--precinct", "5")
    assert r.code == 0
    r = dalel(
        "--store", store, "case", "new", "--precinct", "5", "--kind", "ballot-stuffing",
        "--event-date", "2026-12-01", "--title", "Вброс бюллетеней",
    )  # fmt: skip
    assert r.code == 0
    assert dalel("--store", store, "case", "add-evidence", "case-0001", sha).code == 0
    assert dalel("--store", store, "case", "set", "case-0001", *filing_details()).code == 0
    for lang in ("ru", "kk", "en"):
        out = tmp_path / f"{edition}-{lang}.pdf"
        r = dalel(
            "--store", store, "dossier", "build", "case-0001", "--edition", edition,
            "--lang", lang, "--out", out,
        )  # fmt: skip
        assert r.code == 0, r.err
        text = subprocess.run(
            ["pdftotext", "-layout", out, "-"], capture_output=True, text=True, check=True
        ).stdout
        assert NOTE[lang] in " ".join(text.split()), lang
        assert sha in text.replace(" ", "").replace("\n", "")
