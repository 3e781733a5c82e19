"""S3 (or any S3-compatible store) through boto3; the browser never gets an S3 URL.

Objects reach the browser only through the app's signed, session-bound, audited
``/api/objects/…`` route (api/objects.py), which streams them from here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from mi_portal.storage.base import ObjectMissing, StorageUnavailable

CHUNK_BYTES = 64 * 1024


class S3Store:
    """``s3://bucket?region=…&endpoint_url=…&sse=AES256|aws:kms&kms_key_id=…``.

    Credentials come from the usual AWS environment/instance settings, never from the URL.
    The boto3 client is created lazily per process (app workers fork after import).
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.bucket = parts.netloc
        if not self.bucket:
            raise ValueError("MI_STORAGE s3:// URL needs a bucket name")
        self.region = query.get("region") or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        self.endpoint_url = query.get("endpoint_url")
        self.sse = query.get("sse", "AES256")
        self.kms_key_id = query.get("kms_key_id")
        self._client: Any = None
        self._pid = 0

    @property
    def client(self) -> Any:
        if self._client is None or self._pid != os.getpid():
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3",
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                config=Config(
                    signature_version="s3v4",
                    retries={"max_attempts": 2, "mode": "standard"},
                    connect_timeout=3,
                    read_timeout=10,
                ),
            )
            self._pid = os.getpid()
        return self._client

    def _call(self, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, method)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise ObjectMissing(kwargs.get("Key", "")) from exc
            raise StorageUnavailable(f"S3 {method} failed: {code}") from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"S3 {method} failed: {type(exc).__name__}") from exc

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        extra: dict[str, Any] = {"ServerSideEncryption": self.sse}
        if self.sse == "aws:kms" and self.kms_key_id:
            extra["SSEKMSKeyId"] = self.kms_key_id
        self._call(
            "put_object", Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, **extra
        )

    def get(self, key: str) -> bytes:
        return self._call("get_object", Bucket=self.bucket, Key=key)["Body"].read()

    def stream(self, key: str) -> Iterator[bytes]:
        body = self._call("get_object", Bucket=self.bucket, Key=key)["Body"]
        return _chunks(body)

    def delete(self, key: str) -> None:
        self._call("delete_object", Bucket=self.bucket, Key=key)

    def _versions(self, prefix: str) -> list[dict[str, str]]:
        """Every version and delete marker stored under ``prefix``, as DeleteObjects names them."""
        found: list[dict[str, str]] = []
        paginator = self.client.get_paginator("list_object_versions")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                    found.append(
                        {"Key": entry["Key"], "VersionId": entry.get("VersionId") or "null"}
                    )
        except Exception as exc:  # botocore's errors: the store refused or is unreachable
            raise StorageUnavailable(f"S3 list versions failed: {type(exc).__name__}") from exc
        return found

    def _delete_versions(self, versions: list[dict[str, str]]) -> None:
        for start in range(0, len(versions), 1000):
            result = self._call(
                "delete_objects",
                Bucket=self.bucket,
                Delete={"Objects": versions[start : start + 1000], "Quiet": True},
            )
            if result.get("Errors"):
                raise StorageUnavailable(f"S3 refused to delete {len(result['Errors'])} versions")

    def purge(self, key: str) -> None:
        """Delete every version and delete marker of ``key`` (on an unversioned bucket, the
        one object): a plain delete on a versioned bucket only hides the object."""
        self._delete_versions([v for v in self._versions(key) if v["Key"] == key])

    def purge_prefix(self, prefix: str) -> int:
        if not prefix:
            raise ValueError("refusing to purge a whole bucket")
        versions = self._versions(prefix)
        self._delete_versions(versions)
        return len({v["Key"] for v in versions})

    def gone(self, key: str) -> bool:
        return not any(v["Key"] == key for v in self._versions(key))

    def exists(self, key: str) -> bool:
        try:
            self._call("head_object", Bucket=self.bucket, Key=key)
        except ObjectMissing:
            return False
        return True

    def keys(self, prefix: str = "") -> Iterator[str]:
        for key, _modified in self.listing(prefix):
            yield key

    def listing(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        """Every key with its last-modified time (UTC)."""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"], item["LastModified"]


def _chunks(body: Any) -> Iterator[bytes]:
    """The response body in chunks, so a large original never sits whole in memory."""
    from botocore.exceptions import BotoCoreError

    try:
        yield from body.iter_chunks(CHUNK_BYTES)
    except BotoCoreError as exc:
        raise StorageUnavailable(f"S3 read failed: {type(exc).__name__}") from exc
    finally:
        body.close()
