"""Dossiers end to end: real WeasyPrint, real signatures and TSA, poppler and openssl checks.

Three dossiers are built once per module: a Russian court edition whose deadline has
passed (with a long custody table that crosses pages), a Kazakh public edition, and an
English court edition two days before its deadline.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from dataclasses import dataclass, replace
from datetime import date
from importlib import resources
from io import BytesIO
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader

from app.deadlines import load_jurisdiction
from app.dossier import redact
from app.dossier.build import BuildResult, build_dossier
from app.dossier.model import Dossier
from app.dossier.render import DossierInputError
from evidence.pdf.sign import (
    MANIFEST_NAME,
    CallableTimeStamper,
    TimestampFailed,
    create_org_identity,
    load_org_identity,
)
from evidence.pdf.verify import Reason, read_attachments, verify_dossier
from testing.dossier_sample import sample_dossier, sample_tsa, sample_video, with_timestamps

LANGS = ("ru", "kk", "en")


@dataclass(frozen=True)
class Built:
    dossier: Dossier
    result: BuildResult
    pdf: bytes
    pages: list[str]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("dossier")
    create_org_identity(base / "keys", base / "public", "«Адал сайлау» қоғамдық бірлестігі")
    tsa, tsa_pem = sample_tsa()
    face = resources.files("skimage.data").joinpath("astronaut.png").read_bytes()
    return {
        "base": base,
        "identity": load_org_identity(base / "keys", base / "public"),
        "ca": (base / "public" / "org-ca-cert.pem").read_bytes(),
        "tsa": tsa,
        "tsa_pem": tsa_pem,
        "face": face,
        "video": sample_video(3.0),
        "juris": load_jurisdiction(),
    }


def _pages(pdf_path: Path) -> list[str]:
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf_path), "-"], capture_output=True, timeout=120, check=True
    ).stdout.decode("utf-8")
    return text.split("\f")[:-1] if text.endswith("\f") else text.split("\f")


def _build(
    env: dict, name: str, still_timecodes: tuple[float, ...] = (0.5, 2.0), **kw: object
) -> Built:
    dossier = sample_dossier(env["juris"], face_images=(env["face"],), video=env["video"], **kw)  # type: ignore[arg-type]
    dossier = replace(
        dossier,
        exhibits=tuple(
            replace(e, still_timecodes=still_timecodes) if e.is_video else e
            for e in dossier.exhibits
        ),
    )
    dossier = with_timestamps(dossier, env["tsa"], env["tsa_pem"])
    out = env["base"] / f"{name}.pdf"
    result = build_dossier(
        dossier, out, identity=env["identity"], timestamper=CallableTimeStamper(env["tsa"])
    )
    return Built(dossier, result, out.read_bytes(), _pages(out))


@pytest.fixture(scope="module")
def court_ru(env: dict) -> Built:
    return _build(
        env,
        "court-ru",
        language="ru",
        edition="court",
        photos=2,
        today=date(2026, 11, 27),
        custody_rows=40,
    )


@pytest.fixture(scope="module")
def public_kk(env: dict) -> Built:
    return _build(
        env, "public-kk", language="kk", edition="public", photos=1, today=date(2026, 11, 21)
    )


@pytest.fixture(scope="module")
def court_en(env: dict) -> Built:
    return _build(
        env,
        "court-en",
        language="en",
        edition="court",
        photos=1,
        today=date(2026, 11, 23),
        still_timecodes=(0.5, 99.0),
    )


def _verify(env: dict, built: Built, **kw: object):  # type: ignore[no-untyped-def]
    return verify_dossier(built.pdf, [env["ca"]], tsa_certs=[env["tsa_pem"]], **kw)  # type: ignore[arg-type]


@pytest.mark.slow
@pytest.mark.parametrize("which", ["court_ru", "public_kk", "court_en"])
def test_each_dossier_verifies_and_pdfsig_agrees(
    env: dict, which: str, request: pytest.FixtureRequest
) -> None:
    built: Built = request.getfixturevalue(which)
    hashes = [e.sha256 for e in built.dossier.exhibits]
    report = _verify(env, built, known_hashes=hashes)
    assert report.ok, report.failures
    assert hashlib.sha256(built.pdf).hexdigest() == built.result.sha256
    out = subprocess.run(
        ["pdfsig", str(built.result.path)], check=False, capture_output=True, text=True, timeout=60
    )
    assert "Signature is Valid." in out.stdout and "Total document signed" in out.stdout


def test_unknown_exhibit_hash_fails_against_the_custody_log(env: dict, court_en: Built) -> None:
    known = [e.sha256 for e in court_en.dossier.exhibits][1:]
    report = _verify(env, court_en, known_hashes=known)
    assert report.reasons == {Reason.HASH_UNKNOWN}


def test_court_edition_embeds_originals_tokens_and_manifest(
    env: dict, court_ru: Built, tmp_path: Path
) -> None:
    reader = PdfFileReader(BytesIO(court_ru.pdf))
    files = {name: (data, rel) for name, data, rel in read_attachments(reader)}
    originals = {e.sha256: e.content for e in court_ru.dossier.exhibits}
    sources = {n: d for n, (d, rel) in files.items() if rel == "Source"}
    assert {hashlib.sha256(d).hexdigest() for d in sources.values()} == set(originals)
    assert files[MANIFEST_NAME][1] == "Data"
    manifest = json.loads(files[MANIFEST_NAME][0])
    assert [e["sha256"] for e in manifest["exhibits"]] == list(originals)
    assert all(e["attachment"] in sources for e in manifest["exhibits"])
    # The embedded RFC 3161 token checks with openssl against the exhibit's hash.
    subprocess.run(
        ["pdfdetach", "-saveall", "-o", str(tmp_path), str(court_ru.result.path)],
        check=True,
        timeout=60,
    )
    first = manifest["exhibits"][0]
    stamp = first["timestamp"]
    out = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-digest",
            first["sha256"],
            "-in",
            str(tmp_path / stamp["attachment"]),
            "-CAfile",
            str(tmp_path / stamp["tsa_cert"]["attachment"]),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Verification: OK" in out.stdout, out.stderr
    assert (
        hashlib.sha256((tmp_path / first["attachment"]).read_bytes()).hexdigest() == first["sha256"]
    )


def test_output_is_pdfa_3b(court_ru: Built) -> None:
    reader = PdfFileReader(BytesIO(court_ru.pdf))
    xmp = reader.root["/Metadata"].get_object().data.decode("utf-8")
    assert re.search(r"pdfaid:part[^0-9]{1,3}3", xmp)
    assert re.search(r"pdfaid:conformance[^A-Z]{1,3}B", xmp)
    assert "/OutputIntents" in reader.root
    assert len(reader.root["/AF"]) >= len(court_ru.dossier.exhibits) + 1


def test_every_page_is_numbered_x_of_y(court_ru: Built, public_kk: Built) -> None:
    for built in (court_ru, public_kk):
        total = len(built.pages)
        assert total >= 6
        for i, page in enumerate(built.pages, start=1):
            assert re.search(rf"\b{i}\s*/\s*{total}\b", page), f"page {i} lacks '{i} / {total}'"


def _red_pixels(pdf_path: Path, tmp_path: Path) -> int:
    prefix = tmp_path / pdf_path.stem
    subprocess.run(
        ["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(pdf_path), str(prefix)],
        check=True,
        timeout=60,
    )
    png = next(tmp_path.glob(f"{pdf_path.stem}*.png"))
    rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
    red = (rgb[..., 0] > 170) & (rgb[..., 1] < 70) & (rgb[..., 2] < 70)
    return int(red.sum())


def test_cover_says_a_passed_deadline_plainly_and_in_red(
    court_ru: Built, public_kk: Built, court_en: Built, tmp_path: Path
) -> None:
    assert court_ru.result.deadline_passed
    cover = court_ru.pages[0]
    assert "25.11.2026" in cover
    assert "СРОК ИСТЁК 2 дня назад" in cover
    assert "юрист" not in cover  # counsel's checklist is the command's, not the filing's
    assert _red_pixels(court_ru.result.path, tmp_path) > 50
    assert "4 күн қалды" in public_kk.pages[0]
    assert "2 days left" in court_en.pages[0] and "urgent" in court_en.pages[0]
    assert _red_pixels(public_kk.result.path, tmp_path) == 0


def test_complainant_only_in_the_court_edition(court_ru: Built, public_kk: Built) -> None:
    complainant = court_ru.dossier.case.complainant
    assert complainant is not None
    court_text = "\n".join(court_ru.pages)
    public_text = "\n".join(public_kk.pages)
    for value in (complainant.iin, complainant.phone):
        assert value in court_text
        assert value not in public_text
    assert "Сәрсенбаева Айгүл Қайратқызы" in court_text.replace("\n", " ")
    assert "Қайратқызы" not in public_text
    assert complainant.iin.encode() not in public_kk.pdf


def test_public_edition_blurs_faces_and_embeds_no_originals(public_kk: Built) -> None:
    reader = PdfFileReader(BytesIO(public_kk.pdf))
    files = read_attachments(reader)
    assert {rel for _, _, rel in files} <= {"Data", "Supplement"}
    attached = {hashlib.sha256(d).hexdigest() for _, d, _ in files}
    assert not attached & {e.sha256 for e in public_kk.dossier.exhibits}
    face_ex = next(e for e in public_kk.dossier.exhibits if e.original_name.startswith("viol"))
    blurred = [
        d
        for d in public_kk.result.derivatives
        if d.parent_sha256 == face_ex.sha256 and d.operation == redact.OPERATION
    ]
    assert len(blurred) == 1 and dict(blurred[0].params)["faces"] == "1"
    before = np.asarray(Image.open(BytesIO(face_ex.content or b"")).convert("RGB"))
    after = np.asarray(Image.open(BytesIO(blurred[0].data)).convert("RGB"))
    assert redact.detect_faces(before) and not redact.detect_faces(after)
    text = "\n".join(public_kk.pages)
    assert face_ex.sha256 in text and blurred[0].sha256 in text
    # What was hidden is listed with its box, in the dossier's language; a protocol's page
    # says its sheet is never blurred.
    (box,) = redact.blur_faces(face_ex.content or b"").boxes
    flat = " ".join(text.split())
    assert "Бұлдыратылған аймақтар" in flat and f"{box[0]}, {box[1]}, {box[2]}×{box[3]}" in flat
    assert "Хаттама парағының өзі ешқашан бұлдыратылмайды" in flat
    manifest = json.loads(next(d for n, d, _ in files if n == MANIFEST_NAME))
    assert {d["sha256"] for d in manifest["derivatives"]} == {
        d.sha256 for d in public_kk.result.derivatives
    }
    assert all(e["attachment"] is None for e in manifest["exhibits"])


def test_video_stills_are_derivatives_at_the_stated_timecodes(court_ru: Built) -> None:
    video = next(e for e in court_ru.dossier.exhibits if e.is_video)
    stills = [d for d in court_ru.result.derivatives if d.operation == "video-still"]
    assert sorted(dict(d.params)["timecode"] for d in stills) == ["0.500", "2.000"]
    assert all(d.parent_sha256 == video.sha256 and d.data.startswith(b"\x89PNG") for d in stills)
    text = "\n".join(court_ru.pages)
    assert "Кадр на 0:00:00.500" in text and "Кадр на 0:00:02.000" in text


def test_a_timecode_past_the_end_of_the_video_is_said_not_hidden(court_en: Built) -> None:
    text = "\n".join(court_en.pages)
    assert "Still at 0:00:00.500" in text
    assert "No frame at 0:01:39.000: the video is shorter." in text
    stills = [d for d in court_en.result.derivatives if d.operation == "video-still"]
    assert [dict(d.params)["timecode"] for d in stills] == ["0.500"]


def test_each_exhibit_shows_its_full_hash_and_a_qr_code_of_it(
    court_en: Built, tmp_path: Path
) -> None:
    text = "\n".join(court_en.pages)
    for ex in court_en.dossier.exhibits:
        assert ex.sha256 in text
    first = court_en.dossier.exhibits[0]
    page_no = next(
        i
        for i, p in enumerate(court_en.pages, 1)
        if "Annex 1." in p and first.sha256 in p and "Custody history" in p
    )
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "150",
            "-f",
            str(page_no),
            "-l",
            str(page_no),
            str(court_en.result.path),
            str(tmp_path / "qr"),
        ],
        check=True,
        timeout=60,
    )
    png = next(tmp_path.glob("qr*.png"))
    image = np.asarray(Image.open(png).convert("RGB"))
    top = image[: image.shape[0] // 3]  # the QR code sits in the hash box at the top
    decoded, _, _ = cv2.QRCodeDetector().detectAndDecode(top)
    assert decoded == first.sha256


def test_custody_table_crosses_pages_with_its_header_repeated(court_ru: Built) -> None:
    header = re.compile(r"№\s+записи.*Хеш\s+записи")
    entry_hashes = [row.entry_hash[:16] for row in court_ru.dossier.exhibits[0].custody]
    pages_with_rows = [i for i, p in enumerate(court_ru.pages) if any(h in p for h in entry_hashes)]
    assert len(pages_with_rows) >= 2
    for i in pages_with_rows:
        assert header.search(court_ru.pages[i]), f"page {i + 1} lacks the table header"


def _outline_titles(reader: PdfFileReader) -> list[str]:
    titles: list[str] = []

    def walk(node) -> None:  # type: ignore[no-untyped-def]
        while node is not None:
            item = node.get_object()
            titles.append(str(item["/Title"]))
            if "/First" in item:
                walk(item["/First"])
            node = item.get("/Next")

    outlines = reader.root.get("/Outlines")
    if outlines is not None and "/First" in outlines.get_object():
        walk(outlines.get_object()["/First"])
    return titles


def test_exhibits_are_bookmarked_and_the_index_links_to_them(court_ru: Built) -> None:
    reader = PdfFileReader(BytesIO(court_ru.pdf))
    titles = _outline_titles(reader)
    for i, ex in enumerate(court_ru.dossier.exhibits, start=1):
        assert any(t.startswith(f"Приложение {i}. {ex.original_name}") for t in titles), titles
    assert "Удостоверение целостности" in titles
    index_page = next(i for i, p in enumerate(court_ru.pages) if "Приложения" in p and "Стр." in p)
    page_obj = _page(reader, index_page)
    targets = set()
    for annot in page_obj.get("/Annots", ()):  # type: ignore[union-attr]
        a = annot.get_object()
        dest = a.get("/Dest") or (a.get("/A") or {}).get("/D")
        if dest is not None:
            targets.add(str(dest))
    for ex in court_ru.dossier.exhibits:
        assert f"exhibit-{ex.sha256}" in targets


def _page(reader: PdfFileReader, index: int):  # type: ignore[no-untyped-def]
    ref, _ = reader.find_page_for_modification(index)
    return ref.get_object()


def test_figures_table_shows_differences_and_failing_relations(court_ru: Built) -> None:
    page = next(
        p for p in court_ru.pages if "Сравнение цифр протокола" in p and "Строка протокола" in p
    )
    assert "+209" in page and "-209" in page and "-6" in page
    assert "Не выполняются контрольные соотношения" in page
    assert "[2] = [3] + [4]: 1800 ≠ 1204 + 590" in page
    assert "Әділет, Ұлттық Қайта Өрлеу" in page.replace("\n", " ") or "Ұлттық" in page


def test_each_language_uses_its_own_words(
    court_ru: Built, public_kk: Built, court_en: Built
) -> None:
    expected = {
        "ru": ("Удостоверение целостности", "Обстоятельства дела", "sha256sum"),
        "kk": ("Тұтастықты куәландыру", "Істің мән-жайы", "sha256sum"),
        "en": ("Certificate of integrity", "Statement of facts", "sha256sum"),
    }
    for lang, built in (("ru", court_ru), ("kk", public_kk), ("en", court_en)):
        text = "\n".join(built.pages)
        for phrase in expected[lang]:
            assert phrase in text, (lang, phrase)
        for other in set(LANGS) - {lang}:
            assert expected[other][0] not in text
    kk_text = "\n".join(public_kk.pages)
    assert set("әғқңөұүһі") <= set(kk_text.lower())
    assert "openssl ts -verify" in kk_text and "pdfsig" in kk_text


def test_translation_files_cover_every_key_the_template_uses() -> None:
    template = resources.files("templates").joinpath("dossier.html").read_text("utf-8")
    literal = set(re.findall(r"(?:t|plural|t_opt)\('([a-z_.0-9-]+)'[,)]", template))
    dynamic = (
        {f"kind.{k}" for k in load_jurisdiction().kinds}
        | {f"addressee.{a}" for a in ("commission", "court")}
        | {f"addressee_doc.{a}" for a in ("commission", "court")}
        | {f"edition.{e}" for e in ("court", "public")}
        | {f"index.note_{e}" for e in ("court", "public")}
        | {f"integrity.hash_{e}" for e in ("court", "public")}
        | {f"media.{m}" for m in ("photo", "video", "document", "other")}
    )
    keysets = {}
    for lang in LANGS:
        messages = json.loads(
            resources.files("templates").joinpath(f"i18n/{lang}.json").read_text("utf-8")
        )
        keysets[lang] = set(messages)
        missing = (literal | dynamic) - set(messages)
        assert not missing, (lang, sorted(missing))
    assert keysets["ru"] == keysets["kk"] == keysets["en"]


# --------------------------------------------------------------------------- bad input


def test_case_without_evidence_is_refused_and_nothing_written(env: dict, tmp_path: Path) -> None:
    dossier = replace(sample_dossier(env["juris"], photos=1), exhibits=())
    out = tmp_path / "empty.pdf"
    with pytest.raises(DossierInputError, match="no evidence") as err:
        build_dossier(
            dossier, out, identity=env["identity"], timestamper=CallableTimeStamper(env["tsa"])
        )
    assert err.value.exit_code == 1
    assert list(tmp_path.iterdir()) == []


def test_missing_or_altered_object_is_named(env: dict, tmp_path: Path) -> None:
    dossier = sample_dossier(env["juris"], photos=2)
    gone = replace(dossier.exhibits[1], content=None)
    with pytest.raises(DossierInputError, match=gone.sha256):
        build_dossier(
            replace(dossier, exhibits=(dossier.exhibits[0], gone)),
            tmp_path / "x.pdf",
            identity=env["identity"],
            timestamper=CallableTimeStamper(env["tsa"]),
        )
    altered = replace(dossier.exhibits[0], content=b"not the same bytes")
    with pytest.raises(DossierInputError, match="do not match"):
        build_dossier(
            replace(dossier, exhibits=(altered,)),
            tmp_path / "y.pdf",
            identity=env["identity"],
            timestamper=CallableTimeStamper(env["tsa"]),
        )
    assert list(tmp_path.iterdir()) == []


def test_failed_signing_leaves_no_half_written_pdf(env: dict, tmp_path: Path) -> None:
    out = tmp_path / "dossier.pdf"
    out.write_bytes(b"previous version")

    def down(digest: bytes) -> bytes:
        raise TimeoutError("TSA down")

    with pytest.raises(TimestampFailed):
        build_dossier(
            sample_dossier(env["juris"], photos=1),
            out,
            identity=env["identity"],
            timestamper=CallableTimeStamper(down),
        )
    assert out.read_bytes() == b"previous version"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dossier.pdf"]
