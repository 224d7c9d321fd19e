"""The coalition's workspace users: accounts with a role, passwords, sessions, lock-out.

``dalel user add NAME --role ROLE`` makes an account and prints its password once (the store
keeps only its Argon2id hash). Accounts, sessions and failed sign-ins are mutable state beside
the log (``workspace/users.sqlite``, mode 0600, never exported); the custody log records every
account made or changed, every sign-in and sign-out and every lock-out, under the user's
pseudonym (``usr-`` + 20 hex, an HMAC of the name under the store's secret): never a name, a
password or a session token.

A session is a token of 256 random bits held in an HttpOnly cookie; the store keeps its
SHA-256. Each session has its own CSRF token, sent back as ``X-CSRF-Token`` on every POST.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from app import statedb
from base.errors import UsageError
from evidence.core import events
from evidence.storage.store import Store

DIR = "workspace"
DB = "users.sqlite"
SESSION_IDLE = timedelta(hours=12)
"""A session unused this long ends (a volunteer's shift)."""
SESSION_MAX = timedelta(days=7)
"""No session lives longer than this."""
MAX_FAILURES = 5
"""Wrong passwords in a row that lock an account."""
LOCK_FOR = timedelta(minutes=15)
"""How long a locked account stays locked."""
PASSWORD_WORDS = 4
MIN_PASSWORD = 12
"""The shortest password a user may choose for themselves."""
_NAME = re.compile(r"[\w.@ -]{1,64}")


class Role(StrEnum):
    """What a user does in the workspace (what each may see and do: ``web.workspace.access``)."""

    COORDINATOR = "coordinator"
    LAWYER = "lawyer"
    REVIEWER = "reviewer"
    AUDITOR = "auditor"


class PasswordRefused(UsageError):
    """A new password refused: the current one was wrong (``WRONG_PASSWORD``), or the new one
    is too short, too long, the name or the given one (``WEAK_PASSWORD``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class SignInRefused(UsageError):
    """A sign-in refused: wrong name or password (one answer for both), or a locked account."""

    def __init__(self, reason: str, message: str, until: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.until = until


@dataclass(frozen=True)
class User:
    """One account."""

    name: str
    """The name the user signs in with (kept here, never in the log)."""
    role: Role
    """What the user does."""
    pseudonym: str
    """How the log names the user (``usr-`` + 20 hex)."""
    created: str
    """When the account was made (RFC 3339 UTC)."""
    disabled: bool = False
    """A disabled account cannot sign in; its sessions ended when it was disabled."""
    given_password: bool = False
    """Still signing in with the password ``user add`` or ``user reset`` printed (which
    someone else has seen): the workspace asks them to choose their own."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (no password hash)."""
        return {
            "name": self.name,
            "role": self.role.value,
            "pseudonym": self.pseudonym,
            "created": self.created,
            "disabled": self.disabled,
            "given_password": self.given_password,
        }


@dataclass(frozen=True)
class Added:
    """An account made or given a new password, with the password (shown this once)."""

    user: User
    password: str

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "role", "password"}`` (the public interface) and the pseudonym."""
        return {
            "name": self.user.name,
            "role": self.user.role.value,
            "password": self.password,
            "pseudonym": self.user.pseudonym,
        }


@dataclass(frozen=True)
class Session:
    """A signed-in user's session."""

    user: User
    csrf: str
    """The token to send back as ``X-CSRF-Token`` on every POST."""
    expires: str
    """When it ends unless used again sooner (RFC 3339 UTC)."""


@dataclass(frozen=True)
class SignedIn:
    """A sign-in that worked: the session token (for the cookie only) and the session."""

    token: str
    session: Session


def pseudonym(secret: bytes, name: str) -> str:
    """The stable pseudonym of a workspace user under the store's secret."""
    mac = hmac.new(secret, b"dalel-user\x00" + name.strip().encode(), hashlib.sha256)
    return "usr-" + mac.hexdigest()[:20]


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()  # Argon2id, RFC 9106's low-memory profile (64 MiB, t=3)


_DUMMY: list[str] = []
"""A hash to check a password against when the name is unknown (same time either way)."""


