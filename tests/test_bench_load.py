"""The load test's leak checker and report (bench/load.py), without an app: what a simulated user
of one clinic receives is counted as a leak as soon as anything of another clinic is in it.

The run against the real app is tests/browser/test_load_bench.py.
"""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest

from bench.load import LeakChecker, Stats, report
from bench.load_data import ClinicData, Manifest, marker


def _clinic(index: int) -> ClinicData:
    ids = [str(uuid.uuid4()) for _ in range(4)]
    return ClinicData(
        index=index,
        slug=f"load-test-{index:02d}",
        tenant_id=str(uuid.uuid4()),
        marker=marker(index),
        users=[f"staff00@load-test-{index:02d}.test"],
        user_ids=[ids[0]],
        case_ids=[ids[1], ids[2]],
        patient_ids=[ids[3]],
        image_ids=[str(uuid.uuid4())],
        photo_digests=[hashlib.sha256(f"photo {index}".encode()).hexdigest()],
    )


@pytest.fixture
def two() -> tuple[Manifest, LeakChecker]:
    manifest = Manifest(run="test", password="x", clinics=[_clinic(0), _clinic(1)], totp={})
    return manifest, LeakChecker(manifest)


def test_own_data_is_no_leak(two: tuple[Manifest, LeakChecker]) -> None:
    manifest, checker = two
    a = manifest.clinics[0]
    update = {
        "delta": {
            "inbox": {
                "rows_rx_state_": [
                    {"id": case_id, "patient": f"Pat {a.marker}001"} for case_id in a.case_ids
                ]
            }
        }
    }
    assert checker.frame(0, json.dumps(update)) == 0
    assert checker.rows(0, a.case_ids) == 0
    assert checker.photo_url(0, f"/api/objects/{a.tenant_id}/abc/thumbnail.jpg?t=x") == 0
    assert checker.photo_bytes(0, b"photo 0") == 0
    assert checker.texts(0, [f"{a.marker} hello"], "message") == 0
    assert checker.leaks == 0


def test_a_cross_clinic_case_id_is_a_leak(two: tuple[Manifest, LeakChecker]) -> None:
    manifest, checker = two
    a, b = manifest.clinics
    rows = [{"id": a.case_ids[0]}, {"id": b.case_ids[1]}]
    assert checker.rows(0, [r["id"] for r in rows]) == 1
    assert checker.frame(0, json.dumps({"delta": {"inbox": {"rows_rx_state_": rows}}})) == 1
    assert checker.leaks == 2
    assert any(b.case_ids[1] in example for example in checker.examples)


def test_an_unknown_row_is_a_leak_too(two: tuple[Manifest, LeakChecker]) -> None:
    _manifest, checker = two
    # Not one of the clinic's cases (a demo clinic's, say): it has no business in this queue.
    assert checker.rows(0, [str(uuid.uuid4())]) == 1


@pytest.mark.parametrize("kind", ["user", "patient", "image", "tenant"])
def test_any_id_of_another_clinic_in_a_frame(two: tuple[Manifest, LeakChecker], kind: str) -> None:
    manifest, checker = two
    b = manifest.clinics[1]
    found = {"user": b.user_ids[0], "patient": b.patient_ids[0], "image": b.image_ids[0]}.get(
        kind, b.tenant_id
    )
    assert checker.frame(0, json.dumps({"delta": {"x": {"v": f"... {found} ..."}}})) == 1


def test_another_clinics_marker_in_a_message(two: tuple[Manifest, LeakChecker]) -> None:
    manifest, checker = two
    b = manifest.clinics[1]
    body = f"{b.marker} your quote"
    assert checker.frame(0, json.dumps({"messages": [{"body": body}]})) == 1
    assert checker.texts(0, [body], "message") == 1


def test_photos_of_another_clinic(two: tuple[Manifest, LeakChecker]) -> None:
    manifest, checker = two
    b = manifest.clinics[1]
    assert checker.photo_url(0, f"/api/objects/{b.tenant_id}/abc/preview.jpg?t=x") == 1
    assert checker.photo_url(0, "/elsewhere/photo.jpg") == 1
    assert checker.photo_bytes(0, b"photo 1") == 1  # clinic 1's rendition
    assert checker.photo_bytes(0, b"some other bytes") == 1  # not a stored rendition at all
    assert checker.leaks == 4


def test_report_last_line(two: tuple[Manifest, LeakChecker]) -> None:
    _manifest, checker = two
    stats = Stats()
    for ms in (10.0, 20.0, 30.0, 40.0):
        stats.add("open_case", ms)
        stats.add("noop", ms / 10)
    stats.fail("queue", "no answer within the timeout")
    checker.rows(0, [str(uuid.uuid4())])
    result = {
        "stats": stats,
        "checker": checker,
        "signed_in": 2,
        "elapsed": 10.0,
        "mem_before": {7: 1000},
        "mem_start": {7: 1000},
        "mem_end": {7: 1100},
    }
    text, figures = report(result, users=2, think=5.0)
    last = text.splitlines()[-1]
    assert last.startswith("p95_open_case_ms=")
    assert figures["errors"] == 1 and figures["leaks"] == 1
    assert figures["mem_growth"] == pytest.approx(0.1)
    assert figures["ratio_open_case"] == pytest.approx(figures["p95_open_case_ms"] / 3.85, rel=0.01)
    assert "errors=1 leaks=1 mem_growth=0.100" in last
