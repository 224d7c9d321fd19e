"""Where a store keeps its index and its objects, as ``dalel init`` is told and
``config.toml`` records it.

The embedded default is the store's own folder: objects under ``objects/``, the index in
``index.sqlite``. For a national election the same store can keep its index (and, in time,
the rest of its mutable state) in PostgreSQL (``--db postgresql://USER@HOST/DB``, recorded as
``[index] url``) and its objects in S3-compatible storage with Object Lock
(``--objects s3://BUCKET/PREFIX --retain-days N``, recorded as ``[objects] url`` and
``retain_days``).

Credentials never enter the config file: PostgreSQL's come from libpq's own variables
(``PGPASSWORD``, ``PGPASSFILE`` / ``~/.pgpass``), S3's from the standard AWS variables
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``). A URL that carries a
password is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from base.errors import BrokenEnvironment, UsageError

#: The longest retention ``--retain-days`` takes (100 years): beyond it is a typing error.
MAX_RETAIN_DAYS = 36_500
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def db_url(url: str) -> str:
    """The SQLAlchemy URL of a PostgreSQL database given as ``postgresql://USER@HOST[:PORT]/DB``
    (or ``postgresql+psycopg://``): the psycopg driver named, any query kept. Refused, with
    what to do: another kind of database, no database name, a password in the URL."""
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise UsageError(
            f"--db {url!r} is not a PostgreSQL URL",
            fix="give postgresql://USER@HOST:PORT/DATABASE (without --db the index is SQLite)",
        )
    if parts.password is not None:
        raise UsageError(
            "the --db URL holds a password, which would be written into config.toml",
            fix="leave it out of the URL: PostgreSQL reads it from PGPASSWORD or ~/.pgpass",
        )
    if not parts.path.strip("/"):
        raise UsageError(
            f"--db {url!r} names no database",
            fix="end the URL with /DATABASE, e.g. postgresql://dalel@db.example:5432/dalel",
        )
    if not parts.hostname and "host=" not in parts.query:
        raise UsageError(
            f"--db {url!r} names no host",
            fix="give postgresql://USER@HOST:PORT/DATABASE",
        )
    return "postgresql+psycopg://" + text.split("://", 1)[1]


@dataclass(frozen=True)
class ObjectsURL:
    """An ``s3://BUCKET/PREFIX`` location for a store's objects."""

    bucket: str
    prefix: str
    """Empty, or ending with ``/``."""

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def objects_url(url: str) -> ObjectsURL:
    """``s3://BUCKET[/PREFIX]`` parsed; refused when it is not one (a bucket name as S3 allows
    them: 3 to 63 lowercase letters, digits, dots and dashes)."""
    parts = urlsplit(url.strip())
    if parts.scheme != "s3" or not parts.netloc:
        raise UsageError(
            f"--objects {url!r} is not an s3://BUCKET/PREFIX URL",
            fix="give s3://BUCKET/PREFIX; the endpoint and keys come from AWS_ENDPOINT_URL, "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        )
    if parts.username is not None or parts.password is not None or parts.query:
        raise UsageError(
            f"--objects {url!r} holds more than a bucket and a prefix",
            fix="give s3://BUCKET/PREFIX; keys come from the AWS_* variables, never the URL",
        )
    bucket = parts.netloc
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise UsageError(
            f"{bucket!r} is not an S3 bucket name",
            fix="3 to 63 lowercase letters, digits, dots and dashes",
        )
    prefix = parts.path.strip("/")
    return ObjectsURL(bucket, prefix + "/" if prefix else "")


def retain_days(days: int | None) -> int:
    """The Object Lock retention in days ``--retain-days`` gives (at least 1, at most
    :data:`MAX_RETAIN_DAYS`); it is required with ``--objects``."""
    if days is None:
        raise UsageError(
            "--objects needs --retain-days: how long no one can delete or change an object",
            fix="give --retain-days N, e.g. 3650 for ten years",
        )
    if not 1 <= days <= MAX_RETAIN_DAYS:
        raise UsageError(
            f"--retain-days {days} is out of range",
            fix=f"give a number of days from 1 to {MAX_RETAIN_DAYS}",
        )
    return days


class DatabaseUnavailable(BrokenEnvironment):
    """The PostgreSQL database named by ``--db`` or ``[index] url`` cannot be reached or
    refuses us (exit code 4)."""


def database_unavailable(e: BaseException) -> DatabaseUnavailable | None:
    """``e`` said in plain words when it is the store's PostgreSQL server not answering (or
    refusing us) in the middle of a command, else None. Only looks at drivers already
    loaded: a store on SQLite never loads them."""
    import sys

    found: list[type[BaseException]] = []
    if "psycopg" in sys.modules:
        found.append(sys.modules["psycopg"].OperationalError)
    if "psycopg_pool" in sys.modules:
        found.append(sys.modules["psycopg_pool"].PoolTimeout)
    cause: BaseException | None = e
    if "sqlalchemy" in sys.modules and isinstance(e, sys.modules["sqlalchemy"].exc.DBAPIError):
        cause = e.orig
    if cause is None or not found or not isinstance(cause, tuple(found)):
        return None
    first = str(cause).strip().splitlines()
    return DatabaseUnavailable(
        "cannot reach the store's database: " + (first[0] if first else type(cause).__name__),
        fix="check that PostgreSQL runs there and accepts us (the password in PGPASSWORD or "
        "~/.pgpass), then run the command again: nothing was lost",
    )


#: Tables of a Dalel index: a database holding any of them already serves another store.
INDEX_TABLES = ("entries", "items", "tokens", "meta", "dalel_head")


def check_database(url: str) -> None:
    """Connect to the database at ``url`` before a store is made around it: refused when it
    cannot be reached (:class:`DatabaseUnavailable`, said in plain words, without the
    driver's traceback) or already holds a Dalel index (one database, one store)."""
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.exc import SQLAlchemyError

    engine = create_engine(url, pool_pre_ping=True)
    try:
        with engine.connect() as c:
            found = set(inspect(c).get_table_names()) & set(INDEX_TABLES)
    except SQLAlchemyError as e:
        first = str(getattr(e, "orig", e) or e).strip().splitlines()
        raise DatabaseUnavailable(
            f"cannot use the database {url.split('://', 1)[1]}: "
            f"{first[0] if first else type(e).__name__}",
            fix="check that PostgreSQL runs there, the user and database exist, and the "
            "password is in PGPASSWORD or ~/.pgpass",
        ) from None
    finally:
        engine.dispose()
    if found:
        raise UsageError(
            f"the database {url.split('://', 1)[1]} already holds a Dalel index "
            f"({', '.join(sorted(found))})",
            fix="give each store a database of its own (createdb), or empty this one",
        )
