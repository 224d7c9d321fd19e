"""Observers invited to hand in files from a phone: invite, list, revoke, authenticate.

An invite is a link holding a token of 128 random bits; the store keeps only the token's
SHA-256 (``observers/invites.json``, mutable state beside the log, never exported), and the
custody log records that an invite was made or withdrawn (its id, precinct and expiry: no
token, no name). The token travels in the link's fragment (``…/o/#TOKEN``), which a browser
never sends to a server, so it never reaches an access log; the phone sends it as a bearer
token.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app import statedb
from base.errors import UsageError
from base.fsio import atomic_write
from evidence.content import privacy
from evidence.core import custody, events
from evidence.storage.store import Store
from pipeline import hooks, registry

INVITES_DIR = "observers"
INVITES_FILE = "invites.json"
DEFAULT_EXPIRY = timedelta(days=3)
MAX_EXPIRY = timedelta(days=60)
_DURATION = re.compile(r"(\d{1,4})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class Invite:
    """One observer's invite, as the store keeps it (the token itself is never kept)."""

    id: str
    """Public id (``inv-`` + 12 hex): what `observer revoke` and the log name."""
    precinct: str
    """The precinct the observer's files go to by default."""
    name: str
    """A label for the coalition (IINs scrubbed); never logged."""
    created: str
    """When it was made (RFC 3339 UTC)."""
    expires: str
    """When the link stops working (RFC 3339 UTC)."""
    token_sha256: str
    """SHA-256 of the token (hex)."""
    revoked: str | None = None
    """When it was withdrawn, if it was."""
    observer: str | None = None
    """The observer's pseudonym (``obs-`` + 20 hex), once they gave their IIN on the phone;
    the IIN itself is never kept."""

    def active(self, now: datetime | None = None) -> bool:
        """Whether the link still works."""
        now = now or datetime.now(UTC)
        return self.revoked is None and now < _parse_time(self.expires)

    def to_dict(self) -> dict[str, Any]:
        """JSON form, without the token's hash."""
        d = asdict(self)
        d.pop("token_sha256")
        d["active"] = self.active()
        return d


@dataclass(frozen=True)
class Issued:
    """An invite just made: the token is shown this once."""

    invite: Invite
    token: str
    url: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``{"id", "url", "token", ...}`` (public interface)."""
        return {
            "id": self.invite.id,
            "url": self.url,
            "token": self.token,
            "precinct": self.invite.precinct,
            "expires": self.invite.expires,
        }


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def token_hash(token: str) -> str:
    """SHA-256 hex of a token, as stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def parse_expiry(text: str) -> timedelta:
    """``30m``, ``12h``, ``3d``, ``2w``: how long an invite works (at most 60 days)."""
    m = _DURATION.fullmatch(text.strip())
    if not m:
        raise UsageError(
            f"{text!r} is not a duration", fix="write a number and a unit: 30m, 12h, 3d or 2w"
        )
    span = timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    if not timedelta(minutes=1) <= span <= MAX_EXPIRY:
        raise UsageError(
            f"an invite must work between 1 minute and {MAX_EXPIRY.days} days, not {text}",
            fix="choose a shorter --expires, and send a new invite when it runs out",
        )
    return span


def check_precinct(precinct: str) -> str:
    """A precinct number as observers write it, never an IIN (as ``dalel ingest`` checks it)."""
    return registry.check_precinct(precinct)


def _dir(store: Store) -> Path:
    d = store.root / INVITES_DIR
    d.mkdir(mode=0o700, exist_ok=True)
    return d


DOCUMENT = "observers/invites"
"""The invites' document in the store's PostgreSQL database (:mod:`app.statedb`), for a
store whose index is there: every intake server of the coalition reads the same invites."""


