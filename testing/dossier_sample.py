"""A reproducible sample dossier (synthetic protocol photos, a video, custody rows).

Used by the benchmark, the tests and to look at the pages; nothing here is evidence.
Face photos are passed in by the caller (e.g. scikit-image's public-domain astronaut
image): drawings are not detected by Haar cascades.
"""

from __future__ import annotations

import hashlib
import io
import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

from PIL import Image, ImageDraw, ImageFont

from app.deadlines import Jurisdiction, deadline_for_case
from app.dossier.model import (
    Case,
    Complainant,
    Confirmation,
    CustodyRow,
    Dossier,
    Exhibit,
    FigureReading,
    FigureRow,
    GeoPoint,
    ProtocolFigures,
    Respondent,
    TimeClaim,
    TrustedTime,
)
from app.dossier.stills import run_ffmpeg

FONT_PATHS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
)
LONG_PARTY = (
    "Народно-демократическая патриотическая партия «Ақ жол — Әділет, Ұлттық "
    "Қайта Өрлеу және Халықтық Бірлік» Республики Казахстан"
)
FIELDS = (
    ("line_01", "1. Число избирателей, внесённых в список"),
    ("line_02", "2. Число бюллетеней, полученных участковой комиссией"),
    ("line_03", "3. Число избирателей, получивших бюллетени"),
    ("line_04", "4. Число погашенных бюллетеней"),
    ("line_05", "5. Число недействительных бюллетеней"),
    ("line_06", f"6. {LONG_PARTY}"),
    ("line_07", "7. Партия «Аманат» — Қазақстан халқының бірлігі"),
)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONT_PATHS:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default()