def check_name(name: str) -> str:
    """A user name: 1-64 letters, digits, spaces, ``. @ _ -``; never an IIN."""
    from evidence.content import privacy

    name = name.strip()
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"{name!r} is not a user name",
            fix="use 1-64 letters, digits, spaces, '.', '@', '_' or '-'",
        )
    if privacy.looks_like_iin(name):
        raise UsageError("a user name may not be an IIN", fix="use a name or a nickname")
    return name


def _db_path(store: Store) -> Path:
    return store.root / DIR / DB


_SCHEMA = """
    CREATE TABLE IF NOT EXISTS users(
        name TEXT PRIMARY KEY, role TEXT NOT NULL, hash TEXT NOT NULL,
        pseudonym TEXT NOT NULL, created TEXT NOT NULL, disabled INTEGER DEFAULT 0,
        failures INTEGER DEFAULT 0, locked_until TEXT, given INTEGER DEFAULT 0);
    CREATE TABLE IF NOT EXISTS sessions(
        token_sha256 TEXT PRIMARY KEY, name TEXT NOT NULL, csrf TEXT NOT NULL,
        created TEXT NOT NULL, last_seen TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@contextmanager
def _db(store: Store) -> Iterator[statedb.Connection]:
    with statedb.connect(store, _db_path(store), _SCHEMA) as con:
        if "given" not in con.columns("users"):  # a store made before users chose passwords
            try:
                con.execute("ALTER TABLE users ADD COLUMN given INTEGER DEFAULT 0")
            except sqlite3.OperationalError as e:  # another process added it this moment
                if "duplicate column" not in str(e):
                    raise
        yield con


def _user(row: tuple[Any, ...]) -> User:
    name, role, pseudo, created, disabled, given = row
    return User(name, Role(role), pseudo, created, bool(disabled), bool(given))


_USER_COLUMNS = "name, role, pseudonym, created, disabled, given"


def _log(store: Store, event: str, actor: str, **fields: Any) -> None:
    with store.writer() as w:
        w.append({"event": event, "actor": {"role": "workspace", "id": actor}, **fields})


def _password() -> str:
    """Four groups of five letters and digits (about 103 bits), easy to read out."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join(
        "".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(PASSWORD_WORDS)
    )


def add(store: Store, name: str, role: str, *, by: str = "cli") -> Added:
    """Make an account; its password is returned once and kept only as an Argon2id hash."""
    name = check_name(name)
    try:
        r = Role(role)
    except ValueError:
        raise UsageError(
            f"{role!r} is not a role", fix="roles: " + ", ".join(x.value for x in Role)
        ) from None
    password = _password()
    user = User(name, r, pseudonym(store.secret, name), _iso(_now()), given_password=True)
    with _db(store) as con:
        try:
            con.execute(
                "INSERT INTO users(name, role, hash, pseudonym, created, given) "
                "VALUES (?,?,?,?,?,1)",
                (name, r.value, _hasher().hash(password), user.pseudonym, user.created),
            )
        except Exception as e:
            if not statedb.is_integrity_error(e):
                raise
            raise UsageError(
                f"there is already a user {name!r}",
                fix=f"give them a new password: dalel user reset {name!r}",
            ) from None
    _log(store, events.USER_ADD, by, user=user.pseudonym, role=r.value)
    return Added(user, password)


def reset(store: Store, name: str, *, by: str = "cli") -> Added:
    """A new password for ``name`` (shown once); their sessions end and the lock lifts."""
    user = get(store, name)
    password = _password()
    with _db(store) as con:
        con.execute(
            "UPDATE users SET hash=?, failures=0, locked_until=NULL, given=1 WHERE name=?",
            (_hasher().hash(password), user.name),
        )
        con.execute("DELETE FROM sessions WHERE name=?", (user.name,))
    _log(store, events.USER_CHANGE, by, user=user.pseudonym, change="password")
    return Added(get(store, name), password)


def set_disabled(store: Store, name: str, disabled: bool, *, by: str = "cli") -> User:
    """Disable (their sessions end) or enable an account."""
    user = get(store, name)
    with _db(store) as con:
        con.execute("UPDATE users SET disabled=? WHERE name=?", (int(disabled), user.name))
        if disabled:
            con.execute("DELETE FROM sessions WHERE name=?", (user.name,))
    _log(
        store,
        events.USER_CHANGE,
        by,
        user=user.pseudonym,
        change="disabled" if disabled else "enabled",
    )
    return get(store, name)


