"""The operator commands: `images inspect` and `storage check`."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from mi_portal.storage import get_store
from tests.conftest import Database
from tests.factories import make_tenant
from tests.intake_helpers import form, jpeg_bytes, photos

SCRIPT = Path(sys.executable).parent / "mi-portal"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], env={**os.environ, "COLUMNS": "200"}, capture_output=True, text=True
    )


def test_images_inspect_accepts_and_rejects_with_reasons(tmp_path: Path) -> None:
    good = tmp_path / "good.jpg"
    good.write_bytes(jpeg_bytes(3, (900, 600)))
    fake = tmp_path / "fake.jpg"
    fake.write_text("<svg><script>alert(1)</script></svg>")
    out = tmp_path / "out"
    result = run("images", "inspect", str(good), str(fake), "--out", str(out))
    assert result.returncode == 1
    assert "accepted" in result.stdout and "good.jpg" in result.stdout
    assert "rejected" in result.stdout and "not a JPEG, PNG or WebP" in result.stdout.replace(
        "\n", " "
    )
    written = sorted(p.name for p in out.iterdir())
    assert written == [
        "good.blurred.jpg",
        "good.original.jpg",
        "good.preview.jpg",
        "good.thumbnail.jpg",
    ]
    thumb = Image.open(io.BytesIO((out / "good.thumbnail.jpg").read_bytes()))
    assert max(thumb.size) <= 256 and not thumb.getexif()
    assert run("images", "inspect", str(good)).returncode == 0


def test_storage_check_finds_orphans_both_ways(db: Database) -> None:
    from mi_portal.services import intake

    make_tenant("clinic-a")
    intake.submit(
        clinic_slugs=["clinic-a"],
        form=form(),
        photos=photos(1),
        ip=None,
        user_agent=None,
        source="t",
    )
    store = get_store()
    assert "storage and database agree" in run("storage", "check").stdout
    keys = sorted(store.keys())
    store.put(
        "00000000-0000-0000-0000-000000000000/stray/original.jpg", b"x", content_type="image/jpeg"
    )
    store.delete(keys[0])
    result = run("storage", "check")
    assert result.returncode == 1
    assert (
        "object without row: 00000000-0000-0000-0000-000000000000/stray/original.jpg"
        in result.stdout
    )
    assert f"row without object: {keys[0]}" in result.stdout
    kept = run("storage", "check", "--remove-orphans")  # within the grace period: kept
    assert "kept (within grace period)" in kept.stdout and store.exists(
        "00000000-0000-0000-0000-000000000000/stray/original.jpg"
    )
    removed = run("storage", "check", "--remove-orphans", "--grace-hours", "0")
    assert "removed" in removed.stdout
    assert not store.exists("00000000-0000-0000-0000-000000000000/stray/original.jpg")


def test_quotes_expire_marks_quotes_past_their_date(db: Database) -> None:
    import uuid
    from datetime import timedelta

    from mi_portal.db import tenant_session
    from mi_portal.models import Quote
    from mi_portal.services import clock
    from tests.factories import two_clinics
    from tests.quote_helpers import catalog, sample_form, sent_quote, staff

    w = two_clinics()
    until = (clock.now().date() + timedelta(days=3)).isoformat()
    quote_id, _ = sent_quote(staff(w.a), w.a_submission, sample_form(catalog(w.a), until))
    assert run("quotes", "expire").stdout.strip() == "expired=0"
    with tenant_session(w.a) as session:
        quote = session.get(Quote, (w.a, uuid.UUID(quote_id)))
        assert quote is not None
        quote.valid_until = clock.now() - timedelta(minutes=1)
        session.add(quote)
        session.commit()
    assert run("quotes", "expire").stdout.strip() == "expired=1"
    with tenant_session(w.a) as session:
        quote = session.get(Quote, (w.a, uuid.UUID(quote_id)))
        assert quote is not None and quote.status == "expired"


def test_tenant_export_writes_the_clinic_and_refuses_what_it_cannot(
    db: Database, tmp_path: Path
) -> None:
    import json

    from tests.factories import fill_tenant

    a = make_tenant("clinic-a")
    fill_tenant(a)
    fill_tenant(make_tenant("clinic-b"))
    out = tmp_path / "export"
    result = run("tenant", "export", "clinic-a", "--out", str(out))
    assert result.returncode == 1, result.stderr  # the factory's rendition has no object
    assert "exported clinic-a:" in result.stdout and "1 objects missing" in result.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["clinic"]["slug"] == "clinic-a" and manifest["tables"]["patient"] == 1

    again = run("tenant", "export", "clinic-a", "--out", str(out))
    assert again.returncode == 2 and "not an empty folder" in again.stdout
    unknown = run("tenant", "export", "no-such-clinic", "--out", str(tmp_path / "other"))
    assert unknown.returncode == 2 and "no clinic with slug 'no-such-clinic'" in unknown.stdout
    assert not (tmp_path / "other").exists()

    from sqlmodel import select

    from mi_portal.db import tenant_session
    from mi_portal.models import ImageRendition

    with tenant_session(a) as session:
        rendition = session.exec(select(ImageRendition)).one()
        get_store().put(rendition.storage_key, b"photo", content_type="image/jpeg")
    complete = run("tenant", "export", "clinic-a", "--out", str(tmp_path / "complete"))
    assert complete.returncode == 0, complete.stdout
    assert "1 objects (5 bytes)" in complete.stdout


def test_rights_expire_erases_requests_nobody_confirmed(db: Database) -> None:
    from datetime import timedelta

    from sqlmodel import col, select

    from mi_portal.db import platform_session
    from mi_portal.models import RightsRequest
    from mi_portal.services import rights_intake

    reference = rights_intake.submit(
        rights_intake.RequestForm(
            kind="deletion",
            requester_name="Ann Patient",
            requester_email="ann@example.org",
            jurisdiction="GB",
        ),
        authorisation=None,
        ip="203.0.113.5",
        user_agent=None,
    )
    assert run("rights", "expire").stdout.strip() == "expired=0"
    with platform_session() as session:
        request = session.exec(
            select(RightsRequest).where(col(RightsRequest.reference) == reference)
        ).one()
        request.received_at -= timedelta(days=31)
        session.add(request)
        session.commit()
    assert run("rights", "expire").stdout.strip() == "expired=1"
    with platform_session() as session:
        request = session.exec(
            select(RightsRequest).where(col(RightsRequest.reference) == reference)
        ).one()
        assert request.status == "expired" and request.requester_email == ""


def test_rights_locator_rebuild_writes_patients_from_before_the_locator(db: Database) -> None:
    from mi_portal.db import tenant_session
    from mi_portal.models import Patient, uuid7
    from mi_portal.services import rights_locator

    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    for tenant_id, email in ((a, "ann@example.org"), (b, "ann@example.org"), (b, "bo@example.org")):
        with tenant_session(tenant_id) as session:  # written as before the locator existed
            session.add(Patient(id=uuid7(), full_name="P", email=email, phone="+12025550143"))
            session.commit()
    assert rights_locator.clinics_holding("ann@example.org", None) == []

    result = run("rights", "locator-rebuild")

    assert result.returncode == 0, result.stdout
    assert result.stdout.strip().splitlines()[-1] == "clinics=2 digests=6"
    assert rights_locator.clinics_holding("ann@example.org", None) == sorted([a, b])