def protocol_photo(
    precinct: str,
    values: dict[str, int],
    *,
    width: int = 1600,
    height: int = 1200,
    seed: int = 0,
    noise: float = 0.0,
) -> tuple[bytes, dict[str, bytes]]:
    """A JPEG of a typed protocol with EXIF camera, and a PNG crop per figure.

    ``noise`` (standard deviation, in grey levels) adds sensor-like noise so that the
    JPEG is as large as a phone photo of the same size.
    """
    rng = random.Random(seed)
    img = Image.new("RGB", (width, height), (236 + rng.randint(0, 10), 233, 222))
    draw = ImageDraw.Draw(img)
    title, body = _font(width // 40), _font(width // 60)
    draw.text(
        (width // 20, height // 24),
        f"ПРОТОКОЛ / ХАТТАМА · УИК № {precinct}",
        fill=(20, 20, 20),
        font=title,
    )
    crops: dict[str, bytes] = {}
    row_h = (height - height // 6) // (len(FIELDS) + 1)
    for i, (key, label) in enumerate(FIELDS):
        y = height // 6 + i * row_h
        draw.text((width // 20, y), label[:70], fill=(30, 30, 30), font=body)
        box = (int(width * 0.78), y - 6, int(width * 0.95), y + row_h // 2)
        draw.rectangle(box, outline=(60, 60, 60), width=2)
        draw.text((box[0] + 12, y), str(values.get(key, 0)), fill=(10, 10, 120), font=title)
        out = io.BytesIO()
        img.crop(box).save(out, "PNG")
        crops[key] = out.getvalue()
    for _ in range(2000):  # paper texture, so the JPEG is photo-like in size
        x, y = rng.randrange(width), rng.randrange(height)
        draw.point((x, y), fill=(200, 200, 190))
    if noise > 0:
        import numpy as np

        gen = np.random.default_rng(seed)
        pixels = np.asarray(img, dtype=np.int16)
        pixels = pixels + gen.normal(0, noise, pixels.shape).astype(np.int16)
        img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    exif = Image.Exif()
    exif[0x010F] = "SampleCam"
    exif[0x0110] = "Model 7"
    out = io.BytesIO()
    img.save(out, "JPEG", quality=88, exif=exif.tobytes())
    return out.getvalue(), crops


def sample_video(seconds: float = 3.0) -> bytes:
    """A short MPEG-4 test video made by ffmpeg's lavfi test source."""
    import os
    import tempfile

    with tempfile.TemporaryDirectory(prefix="dalel-sample-") as tmp:
        path = os.path.join(tmp, "v.mp4")
        run_ffmpeg(
            [
                "-f",
                "lavfi",
                "-i",
                f"testsrc=duration={seconds}:size=640x360:rate=10",
                "-c:v",
                "mpeg4",
                "-q:v",
                "5",
                "-y",
                path,
            ]
        )
        with open(path, "rb") as fh:
            return fh.read()


def _custody(sha: str, start: datetime, rows: int) -> tuple[CustodyRow, ...]:
    actions = ("ingest", "timestamp", "metadata", "ocr", "figures", "confirm", "case", "dossier")
    out = []
    for i in range(rows):
        entry = hashlib.sha256(f"{sha}:{i}".encode()).hexdigest()
        out.append(
            CustodyRow(
                seq=100 + i,
                time=start + timedelta(minutes=7 * i),
                actor="observer-017" if i == 0 else "dalel@legal-team",
                action=actions[i % len(actions)],
                entry_hash=entry,
                detail="Telegram" if i == 0 else "",
            )
        )
    return tuple(out)


def sample_dossier(
    jurisdiction: Jurisdiction,
    *,
    language: str = "ru",
    edition: str = "court",
    addressee: str = "court",
    photos: int = 3,
    face_images: tuple[bytes, ...] = (),
    video: bytes | None = None,
    today: date | None = None,
    event_date: date = date(2026, 11, 15),
    custody_rows: int = 6,
    photo_size: tuple[int, int] = (1600, 1200),
    photo_noise: float = 0.0,
    org_name: str = "Қоғамдық бірлестік «Адал сайлау» / Общественное объединение «Честные выборы»",
) -> Dossier:
    """A protocol-figures case with ``photos`` protocol photos, face photos and a video."""
    precinct = "1043"
    tz = timezone(timedelta(hours=5))
    start = datetime(2026, 11, 15, 20, 40, tzinfo=tz)
    exhibits: list[Exhibit] = []
    figures: list[ProtocolFigures] = []
    official = {
        "line_01": 1820,
        "line_02": 1800,
        "line_03": 1204,
        "line_04": 596,
        "line_05": 12,
        "line_06": 402,
        "line_07": 790,
    }
    for i in range(photos):
        values = dict(official)
        if i == 0:
            values["line_06"] = 611
            values["line_07"] = 581
            values["line_04"] = 590
        data, crops = protocol_photo(
            precinct, values, width=photo_size[0], height=photo_size[1], seed=i, noise=photo_noise
        )
        sha = hashlib.sha256(data).hexdigest()
        confirm = Confirmation(
            "Айгүл Сәрсенбаева (observer-017)",
            start + timedelta(hours=2),
            "строки 6 и 7 сверены с оригиналом",
        )
        readings = tuple(
            FigureReading(
                field=k,
                label=label,
                value=values[k],
                crop_png=crops[k],
                confidence=0.97,
                confirmed_by=(confirm,) if k in ("line_06", "line_07") else (),
            )
            for k, label in FIELDS
        )
        exhibits.append(
            Exhibit(
                sha256=sha,
                media_type="image/jpeg",
                original_name=f"IMG_{2041 + i}.jpg",
                content=data,
                captured=TimeClaim(start + timedelta(minutes=i), "exif"),
                received=TimeClaim(start + timedelta(minutes=30 + i), "server"),
                camera="SampleCam Model 7",
                gps=GeoPoint(43.238949, 76.889709),
                trusted_time=TrustedTime(start + timedelta(minutes=31 + i), "Dalel local TSA"),
                custody=_custody(sha, start, custody_rows),
                figures=readings if i == 0 else (),
                confirmations=(confirm,) if i == 0 else (),
                description="Копия итогового протокола, выданная наблюдателю" if i == 0 else "",
            )
        )
        if i == 0:
            figures.append(
                ProtocolFigures(
                    protocol_sha256=sha,
                    precinct=precinct,
                    rows=tuple(FigureRow(k, label, values[k], official[k]) for k, label in FIELDS),
                    failing_relations=(
                        (
                            f"[2] = [3] + [4]: {values['line_02']} ≠ "
                            f"{values['line_03']} + {values['line_04']}"
                        ),
                    ),
                )
            )
    for j, face in enumerate(face_images):
        sha = hashlib.sha256(face).hexdigest()
        exhibits.append(
            Exhibit(
                sha256=sha,
                media_type="image/png",
                original_name=f"violation_{j + 1}.png",
                content=face,
                captured=TimeClaim(start - timedelta(hours=3), "device"),
                received=TimeClaim(start + timedelta(hours=1), "server"),
                custody=_custody(sha, start, 3),
                description="Посторонние лица у урны",
            )
        )
    if video is not None:
        sha = hashlib.sha256(video).hexdigest()
        exhibits.append(
            Exhibit(
                sha256=sha,
                media_type="video/mp4",
                original_name="VID_0007.mp4",
                content=video,
                still_timecodes=(0.5, 2.0),
                received=TimeClaim(start + timedelta(hours=1), "server"),
                custody=_custody(sha, start, 4),
                description="Видео подсчёта голосов",
            )
        )
    case = Case(
        id="C-2026-0042",
        kind="protocol-figures",
        precinct=precinct,
        addressee=addressee,  # type: ignore[arg-type]
        addressee_name="Алматинская городская избирательная комиссия / Алматы қалалық "
        "сайлау комиссиясы",
        title=f"Расхождение итогов по участку № {precinct} с протоколом: {LONG_PARTY}",
        event_date=event_date,
        respondent=Respondent(
            f"Участковая избирательная комиссия № {precinct}",
            "г. Алматы, ул. Гауһартас, 175, школа-гимназия № 12",
        ),
        complainant=Complainant(
            "Сәрсенбаева Айгүл Қайратқызы",
            "900101450123",
            "г. Алматы, мкр. Самал-2, д. 58, кв. 14",
            "+7 701 555 01 23",
        ),
    )
    deadline = deadline_for_case(
        jurisdiction, case.kind, case.addressee, event_date, today=today, language=language
    )
    return Dossier(
        case=case,
        deadline=deadline,
        exhibits=tuple(exhibits),
        org_name=org_name,
        language=language,  # type: ignore[arg-type]
        edition=edition,  # type: ignore[arg-type]
        figures=tuple(figures),
        generated_at=start + timedelta(days=1),
    )


def sample_tsa(name: str = "Dalel sample TSA") -> tuple[Callable[[bytes], bytes], bytes]:
    """A real RFC 3161 TSA for samples and tests: (digest -> DER TimeStampResp, cert PEM).

    Backed by pyHanko's ``DummyTimeStamper`` with a fresh RSA key and a certificate
    carrying the critical timeStamping extended key usage, so that pyHanko, pdfsig and
    ``openssl ts -verify`` can check its tokens.
    """
    from asn1crypto import keys as asn1_keys
    from asn1crypto import tsp
    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    dummy = DummyTimeStamper(
        tsa_cert=asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        tsa_key=asn1_keys.PrivateKeyInfo.load(
            key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        ),
    )

    def stamp(digest: bytes) -> bytes:
        req = tsp.TimeStampReq(
            {
                "version": 1,
                "message_imprint": {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "hashed_message": digest,
                },
                "cert_req": True,
            }
        )
        return bytes(dummy.request_tsa_response(req).dump())

    return stamp, cert.public_bytes(serialization.Encoding.PEM)


def with_timestamps(
    dossier: Dossier,
    tsa: Callable[[bytes], bytes],
    tsa_cert_pem: bytes,
    tsa_name: str = "Dalel sample TSA",
) -> Dossier:
    """``dossier`` with a real RFC 3161 token from ``tsa`` over each exhibit's hash."""
    from dataclasses import replace

    from asn1crypto import tsp

    exhibits = []
    for ex in dossier.exhibits:
        token = tsa(bytes.fromhex(ex.sha256))
        resp = tsp.TimeStampResp.load(token)
        gen_time = (
            resp["time_stamp_token"]["content"]["encap_content_info"]["content"]
            .parsed["gen_time"]
            .native
        )
        exhibits.append(
            replace(ex, trusted_time=TrustedTime(gen_time, tsa_name, token, tsa_cert_pem))
        )
    return replace(dossier, exhibits=tuple(exhibits))
