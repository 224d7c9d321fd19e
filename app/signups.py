"""Volunteers sign up to watch a precinct; a coordinator approves (an observer invite) or declines.

One store is one organisation, with one public sign-up link, ``{public_url}/s/TOKEN``: the
volunteer picks a precinct (from the precinct registry when there is one), a shift, and leaves
a name and a contact; when the organisation asks for it, their IIN, which becomes the store's
pseudonym at once (``obs-`` + 20 hex, as an observer's IIN everywhere) and is never kept.

Personal data (names, contacts) live only in ``workspace/signups.sqlite`` (mode 0600, beside
``users.sqlite``, never exported); the custody log records what happened under ids and
pseudonyms: a sign-up received (its id, precinct and shift), approved (by the coordinator's
pseudonym, with the invite made) or declined.

The link's token is derived from the store's secret and a random salt (so that whoever holds
the store can show the link again), and the file keeps only the salt and the token's SHA-256:
the file alone does not give the link. A new link makes the old one stop working.

Public input is hostile: every field is checked and refused with a named :class:`Reason`;
pending sign-ups are capped, in all and per contact, and the same contact cannot sign up twice
for the same precinct and shift.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from app import observers, statedb
from base.errors import UsageError
from evidence.content import privacy
from evidence.core import events
from evidence.storage.store import Store

DIR = "workspace"
DB = "signups.sqlite"
SHIFTS = ("day", "morning", "evening", "count")
"""The shifts a volunteer may sign up for: the whole day, the morning, the evening, the count."""
STATUSES = ("pending", "approved", "declined")
MAX_NAME = 100
MAX_CONTACT = 100
MAX_PENDING = 5000
"""Pending sign-ups at most, in all: beyond it the page asks volunteers to come back later."""
MAX_PENDING_PER_CONTACT = 4
"""Pending sign-ups at most from one contact (one of each shift)."""
INVITE_EXPIRY = timedelta(days=30)
"""How long the invite made on approval works (sign-ups come weeks before the vote)."""
ASK_IIN = "signup_ask_iin"
"""The workspace setting (``users.setting``): ``on`` when the page asks for the IIN."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTACT_NOISE = re.compile(r"[\s\-().+@]")
_lock = threading.Lock()
"""Sign-ups taken one at a time in this process (the database's own lock between processes);
decisions are serialised by the database alone (:func:`_deciding`)."""


class Reason(StrEnum):
    """Why a sign-up, or a decision on one, was refused."""

    BAD_PRECINCT = "BAD_PRECINCT"
    """Not a precinct number (or an IIN written in its place)."""
    UNKNOWN_PRECINCT = "UNKNOWN_PRECINCT"
    """A number the precinct registry does not list."""
    BAD_SHIFT = "BAD_SHIFT"
    """Not one of :data:`SHIFTS`."""
    BAD_NAME = "BAD_NAME"
    """Empty, too long, or control characters."""
    BAD_CONTACT = "BAD_CONTACT"
    """Empty, too long, or control characters."""
    IIN_REQUIRED = "IIN_REQUIRED"
    """The organisation asks for the IIN and none was given."""
    IIN_INVALID = "IIN_INVALID"
    """Not 12 digits with the right check digit."""
    DUPLICATE = "DUPLICATE"
    """This contact already signed up for this precinct and shift."""
    CONTACT_LIMIT = "CONTACT_LIMIT"
    """This contact has :data:`MAX_PENDING_PER_CONTACT` sign-ups waiting already."""
    FULL = "FULL"
    """:data:`MAX_PENDING` sign-ups are waiting: come back later."""
    NOT_FOUND = "NOT_FOUND"
    """No sign-up with this id."""
    ALREADY_DECIDED = "ALREADY_DECIDED"
    """The sign-up was approved or declined already."""


class SignupRefused(UsageError):
    """A sign-up or a decision refused, with its named reason."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Signup:
    """One volunteer's sign-up, as the workspace's file keeps it."""

    id: str
    """``sgn-`` + 12 hex: what the log names."""
    precinct: str
    shift: str
    """One of :data:`SHIFTS`."""
    name: str
    """As the volunteer wrote it (IINs scrubbed); never logged."""
    contact: str
    """Phone or Telegram, as written (IINs scrubbed); never logged."""
    observer: str | None
    """The pseudonym of the IIN they gave, when the organisation asked for it."""
    status: str
    """``pending``, ``approved`` or ``declined``."""
    created: str
    decided: str | None = None
    decided_by: str | None = None
    """The coordinator's pseudonym."""
    invite: str | None = None
    """The invite made on approval (``inv-`` + 12 hex)."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (for the coordinator: it holds the name and contact)."""
        return {
            "id": self.id,
            "precinct": self.precinct,
            "shift": self.shift,
            "name": self.name,
            "contact": self.contact,
            "observer": self.observer,
            "status": self.status,
            "created": self.created,
            "decided": self.decided,
            "decided_by": self.decided_by,
            "invite": self.invite,
        }


