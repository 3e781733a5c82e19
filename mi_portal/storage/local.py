"""The embedded default: a private folder on disk (never under a publicly served path)."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from mi_portal.storage.base import ObjectMissing

CHUNK_BYTES = 64 * 1024
_KEY = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-.]+)*$")


class LocalStore:
    """Objects as files below ``root``; keys are checked so none can leave it.

    The browser reads them only through the signed ``/api/objects/…`` route (api/objects.py).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        if not _KEY.match(key) or ".." in key:
            raise ValueError("invalid object key")
        return self.root / key

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Write then rename, so a reader never sees half an object.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise ObjectMissing(key) from exc

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def purge(self, key: str) -> None:
        # A folder keeps no versions: removing the file removes everything.
        self.delete(key)

    def purge_prefix(self, prefix: str) -> int:
        """Every file under the prefix's folder, half-written uploads (``.tmp-…``) included."""
        folder = prefix.rstrip("/")
        if not folder:
            raise ValueError("refusing to purge the whole store")
        root = self._path(folder)
        if not root.is_dir():
            return 0
        removed = 0
        for path in sorted(root.rglob("*"), reverse=True):  # files before their folders
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink(missing_ok=True)
                removed += 1
        root.rmdir()
        return removed

    def gone(self, key: str) -> bool:
        return not self._path(key).exists()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def stream(self, key: str) -> Iterator[bytes]:
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError as exc:
            raise ObjectMissing(key) from exc
        return _chunks(handle)

    def keys(self, prefix: str = "") -> Iterator[str]:
        for key, _modified in self.listing(prefix):
            yield key

    def listing(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        """Every key with its last-modified time (UTC)."""
        if not self.root.exists():
            return
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.startswith(".tmp-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key, datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk
