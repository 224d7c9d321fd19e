"""A store's objects in S3-compatible storage, each version under Object Lock in COMPLIANCE
mode: the :class:`~evidence.storage.objects.BlobStore` a store configured with
``[objects] url = "s3://BUCKET/PREFIX"`` uses (``dalel init --objects ... --retain-days N``).

Layout: the object whose SHA-256 is ``abcdef…`` is the key ``PREFIX + "ab/cdef…"``, as in a
folder store's ``objects/`` (a copy of one is a copy of the other). Each new object is one PUT
(a multipart upload above :attr:`S3BlobStore.single_put_max`) carrying its SHA-256
(``ChecksumSHA256``: the storage refuses bytes that do not match it) and
``ObjectLockMode=COMPLIANCE`` until ``retain_days`` from now: no one, not even the account's
root, can delete or change that version before then. The bucket keeps versions (Object Lock
needs it), so an overwrite through S3 makes a new version beside the locked one and a delete
only adds a marker; the store reads the version it wrote: the oldest version of the key that
is locked in COMPLIANCE mode and carries the key's SHA-256 (see :meth:`S3BlobStore.version`),
else the oldest there is, which ``audit`` then finds does not hash to its name.

Write-once: an object already there (such a version) is not written again. What is uploaded
is hashed first, from a temporary copy in the store's ``objects/tmp`` (a 2 GiB video is never
held in memory); the copy is kept for the :meth:`S3BlobStore.local_copy` that intake asks
for next, so a file just stored is not downloaded again for its metadata.

Credentials and the endpoint come from the standard variables only (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, optionally ``AWS_SESSION_TOKEN``, ``AWS_ENDPOINT_URL`` or
``AWS_ENDPOINT_URL_S3``, ``AWS_REGION``), never from the config file; a custom endpoint
(SeaweedFS, Ceph RGW, MinIO) is addressed path-style. boto3 is imported with the first
request: a folder store never loads it. Every failure of the storage is a
:class:`ObjectStoreError` (exit code 4) or a :class:`BucketNotLocked` (exit code 2) with a
plain message and a fix, never a botocore traceback.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from base.errors import BrokenEnvironment, UsageError
from evidence.storage.backends import MAX_RETAIN_DAYS, ObjectsURL, objects_url
from evidence.storage.objects import CHUNK, HASH_PIECE, Stored, copy_file, is_sha256

#: Seconds to wait for a connection, and for each answer.
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 120
#: Attempts per request (botocore's ``standard`` retry mode: throttling, 5xx, timeouts).
ATTEMPTS = 4
#: Objects up to this size go up in one PUT (S3's limit is 5 GiB); larger ones in parts.
SINGLE_PUT_MAX = 4 << 30
#: The size of each part of a multipart upload (read into memory one part at a time).
PART_SIZE = 16 << 20
#: Temporary copies kept for :meth:`S3BlobStore.local_copy` (one per reading thread, and some).
STAGED = 6
#: Confirmed versions remembered (a size then a re-hash in ``audit`` look up each once).
VERSIONS_CACHED = 4096
#: A download kept in memory up to this size by :meth:`S3BlobStore.open`, then on disk.
SPOOL_IN_MEMORY = 8 << 20

_ENV_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
_BAD_KEYS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
    "AuthorizationHeaderMalformed",
}
_DENIED = {"AccessDenied", "403", "AllAccessDisabled", "Forbidden"}
_MISSING = {"404", "NoSuchKey", "NoSuchVersion", "NotFound"}
_BAD_DIGEST = {"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"}


class ObjectStoreError(BrokenEnvironment):
    """The S3 storage holding a store's objects cannot be used as it is (exit code 4)."""


class S3CredentialsMissing(ObjectStoreError):
    """``AWS_ACCESS_KEY_ID`` or ``AWS_SECRET_ACCESS_KEY`` is not set."""


class S3Unreachable(ObjectStoreError):
    """The S3 endpoint does not answer (or ``AWS_ENDPOINT_URL`` is not a URL)."""


class S3AccessDenied(ObjectStoreError):
    """The storage refuses the keys, or refuses them this bucket."""