def get(store: Store, name: str) -> User:
    """The account ``name``; a usage error when there is none."""
    with _db(store) as con:
        row = con.execute(
            f"SELECT {_USER_COLUMNS} FROM users WHERE name=?", (name.strip(),)
        ).fetchone()
    if row is None:
        raise UsageError(f"there is no user {name!r}", fix="see them with: dalel user list")
    return _user(row)


def all_users(store: Store) -> list[User]:
    """Every account, by name."""
    with _db(store) as con:
        rows = con.execute(f"SELECT {_USER_COLUMNS} FROM users ORDER BY name").fetchall()
    return [_user(r) for r in rows]


def _count_failure(con: statedb.Connection, name: str, now: datetime) -> str | None:
    """Count one wrong password for ``name``, in the database itself (one statement: failures
    counted at once by several servers are all counted); at the :data:`MAX_FAILURES`-th the
    account is locked and the count starts again. The end of the lock when this failure made
    it, else None."""
    until = _iso(now + LOCK_FOR)
    rows = con.execute(  # (every row fetched: SQLite ends the statement, and commits)
        "UPDATE users SET "
        "failures = CASE WHEN COALESCE(failures, 0) + 1 >= ? THEN 0 "
        "ELSE COALESCE(failures, 0) + 1 END, "
        "locked_until = CASE WHEN COALESCE(failures, 0) + 1 >= ? THEN ? ELSE locked_until END "
        "WHERE name=? RETURNING failures, locked_until",
        (MAX_FAILURES, MAX_FAILURES, until, name),
    ).fetchall()
    return until if rows and rows[0][0] == 0 else None


def sign_in(store: Store, name: str, password: str, now: datetime | None = None) -> SignedIn:
    """Check a name and password; a new session when right. Wrong passwords in a row lock the
    account for a while (recorded in the log); a wrong name is answered as a wrong password,
    after the same work."""
    from argon2.exceptions import InvalidHashError, VerificationError

    now = now or _now()
    ph = _hasher()
    with _db(store) as con:
        row = con.execute(
            "SELECT name, hash, disabled, locked_until, pseudonym FROM users WHERE name=?",
            (name.strip(),),
        ).fetchone()
    wrong = SignInRefused("WRONG_PASSWORD", "wrong name or password")
    if row is None or len(password) > 1024:
        if not _DUMMY:
            _DUMMY.append(ph.hash(secrets.token_hex(8)))
        try:
            ph.verify(_DUMMY[0], password[:1024])
        except (VerificationError, InvalidHashError):
            pass
        raise wrong
    uname, hashed, disabled, locked_until, pseudo = row
    if locked_until and _parse(locked_until) > now:
        raise SignInRefused(
            "LOCKED",
            f"too many wrong passwords: this account is locked until {locked_until}",
            locked_until,
        )
    try:
        ph.verify(hashed, password)
        ok = not disabled
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        with _db(store) as con:
            until = _count_failure(con, uname, now)
        if until:
            _log(store, events.USER_LOCKED, pseudo, user=pseudo, until=until)
        raise wrong
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    with _db(store) as con:
        con.execute("UPDATE users SET failures=0, locked_until=NULL WHERE name=?", (uname,))
        con.execute(
            "INSERT INTO sessions(token_sha256, name, csrf, created, last_seen) VALUES (?,?,?,?,?)",
            (_token_sha(token), uname, csrf, _iso(now), _iso(now)),
        )
    _log(store, events.USER_SIGN_IN, pseudo, user=pseudo)
    user = get(store, uname)
    return SignedIn(token, Session(user, csrf, _iso(now + SESSION_IDLE)))