@dataclass(frozen=True)
class Approved:
    """A sign-up approved: the invite's link, shown this once, to pass on to the volunteer."""

    signup: Signup
    issued: observers.Issued

    def to_dict(self) -> dict[str, Any]:
        """``{"signup": {...}, "invite": {"id", "url", "token", "precinct", "expires"}}``."""
        return {"signup": self.signup.to_dict(), "invite": self.issued.to_dict()}


@dataclass(frozen=True)
class Link:
    """The organisation's public sign-up link."""

    url: str
    token: str
    created: str

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "created": self.created}


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _path(store: Store) -> Path:
    return store.root / DIR / DB


_SCHEMA = """
    CREATE TABLE IF NOT EXISTS signups(
        id TEXT PRIMARY KEY, precinct TEXT NOT NULL, shift TEXT NOT NULL,
        name TEXT NOT NULL, contact TEXT NOT NULL, contact_key TEXT NOT NULL,
        observer TEXT, status TEXT NOT NULL, created TEXT NOT NULL,
        decided TEXT, decided_by TEXT, invite TEXT);
    CREATE UNIQUE INDEX IF NOT EXISTS signups_once
        ON signups(contact_key, precinct, shift);
    CREATE INDEX IF NOT EXISTS signups_status ON signups(status, precinct);
    CREATE TABLE IF NOT EXISTS link(
        id INTEGER PRIMARY KEY CHECK (id = 1), salt TEXT NOT NULL,
        token_sha256 TEXT NOT NULL, created TEXT NOT NULL);
"""


@contextmanager
def _db(store: Store) -> Iterator[statedb.Connection]:
    with statedb.connect(store, _path(store), _SCHEMA) as con:
        yield con


def _made(store: Store) -> bool:
    """Whether sign-ups were ever kept (nothing to look up before)."""
    return statedb.exists(store, _path(store))


def _log(store: Store, entry: dict[str, Any]) -> None:
    with store.writer() as w:
        w.append(entry)


def _actor(pseudonym: str) -> dict[str, str]:
    return {"role": "workspace", "id": pseudonym}


# --- the link --------------------------------------------------------------------------------
def _token(store: Store, salt: str) -> str:
    mac = hmac.new(store.secret, b"dalel-signup-link\x00" + salt.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:16]).decode().rstrip("=")  # 128 bits


def link(store: Store, *, new: bool = False, by: str = "cli") -> Link:
    """The organisation's sign-up link (made the first time); ``new`` makes another, and the
    old one stops working (recorded in the log under ``by``, a user's pseudonym)."""
    with _db(store) as con:
        row = con.execute("SELECT salt, created FROM link WHERE id=1").fetchone()
        if row is None or new:
            salt, created = secrets.token_hex(16), _iso(_now())
            con.execute(
                "INSERT INTO link(id, salt, token_sha256, created) VALUES (1,?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET salt=excluded.salt, "
                "token_sha256=excluded.token_sha256, created=excluded.created",
                (salt, observers.token_hash(_token(store, salt)), created),
            )
            _log(
                store,
                {
                    "event": events.USER_CHANGE,
                    "actor": _actor(by),
                    "user": by,
                    "change": "signup-link-new" if row else "signup-link",
                },
            )
        else:
            salt, created = row
    token = _token(store, salt)
    return Link(f"{observers.public_url(store)}/s/{token}", token, created)


def check_token(store: Store, token: str) -> bool:
    """Whether ``token`` is the organisation's current sign-up link."""
    if not token or len(token) > 64 or not _made(store):
        return False
    with _db(store) as con:
        row = con.execute("SELECT token_sha256 FROM link WHERE id=1").fetchone()
    return row is not None and hmac.compare_digest(row[0], observers.token_hash(token))


def asks_iin(store: Store) -> bool:
    """Whether the sign-up page asks for the IIN (a workspace setting)."""
    from app import users

    return users.setting(store, ASK_IIN, "off") == "on"


# --- taking a sign-up ------------------------------------------------------------------------
def _text(value: Any, limit: int, reason: Reason, what: str) -> str:
    if not isinstance(value, str):
        raise SignupRefused(reason, f"the {what} must be text")
    text = unicodedata.normalize("NFC", " ".join(value.split()))
    if not text or len(text) > limit or _CONTROL.search(text):
        raise SignupRefused(reason, f"the {what} must have 1 to {limit} characters")
    return text


def contact_key(contact: str) -> str:
    """A contact as compared for duplicates: no case, spaces, dashes, brackets, ``+`` or ``@``;
    a Kazakh phone number's leading 8 read as 7."""
    key = _CONTACT_NOISE.sub("", contact.casefold())
    if key.isdigit() and len(key) == 11 and key.startswith("8"):
        key = "7" + key[1:]
    return key