@contextmanager
def _locked(store: Store) -> Iterator[dict[str, dict[str, Any]]]:
    """The invites, read under a lock and written back when the block ends normally."""
    if statedb.on_postgres(store):
        with statedb.document_locked(store, DOCUMENT) as held:
            data = _parse(held[0], DOCUMENT) if held[0] else {}  # ("": never written)
            before = json.dumps(data, sort_keys=True)
            yield data
            if json.dumps(data, sort_keys=True) != before:
                held[0] = json.dumps(data, indent=1)
        return
    d = _dir(store)
    with open(d / ".lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = _read(store)
        before = json.dumps(data, sort_keys=True)
        yield data
        if json.dumps(data, sort_keys=True) != before:
            atomic_write(d / INVITES_FILE, json.dumps(data, indent=1).encode(), mode=0o600)


def _parse(text: str | bytes, where: object) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(text)
    except ValueError as e:
        raise UsageError(
            f"{where} cannot be read: {e}", fix="restore it from a backup, or invite again"
        ) from None
    return data if isinstance(data, dict) else {}


def _read(store: Store) -> dict[str, dict[str, Any]]:
    if statedb.on_postgres(store):
        held = statedb.document(store, DOCUMENT)
        return _parse(held[1], DOCUMENT) if held else {}
    path = store.root / INVITES_DIR / INVITES_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise UsageError(
            f"{path} cannot be read: {e}", fix="restore it from a backup, or invite again"
        ) from None
    return _parse(raw, path)


_by_token: dict[str, tuple[tuple[int, int, int], dict[str, dict[str, Any]]]] = {}
"""Per invites file: its identity when read (inode, mtime, size; every write replaces the
file) and its invites by token hash. A server answers every request from it instead of
reading and searching the whole file; a revocation made by another process is seen at once,
as it replaces the file."""


def _token_index(store: Store) -> dict[str, dict[str, Any]]:
    path = store.root / INVITES_DIR / INVITES_FILE
    if statedb.on_postgres(store):  # (its version: one small query a request)
        version = statedb.document_version(store, DOCUMENT)
        if version is None:
            return {}
        seen = (version, 0, 0)
    else:
        try:
            st = path.stat()
        except FileNotFoundError:
            return {}
        seen = (st.st_ino, st.st_mtime_ns, st.st_size)
    held = _by_token.get(str(path))
    if held is not None and held[0] == seen:
        return held[1]
    index = {str(d.get("token_sha256", "")): d for d in _read(store).values()}
    _by_token[str(path)] = (seen, index)
    return index


def _invite(d: dict[str, Any]) -> Invite:
    return Invite(**{k: d.get(k) for k in Invite.__dataclass_fields__})  # type: ignore[arg-type]


def public_url(store: Store) -> str:
    """The address observers reach the server at (``[web] public_url`` in the config)."""
    url = store.config.raw.get("web", {}).get("public_url") or "http://127.0.0.1:8000"
    return str(url).rstrip("/")


def invite(
    store: Store,
    precinct: str,
    *,
    name: str = "",
    expires: timedelta = DEFAULT_EXPIRY,
    now: datetime | None = None,
    observer: str | None = None,
) -> Issued:
    """Make an invite for one observer of ``precinct``; log it; return the link (once).
    ``observer``: their pseudonym when it is known already (a sign-up that gave the IIN):
    the phone then does not ask for the IIN again."""
    precinct = check_precinct(precinct)
    now = now or datetime.now(UTC)
    token = secrets.token_urlsafe(16)  # 128 random bits
    inv = Invite(
        id="inv-" + secrets.token_hex(6),
        precinct=precinct,
        name=privacy.scrub(store.secret, name.strip())[:120],
        created=custody.rfc3339(now),
        expires=custody.rfc3339(now + expires),
        token_sha256=token_hash(token),
        observer=observer,
    )
    hooks.attach(store)
    with store.writer() as w:
        w.append(
            {
                "event": events.OBSERVER_INVITE,
                "invite": inv.id,
                "precinct": inv.precinct,
                "expires": inv.expires,
            }
        )
    with _locked(store) as data:  # after the log holds it: a crash leaves no unlogged link
        data[inv.id] = asdict(inv)
    return Issued(inv, token, f"{public_url(store)}/o/#{token}")


def invites(store: Store) -> list[Invite]:
    """Every invite, oldest first."""
    return sorted((_invite(d) for d in _read(store).values()), key=lambda i: i.created)


def revoke(store: Store, invite_id: str) -> Invite:
    """Withdraw an invite: its link stops working at once; what it handed in stays."""
    with _locked(store) as data:
        if invite_id not in data:
            raise UsageError(f"no invite {invite_id!r}", fix="see them with: dalel observer list")
        if data[invite_id].get("revoked"):
            return _invite(data[invite_id])
        data[invite_id]["revoked"] = custody.utc_now()
        inv = _invite(data[invite_id])
    hooks.attach(store)
    with store.writer() as w:
        w.append({"event": events.OBSERVER_REVOKE, "invite": invite_id})
    return inv


def authenticate(store: Store, token: str, now: datetime | None = None) -> Invite | None:
    """The active invite a bearer token belongs to, or None (unknown, expired, revoked)."""
    if not token or len(token) > 200:
        return None
    d = _token_index(store).get(token_hash(token))
    if d is None:
        return None
    inv = _invite(d)
    return inv if inv.active(now) else None


class IinRefused(UsageError):
    """An IIN given on the phone that cannot be taken (wrong check digit, or one was already
    given with this invite)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def give_iin(store: Store, invite_id: str, iin: str) -> Invite:
    """The observer of ``invite_id`` gives their IIN: it is checked (check digit), turned into
    the store's pseudonym and kept as that alone; the uploads of this invite are then the
    same observer as their `dalel ingest --observer IIN` files. It is given once: any IIN
    after that is refused alike, the same or another, so that whoever holds the link cannot
    test guesses of the observer's IIN against the server."""
    digits = re.sub(r"[\s\-.\u00a0]", "", iin or "")
    if not privacy.is_valid_iin(digits):
        raise IinRefused(
            "IIN_INVALID", "this is not a valid IIN (12 digits, the last a check digit)"
        )
    made = privacy.pseudonym(store.secret, digits)
    with _locked(store) as data:
        d = data.get(invite_id)
        if d is None:
            raise IinRefused("UNAUTHORIZED", "no such invite")
        if d.get("observer") is not None:
            raise IinRefused(
                "IIN_ALREADY_GIVEN",
                "an IIN was already given with this link; ask the coalition for a new link",
            )
        d["observer"] = made
        return _invite(d)


def pseudonyms(store: Store) -> dict[str, str]:
    """Invite id -> the pseudonym its observer gave by their IIN, for those who did."""
    return {
        k: d["observer"]
        for k, d in _read(store).items()
        if isinstance(d, dict) and isinstance(d.get("observer"), str)
    }


def qr_png(url: str) -> bytes:
    """The QR code of an invite link, as PNG bytes."""
    import io

    import qrcode

    img = qrcode.make(url, border=2)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def qr_text(url: str) -> str:
    """The QR code of an invite link, drawn with block characters for a terminal."""
    import io

    import qrcode

    qr = qrcode.QRCode(border=1)
    qr.add_data(url)
    buf = io.StringIO()
    qr.print_ascii(out=buf, invert=True)
    return buf.getvalue()
