"""Retention benchmark: the sweep against bulk DELETEs and unlinks of the same rows and files.

    python bench/retention.py [--n 2000] [--s3] [--profile]

Runs twice, at N and at 4N expired cases, each in a fresh process (peak RSS is per process).
Each run builds a temporary SQLite database through the migrations and a temporary local store
(or, with --s3, a bucket on moto's server in its own process), makes one clinic whose policies
delete every category after 30 days, and N cases 400 days old with 3 photos each, 4 renditions
per photo (original, preview, thumbnail, blurred): rows inserted in bulk, small objects written
straight to the store. It times `retention.sweep` (plan, purge every object, verify it is gone,
delete the rows, record the proof) and measures the process's peak RSS during the sweep only
(the peak is reset just before it). Then it builds the same data again in a second clinic and
times the baseline: one DELETE per table for the clinic's rows and an unlink of each file (with
--s3, DeleteObjects in batches of 1000). Checks that both left no row and no object.

Prints the timings of each size, and last the line
``ratio=<sweep time / baseline time> cases_per_min=<x> peak_mem_ratio=<peak RSS at 4N / at N>``
where ratio and cases_per_min are over both sizes together. --profile prints the sweep's top
functions by cumulative time (of the N run).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

PHOTOS = 3
KINDS = ("original", "preview", "thumbnail", "blurred")
OBJECT = b"\xff\xd8" + b"x" * 2046  # 2 KiB: a small object, the cost is per object
CHUNK = 5000
TABLES = ("imagerendition", "submissionimage", "submission", "patient")


def _table(name: str) -> sa.Table:
    from sqlmodel import SQLModel

    return SQLModel.metadata.tables[name]


def _status(field: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not found")


def _reset_peak() -> bool:
    """Reset the process's peak RSS (Linux ≥ 4.0); False when the kernel refuses."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def build(tenant_slug: str, n: int, store: Any, s3: bool) -> tuple[uuid.UUID, list[str]]:
    """One clinic, all-delete after 30 days, N cases of 3 photos 400 days old: rows in bulk."""
    from mi_portal.config import get_settings
    from mi_portal.db import get_engine
    from mi_portal.models import (
        ImageRendition,
        Patient,
        RetentionPolicy,
        Submission,
        SubmissionImage,
        Tenant,
        utcnow,
        uuid7,
    )
    from mi_portal.services.retention_rules import CATEGORIES

    engine = get_engine(get_settings().admin_database_url)
    tenant_id = uuid7()
    old = utcnow() - timedelta(days=400)
    keys: list[str] = []
    with engine.begin() as conn:
        conn.execute(
            sa.insert(Tenant.__table__),  # type: ignore[attr-defined]
            [{"id": tenant_id, "slug": tenant_slug, "name": tenant_slug.title()}],
        )
        conn.execute(
            sa.insert(RetentionPolicy.__table__),  # type: ignore[attr-defined]
            [
                {
                    "tenant_id": tenant_id,
                    "id": uuid7(),
                    "category": c.category,
                    "retain_days": 30,
                    "action": "delete",
                    "updated_at": old,
                }
                for c in CATEGORIES
            ],
        )
    for start in range(0, n, CHUNK // (PHOTOS * len(KINDS)) or 1):
        count = min(n - start, CHUNK // (PHOTOS * len(KINDS)) or 1)
        patients, cases, images, renditions = [], [], [], []
        for i in range(start, start + count):
            patient_id, case_id = uuid7(), uuid7()
            patients.append(
                {
                    "tenant_id": tenant_id,
                    "id": patient_id,
                    "full_name": f"Patient {i}",
                    "email": f"p{i}@example.org",
                    "phone": "+12025550100",
                    "created_at": old,
                }
            )
            cases.append(
                {
                    "tenant_id": tenant_id,
                    "id": case_id,
                    "patient_id": patient_id,
                    "status": "closed",
                    "concern_area": "acne",
                    "answers": {"how_long": "months"},
                    "received_at": old,
                    "last_activity_at": old,
                    "source_ip": "203.0.113.9",
                    "user_agent": "Patient browser",
                    "retention_cleared": [],
                }
            )
            for position in range(PHOTOS):
                image_id = uuid7()
                images.append(
                    {
                        "tenant_id": tenant_id,
                        "id": image_id,
                        "submission_id": case_id,
                        "position": position,
                        "display_name": f"photo-{position}.jpg",
                        "content_type": "image/jpeg",
                        "width": 8,
                        "height": 8,
                        "byte_size": len(OBJECT),
                        "sha256": "0" * 64,
                        "sensitive": False,
                        "created_at": old,
                    }
                )
                for kind in KINDS:
                    key = f"{tenant_id}/{uuid.uuid4().hex}/{kind}.jpg"
                    keys.append(key)
                    renditions.append(
                        {
                            "tenant_id": tenant_id,
                            "id": uuid7(),
                            "image_id": image_id,
                            "kind": kind,
                            "storage_key": key,
                            "content_type": "image/jpeg",
                            "width": 8,
                            "height": 8,
                            "byte_size": len(OBJECT),
                            "sha256": "0" * 64,
                        }
                    )
        with engine.begin() as conn:
            for model, rows in (
                (Patient, patients),
                (Submission, cases),
                (SubmissionImage, images),
                (ImageRendition, renditions),
            ):
                conn.execute(sa.insert(model.__table__), rows)  # type: ignore[attr-defined]
    _write_objects(store, keys, s3)
    return tenant_id, keys


def _write_objects(store: Any, keys: list[str], s3: bool) -> None:
    if s3:
        for key in keys:
            store.client.put_object(Bucket=store.bucket, Key=key, Body=OBJECT)
        return
    root: Path = store.root
    for key in keys:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(OBJECT)


def baseline(tenant_id: uuid.UUID, keys: list[str], store: Any, s3: bool) -> float:
    """The same rows by one DELETE per table, the same objects unlinked (or batch-deleted)."""
    from mi_portal.config import get_settings
    from mi_portal.db import get_engine

    engine = get_engine(get_settings().database_url)
    tables = [_table(name) for name in TABLES]
    started = time.perf_counter()
    with engine.begin() as conn:
        for table in tables:
            conn.execute(sa.delete(table).where(table.c.tenant_id == tenant_id))
    if s3:
        for start in range(0, len(keys), 1000):
            store.client.delete_objects(
                Bucket=store.bucket,
                Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]], "Quiet": True},
            )
    else:
        root: Path = store.root
        for key in keys:
            os.unlink(root / key)
    return time.perf_counter() - started


