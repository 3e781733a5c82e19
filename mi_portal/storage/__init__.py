"""Blob stores for health images: one interface, a local folder or S3."""

from __future__ import annotations

from functools import lru_cache

from mi_portal.config import get_settings
from mi_portal.storage.base import BlobStore, ObjectMissing, StorageUnavailable
from mi_portal.storage.local import LocalStore


def store_from_url(url: str) -> BlobStore:
    """Build the store named by ``MI_STORAGE`` (``file:///path``)."""
    if url.startswith("file://"):
        return LocalStore(url[len("file://") :])
    if url.startswith("s3://"):
        from mi_portal.storage.s3 import S3Store

        return S3Store(url)
    raise ValueError(f"unsupported MI_STORAGE scheme: {url.split(':', 1)[0]!r}")


@lru_cache(maxsize=1)
def get_store() -> BlobStore:
    return store_from_url(get_settings().storage)


__all__ = [
    "BlobStore",
    "LocalStore",
    "ObjectMissing",
    "StorageUnavailable",
    "get_store",
    "store_from_url",
]
