"""Fuzzing the parsers of untrusted bytes: any input gives a named result or a DalelError.

Never another exception (a RecursionError, KeyError or TypeError would reach a user as a
crash, exit 70).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from base.errors import DalelError
from evidence.core import custody, receipts

_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=20,
)


def _deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


@settings(max_examples=200, deadline=2000)
@given(st.binary(max_size=2048) | st.sampled_from([_deep(100_000), b'{"entry":' * 50_000]))
def test_custody_parse_line_any_bytes_is_a_value_error_or_a_record(data: bytes) -> None:
    try:
        custody.parse_line(data)
    except ValueError:
        pass


@settings(max_examples=200, deadline=2000)
@given(_JSONISH)
def test_custody_parse_line_any_json_shape(value: object) -> None:
    import json

    line = json.dumps(
        {"entry": {"seq": 1, "prev": "x"}, "sig": {"alg": "ed25519", "key": "k", "value": value}}
    )
    try:
        custody.parse_line(line.encode())
    except ValueError:
        pass


@settings(max_examples=200, deadline=2000)
@given(st.binary(max_size=4096) | st.sampled_from([_deep(100_000), b"", b"\x00" * 10]))
def test_receipt_load_any_bytes_is_a_dalel_error_or_a_value(data: bytes) -> None:
    try:
        receipts.load(data)
    except DalelError:
        pass


_FORM = None


def _form() -> object:
    global _FORM
    if _FORM is None:
        import ocr

        _FORM = ocr.load_form(ocr.list_forms()[0])
    return _FORM


_HOSTILE_CSV = [
    b"precinct,field,value\n1,voters," + b"9" * 5000 + b"\n",
    "precinct,field,value\n1,voters,\u00b2\n".encode(),
    b'precinct,field,value\n1,voters,"' + b"x" * 200_000 + b'"\n',
    b"",
    b"\xff\xfe\x00",
    b"a,b,c\n",
]


@settings(max_examples=200, deadline=2000)
@given(
    st.binary(max_size=2048).map(lambda b: b"precinct,field,value\n" + b)
    | st.sampled_from(_HOSTILE_CSV)
)
def test_official_parse_any_bytes_is_a_result_or_a_dalel_error(data: bytes) -> None:
    from app import official

    try:
        official.parse(data, _form())  # type: ignore[arg-type]
    except DalelError:
        pass


@settings(max_examples=200, deadline=2000)
@given(st.binary(max_size=2048) | st.sampled_from([_deep(100_000), b"\xff" * 10]))
def test_bundle_readers_never_raise_on_content(data: bytes) -> None:
    import tempfile
    from pathlib import Path

    from evidence.storage import bundle

    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / bundle.MANIFEST).write_bytes(data)
        (root / bundle.LISTING).write_bytes(data)
        manifest, problem = bundle.read_manifest(root)
        assert problem is None or manifest == {}
        bundle.read_listing(root)


def _read_manifest_bytes(data: bytes) -> None:
    import tempfile
    from pathlib import Path

    from pipeline import intake

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / intake.MANIFEST).write_bytes(data)
        try:
            intake._read_manifest(Path(d))
        except DalelError:
            pass


@settings(max_examples=200, deadline=2000)
@given(st.binary(max_size=2048).map(lambda b: b"file,observer,precinct,kind,channel,note\n" + b))
def test_manifest_parser_any_bytes_is_rows_or_a_dalel_error(data: bytes) -> None:
    _read_manifest_bytes(data)


def test_manifest_parser_200kb_field_is_a_dalel_error() -> None:
    _read_manifest_bytes(b'file,observer\n"' + b"x" * 200_000 + b'"\n')
