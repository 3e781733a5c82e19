"""A rights request answered on S3 with a versioned bucket (moto's server, over HTTP): the
package carries the stored originals and lives under the clinic's prefix; the erasure leaves no
version of the requester's photos or of her package, and nothing of anyone else's changes."""

from __future__ import annotations

import hashlib

from mi_portal.services import audit, rights_access, storage_check
from mi_portal.services.rights_erase import erase
from mi_portal.storage.s3 import S3Store
from tests.conftest import Database
from tests.factories import make_tenant
from tests.rights_helpers import all_keys, case, forward, original_keys, owner, unzip
from tests.storage.test_s3_retention import _versions, versioned  # noqa: F401 - the fixture


def test_package_and_erasure_on_a_versioned_bucket(pg: Database, versioned: S3Store) -> None:  # noqa: F811
    store = versioned
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    robin = case("clinic-a", n_photos=2, store=store)
    sam = case("clinic-a", n_photos=1, store=store, email="sam@example.org")
    b_case = case("clinic-b", n_photos=1, store=store)
    sam_keys = all_keys(a, sam)
    before_b = _versions(store, f"{b}/")

    access = forward(a, "access")
    preview = rights_access.prepare_package(owner(a), access, store=store)
    assert preview.package_key.startswith(f"{a}/rights/")
    data = store.get(preview.package_key)
    assert hashlib.sha256(data).hexdigest() == preview.sha256
    files = unzip(data)
    photos = sorted(d for n, d in files.items() if n.startswith("photos/"))
    assert photos == sorted(store.get(k) for k in original_keys(a, robin))
    assert store.get(original_keys(a, sam)[0]) not in files.values()
    assert store.get(original_keys(b, b_case)[0]) not in files.values()
    token = rights_access.send_package(owner(a), access).rsplit("/", 1)[1]
    got = rights_access.redeem(token, ip=None, user_agent=None, store=store)
    assert got is not None and b"".join(got[1]) == data
    report = storage_check.check(store=store)
    assert report.orphan_objects == [] and report.missing_objects == []

    robin_keys = all_keys(a, robin)
    result = erase(owner(a), forward(a, "deletion"), store=store)
    assert result.packages == 1 and result.line.startswith("planned=1 purged=1")
    # No version and no delete marker left of her photos or of her package.
    left = _versions(store, f"{a}/")
    named = {v[0] for v in left["versions"]} | {m[0] for m in left["markers"]}
    assert named.isdisjoint(robin_keys) and preview.package_key not in named
    assert named == set(sam_keys)
    assert _versions(store, f"{b}/") == before_b
    report = storage_check.check(store=store)
    assert report.orphan_objects == [] and report.missing_objects == []
    assert audit.verify_chain(audit.chain_for(a)) is None
