"""The `ocr` stage: read the figures of each protocol photo into a derivative record.

A reading is a derivative record bound to the photo's hash: an ``ocr`` custody entry with
the form, the engine versions, every figure with its status, the relations, and the
objects it produced (the full reading as JSON, and a crop of each figure's region), each
naming its parent and the operation. What people do with readings (review, confirm,
compare photos) is in ``app.figures``.
"""

from __future__ import annotations

from typing import Any

import ocr
from evidence.core import custody
from evidence.storage.store import Store
from pipeline.stages import Context, Item, StageResult, Status

DEFAULT_FORM = "kz-mazhilis-party-list-2023"


def store_form(store: Store) -> str:
    """The form the store reads protocols with (``[ocr] form`` in config.toml)."""
    return str(store.config.raw.get("ocr", {}).get("form", DEFAULT_FORM))


class OcrStage:
    """Read the figures of every ``protocol`` photo; idempotent per form and engine."""

    name = "ocr"

    def __init__(self, form_id: str | None = None) -> None:
        self.form_id = form_id

    def run(self, item: Item, ctx: Context) -> StageResult:
        if item.kind != "protocol" or not item.media_type.startswith("image/"):
            return StageResult(self.name, item.sha256, Status.SKIPPED, "not a protocol photo", item)
        form = ocr.load_form(self.form_id or store_form(ctx.store))
        engine = ocr.engine_versions()
        for e in ctx.index.history(item.sha256):
            if e.get("event") == "ocr" and e.get("form") == form.id and e.get("engine") == engine:
                return StageResult(
                    self.name,
                    item.sha256,
                    Status.SKIPPED,
                    "already read with this form and engine",
                    item,
                )
        with ctx.store.objects.open(item.sha256) as f:
            image = f.read()
        reading = ocr.read_protocol(image, form)
        objects: list[dict[str, Any]] = []
        full = reading.to_dict(reasons=True)
        stored = ctx.store.objects.put_bytes(custody.canonical(full))
        objects.append(
            {
                "sha256": stored.sha256,
                "role": "reading",
                "parent": item.sha256,
                "operation": "ocr-read",
            }
        )
        for key, png in sorted(reading.crops.items()):
            crop = ctx.store.objects.put_bytes(png)
            objects.append(
                {
                    "sha256": crop.sha256,
                    "role": "crop",
                    "field": key,
                    "parent": item.sha256,
                    "operation": "ocr-crop",
                }
            )
        figures = {
            f.key: {
                "value": f.value,
                "status": f.status.value,
                "confidence": round(f.confidence, 4),
                "reason": f.reason.value,
            }
            for f in reading.fields
        }
        entry = {
            "event": "ocr",
            "subject": item.sha256,
            "precinct": item.precinct,
            "kind": "protocol",
            "form": form.id,
            "engine": engine,
            "perceptual_hash": ocr.perceptual_hash(image),
            "figures": figures,
            "relations": [{"relation": r.relation, "holds": r.holds} for r in reading.relations],
            "problem": reading.problem.value if reading.problem else None,
            "objects": objects,
        }
        appended = ctx.writer.append(entry)
        accepted = sum(1 for f in reading.fields if f.status is ocr.Status.ACCEPTED)
        return StageResult(
            self.name,
            item.sha256,
            Status.DONE,
            f"{accepted}/{len(reading.fields)} figures accepted",
            item,
            (appended.seq,),
            {"accepted": accepted, "fields": len(reading.fields)},
        )