def check_precinct(store: Store, precinct: Any, known: set[str] | None) -> str:
    """A precinct number as observers write it; one the registry lists when there is one."""
    if not isinstance(precinct, str):
        raise SignupRefused(Reason.BAD_PRECINCT, "the precinct must be text")
    try:
        number = observers.check_precinct(precinct)
    except UsageError:
        raise SignupRefused(Reason.BAD_PRECINCT, "this is not a precinct number") from None
    if known is not None and number not in known:
        raise SignupRefused(Reason.UNKNOWN_PRECINCT, f"there is no precinct {number}")
    return number


def submit(
    store: Store,
    *,
    precinct: Any,
    shift: Any,
    name: Any,
    contact: Any,
    iin: Any = None,
    known: set[str] | None = None,
    ask_iin: bool | None = None,
    now: datetime | None = None,
) -> Signup:
    """Take a volunteer's sign-up (public input: every field checked, any refusal named).
    ``known``: the precinct numbers of the registry (None: any precinct number). ``ask_iin``
    (default: the workspace setting): the IIN is required and kept only as its pseudonym;
    otherwise an IIN sent is dropped unread."""
    number = check_precinct(store, precinct, known)
    if not isinstance(shift, str) or shift not in SHIFTS:
        raise SignupRefused(Reason.BAD_SHIFT, "the shift must be one of " + ", ".join(SHIFTS))
    name = privacy.scrub(store.secret, _text(name, MAX_NAME, Reason.BAD_NAME, "name"))
    contact = privacy.scrub(
        store.secret, _text(contact, MAX_CONTACT, Reason.BAD_CONTACT, "contact")
    )
    key = contact_key(contact)
    if len(key) < 3:
        raise SignupRefused(Reason.BAD_CONTACT, "leave a phone number or a Telegram name")
    observer = None
    if ask_iin is None:
        ask_iin = asks_iin(store)
    if ask_iin:
        if iin is None or iin == "":
            raise SignupRefused(Reason.IIN_REQUIRED, "the organisation asks for your IIN")
        digits = re.sub(r"[\s\-.\u00a0]", "", iin) if isinstance(iin, str) else ""
        if not privacy.is_valid_iin(digits):
            raise SignupRefused(Reason.IIN_INVALID, "this is not a valid IIN")
        observer = privacy.pseudonym(store.secret, digits)  # the IIN is kept nowhere
    made = Signup(
        id="sgn-" + secrets.token_hex(6),
        precinct=number,
        shift=shift,
        name=name,
        contact=contact,
        observer=observer,
        status="pending",
        created=_iso(now or _now()),
    )
    with _lock, _db(store) as con:
        con.execute("BEGIN IMMEDIATE")
        try:
            if con.execute(
                "SELECT 1 FROM signups WHERE contact_key=? AND precinct=? AND shift=?",
                (key, number, shift),
            ).fetchone():
                raise SignupRefused(Reason.DUPLICATE, "you signed up for this already")
            (mine,) = con.execute(
                "SELECT count(*) FROM signups WHERE contact_key=? AND status='pending'", (key,)
            ).fetchone()
            if mine >= MAX_PENDING_PER_CONTACT:
                raise SignupRefused(Reason.CONTACT_LIMIT, "too many sign-ups from this contact")
            (waiting,) = con.execute(
                "SELECT count(*) FROM signups WHERE status='pending'"
            ).fetchone()
            if waiting >= MAX_PENDING:
                raise SignupRefused(Reason.FULL, "too many sign-ups are waiting")
            con.execute(
                "INSERT INTO signups(id, precinct, shift, name, contact, contact_key, observer, "
                "status, created) VALUES (?,?,?,?,?,?,?,?,?)",
                (made.id, number, shift, name, contact, key, observer, "pending", made.created),
            )
            _log(
                store,
                {"event": events.SIGNUP, "signup": made.id, "precinct": number, "shift": shift},
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return made


# --- the coordinator's decisions --------------------------------------------------------------
_COLUMNS = (
    "id, precinct, shift, name, contact, observer, status, created, decided, decided_by, invite"
)


def _signup(row: tuple[Any, ...]) -> Signup:
    return Signup(*row)


def get(store: Store, signup_id: str) -> Signup:
    """The sign-up ``signup_id``; refused with ``NOT_FOUND`` when there is none."""
    if not isinstance(signup_id, str) or len(signup_id) > 40 or not _made(store):
        raise SignupRefused(Reason.NOT_FOUND, f"no sign-up {str(signup_id)[:40]!r}")
    with _db(store) as con:
        row = con.execute(f"SELECT {_COLUMNS} FROM signups WHERE id=?", (signup_id,)).fetchone()
    if row is None:
        raise SignupRefused(Reason.NOT_FOUND, f"no sign-up {signup_id!r}")
    return _signup(row)


def _already(signup_id: str, status: str) -> SignupRefused:
    return SignupRefused(
        Reason.ALREADY_DECIDED, f"sign-up {signup_id} was already decided: it is {status}"
    )


def _decide(store: Store, signup_id: str) -> Signup:
    s = get(store, signup_id)
    if s.status != "pending":
        raise _already(signup_id, s.status)
    return s


@contextmanager
def _deciding(store: Store, s: Signup, status: str, by: str) -> Iterator[statedb.Connection]:
    """Turn the pending sign-up ``s`` into ``status`` in one transaction that the block joins
    (committed when it ends normally, rolled back otherwise). The change is conditional
    (``WHERE status='pending'``): of two servers deciding the same sign-up at once, the one
    that comes second changes no row and is refused with ``ALREADY_DECIDED``."""
    with _db(store) as con:
        con.execute("BEGIN IMMEDIATE")
        try:
            changed = con.execute(
                "UPDATE signups SET status=?, decided=?, decided_by=? "
                "WHERE id=? AND status='pending'",
                (status, _iso(_now()), by, s.id),
            ).rowcount
            if changed != 1:
                row = con.execute("SELECT status FROM signups WHERE id=?", (s.id,)).fetchone()
                raise _already(s.id, row[0] if row else "gone")
            yield con
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise


def approve(
    store: Store, signup_id: str, *, by: str, expires: timedelta = INVITE_EXPIRY
) -> Approved:
    """Approve a pending sign-up: an observer invite for its precinct (labelled with the
    volunteer's name), whose link is returned this once; logged under ``by`` (a pseudonym).
    Decided once, whichever server asks: see :func:`_deciding`."""
    s = _decide(store, signup_id)
    with _deciding(store, s, "approved", by) as con:
        issued = observers.invite(
            store, s.precinct, name=s.name, expires=expires, observer=s.observer
        )
        con.execute("UPDATE signups SET invite=? WHERE id=?", (issued.invite.id, s.id))
        _log(
            store,
            {
                "event": events.SIGNUP_APPROVE,
                "signup": s.id,
                "actor": _actor(by),
                "invite": issued.invite.id,
                "precinct": s.precinct,
            },
        )
    return Approved(get(store, s.id), issued)


def decline(store: Store, signup_id: str, *, by: str) -> Signup:
    """Decline a pending sign-up; logged under ``by`` (a pseudonym). Decided once, whichever
    server asks: see :func:`_deciding`."""
    s = _decide(store, signup_id)
    with _deciding(store, s, "declined", by):
        _log(store, {"event": events.SIGNUP_DECLINE, "signup": s.id, "actor": _actor(by)})
    return get(store, s.id)


def _natural(precinct: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", precinct))


def signups(store: Store, *, status: str | None = None, precinct: str = "") -> list[Signup]:
    """Sign-ups, pending first, then by precinct (in number order) and time; only those of
    ``status`` and of precincts starting with ``precinct`` when given."""
    if not _made(store):
        return []
    where: list[str] = []
    args: list[Any] = []
    if status:
        where.append("status=?")
        args.append(status)
    if precinct:
        where.append("substr(precinct, 1, ?)=?")
        args += [len(precinct), precinct]
    sql = f"SELECT {_COLUMNS} FROM signups" + (" WHERE " + " AND ".join(where) if where else "")
    with _db(store) as con:
        rows = [_signup(r) for r in con.execute(sql, args)]
    rank = {s: n for n, s in enumerate(STATUSES)}
    return sorted(rows, key=lambda s: (rank.get(s.status, 9), _natural(s.precinct), s.created))


# --- for the coverage board -------------------------------------------------------------------
def approved_shifts(store: Store) -> dict[str, frozenset[str]]:
    """Precinct number -> the shifts with at least one approved sign-up (``day`` kept as
    ``day``, not expanded into the others). One query."""
    if not _made(store):
        return {}
    with _db(store) as con:
        rows = con.execute(  # (plain SQL: the same on SQLite and PostgreSQL)
            "SELECT DISTINCT precinct, shift FROM signups WHERE status='approved'"
        ).fetchall()
    found: dict[str, set[str]] = {}
    for p, shift in rows:
        found.setdefault(p, set()).add(shift)
    return {p: frozenset(shifts) for p, shifts in found.items()}


def counts(store: Store) -> dict[str, int]:
    """How many sign-ups are ``pending``, ``approved`` and ``declined``. One query."""
    out = dict.fromkeys(STATUSES, 0)
    if not _made(store):
        return out
    with _db(store) as con:
        for status, n in con.execute("SELECT status, count(*) FROM signups GROUP BY status"):
            out[status] = n
    return out
