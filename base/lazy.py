"""Modules loaded when first used, not when their user is imported.

Every command module is imported for ``dalel --help``; the modules behind them load pyHanko,
OpenCV, SQLAlchemy and the OCR engines. A module that needs one of them for some of its
operations only names it with :func:`lazy` (and imports it for real under ``TYPE_CHECKING``,
so that types are still checked): ``dalel receipt verify`` then loads what checking a receipt
needs, nothing else.
"""

from __future__ import annotations

import importlib
import types
from typing import Any


class _LazyModule(types.ModuleType):
    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self.__name__)
        self.__dict__.update(module.__dict__)  # later lookups find the names directly
        return getattr(module, attr)


def lazy(name: str) -> Any:
    """A stand-in for module ``name`` that imports it at the first attribute looked up."""
    return _LazyModule(name)
