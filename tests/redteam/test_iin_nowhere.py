"""Red team: IINs written into every place a user or a file can put one are found nowhere they
must not be.

An observer's IIN goes in as the observer ID, in a file name, a note, a case title and a
respondent, in EXIF text (camera make, model, software), in a JPEG comment (libmagic quotes
it in its description) and in a PNG text chunk, written plainly, with spaces, hyphens, dots,
a no-break space and full-width digits. A complainant's IIN goes in through ``case set``.
Then every file of the store, every file of an audit export with its objects and the text
of both dossier editions are searched for every form (as UTF-8 and as JSON escapes).

Only two places may hold one: the observers' own files, kept byte for byte as evidence (the
photos whose EXIF says it), and the court edition's text, which must name the complainant
for the court. The court edition is kept in the store only sealed; ``dossier copy`` gives
it back, byte for byte.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from tests.conftest import OTHER_IIN, VALID_IIN, filing_details

OBSERVER = VALID_IIN
COMPLAINANT = OTHER_IIN
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def forms(iin: str) -> dict[str, str]:
    """How people write one IIN."""
    a, b, c, d = iin[:3], iin[3:6], iin[6:9], iin[9:]
    return {
        "plain": iin,
        "spaces": f"{a} {b} {c} {d}",
        "hyphens": f"{iin[:6]}-{iin[6:]}",
        "dots": f"{a}.{b}.{c}.{d}",
        "nbsp": f"{iin[:6]}\u00a0{iin[6:]}",
        "full-width": iin.translate(FULL_WIDTH),
    }


def needles(iin: str) -> list[tuple[str, bytes]]:
    out = []
    for name, text in forms(iin).items():
        out.append((name, text.encode()))
        escaped = json.dumps(text)[1:-1].encode()
        if escaped != text.encode():
            out.append((name + " (JSON escaped)", escaped))
    return out


def found_in(data: bytes, iin: str) -> list[str]:
    return [name for name, needle in needles(iin) if needle in data]


def pdf_text(path: Path) -> bytes:
    return subprocess.run(
        ["pdftotext", "-q", str(path), "-"], capture_output=True, check=True, timeout=120
    ).stdout


def _photos(folder: Path) -> list[Path]:
    o = forms(OBSERVER)
    folder.mkdir(parents=True)
    exif = Image.Exif()
    exif[0x010F] = o["spaces"]  # Make
    exif[0x0110] = o["hyphens"]  # Model
    exif[0x0131] = o["dots"]  # Software
    jpeg = folder / f"хаттама {o['plain']}.jpg"
    Image.new("RGB", (96, 64), (200, 30, 30)).save(
        jpeg, format="JPEG", exif=exif, comment=o["plain"].encode()
    )
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", o["nbsp"])
    png = folder / f"фото {o['full-width']}.png"
    Image.new("RGB", (96, 64), (30, 200, 30)).save(png, format="PNG", pnginfo=info)
    return [jpeg, png]


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path | set[str]]:
    from cli import main

    tmp = tmp_path_factory.mktemp("iin")
    store = tmp / "store"

    def run(*args: object) -> None:
        assert main([str(a) for a in args]) == 0, args

    o = forms(OBSERVER)
    run("--store", store, "init", "--org", "Коалиция")
    folder = tmp / "in"
    photos = _photos(folder)
    (folder / f"пусто {o['dots']}.jpg").write_bytes(b"")  # refused: quarantined with its name
    assert (
        main(
            [
                "--store",
                str(store),
                "ingest",
                str(folder),
                "--observer",
                o["plain"],
                "--precinct",
                "31",
                "--note",
                f"наблюдатель {o['nbsp']}",
            ]
        )
        == 3  # one file refused
    )
    run(
        "--store",
        store,
        *("case", "new", "--precinct", "31", "--kind", "other"),
        *("--title", f"Жалоба наблюдателя {o['spaces']}"),
    )
    from evidence.storage.store import Store

    index = Store.open(store).index
    index.catch_up()
    items = {r["sha256"] for r in index.items_where()}
    assert len(items) == len(photos)
    run("--store", store, "case", "add-evidence", "case-0001", *sorted(items))
    run(
        "--store",
        store,
        *("case", "set", "case-0001"),
        *("--respondent", f"УИК № 31, член {o['full-width']}"),
        *("--complainant-name", "Айгерім Сәрсенова"),
        *("--complainant-iin", COMPLAINANT),
    )
    run(
        "--store",
        store,
        "case",
        "set",
        "case-0001",
        *filing_details(iin=None, name=None, respondent=None),
    )
    court, public = tmp / "court.pdf", tmp / "public.pdf"
    run("--store", store, "dossier", "build", "case-0001", "--out", court)
    run("--store", store, "dossier", "build", "case-0001", "--out", public, "--edition", "public")
    export = tmp / "export"
    run("--store", store, "export-audit", export, "--with-objects")
    return {
        "store": store,
        "export": export,
        "court": court,
        "public": public,
        "items": items,
        "tmp": tmp,
    }


def _leaks(root: Path, evidence: set[str]) -> list[str]:
    """Every file under ``root`` holding a form of either IIN, but the observers' originals
    (objects that are items, quarantined originals). A PDF is searched in its text too."""
    leaks = []
    files = [p for p in sorted(root.rglob("*")) if p.is_file()]
    assert len(files) > 20, files  # the search saw the store, not an empty folder
    for path in files:
        name = path.name
        obj = path.parent.name + name if len(name) == 62 else name
        if obj in evidence or name == "original":
            continue
        data = path.read_bytes()
        if data.startswith(b"%PDF"):
            data += pdf_text(path)
        for iin in (OBSERVER, COMPLAINANT):
            hits = found_in(data, iin) + found_in(str(path.relative_to(root)).encode(), iin)
            if hits:
                leaks.append(f"{path.relative_to(root)}: {', '.join(hits)}")
    return leaks


def test_no_iin_in_any_file_of_the_store(made):
    assert _leaks(made["store"], made["items"]) == []


def test_no_iin_in_an_audit_export_with_objects(made):
    export = made["export"]
    assert (export / "objects").is_dir() and any((export / "objects").iterdir())
    assert _leaks(export, made["items"]) == []


def test_the_evidence_itself_is_kept_byte_for_byte(made):
    """The search is not blind: the observers' photos, kept unchanged, still say the IIN."""
    store = made["store"]
    said = set()
    for sha in made["items"]:
        said.update(found_in((store / "objects" / sha[:2] / sha[2:]).read_bytes(), OBSERVER))
    assert {"plain", "spaces", "hyphens", "dots"} <= said  # (PNG text is Latin-1: no UTF-8 NBSP)