def _left(tenant_id: uuid.UUID, store: Any) -> tuple[int, int]:
    """(rows, objects) the clinic still has."""
    from mi_portal.config import get_settings
    from mi_portal.db import get_engine

    engine = get_engine(get_settings().admin_database_url)
    with engine.connect() as conn:
        rows = sum(
            conn.execute(
                sa.select(sa.func.count()).select_from(t).where(t.c.tenant_id == tenant_id)
            ).scalar_one()
            for t in map(_table, TABLES)
        )
    return rows, sum(1 for _ in store.keys(f"{tenant_id}/"))


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 server in its own process (as a real store would be); yields its URL."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    child = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        child.terminate()
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def child(n: int, s3: bool, profile: bool) -> None:
    """One size in this process: build, sweep (peak RSS), build again, baseline; print JSON."""
    with (
        tempfile.TemporaryDirectory(prefix="mi-bench-retention-") as folder,
        moto_server() if s3 else _nothing() as moto_url,
    ):
        url = f"sqlite:///{Path(folder) / 'mi_portal.db'}"
        if s3:
            import boto3

            os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
            os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
            boto3.client("s3", region_name="us-east-1", endpoint_url=moto_url).create_bucket(
                Bucket="mi-bench"
            )
            storage = f"s3://mi-bench?region=us-east-1&endpoint_url={moto_url}&sse=AES256"
        else:
            storage = f"file://{Path(folder) / 'objects'}"
        os.environ.update(
            MI_DATA_DIR=str(Path(folder) / "data"),
            MI_DATABASE_URL=url,
            MI_ADMIN_DATABASE_URL=url,
            MI_STORAGE=storage,
        )
        from mi_portal import migrations
        from mi_portal.config import reset_settings
        from mi_portal.services import retention
        from mi_portal.storage import get_store

        reset_settings()
        migrations.upgrade(admin_url=url, app_url=url)
        store = get_store()

        tenant_id, _keys = build("bench-sweep", n, store, s3)
        gc.collect()
        rss_before = _status("VmRSS")
        reset = _reset_peak()
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        started = time.perf_counter()
        result = retention.sweep(tenant_id, store=store)
        took = time.perf_counter() - started
        if profiler is not None:
            import pstats

            profiler.disable()
            stats = pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative")
            stats.print_stats(35)
            stats.print_callers("commit|_load_expired")
        peak = _status("VmHWM")
        if result.purged != n or result.failed or _left(tenant_id, store) != (0, 0):
            raise SystemExit(f"the sweep left work: {result.line()} {_left(tenant_id, store)}")

        other, keys = build("bench-baseline", n, store, s3)
        reference = baseline(other, keys, store, s3)
        if _left(other, store) != (0, 0):
            raise SystemExit("the baseline left rows or objects")
    print(
        json.dumps(
            {
                "n": n,
                "sweep": took,
                "baseline": reference,
                "peak_kb": peak,
                "rss_before_kb": rss_before,
                "peak_reset": reset,
            }
        )
    )


@contextmanager
def _nothing() -> Iterator[str]:
    yield ""


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="expired cases (then 4N)")
    parser.add_argument("--s3", action="store_true", help="S3 on moto's server, not a folder")
    parser.add_argument("--profile", action="store_true", help="profile the N run's sweep")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.s3, args.profile)
        return

    store = "S3 (moto server, its own process)" if args.s3 else "local folder"
    print(f"  {PHOTOS} photos × {len(KINDS)} renditions per case; SQLite; {store}")
    runs: list[dict[str, Any]] = []
    for size in (args.n, 4 * args.n):
        command = [sys.executable, __file__, "--child", str(size)]
        command += ["--s3"] if args.s3 else []
        command += ["--profile"] if args.profile and size == args.n else []
        out = subprocess.run(command, capture_output=not args.profile, text=True)
        if out.returncode:
            raise SystemExit(f"the N={size} run failed:\n{out.stderr}")
        if args.profile:
            return
        run = json.loads(out.stdout.strip().splitlines()[-1])
        runs.append(run)
        print(
            f"  N={size}: sweep {run['sweep']:.2f}s ({size / run['sweep'] * 60:,.0f} cases/min), "
            f"baseline {run['baseline']:.2f}s, ratio {run['sweep'] / run['baseline']:.2f}, "
            f"peak RSS during the sweep {run['peak_kb'] / 1024:.0f} MiB "
            f"(before it {run['rss_before_kb'] / 1024:.0f} MiB"
            f"{'' if run['peak_reset'] else '; peak not resettable, includes the setup'})"
        )
    sweep = sum(r["sweep"] for r in runs)
    reference = sum(r["baseline"] for r in runs)
    cases = sum(r["n"] for r in runs)
    print(
        f"ratio={sweep / reference:.2f} cases_per_min={cases / sweep * 60:.0f} "
        f"peak_mem_ratio={runs[1]['peak_kb'] / runs[0]['peak_kb']:.2f}"
    )


if __name__ == "__main__":
    main()
