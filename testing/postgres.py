"""A real PostgreSQL server for tests and benchmarks, started and stopped by them.

Debian's server binaries (``postgresql``: ``initdb``, ``pg_ctl``) make a cluster in a
temporary folder, listening on 127.0.0.1 at a free port and on a socket inside that folder,
never as a system service. Logins need a password (SCRAM): the tests give it the way an
operator would, in ``PGPASSWORD``, never in a URL. As root (initdb refuses root), the cluster
belongs to the ``postgres`` user Debian's package creates.

    with PostgresServer.start() as pg:
        url = pg.create_database("store1")   # postgresql://dalel@127.0.0.1:PORT/store1
        os.environ["PGPASSWORD"] = pg.password
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

USER = "dalel"


class PostgresUnavailable(RuntimeError):
    """The server could not be made or started (what it printed is in the message)."""


def bin_dir() -> Path:
    """The folder of Debian's PostgreSQL server programs (the newest version installed)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(os.path.realpath(on_path)).parent
    raise PostgresUnavailable("PostgreSQL's server is not installed (make deps installs it)")


def _version(path: str) -> int:
    try:
        return int(Path(path).parts[-3])
    except (ValueError, IndexError):
        return 0


def free_port() -> int:
    """A port for a server of the tests (:mod:`testing.ports`)."""
    from testing.ports import free_port as port_of_this_process

    return port_of_this_process()


@dataclass
class PostgresServer:
    """A running cluster: its folder, port and the password of its user ``dalel``."""

    folder: Path
    port: int
    password: str
    _as: list[str]

    @classmethod
    def start(cls, *, durable: bool = False) -> Self:
        """Make a cluster in a new temporary folder and start it. ``durable``: with
        PostgreSQL's own defaults for durability (``fsync``, synchronous commit), as in
        production, for benchmarks; tests run without them (faster, and a test's database
        does not outlive it)."""
        programs = bin_dir()
        folder = Path(tempfile.mkdtemp(prefix="dalel-pg-"))
        run_as: list[str] = []
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            owner = pwd.getpwnam("postgres")
            os.chown(folder, owner.pw_uid, owner.pw_gid)
            run_as = ["runuser", "-u", "postgres", "--"]
        password = secrets.token_urlsafe(18)
        pwfile = folder / "pw"
        pwfile.write_text(password + "\n")
        if run_as:
            os.chown(pwfile, pwd.getpwnam("postgres").pw_uid, -1)
        data = folder / "data"
        _run(
            [
                *run_as,
                str(programs / "initdb"),
                "-D",
                str(data),
                "-U",
                USER,
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        pwfile.unlink()
        port = free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={folder} "
            "-c max_connections=300 -c shared_buffers=64MB"
        )
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        _run(
            [
                *run_as,
                str(programs / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(folder / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            log=folder / "server.log",
        )
        server = cls(folder, port, password, run_as)
        server._wait_ready()
        return server

    def _wait_ready(self, seconds: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + seconds
        while True:
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError as e:
                if time.monotonic() > deadline:
                    raise PostgresUnavailable(f"PostgreSQL did not answer: {e}") from None
                time.sleep(0.1)

    def dsn(self, database: str) -> str:
        """A libpq connection string with the password (for the tests' own connections)."""
        return (
            f"host=127.0.0.1 port={self.port} user={USER} dbname={database} "
            f"password={self.password}"
        )

    def url(self, database: str) -> str:
        """What ``dalel init --db`` is given: no password in it."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; its URL (:meth:`url`)."""
        import psycopg

        name = name or "d" + secrets.token_hex(6)
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop the database :meth:`create_database` made (ending its connections)."""
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server (fast) and remove its folder."""
        try:
            subprocess.run(
                [
                    *self._as,
                    str(bin_dir() / "pg_ctl"),
                    "-D",
                    str(self.folder / "data"),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ],
                capture_output=True,
                timeout=60,
                check=False,
            )
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _run(cmd: list[str], log: Path | None = None) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
        raise PostgresUnavailable(
            f"{' '.join(cmd[-3:])} failed ({done.returncode}): "
            f"{done.stdout[-1000:]}{done.stderr[-2000:]}{tail}"
        )
