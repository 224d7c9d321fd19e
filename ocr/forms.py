"""Protocol forms as data: ``ocr/forms/<id>.json``.

A form lists the figures a protocol carries (``fields``), the contestants
(``parties`` on party-list forms, ``candidates`` on presidential forms), each
with its Russian and Kazakh label, and the control relations between figures.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources

from ocr.errors import FormNotFound, UsageError
from ocr.relations import Relation, parse_relation

#: Names of the contestant groups a form may have; ``sum(<group>)`` in a relation.
GROUPS = ("parties", "candidates")


@dataclass(frozen=True)
class Label:
    """One figure of the form."""

    key: str
    """Stable identifier of the figure (``voters_on_list``, ``amanat``)."""
    ru: str
    """Printed Russian label."""
    kk: str
    """Printed Kazakh label."""
    group: str
    """``fields`` for the general figures, else the contestant group name."""
    en: str = ""
    """English label (for English dossiers; never read off a sheet)."""


@dataclass(frozen=True)
class Form:
    """A protocol form: its labels and control relations."""

    id: str
    """Form id, the file's stem."""
    title_ru: str
    """Russian title of the protocol."""
    title_kk: str
    """Kazakh title of the protocol."""
    labels: tuple[Label, ...]
    """All figures, general ones first, then contestants, in printed order."""
    relations: tuple[Relation, ...]
    """Parsed control relations."""
    wording_status: str | None = None
    """Set when the wording is a draft still to be checked against the CEC's form."""

    @property
    def keys(self) -> tuple[str, ...]:
        """Every figure key, in printed order."""
        return tuple(lab.key for lab in self.labels)

    @property
    def groups(self) -> dict[str, tuple[str, ...]]:
        """Contestant group name -> keys, for ``sum(group)`` in relations."""
        out: dict[str, tuple[str, ...]] = {}
        for g in GROUPS:
            keys = tuple(lab.key for lab in self.labels if lab.group == g)
            if keys:
                out[g] = keys
        return out

    def label(self, key: str) -> Label:
        """The label of ``key``; KeyError if the form has no such figure."""
        for lab in self.labels:
            if lab.key == key:
                return lab
        raise KeyError(key)


def _forms_dir() -> resources.abc.Traversable:
    return resources.files("ocr").joinpath("forms")


def list_forms() -> list[str]:
    """Ids of every form shipped under ``ocr/forms/``, sorted."""
    return sorted(
        p.name[: -len(".json")] for p in _forms_dir().iterdir() if p.name.endswith(".json")
    )


def form_from_dict(data: dict[str, object]) -> Form:
    """Build a :class:`Form` from its JSON object; raises :class:`UsageError` if malformed."""
    try:
        labels: list[Label] = []
        seen: set[str] = set()
        for group in ("fields", *GROUPS):
            for item in data.get(group, []) or []:  # type: ignore[union-attr, attr-defined]
                key = str(item["key"])
                if key in seen or not key.isidentifier():
                    raise UsageError(f"form {data.get('id')}: duplicate or invalid key {key!r}")
                seen.add(key)
                labels.append(
                    Label(key, str(item["ru"]), str(item["kk"]), group, str(item.get("en") or ""))
                )
        title = data["title"]
        rels = tuple(parse_relation(str(r)) for r in data.get("relations", []))  # type: ignore[union-attr, attr-defined]
        form = Form(
            id=str(data["id"]),
            title_ru=str(title["ru"]),  # type: ignore[index]
            title_kk=str(title["kk"]),  # type: ignore[index]
            labels=tuple(labels),
            relations=rels,
            wording_status=(str(data["wording_status"]) if data.get("wording_status") else None),
        )
    except (KeyError, TypeError) as exc:
        raise UsageError(f"malformed form: missing or bad {exc}") from exc
    for rel in form.relations:
        unknown = rel.names() - set(form.keys)
        bad_groups = rel.groups() - set(form.groups)
        if unknown or bad_groups:
            raise UsageError(
                f"form {form.id}: relation {rel.text!r} names unknown "
                f"{sorted(unknown | bad_groups)}"
            )
    return form


@functools.lru_cache(maxsize=32)
def load_form(form_id: str) -> Form:
    """Load and validate the form ``form_id``; raises :class:`FormNotFound` if absent. Loaded
    once per process (a form is a frozen value; figures and results ask for it per photo)."""
    if form_id not in list_forms():
        raise FormNotFound(f"unknown form {form_id!r}; known forms: {', '.join(list_forms())}")
    text = _forms_dir().joinpath(f"{form_id}.json").read_text(encoding="utf-8")
    return form_from_dict(json.loads(text))