class BucketMissing(ObjectStoreError):
    """The bucket does not exist."""


class UploadRejected(ObjectStoreError):
    """The storage refused an upload because the bytes it received do not match their
    SHA-256: they changed on the way."""


class BucketNotLocked(UsageError):
    """The bucket given to ``--objects`` has no Object Lock (or no versioning), or its prefix
    already holds objects (exit code 2)."""


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def endpoint_from_environment() -> str | None:
    """The S3 endpoint the standard variables name (None: AWS itself)."""
    return (
        os.environ.get("AWS_ENDPOINT_URL_S3", "").strip()
        or os.environ.get("AWS_ENDPOINT_URL", "").strip()
        or None
    )


def region_from_environment() -> str:
    return (
        os.environ.get("AWS_REGION", "").strip()
        or os.environ.get("AWS_DEFAULT_REGION", "").strip()
        or "us-east-1"
    )


def client_from_environment() -> Any:
    """A boto3 S3 client built from the standard AWS variables only (no profile, no
    instance metadata), with timeouts and retries; refused, in plain words, when the keys
    are missing or the endpoint is not a URL."""
    missing = [name for name in _ENV_KEYS if not os.environ.get(name, "").strip()]
    if missing:
        raise S3CredentialsMissing(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: the "
            "store's objects are in S3 and Dalel reads its keys from the environment only",
            fix="export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for "
            "storage other than AWS), then run the command again",
        )
    endpoint = endpoint_from_environment()
    if endpoint is not None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise S3Unreachable(
                f"AWS_ENDPOINT_URL {endpoint!r} is not an http(s) URL",
                fix="set AWS_ENDPOINT_URL to the storage's S3 address, e.g. "
                "https://s3.example.org:8333",
            )
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    config = Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"max_attempts": ATTEMPTS, "mode": "standard"},
        max_pool_connections=16,
        s3={"addressing_style": "path" if endpoint else "auto"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        user_agent_extra="dalel",
    )
    try:
        session = boto3.session.Session(
            aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"].strip(),
            aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"].strip(),
            aws_session_token=os.environ.get("AWS_SESSION_TOKEN", "").strip() or None,
            region_name=region_from_environment(),
        )
        return session.client("s3", endpoint_url=endpoint, config=config)
    except (BotoCoreError, ValueError) as e:
        raise ObjectStoreError(
            f"cannot set up the S3 client: {e}",
            fix="check the AWS_* variables (AWS_ENDPOINT_URL, AWS_REGION, AWS_PROFILE)",
        ) from None


class _Missing(Exception):
    """What a request answered when the object, or that version of it, is not there."""


def _code(e: Exception) -> str:
    response = getattr(e, "response", None) or {}
    return str(response.get("Error", {}).get("Code", "")) or type(e).__name__


def _failure(e: Exception, doing: str, bucket: str) -> Exception:
    """The named error for what boto raised while ``doing``: plain words and a fix."""
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    where = endpoint_from_environment() or "AWS S3"
    if isinstance(e, ClientError):
        code = _code(e)
        said = str(e.response.get("Error", {}).get("Message", "") or "").strip()
        if code in _MISSING:
            return _Missing(code)
        if code in _BAD_KEYS:
            return S3AccessDenied(
                f"{where} refused the keys in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY "
                f"while {doing} ({code})",
                fix="check both variables: the access key must exist on that storage and "
                "the secret must be its own",
            )
        if code in _DENIED:
            return S3AccessDenied(
                f"{where} denied access to the bucket {bucket} while {doing} ({code})",
                fix="check the keys in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and that "
                "they may read and write that bucket",
            )
        if code in _BAD_DIGEST:
            return UploadRejected(
                f"the storage refused the bytes sent while {doing}: they do not hash to "
                "the SHA-256 sent with them",
                fix="the file changed while it was sent; run the command again",
            )
        if code == "NoSuchBucket":
            return BucketMissing(
                f"the bucket {bucket} does not exist on {where} (while {doing})",
                fix="check the [objects] url in config.toml and AWS_ENDPOINT_URL",
            )
        return ObjectStoreError(
            f"{where} answered {code} while {doing}" + (f": {said}" if said else ""),
            fix="check that the storage works (and has space); run the command again",
        )
    if isinstance(
        e, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError | ConnectionClosedError
    ):
        return S3Unreachable(
            f"cannot reach the S3 storage at {where} while {doing}",
            fix="check AWS_ENDPOINT_URL and that the storage runs and is reachable from here",
        )
    first = str(e).strip().splitlines()
    return ObjectStoreError(
        f"S3 request failed while {doing}: {first[0] if first else type(e).__name__}",
        fix="check AWS_ENDPOINT_URL and the storage; run the command again",
    )


