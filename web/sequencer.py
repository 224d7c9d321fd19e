"""The sequencer, in a process of its own: it commits received uploads in batches.

``dalel serve`` starts it (``python -m web.sequencer STORE``) and it lives as long as the
server: it has its own interpreter, so committing a batch (intake, timestamps, the log, the
receipts) never waits for the server's event loop, nor the loop for it, on two cores.

- stdin: a byte per upload received wakes it (else it looks every ``--every`` seconds);
  when stdin closes it commits what is received and ends;
- stdout: a line after each batch committed (the server then answers the receipt requests
  waiting for it);
- it dies with the server (``PR_SET_PDEATHSIG``): killing the server at any moment kills it
  too, and the next start commits what was received, as after any crash (see
  :mod:`app.uploads`).

An error in a batch is written to ``logs/`` and the sequencer goes on: the uploads stay
received and are tried again.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from app import uploads
from evidence.core import custody
from evidence.storage.store import Store

PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int | None) -> None:
    """Be killed when the server that started us dies (Linux); at once if it already has.

    ``parent`` is the server's pid as it gave it: a server killed while this interpreter was
    starting has left us to init already, and the pid we would see now is init's, not its."""
    if parent is None:
        parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(0)


def _say_done() -> None:
    try:
        os.write(sys.stdout.fileno(), b"done\n")
    except OSError:
        pass  # the server is gone: this process follows it


EXPIRE_EVERY = 3600.0
"""Seconds between two looks for abandoned uploads (:func:`app.uploads.expire_abandoned`)."""


def _expire(store: Store) -> None:
    """Delete the abandoned uploads, and say which in ``logs/abandoned-uploads.jsonl``."""
    gone = uploads.expire_abandoned(store)
    if gone:
        line = {"at": custody.utc_now(), "uploads": gone}
        logs = store.root / "logs"
        logs.mkdir(exist_ok=True)
        with open(logs / "abandoned-uploads.jsonl", "a") as f:
            f.write(json.dumps(line) + "\n")


def run(store: Store, every: float, woken: threading.Event, ended: threading.Event) -> None:
    """Commit batches until ``ended`` is set and nothing received is left; once an hour,
    delete the uploads abandoned (no byte for days, never received)."""
    from web.app import _save_traceback

    try:
        uploads.recover(store)
    except Exception:
        _save_traceback(store, "sequencer")
    next_expiry = time.monotonic()
    while True:
        try:
            while uploads.commit_received(store):
                _say_done()
        except Exception:  # the sequencer lives on; the uploads stay received
            _save_traceback(store, "sequencer")
            time.sleep(1.0)
            if not ended.is_set():
                continue
        if time.monotonic() >= next_expiry:  # (after the receipts owed, never before them)
            next_expiry = time.monotonic() + EXPIRE_EVERY
            try:
                _expire(store)
            except Exception:  # (tried again in an hour)
                _save_traceback(store, "sequencer")
        if ended.is_set():
            return
        woken.wait(every)
        woken.clear()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m web.sequencer")
    ap.add_argument("store", type=Path)
    ap.add_argument("--every", type=float, default=2.0)
    ap.add_argument("--parent", type=int, default=None, help="the server's pid")
    args = ap.parse_args(argv)
    _die_with_parent(args.parent)
    store = Store.open(args.store)
    woken, ended = threading.Event(), threading.Event()

    def listen() -> None:
        while True:
            try:
                data = os.read(sys.stdin.fileno(), 4096)
            except OSError:
                data = b""
            if not data:
                ended.set()
                woken.set()
                return
            woken.set()

    threading.Thread(target=listen, name="wake", daemon=True).start()
    run(store, args.every, woken, ended)
    return 0


if __name__ == "__main__":
    sys.exit(main())
