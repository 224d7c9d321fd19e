"""The deadline of the exchange with a TSA under way (shared by the client that sets it and
the HTTP transport that honours it, :mod:`evidence.timestamping.http`)."""

from __future__ import annotations

import contextvars

#: When the exchange under way must be over (``time.monotonic()``), or None: read by every
#: socket operation of the TSA client, so that no part of an answer (the status line, the
#: headers, the body) can stretch a request past its timeout by dripping a byte at a time.
DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "tsa_deadline", default=None
)
