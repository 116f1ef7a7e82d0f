"""The object store as the S3 provider uses it: immutable objects under ``<prefix>/o/``.

Every call translates boto3/botocore failures into provider errors (``s3_errors``): a store
that cannot be reached or answers 5xx is ``StorageUnavailableError`` (the server answers 503
with Retry-After), anything else ``StorageIOError``. Uploads use boto3's managed transfer
(multipart above ``MULTIPART_THRESHOLD``); reads are ranged GETs (``RangedReader``).
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from boto3.exceptions import Boto3Error, S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from providers.errors import NotFoundError, ProviderError, StorageIOError, StorageUnavailableError
from providers.s3.location import S3Location

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

OBJECTS = "o/"
MULTIPART_THRESHOLD = 64 * 1024 * 1024
MULTIPART_CHUNK = 64 * 1024 * 1024
READ_BLOCK = 1024 * 1024


def _client_error_status(exc: ClientError) -> int:
    meta = exc.response.get("ResponseMetadata", {})
    return int(meta.get("HTTPStatusCode", 0) or 0)


def map_s3_error(exc: BaseException, what: str) -> ProviderError:
    """The provider error for a boto3/botocore failure while doing ``what``."""
    cause: BaseException = exc
    if isinstance(exc, S3UploadFailedError) and exc.__context__ is not None:
        cause = exc.__context__
    if isinstance(cause, ClientError):
        status = _client_error_status(cause)
        code = cause.response.get("Error", {}).get("Code", "")
        if status >= 500 or code in ("SlowDown", "ServiceUnavailable", "RequestTimeout"):
            return StorageUnavailableError(f"{what}: the object store answered {status} {code}")
        if code in ("NoSuchKey", "404"):
            return NotFoundError(f"{what}: object missing from the store")
        return StorageIOError(f"{what}: the object store refused ({status} {code})")
    if isinstance(cause, (BotoConnectionError, BotoCoreError, Boto3Error, OSError)):
        return StorageUnavailableError(f"{what}: the object store cannot be reached ({cause})")
    return StorageIOError(f"{what}: {cause}")


@contextmanager
def s3_errors(what: str) -> Iterator[None]:
    """Re-raise boto3/botocore (and socket) failures from the block as provider errors."""
    try:
        yield
    except ProviderError:
        raise
    except (ClientError, BotoCoreError, Boto3Error, OSError) as exc:
        raise map_s3_error(exc, what) from exc


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One object found by a listing."""

    key: str
    last_modified: datetime


@dataclass(frozen=True, slots=True)
class PendingUpload:
    """An unfinished multipart upload found by a listing."""

    key: str
    upload_id: str
    initiated: datetime


class ObjectStore:
    """Immutable objects of one ``S3Location``."""

    def __init__(self, client: S3Client, location: S3Location) -> None:
        self.client = client
        self.location = location
        self.bucket = location.bucket
        self._transfer = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD,
            multipart_chunksize=MULTIPART_CHUNK,
            max_concurrency=4,
            use_threads=True,
        )

    def close(self) -> None:
        """Close the client's pooled connections (the store is unusable afterwards)."""
        self.client.close()

    def new_key(self) -> str:
        """A fresh random object key below the location's prefix."""
        return self.location.key(OBJECTS + secrets.token_hex(16))

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist. StorageIOError / StorageUnavailableError."""
        with s3_errors(f"bucket {self.bucket}"):
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if _client_error_status(exc) != 404:
                    raise
                self.client.create_bucket(Bucket=self.bucket)

    def probe(self) -> str | None:
        """None if the bucket answers a HEAD request, else a short reason (never raises)."""
        try:
            with s3_errors("bucket"):
                self.client.head_bucket(Bucket=self.bucket)
        except ProviderError as exc:
            return type(exc).__name__
        return None

    def upload(self, key: str, source: Path) -> None:
        """Store the file ``source`` as ``key``: one PUT below ``MULTIPART_THRESHOLD``, else
        boto3's managed multipart transfer (parallel parts)."""
        with s3_errors("upload"):
            if source.stat().st_size < MULTIPART_THRESHOLD:
                with source.open("rb") as body:
                    self.client.put_object(Bucket=self.bucket, Key=key, Body=body)
            else:
                self.client.upload_file(str(source), self.bucket, key, Config=self._transfer)

    def delete(self, keys: list[str]) -> None:
        """Delete ``keys`` (missing ones are fine)."""
        for start in range(0, len(keys), 1000):
            batch: list[Any] = [{"Key": k} for k in keys[start : start + 1000]]
            with s3_errors("delete"):
                self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )

    def open(self, key: str, size: int) -> io.BufferedReader:
        """A seekable buffered reader of object ``key`` of ``size`` bytes. The object is
        checked (HEAD) now, so an unreachable store or a missing object is reported here,
        before a response has started; the bytes come by ranged GETs as they are read."""
        with s3_errors("open"):
            self.client.head_object(Bucket=self.bucket, Key=key)
        return io.BufferedReader(RangedReader(self, key, size), buffer_size=READ_BLOCK)

    def get_range(self, key: str, start: int) -> Any:
        """The streaming body of ``key`` from byte ``start`` to the end."""
        with s3_errors("read"):
            return self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-")[
                "Body"
            ]

    def list_objects(self) -> Iterator[StoredObject]:
        """Every object below the location's object prefix."""
        paginator = self.client.get_paginator("list_objects_v2")
        with s3_errors("list objects"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.location.key(OBJECTS)):
                for item in page.get("Contents", []):
                    yield StoredObject(item["Key"], item["LastModified"])

    def list_uploads(self) -> Iterator[PendingUpload]:
        """Every unfinished multipart upload below the object prefix."""
        paginator = self.client.get_paginator("list_multipart_uploads")
        with s3_errors("list multipart uploads"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.location.key(OBJECTS)):
                for item in page.get("Uploads", []):
                    yield PendingUpload(item["Key"], item["UploadId"], item["Initiated"])

    def abort_upload(self, upload: PendingUpload) -> None:
        """Abort an unfinished multipart upload (its parts are freed)."""
        with s3_errors("abort multipart upload"):
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=upload.key, UploadId=upload.upload_id
            )


class RangedReader(io.RawIOBase):
    """A seekable raw reader of one immutable object: one streaming ranged GET from the
    current position, re-opened after a seek. Errors surface as provider errors."""

    def __init__(self, store: ObjectStore, key: str, size: int) -> None:
        super().__init__()
        self._store = store
        self._key = key
        self._size = size
        self._pos = 0
        self._body: Any = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        target = base + offset
        if target < 0:
            raise ValueError("negative seek position")
        if target != self._pos:
            self._drop_body()
            self._pos = target
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._pos >= self._size or len(view) == 0:
            return 0
        if self._body is None:
            self._body = self._store.get_range(self._key, self._pos)
        with s3_errors("read"):
            data = self._body.read(min(len(view), self._size - self._pos))
        if not data:
            raise StorageIOError(f"object {self._key} ended early at byte {self._pos}")
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def _drop_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self) -> None:
        self._drop_body()
        super().close()
