"""The order of the stages, in one place. Later stages (timestamp, ocr) are added here."""

from __future__ import annotations

from pipeline.intake import IntakeStage
from pipeline.stages import Stage

#: Turns a submitted file into a stored, logged item.
INTAKE = IntakeStage()

#: Run, in this order, over every item intake produced.
ITEM_STAGES: tuple[Stage, ...] = ()
