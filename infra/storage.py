"""Artifact store: one small interface, two backends chosen by URL (a local directory or ``s3://bucket/prefix``).

Writes are atomic for readers (local: temp file + rename; S3: a single PUT or a completed multipart upload), and
every key is validated so nothing can escape the store's root. What the keys mean (content-addressed objects, run
manifests, cache entries) is infra/paths.py's business; this module only moves bytes.
"""

from __future__ import annotations

import os
import re
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+-]*$")
_TMP_MARK = ".tmp-"


class StorageError(RuntimeError):
    """The store could not be reached or an object could not be read or written."""


class NotFound(StorageError):
    """The store answered: no object under that key (as opposed to failing to answer)."""


class InvalidKey(ValueError):
    """A key that is empty, absolute, has empty or '..' segments, or characters outside [A-Za-z0-9._=+-]."""


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative POSIX path inside the store; raise :class:`InvalidKey` otherwise."""
    if not isinstance(key, str) or not key:
        raise InvalidKey("artifact key is empty")
    if key.startswith("/") or "\\" in key:
        raise InvalidKey(f"artifact key {key!r} must be a relative POSIX path")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidKey(f"artifact key {key!r} has an empty, '.' or '..' segment")
        if not _SEGMENT.match(segment) or _TMP_MARK in segment:
            raise InvalidKey(f"artifact key {key!r}: segment {segment!r} must match {_SEGMENT.pattern}")
    return key


def join_key(*parts: str) -> str:
    return validate_key("/".join(p.strip("/") for p in parts if p))


@dataclass(frozen=True)
class StoredObject:
    key: str
    modified: float = 0.0  # seconds since the epoch, as the store reports it


class ArtifactStore(ABC):
    """Byte objects addressed by validated keys; ``uri(key)`` names an object for humans (manifests hold keys)."""

    url: str

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def put_file(self, key: str, path: Path) -> None: ...

    @abstractmethod
    def get_bytes(self, key: str) -> bytes: ...

    @abstractmethod
    def get_file(self, key: str, dest: Path) -> None: ...

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object (nothing happens when there is none)."""

    @abstractmethod
    def list_objects(self, prefix: str) -> list[StoredObject]:
        """Objects under ``prefix`` (a validated key used as a folder; "" for the whole store), sorted by key."""

    def list_keys(self, prefix: str) -> list[str]:
        return [item.key for item in self.list_objects(prefix)]

    def uri(self, key: str) -> str:
        return f"{self.url.rstrip('/')}/{validate_key(key)}"


class LocalStore(ArtifactStore):
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*PurePosixPath(validate_key(key)).parts)

    def _atomic_write(self, key: str, write) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}{_TMP_MARK}")
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_bytes(self, key: str, data: bytes) -> None:
        self._atomic_write(key, lambda handle: handle.write(data))

    def put_file(self, key: str, path: Path) -> None:
        def copy(handle):
            with open(path, "rb") as source:
                while chunk := source.read(1 << 20):
                    handle.write(chunk)

        self._atomic_write(key, copy)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(f"no artifact at {self.uri(key)}") from exc
        except OSError as exc:  # a folder where the file should be, permissions, a name too long, ...
            raise StorageError(f"cannot read {self.uri(key)}: {exc.strerror or exc}") from exc

    def get_file(self, key: str, dest: Path) -> None:
        Path(dest).write_bytes(self.get_bytes(key))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete {self.uri(key)}: {exc.strerror or exc}") from exc

    def list_objects(self, prefix: str) -> list[StoredObject]:
        base = self._path(prefix) if prefix else self.root
        if not base.is_dir():
            return []
        found = []
        for path in base.rglob("*"):
            if _TMP_MARK in path.name:
                continue
            try:
                if path.is_file():
                    found.append(StoredObject(path.relative_to(self.root).as_posix(), path.stat().st_mtime))
            except FileNotFoundError:  # deleted while listing (another gc, a runs rm)
                continue
        return sorted(found, key=lambda item: item.key)


