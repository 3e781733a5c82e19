"""The blob store interface every backend implements."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Protocol


class ObjectMissing(KeyError):
    """No object is stored under the key."""


class StorageUnavailable(RuntimeError):
    """The store could not be reached or refused the operation."""


class BlobStore(Protocol):
    def put(self, key: str, data: bytes, *, content_type: str) -> None: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...

    def purge(self, key: str) -> None:
        """Remove the object for good: on a versioned store every version and delete marker."""
        ...

    def purge_prefix(self, prefix: str) -> int:
        """``purge`` every key under ``prefix`` (including, on S3, keys with only old versions
        or delete markers left); returns how many keys were purged."""
        ...

    def gone(self, key: str) -> bool:
        """True when nothing at all is left under the key (no object, no version, no marker)."""
        ...

    def exists(self, key: str) -> bool: ...

    def keys(self, prefix: str = "") -> Iterator[str]: ...

    def listing(self, prefix: str = "") -> Iterator[tuple[str, datetime]]: ...

    def stream(self, key: str) -> Iterator[bytes]:
        """The object's bytes in chunks; raises ObjectMissing before the first chunk if absent."""
        ...
