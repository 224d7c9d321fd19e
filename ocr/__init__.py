"""Reading tally figures from photos of precinct result protocols.

Public API (what ``pipeline`` and ``cli`` use)::

    load_form(form_id) -> Form           list_forms() -> list[str]
    parse_relation(text) -> Relation     Relation.evaluate(figures, groups) -> bool | None
    read_protocol(image: bytes, form) -> ProtocolReading   (.to_dict(), .crops, .engine,
                                                            .precinct: PrecinctReading)
    format_table(reading) -> str         check_environment() (raises MissingDependency, exit 4)
    engine_versions() -> dict            perceptual_hash(image) -> str | None
    parse_number_words(text) -> int | None
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Each name is loaded from its module when first asked for (PEP 562): ``ocr.Reason`` or
# ``ocr.load_form`` must not start OpenCV and the OCR engines for a command that only
# prints a reading or names a reason.
_WHERE = {
    "check_environment": "ocr.engine",
    "engine_versions": "ocr.engine",
    "FormNotFound": "ocr.errors",
    "MissingDependency": "ocr.errors",
    "OcrError": "ocr.errors",
    "RelationSyntaxError": "ocr.errors",
    "UsageError": "ocr.errors",
    "Form": "ocr.forms",
    "Label": "ocr.forms",
    "list_forms": "ocr.forms",
    "load_form": "ocr.forms",
    "parse_number_words": "ocr.numwords",
    "to_words_kk": "ocr.numwords",
    "to_words_ru": "ocr.numwords",
    "hash_distance": "ocr.phash",
    "perceptual_hash": "ocr.phash",
    "read_protocol": "ocr.read",
    "Relation": "ocr.relations",
    "parse_relation": "ocr.relations",
    "FieldReading": "ocr.result",
    "PrecinctReading": "ocr.result",
    "PrecinctReason": "ocr.result",
    "ProtocolReading": "ocr.result",
    "Reason": "ocr.result",
    "RelationCheck": "ocr.result",
    "Status": "ocr.result",
    "format_table": "ocr.result",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'ocr' has no attribute {name!r}")
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


if TYPE_CHECKING:
    from ocr.engine import check_environment, engine_versions
    from ocr.errors import (
        FormNotFound,
        MissingDependency,
        OcrError,
        RelationSyntaxError,
        UsageError,
    )
    from ocr.forms import Form, Label, list_forms, load_form
    from ocr.numwords import parse_number_words, to_words_kk, to_words_ru
    from ocr.phash import hash_distance, perceptual_hash
    from ocr.read import read_protocol
    from ocr.relations import Relation, parse_relation
    from ocr.result import (
        FieldReading,
        PrecinctReading,
        PrecinctReason,
        ProtocolReading,
        Reason,
        RelationCheck,
        Status,
        format_table,
    )

__all__ = [
    "FieldReading",
    "Form",
    "FormNotFound",
    "Label",
    "MissingDependency",
    "OcrError",
    "PrecinctReading",
    "PrecinctReason",
    "ProtocolReading",
    "Reason",
    "Relation",
    "RelationCheck",
    "RelationSyntaxError",
    "Status",
    "UsageError",
    "check_environment",
    "engine_versions",
    "format_table",
    "hash_distance",
    "list_forms",
    "load_form",
    "parse_number_words",
    "parse_relation",
    "perceptual_hash",
    "read_protocol",
    "to_words_kk",
    "to_words_ru",
]