class S3Store(ArtifactStore):
    """S3 or any S3-compatible server (path-style addressing, boto3 "standard" retries, managed transfers)."""

    def __init__(self, url: str, endpoint_url: str | None = None, max_attempts: int = 3, timeout_s: float = 10.0):
        import boto3
        from botocore.config import Config

        parsed = urlparse(url)
        if not parsed.netloc:
            raise StorageError(f"S3 URL {url!r} names no bucket (expected s3://bucket/prefix)")
        self.url = url.rstrip("/")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        if self.prefix:
            validate_key(self.prefix)
        self.endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
        self.client = boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            config=Config(
                retries={"mode": "standard", "max_attempts": max_attempts},
                s3={"addressing_style": "path"},
                connect_timeout=timeout_s,
                read_timeout=timeout_s,
            ),
        )

    def _object(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, what: str, fn, *args, **kwargs):
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(*args, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "?")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise NotFound(f"no artifact at {what}") from exc
            raise StorageError(f"S3 error {code} on {what}: {exc}") from exc
        except (BotoCoreError, S3UploadFailedError) as exc:
            where = self.endpoint_url or "the default AWS endpoint"
            raise StorageError(f"S3 at {where} failed on {what} after retries: {exc}") from exc

    def put_bytes(self, key: str, data: bytes) -> None:
        self._call(self.uri(key), self.client.put_object, Bucket=self.bucket, Key=self._object(key), Body=data)

    def put_file(self, key: str, path: Path) -> None:
        # The transfer manager switches to multipart uploads above its threshold; S3 shows the object only once
        # the upload completes, so readers never see a partial one.
        self._call(self.uri(key), self.client.upload_file, str(path), self.bucket, self._object(key))

    def get_bytes(self, key: str) -> bytes:
        response = self._call(self.uri(key), self.client.get_object, Bucket=self.bucket, Key=self._object(key))
        return response["Body"].read()

    def get_file(self, key: str, dest: Path) -> None:
        self._call(self.uri(key), self.client.download_file, self.bucket, self._object(key), str(dest))

    def exists(self, key: str) -> bool:
        try:
            self._call(self.uri(key), self.client.head_object, Bucket=self.bucket, Key=self._object(key))
        except NotFound:
            return False
        except StorageError as exc:
            if "S3 error 403" in str(exc):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self._call(self.uri(key), self.client.delete_object, Bucket=self.bucket, Key=self._object(key))

    def list_objects(self, prefix: str) -> list[StoredObject]:
        folder = self._object(prefix) + "/" if prefix else (self.prefix + "/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0
        paginator = self.client.get_paginator("list_objects_v2")
        found: list[StoredObject] = []

        def collect():
            for page in paginator.paginate(Bucket=self.bucket, Prefix=folder):
                found.extend(StoredObject(item["Key"][strip:], item["LastModified"].timestamp())
                             for item in page.get("Contents", []))

        self._call(f"{self.url}/{prefix}", collect)
        return sorted(found, key=lambda item: item.key)

    def presigned_url(self, key: str, expires_s: int = 900) -> str:
        return self._call(
            self.uri(key),
            self.client.generate_presigned_url,
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._object(key)},
            ExpiresIn=expires_s,
        )


def open_store(url: str | Path, endpoint_url: str | None = None) -> ArtifactStore:
    """The store for ``url``: ``s3://bucket/prefix`` → :class:`S3Store`, anything else → a local directory."""
    url = str(url)
    scheme = urlparse(url).scheme
    if scheme == "s3":
        return S3Store(url, endpoint_url=endpoint_url)
    if scheme in ("", "file"):
        return LocalStore(url[len("file://") :] if scheme == "file" else url)
    raise StorageError(f"unsupported artifact store URL {url!r}: use a directory or s3://bucket/prefix")