def change_password(
    store: Store, token: str, current: str, new: str, now: datetime | None = None
) -> User:
    """The signed-in user (the session holding ``token``) chooses their own password, giving
    the current one again. A wrong current password counts towards the lock-out as at
    sign-in; their other sessions end; recorded in the log under their pseudonym."""
    from argon2.exceptions import InvalidHashError, VerificationError

    now = now or _now()
    live = session(store, token, now)
    if live is None:
        raise PasswordRefused("SIGN_IN_REQUIRED", "sign in first")
    name = live.user.name
    with _db(store) as con:
        hashed, locked_until = con.execute(
            "SELECT hash, locked_until FROM users WHERE name=?", (name,)
        ).fetchone()
    if locked_until and _parse(locked_until) > now:
        raise PasswordRefused("LOCKED", f"too many wrong passwords: locked until {locked_until}")
    ph = _hasher()
    try:
        ph.verify(hashed, current[:1024])
    except (VerificationError, InvalidHashError):
        with _db(store) as con:
            until = _count_failure(con, name, now)
            if until:  # whoever holds this session is guessing: it ends with the lock
                con.execute("DELETE FROM sessions WHERE name=?", (name,))
        if until:
            _log(store, events.USER_LOCKED, live.user.pseudonym, user=live.user.pseudonym,
                 until=until)  # fmt: skip
        raise PasswordRefused("WRONG_PASSWORD", "the current password is wrong") from None
    if len(new) < MIN_PASSWORD or len(new) > 1024:
        raise PasswordRefused("WEAK_PASSWORD", f"a password has {MIN_PASSWORD} to 1024 characters")
    if new == current or new.strip().casefold() == name.casefold():
        raise PasswordRefused("WEAK_PASSWORD", "choose a password other than the given one")
    with _db(store) as con:
        con.execute(
            "UPDATE users SET hash=?, failures=0, locked_until=NULL, given=0 WHERE name=?",
            (ph.hash(new), name),
        )
        con.execute(
            "DELETE FROM sessions WHERE name=? AND token_sha256<>?", (name, _token_sha(token))
        )
    _log(store, events.USER_CHANGE, live.user.pseudonym, user=live.user.pseudonym,
         change="password-chosen")  # fmt: skip
    return get(store, name)


def _token_sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session(store: Store, token: str, now: datetime | None = None) -> Session | None:
    """The live session holding ``token``, or None (unknown, idle too long, too old, or its
    account disabled). Using a session keeps it alive."""
    if not token or len(token) > 200:
        return None
    now = now or _now()
    key = _token_sha(token)
    with _db(store) as con:
        row = con.execute(
            f"SELECT s.csrf, s.created, s.last_seen, {', '.join('u.' + c for c in _USER_COLUMNS.split(', '))} "  # noqa: E501
            "FROM sessions s JOIN users u ON u.name = s.name WHERE s.token_sha256=?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        csrf, created, last_seen, *urow = row
        user = _user(tuple(urow))
        if (
            user.disabled
            or now - _parse(last_seen) > SESSION_IDLE
            or now - _parse(created) > SESSION_MAX
        ):
            con.execute("DELETE FROM sessions WHERE token_sha256=?", (key,))
            return None
        if now - _parse(last_seen) > timedelta(minutes=1):
            con.execute("UPDATE sessions SET last_seen=? WHERE token_sha256=?", (_iso(now), key))
    return Session(user, csrf, _iso(now + SESSION_IDLE))


def sign_out(store: Store, token: str) -> bool:
    """End the session holding ``token``; False when there was none."""
    live = session(store, token)
    with _db(store) as con:
        gone = con.execute(
            "DELETE FROM sessions WHERE token_sha256=?", (_token_sha(token),)
        ).rowcount
    if live is not None:
        _log(store, events.USER_SIGN_OUT, live.user.pseudonym, user=live.user.pseudonym)
    return bool(gone)


def setting(store: Store, key: str, default: str = "") -> str:
    """A workspace setting (such as whether the results page is public)."""
    with _db(store) as con:
        row = con.execute("SELECT value FROM settings WHERE key=?", (key,)).fetchone()
    return str(row[0]) if row else default


def set_setting(store: Store, key: str, value: str, *, by: User) -> None:
    """Change a workspace setting; recorded in the log under ``by``'s pseudonym."""
    with _db(store) as con:
        con.execute(
            "INSERT INTO settings(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )
    _log(store, events.USER_CHANGE, by.pseudonym, user=by.pseudonym, change=f"{key}={value}")
