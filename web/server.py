"""Running the service: ``dalel serve`` (uvicorn on one process, loopback by default)."""

from __future__ import annotations

import logging
import sys

import uvicorn

from evidence.storage.store import Store
from web.app import guarded


def run(store: Store, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``store`` until interrupted (Ctrl+C commits what was received, then stops)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in ("dalel.web.access", "dalel.web"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
    config = uvicorn.Config(
        guarded(store),
        host=host,
        port=port,
        http="httptools",  # HTTP parsed in C (h11, pure Python, halves upload throughput)
        loop="uvloop",
        access_log=False,  # uvicorn's names raw paths; ours masks upload ids
        log_level="warning",
        server_header=False,
        timeout_graceful_shutdown=30,
    )
    uvicorn.Server(config).run()
