"""The embedded default: a private folder on disk (never under a publicly served path)."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from mi_portal.storage.base import ObjectMissing

_KEY = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-.]+)*$")


class LocalStore:
    """Objects as files below ``root``; keys are checked so none can leave it.

    The browser reads them only through ``/api/objects/…`` URLs signed with HMAC, expiring, and
    bound to the viewer (the route also checks the viewer's session and clinic).
    """

    def __init__(self, root: str | Path, *, signing_key: str = "") -> None:
        self.root = Path(root).resolve()
        self._signing_key = signing_key.encode()

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

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def signature(self, key: str, expires: int, viewer: str, disposition: str) -> str:
        message = f"{key}\n{expires}\n{viewer}\n{disposition}".encode()
        return hmac.new(self._signing_key, message, hashlib.sha256).hexdigest()

    def signed_url(
        self, key: str, *, expires_in: int, filename: str | None = None, viewer: str = ""
    ) -> str:
        self._path(key)  # refuse keys that could leave the folder
        expires = int(time.time()) + expires_in
        disposition = f"attachment:{filename}" if filename else "inline"
        query = urlencode(
            {
                "exp": expires,
                "v": viewer,
                "d": disposition,
                "sig": self.signature(key, expires, viewer, disposition),
            }
        )
        return f"/api/objects/{key}?{query}"

    def check_signature(
        self, key: str, *, expires: str, viewer: str, disposition: str, sig: str
    ) -> bool:
        """True when the URL was issued by this store and has not expired."""
        try:
            exp = int(expires)
        except ValueError:
            return False
        if exp < time.time():
            return False
        return hmac.compare_digest(self.signature(key, exp, viewer, disposition), sig)

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
