"""Shared fixtures: synthetic protocol photos (generated, deterministic) and their readings."""

from __future__ import annotations

import pytest

from ocr import ProtocolReading, load_form, read_protocol
from ocr.synth import Sample, make_sample

FORM_ID = "kz-mazhilis-party-list-2023"


@pytest.fixture(scope="session")
def mazhilis():
    return load_form(FORM_ID)


@pytest.fixture(scope="session")
def typed_photos(mazhilis) -> list[tuple[Sample, ProtocolReading]]:
    """One photographed typed protocol per layout, read."""
    out = []
    for i, layout in enumerate(("table", "leaders", "bilingual")):
        s = make_sample(i, 101, tier="photo", script="typed", layout=layout, adds_up=True)
        out.append((s, read_protocol(s.image, mazhilis)))
    return out


@pytest.fixture(scope="session")
def handwritten_photo(mazhilis) -> tuple[Sample, ProtocolReading]:
    s = make_sample(7, 101, tier="photo", script="handwritten", layout="table", adds_up=True)
    return s, read_protocol(s.image, mazhilis)


@pytest.fixture(scope="session")
def inconsistent_scan(mazhilis) -> tuple[Sample, ProtocolReading]:
    """A clean typed protocol whose own figures do not add up."""
    s = make_sample(3, 202, tier="clean", script="typed", layout="bilingual", adds_up=False)
    return s, read_protocol(s.image, mazhilis)
