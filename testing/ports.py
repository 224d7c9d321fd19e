"""Free TCP ports on 127.0.0.1 for the servers the tests start (PostgreSQL, SeaweedFS, the
web server), chosen where nothing else will take them in the meantime.

A port found by binding port 0 and closing the socket comes from the kernel's ephemeral range
(32768-60999 by default): until the server binds it, any outgoing connection may be given it
as its own port, and with two test processes running (``make test`` runs two) the other one
makes hundreds. Here each test process takes ports from a range of its own below the
ephemeral range (``pytest-xdist``'s worker gw0, gw1... gets 20000-21499, 21500-22999...),
starting at a point drawn from its process ID, never handing out the same port twice in a
row; each port is checked free by binding it before it is handed out.
"""

from __future__ import annotations

import os
import re
import socket
import threading

LOW = 20_000
"""The first port of the first range; the last range ends below the ephemeral range."""
SPAN = 1_500
"""Ports in each test process's range."""
RANGES = 8
"""Ranges (test processes) before they are reused: 20000 + 8 x 1500 = 32000 < 32768."""

_lock = threading.Lock()
_cursor: list[int] = []


def _range() -> tuple[int, int]:
    """(first port, ports) of this process's range."""
    found = re.search(r"\d+", os.environ.get("PYTEST_XDIST_WORKER", ""))
    index = int(found.group()) % RANGES if found else 0
    return LOW + index * SPAN, SPAN


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports of this process's range, free on 127.0.0.1 when checked."""
    first, span = _range()
    out: list[int] = []
    with _lock:
        if not _cursor:
            _cursor.append(os.getpid() % span)
        for _ in range(span):
            port = first + _cursor[0]
            _cursor[0] = (_cursor[0] + 1) % span
            if _is_free(port):
                out.append(port)
                if len(out) == n:
                    return out
    raise OSError(f"no {n} free ports between {first} and {first + span - 1} on 127.0.0.1")


def free_port() -> int:
    """One port of this process's range, free on 127.0.0.1 when checked."""
    return free_ports(1)[0]