def _call(doing: str, bucket: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
    """``fn(**kwargs)``; what boto raises becomes :func:`_failure`'s error (``_Missing`` for
    a missing object)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn(**kwargs)
    except (ClientError, BotoCoreError) as e:
        raise _failure(e, doing, bucket) from None


def prepare_bucket(url: str | ObjectsURL, retain_days: int) -> None:
    """Check, before ``dalel init`` makes a store around it, that the bucket can hold the
    store's objects: the keys work, the bucket exists (made, with Object Lock, when it does
    not) with versioning and Object Lock enabled, and nothing is kept under the prefix yet
    (one prefix, one store). Refused, in plain words, otherwise."""
    where = objects_url(url) if isinstance(url, str) else url
    if retain_days < 1:
        raise UsageError("--retain-days must be at least 1")
    client = client_from_environment()
    bucket = where.bucket
    try:
        listed = _call(
            f"looking into s3://{bucket}",
            bucket,
            client.list_object_versions,
            Bucket=bucket,
            Prefix=where.prefix,
            MaxKeys=1,
        )
    except BucketMissing:
        _create_bucket(client, bucket)
        listed = {}
    locking = _lock_status(client, bucket)
    if locking != "Enabled":
        raise BucketNotLocked(
            f"the bucket {bucket} has no Object Lock: its objects could be deleted or overwritten",
            fix="give a new bucket name (Dalel creates it with Object Lock), or one created "
            "with Object Lock on (it can only be switched on when a bucket is made)",
        )
    versioning = _call(
        f"reading the versioning of s3://{bucket}",
        bucket,
        client.get_bucket_versioning,
        Bucket=bucket,
    )
    if versioning.get("Status") != "Enabled":
        raise BucketNotLocked(
            f"the bucket {bucket} does not keep versions, which Object Lock needs",
            fix="give a bucket created with Object Lock enabled",
        )
    if listed.get("Versions") or listed.get("DeleteMarkers"):
        raise BucketNotLocked(
            f"s3://{bucket}/{where.prefix} already holds objects (another store's?)",
            fix="give each store a prefix of its own: s3://BUCKET/NEW-PREFIX",
        )


def _create_bucket(client: Any, bucket: str) -> None:
    region = region_from_environment()
    extra: dict[str, Any] = {}
    if region != "us-east-1" and endpoint_from_environment() is None:
        extra["CreateBucketConfiguration"] = {"LocationConstraint": region}
    _call(
        f"creating the bucket {bucket} with Object Lock",
        bucket,
        client.create_bucket,
        Bucket=bucket,
        ObjectLockEnabledForBucket=True,
        **extra,
    )


def _lock_status(client: Any, bucket: str) -> str | None:
    from botocore.exceptions import ClientError

    try:
        got = client.get_object_lock_configuration(Bucket=bucket)
    except ClientError as e:
        if "ObjectLockConfigurationNotFound" in _code(e):
            return None
        raise _failure(e, f"reading the Object Lock of s3://{bucket}", bucket) from None
    except Exception as e:
        raise _failure(e, f"reading the Object Lock of s3://{bucket}", bucket) from None
    status = got.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
    return str(status) if status else None


@dataclass(frozen=True)
class Version:
    """The version of an object the store reads."""

    version_id: str
    size: int
    locked: bool
    """Locked in COMPLIANCE mode and carrying the key's SHA-256: the version the store
    wrote. False: the oldest version there is, which is not such a one."""


def _digest(fd: int, size: int, head: int, part: int) -> tuple[str, bytes, list[bytes]]:
    """SHA-256 (hex) of the first ``size`` bytes of ``fd``, its first ``head`` bytes, and the
    SHA-256 of each ``part`` bytes (none when ``part`` is 0), in one pass through one
    reused buffer."""
    whole, piece, parts = hashlib.sha256(), hashlib.sha256(), []
    buf = bytearray(min(HASH_PIECE, max(size, 1)))
    view = memoryview(buf)
    first = b""
    offset = 0
    while offset < size:
        want = min(len(buf), size - offset)
        if part:
            want = min(want, part - offset % part)
        got = os.preadv(fd, [view[:want]], offset)
        if got == 0:
            raise OSError(errno.EIO, "the temporary copy is shorter than what was copied")
        chunk = view[:got]
        whole.update(chunk)
        if offset < head:
            first += bytes(chunk[: head - offset])
        offset += got
        if part:
            piece.update(chunk)
            if offset % part == 0 or offset == size:
                parts.append(piece.digest())
                piece = hashlib.sha256()
    return whole.hexdigest(), first, parts


def _remove(paths: dict[str, str]) -> None:
    for path in list(paths.values()):
        try:
            os.unlink(path)
        except OSError:
            pass
    paths.clear()


class S3BlobStore:
    """Write-once blobs in an S3 bucket under Object Lock (see the module's docstring)."""

    def __init__(self, where: ObjectsURL, retain_days: int, tmp: Path) -> None:
        self.where = where
        self.bucket = where.bucket
        self.prefix = where.prefix
        self.retain_days = retain_days
        #: where uploads are copied and hashed, and downloads written
        self.tmp = tmp
        #: (the writer sets it; a PUT that returned is durable, there is nothing to sync)
        self.durable_each = True
        #: objects up to this size go up in one PUT, larger ones in parts of ``part_size``
        self.single_put_max = SINGLE_PUT_MAX
        self.part_size = PART_SIZE
        self._client: Any = None
        self._lock = threading.Lock()
        self._versions: OrderedDict[str, Version] = OrderedDict()
        self._staged: dict[str, str] = {}
        weakref.finalize(self, _remove, self._staged)

    @classmethod
    def from_config(cls, section: dict[str, Any], tmp: Path) -> S3BlobStore:
        """The store of a config's ``[objects]`` section (``url``, ``retain_days``)."""
        days = section.get("retain_days")
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_RETAIN_DAYS:
            raise UsageError(
                "config.toml's [objects] section needs retain_days, a whole number of days "
                f"from 1 to {MAX_RETAIN_DAYS}",
                fix="the number given as --retain-days to dalel init (retain_days = N)",
            )
        return cls(objects_url(str(section.get("url", ""))), days, tmp)

    # --- requests --------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The boto3 client, made with the first request (from the environment)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = client_from_environment()
        return self._client

    def _call(self, doing: str, method: str, **kwargs: Any) -> Any:
        return _call(doing, self.bucket, getattr(self.client, method), Bucket=self.bucket, **kwargs)

    def key(self, sha256: str) -> str:
        """The object's key: ``PREFIX + "ab/cdef…"``."""
        if not is_sha256(sha256):
            raise ValueError(f"not a SHA-256: {sha256!r}")
        return f"{self.prefix}{sha256[:2]}/{sha256[2:]}"

    def until(self) -> datetime:
        return datetime.now(UTC) + timedelta(days=self.retain_days)

    # --- finding the version the store wrote -------------------------------------------
    def version(self, sha256: str) -> Version | None:
        """The version of the object the store reads: the oldest one locked in COMPLIANCE
        mode whose SHA-256 (the checksum the storage verified, or for a multipart upload
        the ``sha256`` metadata) is the object's name; else the oldest there is (not
        ``locked``); None when there is none (deleted, or never stored)."""
        key = self.key(sha256)
        with self._lock:
            known = self._versions.get(sha256)
            if known is not None:
                self._versions.move_to_end(sha256)
                return known
        listed: list[dict[str, Any]] = []
        marker: dict[str, Any] = {}
        while True:
            page = self._call(f"looking up {sha256}", "list_object_versions", Prefix=key, **marker)
            listed += [v for v in page.get("Versions", []) if v.get("Key") == key]
            if not page.get("IsTruncated"):
                break
            marker = {
                "KeyMarker": page.get("NextKeyMarker"),
                "VersionIdMarker": page.get("NextVersionIdMarker"),
            }
        # S3 lists a key's versions newest first; the oldest (the store's) is looked at first
        listed.reverse()
        listed.sort(key=lambda v: v.get("LastModified") or datetime.min.replace(tzinfo=UTC))
        fallback: Version | None = None
        want = _b64(bytes.fromhex(sha256))
        for v in listed:
            try:
                head = self._call(
                    f"looking up {sha256}",
                    "head_object",
                    Key=key,
                    VersionId=v["VersionId"],
                    ChecksumMode="ENABLED",
                )
            except _Missing:
                continue  # gone since it was listed
            names_it = head.get("ChecksumSHA256") == want or (
                (head.get("Metadata") or {}).get("sha256") == sha256
            )
            locked = names_it and head.get("ObjectLockMode") == "COMPLIANCE"
            found = Version(str(v["VersionId"]), int(head.get("ContentLength", 0)), locked)
            if locked:
                self._remember(sha256, found)
                return found
            fallback = fallback or found
        return fallback

    def _remember(self, sha256: str, version: Version) -> None:
        with self._lock:
            self._versions[sha256] = version
            self._versions.move_to_end(sha256)
            while len(self._versions) > VERSIONS_CACHED:
                self._versions.popitem(last=False)

    def _locked(self, sha256: str) -> Version | None:
        found = self.version(sha256)
        return found if found is not None and found.locked else None

    # --- writing ---------------------------------------------------------------------
    def _temp(self) -> tuple[int, str]:
        self.tmp.mkdir(parents=True, exist_ok=True)
        import tempfile  # (with the first write: a store only read does without it)

        return tempfile.mkstemp(dir=self.tmp, prefix="s3-")

    def put_stream(self, stream: BinaryIO) -> Stored:
        """Copy the stream into a temporary file, then store it as :meth:`put_file` does."""
        fd, tmp = self._temp()
        try:
            size = 0
            while chunk := stream.read(CHUNK):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
                size += len(chunk)
            return self._seal(fd, tmp, size, 0)
        except BaseException:
            _unlink(tmp)
            raise
        finally:
            os.close(fd)

    def put_bytes(self, data: bytes) -> Stored:
        if len(data) > self.single_put_max:
            import io

            return self.put_stream(io.BytesIO(data))
        sha = hashlib.sha256(data).hexdigest()
        if self._locked(sha) is not None:
            return Stored(sha, len(data), False)
        answer = self._call(
            f"storing {sha}",
            "put_object",
            Key=self.key(sha),
            Body=data,
            ContentLength=len(data),
            **self._put_args(sha, hashlib.sha256(data).digest()),
        )
        self._uploaded(sha, len(data), answer)
        return Stored(sha, len(data), True)

    def put_file(self, src: BinaryIO, *, head: int = 0, durable: bool | None = None) -> Stored:
        """Copy the regular file open as ``src`` (from its first byte to its end) into a
        temporary file, hash the copy, and upload the copy: the SHA-256 names exactly the
        bytes sent, and the storage checks them against it. ``durable`` changes nothing
        (a PUT that returned is durable)."""
        fd, tmp = self._temp()
        try:
            size = copy_file(src.fileno(), fd)
            return self._seal(fd, tmp, size, head)
        except BaseException:
            _unlink(tmp)
            raise
        finally:
            os.close(fd)

    def _seal(self, fd: int, tmp: str, size: int, head: int) -> Stored:
        """Hash the temporary copy and upload it, unless the object is there; the copy is
        kept for :meth:`local_copy`."""
        parts = self.part_size if size > self.single_put_max else 0
        sha, first, part_digests = _digest(fd, size, head, parts)
        if self._locked(sha) is not None:
            _unlink(tmp)
            return Stored(sha, size, False, first)
        self._upload(sha, tmp, size, part_digests)
        self._stage(sha, tmp)
        return Stored(sha, size, True, first)

    def adopt(self, path: Path, sha256: str) -> Stored:
        """Upload the file at ``path`` under the SHA-256 the caller computed: the storage
        checks the bytes against it (ValueError when they do not match); not read here
        unless it goes up in parts."""
        size = os.stat(path).st_size
        if self._locked(sha256) is not None:
            return Stored(sha256, size, False)
        part_digests: list[bytes] = []
        if size > self.single_put_max:
            fd = os.open(path, os.O_RDONLY)
            try:
                whole, _, part_digests = _digest(fd, size, 0, self.part_size)
            finally:
                os.close(fd)
            if whole != sha256:
                raise ValueError(f"{path} does not have the SHA-256 {sha256} it was handed in with")
        try:
            self._upload(sha256, str(path), size, part_digests)
        except UploadRejected:
            raise ValueError(
                f"{path} does not have the SHA-256 {sha256} it was handed in with"
            ) from None
        self._stage_link(sha256, path)
        return Stored(sha256, size, True)

    def _put_args(self, sha256: str, digest: bytes) -> dict[str, Any]:
        return {
            "ChecksumSHA256": _b64(digest),
            "ObjectLockMode": "COMPLIANCE",
            "ObjectLockRetainUntilDate": self.until(),
            "Metadata": {"sha256": sha256},
            "ContentType": "application/octet-stream",
        }

    def _upload(self, sha256: str, path: str, size: int, part_digests: list[bytes]) -> None:
        """PUT the file at ``path`` (in parts when ``part_digests`` are given)."""
        doing = f"storing {sha256}"
        key = self.key(sha256)
        if not part_digests:
            with open(path, "rb") as body:
                answer = self._call(
                    doing,
                    "put_object",
                    Key=key,
                    Body=body,
                    ContentLength=size,
                    **self._put_args(sha256, bytes.fromhex(sha256)),
                )
        else:
            answer = self._upload_parts(sha256, key, path, size, part_digests)
        self._uploaded(sha256, size, answer)

    def _upload_parts(
        self, sha256: str, key: str, path: str, size: int, part_digests: list[bytes]
    ) -> Any:
        doing = f"storing {sha256} in {len(part_digests)} parts"
        args = self._put_args(sha256, b"")
        del args["ChecksumSHA256"]
        started = self._call(
            doing, "create_multipart_upload", Key=key, ChecksumAlgorithm="SHA256", **args
        )
        upload_id = started["UploadId"]
        done: list[dict[str, Any]] = []
        try:
            with open(path, "rb") as f:
                for n, digest in enumerate(part_digests, start=1):
                    data = f.read(self.part_size)
                    sent = self._call(
                        doing,
                        "upload_part",
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=n,
                        Body=data,
                        ContentLength=len(data),
                        ChecksumSHA256=_b64(digest),
                    )
                    done.append(
                        {"PartNumber": n, "ETag": sent["ETag"], "ChecksumSHA256": _b64(digest)}
                    )
            return self._call(
                doing,
                "complete_multipart_upload",
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": done},
            )
        except BaseException:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except Exception:  # the first failure is the one to report
                pass
            raise

    def _uploaded(self, sha256: str, size: int, answer: dict[str, Any]) -> None:
        version_id = answer.get("VersionId")
        if version_id:
            self._remember(sha256, Version(str(version_id), size, True))

    def _stage(self, sha256: str, tmp: str) -> None:
        """Keep the uploaded copy for the next :meth:`local_copy` of it (a few at most)."""
        with self._lock:
            old = self._staged.pop(sha256, None)
            self._staged[sha256] = tmp
            dropped = []
            while len(self._staged) > STAGED:
                dropped.append(self._staged.pop(next(iter(self._staged))))
        for path in [old, *dropped]:
            if path and path != tmp:
                _unlink(path)

    def _stage_link(self, sha256: str, path: Path) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        link = os.path.join(self.tmp, f"s3-adopted-{sha256[:16]}-{os.getpid()}")
        try:
            _unlink(link)
            os.link(path, link)
        except OSError:
            return
        self._stage(sha256, link)

    def make_durable(self, sha256s: Iterable[str]) -> None:
        """Nothing to do: a PUT that returned is durable."""

    # --- reading ---------------------------------------------------------------------
    def exists(self, sha256: str) -> bool:
        return self.version(sha256) is not None

    def size(self, sha256: str) -> int | None:
        found = self.version(sha256)
        return None if found is None else found.size

    def _body(self, sha256: str) -> Any:
        """The streaming body of the store's version (FileNotFoundError when missing)."""
        found = self.version(sha256)
        if found is None:
            raise FileNotFoundError(errno.ENOENT, "no such object", self.key(sha256))
        try:
            answer = self._call(
                f"reading {sha256}", "get_object", Key=self.key(sha256), VersionId=found.version_id
            )
        except _Missing:
            with self._lock:
                self._versions.pop(sha256, None)
            raise FileNotFoundError(errno.ENOENT, "no such object", self.key(sha256)) from None
        return answer["Body"]

    def _copy_body(self, sha256: str, out: BinaryIO) -> None:
        from botocore.exceptions import BotoCoreError

        body = self._body(sha256)
        try:
            while chunk := body.read(CHUNK):
                out.write(chunk)
        except BotoCoreError as e:
            raise _failure(e, f"reading {sha256}", self.bucket) from None
        finally:
            body.close()

    def open(self, sha256: str) -> BinaryIO:
        """The object, downloaded into a temporary file (in memory when small) that can seek."""
        import tempfile

        out = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, dir=self._tmp_dir())
        try:
            self._copy_body(sha256, out)  # type: ignore[arg-type]
        except BaseException:
            out.close()
            raise
        out.seek(0)
        return out  # type: ignore[return-value]

    def read(self, sha256: str) -> bytes:
        with self.open(sha256) as f:
            return f.read()

    def _tmp_dir(self) -> str:
        self.tmp.mkdir(parents=True, exist_ok=True)
        return str(self.tmp)

    @contextmanager
    def local_copy(self, sha256: str) -> Iterator[Path]:
        """A temporary file holding the object: the copy just uploaded when there is one,
        else a download; removed afterwards."""
        with self._lock:
            path = self._staged.pop(sha256, None)
        if path is None or not os.path.exists(path):
            fd, path = self._temp()
            try:
                with os.fdopen(fd, "wb") as out:
                    self._copy_body(sha256, out)
            except BaseException:
                _unlink(path)
                raise
        try:
            yield Path(path)
        finally:
            _unlink(path)

    def hash_of(self, sha256: str) -> str | None:
        """Stream the store's version of the object and hash it; None when it is missing."""
        from botocore.exceptions import BotoCoreError

        try:
            body = self._body(sha256)
        except FileNotFoundError:
            return None
        h = hashlib.sha256()
        try:
            while chunk := body.read(CHUNK):
                h.update(chunk)
        except BotoCoreError as e:
            raise _failure(e, f"reading {sha256}", self.bucket) from None
        finally:
            body.close()
        return h.hexdigest()

    def list(self) -> Iterator[str]:
        """Every object's hash, once, in order: listed by version (ListObjectVersions), so
        an object hidden behind a delete marker is listed too."""
        marker: dict[str, Any] = {}
        last = ""
        while True:
            page = self._call(
                f"listing s3://{self.bucket}/{self.prefix}",
                "list_object_versions",
                Prefix=self.prefix,
                **marker,
            )
            for v in page.get("Versions", []):
                name = str(v.get("Key", ""))[len(self.prefix) :].replace("/", "", 1)
                if name != last and is_sha256(name):
                    last = name
                    yield name
            if not page.get("IsTruncated"):
                return
            marker = {
                "KeyMarker": page.get("NextKeyMarker"),
                "VersionIdMarker": page.get("NextVersionIdMarker"),
            }


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
