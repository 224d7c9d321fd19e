"""The order of the stages, in one place."""

from __future__ import annotations

from pipeline.figures import OcrStage
from pipeline.intake import IntakeStage
from pipeline.stages import Stage
from pipeline.stamp import TimestampStage

#: Turns a submitted file into a stored, logged item.
INTAKE = IntakeStage()

#: What `ingest` runs over every new item: the integrity stages only, so that handing in
#: a thousand photos is quick.
INGEST_STAGES: tuple[Stage, ...] = (TimestampStage(),)

#: What `run` runs, in this order, over every new item. Its ``ocr`` stage also reads a photo
#: handed in without a kind (``other``) when its content reads as a protocol.
ITEM_STAGES: tuple[Stage, ...] = (*INGEST_STAGES, OcrStage(detect=True))
