"""The blob store interface every backend implements."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol


class ObjectMissing(KeyError):
    """No object is stored under the key."""


class BlobStore(Protocol):
    def put(self, key: str, data: bytes, *, content_type: str) -> None: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...

    def exists(self, key: str) -> bool: ...

    def keys(self, prefix: str = "") -> Iterator[str]: ...