def test_the_public_dossier_names_no_iin(made):
    text = pdf_text(made["public"])
    assert "Айгерім".encode() not in text  # and no complainant at all
    assert found_in(text, OBSERVER) == [] and found_in(text, COMPLAINANT) == []
    assert found_in(made["public"].read_bytes(), OBSERVER) == []  # nor in its images' EXIF


def test_the_court_dossier_names_the_complainant_and_no_observer(made):
    text = pdf_text(made["court"])
    assert COMPLAINANT.encode() in text  # the court must know who complains
    assert found_in(text, OBSERVER) == []


def test_the_court_dossier_is_kept_sealed_and_comes_back_whole(made, dalel):
    store, court = made["store"], made["court"]
    import hashlib

    sha = hashlib.sha256(court.read_bytes()).hexdigest()
    assert not (store / "objects" / sha[:2] / sha[2:]).exists()  # not a plain object
    back = made["tmp"] / "court-again.pdf"
    r = dalel("--store", store, "dossier", "copy", sha[:12], "--out", back, "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["edition"] == "court"
    assert back.read_bytes() == court.read_bytes()
    assert dalel("--store", store, "dossier", "verify", back).code == 0
    r = dalel("--store", store, "dossier", "copy", sha[:12], "--out", back)
    assert r.code == 2 and "already exists" in r.err  # never overwrites
    assert dalel("--store", store, "audit").code == 0
    assert dalel("audit", "--bundle", made["export"]).code == 0
