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

from ocr.engine import check_environment, engine_versions
from ocr.errors import FormNotFound, MissingDependency, OcrError, RelationSyntaxError, UsageError
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
