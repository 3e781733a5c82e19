"""The retention sweep: plan what is due, then purge it one committed step at a time.

Each due case becomes a ``RetentionItem`` that moves planned → objects deleted → verified gone →
rows done → proved. Every step is committed before the next starts and is safe to repeat, so a
sweep killed at any moment and run again finishes the work: objects are purged from a list made
when the item was planned, rows are changed in one transaction with the item's step, and only
data that existed when the item was planned is touched. A clinic's sweep runs in that clinic's
tenant session (row-level security on PostgreSQL) and only ever lists its own objects.

The planner is the one source of "what is due": the settings page's preview, the case page's
dates and the sweep all call it.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from mi_portal.db import JobBusy, ScopedSession, exclusive_job, platform_session, tenant_session
from mi_portal.models import (
    DataCategory,
    ImageRendition,
    Message,
    MessageThread,
    OutboxMessage,
    OutboxStatus,
    RetentionAction,
    RetentionItem,
    RetentionItemState,
    RetentionRun,
    RetentionRunStatus,
    Submission,
    SubmissionImage,
    Tenant,
)
from mi_portal.services import audit, clock, retention_erase, rights_access
from mi_portal.services.actor import Actor, NotFound, system_actor
from mi_portal.services.legal_holds import held_case_ids
from mi_portal.services.permissions import Permission, check
from mi_portal.services.retention_rules import (
    CATEGORIES,
    Policies,
    activity_clock,
    due_categories,
    load_policies,
    still_cleared,
    validate,
)
from mi_portal.storage import BlobStore, StorageUnavailable, get_store

_log = logging.getLogger(__name__)
S = RetentionItemState
D = DataCategory
PAGE = 500  # cases read per planning page
BATCH = 200  # items carried through one step together
ALL_CATEGORIES = frozenset(c.category for c in CATEGORIES)
# The categories a patient's own record (and their consents) hold.
PATIENT_CATEGORIES = (D.IDENTITY, D.CONTACT, D.DEVICE_NETWORK)
UNFINISHED = (S.PLANNED, S.DELETING, S.OBJECTS_DELETED, S.VERIFIED, S.ROWS_DONE)


@dataclass
class PlannedCase:
    case_id: uuid.UUID
    patient_id: uuid.UUID
    categories: list[str]
    outcome: str  # keep, deidentify, delete
    patient_categories: list[str]
    photos: int = 0
    messages: int = 0


@dataclass
class PlanCounts:
    """What a run would do: the preview's figures."""

    cases: int = 0
    photos: int = 0
    messages: int = 0
    deleted: int = 0  # cases removed entirely
    deidentified: int = 0  # cases kept as de-identified records
    patients: int = 0  # patients made anonymous or removed
    held: int = 0
    by_category: dict[str, int] = field(default_factory=dict)

    def add(self, case: PlannedCase) -> None:
        self.cases += 1
        self.photos += case.photos
        self.messages += case.messages
        self.deleted += case.outcome == "delete"
        self.deidentified += case.outcome == "deidentify"
        self.patients += bool(case.patient_categories)
        for category in case.categories:
            self.by_category[category] = self.by_category.get(category, 0) + 1

    def summary(self) -> str:
        return f"{self.cases} cases, {self.photos} photos, {self.messages} messages" + (
            f"; {self.held} held" if self.held else ""
        )


def outcome_for(categories: set[str], policies: Policies) -> str:
    """A case's end once ``categories`` are all cleared: kept as is (some remain), deleted
    (every category's action is delete) or kept de-identified."""
    if not categories >= ALL_CATEGORIES:
        return "keep"
    if all(policies[c].action == RetentionAction.DELETE for c in ALL_CATEGORIES):
        return "delete"
    return "deidentify"


def _planned_page(
    session: ScopedSession,
    policies: Policies,
    now: datetime,
    after: uuid.UUID | None,
    busy: set[uuid.UUID],
    patients: Collection[uuid.UUID] | None = None,
) -> tuple[list[PlannedCase], int, uuid.UUID | None]:
    """One page of cases (by id): the due ones, how many due ones are held, the last id read.

    ``patients`` restricts the page to those patients' cases (a rights request's erasure).
    """
    query = select(
        Submission.id,
        Submission.patient_id,
        Submission.retention_cleared,
        Submission.retention_cleared_at,
    )
    if patients is not None:
        query = query.where(col(Submission.patient_id).in_(list(patients)))
    if after is not None:
        query = query.where(col(Submission.id) > after)
    page = list(session.exec(query.order_by(col(Submission.id)).limit(PAGE)))
    if not page:
        return [], 0, None
    clocks = activity_clock(session, [r[0] for r in page])
    rows = [
        (case_id, patient_id, still_cleared(cleared, cleared_at, clocks[case_id]))
        for case_id, patient_id, cleared, cleared_at in page
        if case_id in clocks
    ]
    due: dict[uuid.UUID, list[str]] = {}
    for case_id, _patient_id, cleared in rows:
        if case_id in busy or case_id not in clocks:
            continue
        categories = due_categories(clocks[case_id], policies, now, cleared or ())
        if categories:
            due[case_id] = categories
    held = held_case_ids(session, list(due), now) if due else set()
    patients = _patient_clearable(session, policies, now, {r[1] for r in rows if r[0] in due})
    planned: list[PlannedCase] = []
    for case_id, patient_id, cleared in rows:
        if case_id not in due or case_id in held:
            continue
        categories = due[case_id]
        after_clearing = set(cleared or ()) | set(categories)
        planned.append(
            PlannedCase(
                case_id,
                patient_id,
                categories,
                outcome_for(after_clearing, policies),
                [c for c in PATIENT_CATEGORIES if c in patients.get(patient_id, set())],
            )
        )
    _count_rows(session, planned)
    return planned, len(held), page[-1][0]


def _patient_clearable(
    session: ScopedSession, policies: Policies, now: datetime, patient_ids: set[uuid.UUID]
) -> dict[uuid.UUID, set[str]]:
    """For each patient, the categories of their own record due on *every* one of their cases
    (none of them held): a patient's name stays while any case of theirs still needs it."""
    if not patient_ids:
        return {}
    cases = list(
        session.exec(
            select(
                Submission.id,
                Submission.patient_id,
                Submission.retention_cleared,
                Submission.retention_cleared_at,
            ).where(col(Submission.patient_id).in_(list(patient_ids)))
        )
    )
    clocks = activity_clock(session, [c[0] for c in cases])
    held = held_case_ids(session, [c[0] for c in cases], now)
    clearable: dict[uuid.UUID, set[str]] = {p: set(PATIENT_CATEGORIES) for p in patient_ids}
    for case_id, patient_id, cleared, cleared_at in cases:
        if case_id in held or case_id not in clocks:
            clearable[patient_id] = set()
            continue
        ready = still_cleared(cleared, cleared_at, clocks[case_id]) | set(
            due_categories(clocks[case_id], policies, now)
        )
        clearable[patient_id] &= ready
    return clearable


def _count_rows(session: ScopedSession, planned: list[PlannedCase]) -> None:
    """Photos and messages each planned case would lose (for the preview and the proof)."""
    photo_cases = [p.case_id for p in planned if D.HEALTH_IMAGE in p.categories]
    message_cases = [p.case_id for p in planned if D.SPECIAL_CATEGORY in p.categories]
    by_case = {p.case_id: p for p in planned}
    if photo_cases:
        for case_id in session.exec(
            select(SubmissionImage.submission_id).where(
                col(SubmissionImage.submission_id).in_(photo_cases)
            )
        ):
            by_case[case_id].photos += 1
    if message_cases:
        for case_id in session.exec(
            select(MessageThread.submission_id)
            .join(
                Message,
                (Message.tenant_id == MessageThread.tenant_id)  # type: ignore[arg-type]
                & (Message.thread_id == MessageThread.id),
            )
            .where(col(MessageThread.submission_id).in_(message_cases))
        ):
            by_case[case_id].messages += 1


def iter_plan(
    session: ScopedSession,
    policies: Policies,
    now: datetime,
    busy: set[uuid.UUID] | None = None,
    patients: Collection[uuid.UUID] | None = None,
) -> Iterator[tuple[list[PlannedCase], int]]:
    """Every due case of the clinic in scope (or of ``patients`` only), a page at a time, with
    the held count per page."""
    after: uuid.UUID | None = None
    while True:
        planned, held, after = _planned_page(session, policies, now, after, busy or set(), patients)
        if after is None:
            return
        yield planned, held


def count_plan(
    session: ScopedSession,
    policies: Policies,
    now: datetime,
    patients: Collection[uuid.UUID] | None = None,
) -> PlanCounts:
    counts = PlanCounts()
    for planned, held in iter_plan(session, policies, now, patients=patients):
        counts.held += held
        for case in planned:
            counts.add(case)
    return counts


def preview(actor: Actor, changes: Mapping[str, tuple[object, object]]) -> PlanCounts:
    """What the next run would do with ``changes`` applied (nothing is saved)."""
    check(actor, Permission.RETENTION_VIEW)
    with tenant_session(actor.require_tenant()) as session:
        policies = validate(changes, load_policies(session))
        return count_plan(session, policies, clock.now())


# ---- the sweep ----------------------------------------------------------------------------


@dataclass
class SweepResult:
    planned: int = 0
    purged: int = 0
    deidentified: int = 0
    held: int = 0
    failed: int = 0
    run_id: uuid.UUID | None = None
    dry_run: bool = False

    def add(self, other: SweepResult) -> None:
        self.planned += other.planned
        self.purged += other.purged
        self.deidentified += other.deidentified
        self.held += other.held
        self.failed += other.failed

    def line(self) -> str:
        return (
            f"planned={self.planned} purged={self.purged} deidentified={self.deidentified} "
            f"held={self.held} failed={self.failed}"
        )


Progress = Callable[[int, int], None]  # (items done, items in this run)


def subject_hash(case_id: uuid.UUID) -> str:
    return hashlib.sha256(f"case:{case_id}".encode()).hexdigest()


def sweep(
    tenant_id: uuid.UUID,
    *,
    dry_run: bool = False,
    max_items: int | None = None,
    trigger: str = "cli",
    actor: Actor | None = None,
    store: BlobStore | None = None,
    progress: Progress | None = None,
    stop_after: str | None = None,
    policies: Policies | None = None,
    lock: bool = True,
    patients: Collection[uuid.UUID] | None = None,
) -> SweepResult:
    """Sweep one clinic: resume its unfinished items, plan what is due, carry it through.

    ``stop_after`` (tests only) stops the run after the named step has been committed for
    the first batch, the way a killed process would. ``policies`` replaces the clinic's own
    (off-boarding: everything due now, deleted). ``patients`` restricts the run to those
    patients' cases (a rights request's erasure): only their cases are planned, only their
    unfinished items are carried, and the clinic-wide pruning of old deliveries is left out.
    """
    store = store or get_store()
    now = clock.now()
    result = SweepResult(dry_run=dry_run)
    # The clinic's own settings are read again at every step: a change saved while the run
    # goes is seen by the checks before anything more is deleted.
    own = policies is None
    with tenant_session(tenant_id) as session:
        if session.get(Tenant, tenant_id) is None:
            raise NotFound("clinic")
        policies = policies or load_policies(session)
        if dry_run:
            counts = count_plan(session, policies, now, patients)
            result.planned, result.held = counts.cases, counts.held
            result.purged = counts.deleted
            result.deidentified = counts.deidentified
            return result
    run = functools.partial(
        _locked_sweep, tenant_id, policies, now, result, max_items, trigger, actor, store,
        progress, stop_after, own, None if patients is None else frozenset(patients),
    )  # fmt: skip
    if not lock:  # the caller holds the clinic's lock (the tenant purge)
        return run()
    with sweep_lock(tenant_id):
        return run()


def _locked_sweep(
    tenant_id: uuid.UUID,
    policies: Policies,
    now: datetime,
    result: SweepResult,
    max_items: int | None,
    trigger: str,
    actor: Actor | None,
    store: BlobStore,
    progress: Progress | None,
    stop_after: str | None,
    own: bool,
    patients: frozenset[uuid.UUID] | None = None,
) -> SweepResult:
    with tenant_session(tenant_id) as session:
        # Holding the clinic's lock, any run still marked running died with its process.
        session.execute(
            sa.update(RetentionRun)
            .where(col(RetentionRun.status) == RetentionRunStatus.RUNNING.value)
            .values(status=RetentionRunStatus.INTERRUPTED.value)
        )
        run = RetentionRun(trigger=trigger, started_by_id=actor.user_id if actor else None)
        session.add(run)
        session.commit()
        run_id = run.id
    result.run_id = run_id
    _plan_items(tenant_id, run_id, policies, now, max_items, store, result, patients)
    with tenant_session(tenant_id) as session:
        unfinished = select(RetentionItem.id).where(
            col(RetentionItem.state).in_([s.value for s in UNFINISHED])
        )
        if patients is not None:
            # Another run's unfinished items are left to it: carried under these policies,
            # another patient's case could end differently than its clinic's settings say.
            unfinished = unfinished.where(
                col(RetentionItem.submission_id).in_(
                    select(Submission.id).where(col(Submission.patient_id).in_(list(patients)))
                )
            )
        pending = list(session.exec(unfinished.order_by(col(RetentionItem.id))))
    if max_items is not None:
        pending = pending[:max_items]
    total, done = len(pending), 0
    for start in range(0, total, BATCH):
        ids = pending[start : start + BATCH]
        _carry(tenant_id, run_id, ids, policies, store, result, stop_after, own)
        done += len(ids)
        if progress:
            progress(done, total)
    # Clinic-wide chores: not part of a run limited to some patients.
    pruned = packages = 0
    if patients is None:
        pruned = _prune_unlinked_outbox(tenant_id, policies, now)
        packages = rights_access.purge_stale_packages(tenant_id, store, now)
    _finish_run(tenant_id, run_id, result, actor, trigger, pruned, packages)
    return result


def _prune_unlinked_outbox(tenant_id: uuid.UUID, policies: Policies, now: datetime) -> int:
    """Deliveries tied to no message of a case (automatic replies such as a STOP's
    acknowledgement, staff notices) hold an address and a text: once finished, they go when
    the clinic's contact period has passed since they were queued."""
    cutoff = now - policies[D.CONTACT].period
    finished = [OutboxStatus.SENT.value, OutboxStatus.DELIVERED.value, OutboxStatus.FAILED.value]
    with tenant_session(tenant_id) as session:
        deleted = session.execute(
            sa.delete(OutboxMessage).where(
                col(OutboxMessage.message_id).is_(None),
                col(OutboxMessage.status).in_(finished),
                col(OutboxMessage.created_at) <= cutoff,
            )
        ).rowcount  # type: ignore[attr-defined]
        session.commit()
    return int(deleted or 0)


class SweepBusy(RuntimeError):
    """Another sweep of the same clinic is running (cron, the in-process worker, a purge)."""


@contextmanager
def sweep_lock(tenant_id: uuid.UUID) -> Iterator[None]:
    """One sweep of a clinic at a time, across processes; ``SweepBusy`` when one is running."""
    try:
        with exclusive_job(f"retention:{tenant_id}"):
            yield
    except JobBusy:
        raise SweepBusy("another sweep of this clinic is running") from None


def _plan_items(
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    policies: Policies,
    now: datetime,
    max_items: int | None,
    store: BlobStore,
    result: SweepResult,
    patients: Collection[uuid.UUID] | None = None,
) -> None:
    """Write an item per due case (cases with an unfinished item are left to it)."""
    with tenant_session(tenant_id) as session:
        busy = set(
            session.exec(
                select(RetentionItem.submission_id).where(
                    col(RetentionItem.state).in_([s.value for s in UNFINISHED])
                )
            )
        )
        room = None if max_items is None else max(0, max_items - len(busy))
        for planned, held in iter_plan(session, policies, now, busy, patients):
            result.held += held
            if room is not None:
                planned = planned[:room]
                room -= len(planned)
            if planned:
                rows = retention_erase.case_rows(session, [p.case_id for p in planned])
                keys = retention_erase.object_keys(session, [rows[p.case_id] for p in planned])
                for n, case in enumerate(planned):
                    # Every item that removes a row holding an object lists the objects: photos,
                    # attachments of messages going with the health details, a deleted case.
                    removes_objects = (
                        D.HEALTH_IMAGE in case.categories
                        or D.SPECIAL_CATEGORY in case.categories
                        or case.outcome == "delete"
                    )
                    session.add(
                        RetentionItem(
                            run_id=run_id,
                            submission_id=case.case_id,
                            subject_sha256=subject_hash(case.case_id),
                            categories=case.categories,
                            outcome=case.outcome,
                            patient_categories=case.patient_categories,
                            object_keys=keys[n] if removes_objects else [],
                            counts={"photos": case.photos, "messages": case.messages},
                            planned_at=now,
                            updated_at=now,
                        )
                    )
                result.planned += len(planned)
                session.commit()
            if room == 0:
                break


def _items(session: ScopedSession, ids: list[uuid.UUID]) -> list[RetentionItem]:
    return list(
        session.exec(
            select(RetentionItem)
            .where(col(RetentionItem.id).in_(ids))
            .order_by(col(RetentionItem.id))
        )
    )


def _carry(
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    ids: list[uuid.UUID],
    policies: Policies,
    store: BlobStore,
    result: SweepResult,
    stop_after: str | None,
    own: bool = False,
) -> None:
    """Carry one batch of items through every step it has left."""
    for step in (_delete_objects, _verify_objects, _change_rows, _record_proof):
        with tenant_session(tenant_id) as session:
            if own:
                policies = load_policies(session)
            step(session, _items(session, ids), policies, store, result, run_id)
            session.commit()
        if stop_after == step.__name__:
            raise SweepInterrupted(step.__name__)


class SweepInterrupted(RuntimeError):
    """Raised by a test-only stop between two steps."""


def _mark(item: RetentionItem, state: S, error: str = "") -> None:
    item.state = state.value
    item.updated_at = clock.now()
    if error:
        item.last_error = error[:1000]


def _delete_objects(
    session: ScopedSession,
    items: list[RetentionItem],
    policies: Policies,
    store: BlobStore,
    result: SweepResult,
    run_id: uuid.UUID,
) -> None:
    """Check each planned item once more, commit that it is going ahead, then purge."""
    planned = [i for i in items if i.state == S.PLANNED]
    if planned:
        ids = [i.id for i in items]
        _gate(session, planned, policies, result)
        session.commit()  # DELETING is on record before the first object goes
        items = _items(session, ids)  # reloaded in one query, not one by one
    for item in items:
        if item.state != S.DELETING:
            continue
        try:
            for key in item.object_keys:
                store.purge(key)
        except (StorageUnavailable, OSError) as exc:
            # Stays DELETING: the next run purges again (purging a gone key is harmless).
            item.last_error = f"object store: {type(exc).__name__}"
            result.failed += 1
            session.add(item)
            continue
        _mark(item, S.OBJECTS_DELETED)
        session.add(item)


def _gate(
    session: ScopedSession, planned: list[RetentionItem], policies: Policies, result: SweepResult
) -> None:
    """A hold placed, activity, or a change of the clinic's settings since planning wins:
    such an item is dropped before anything of it is deleted."""
    now = clock.now()
    ids = [i.submission_id for i in planned]
    held = held_case_ids(session, ids, now)
    clocks = activity_clock(session, ids)
    cleared = {
        case_id: still_cleared(done, done_at, clocks[case_id])
        for case_id, done, done_at in session.exec(
            select(
                Submission.id, Submission.retention_cleared, Submission.retention_cleared_at
            ).where(col(Submission.id).in_(ids))
        )
        if case_id in clocks
    }
    for item in planned:
        item.attempts += 1
        moved = clocks.get(item.submission_id)
        if item.submission_id in held:
            _mark(item, S.FAILED, "held since it was planned")
            result.held += 1
        elif moved is None or moved > item.planned_at:
            _mark(item, S.FAILED, "the case changed or went since it was planned")
            result.failed += 1
        elif not set(item.categories) <= set(
            due_categories(moved, policies, now, cleared.get(item.submission_id) or ())
        ):
            _mark(item, S.FAILED, "the clinic's retention settings changed since it was planned")
            result.failed += 1
        else:
            done = set(cleared.get(item.submission_id) or ()) | set(item.categories)
            item.outcome = outcome_for(done, policies)
            _mark(item, S.DELETING)
        session.add(item)


def _verify_objects(
    session: ScopedSession,
    items: list[RetentionItem],
    policies: Policies,
    store: BlobStore,
    result: SweepResult,
    run_id: uuid.UUID,
) -> None:
    deleted = [i for i in items if i.state == S.OBJECTS_DELETED]
    extras = _unplanned_keys(session, deleted)
    for item in deleted:
        try:
            # A copy of a planned photo made since planning (a blurred rendition is made the
            # first time an old photo is shown) goes with it.
            for key in extras.get(item.id, []):
                store.purge(key)
            if extras.get(item.id):
                item.object_keys = [*item.object_keys, *extras[item.id]]
            left = [key for key in item.object_keys if not store.gone(key)]
        except (StorageUnavailable, OSError) as exc:
            left = [f"unverifiable: {type(exc).__name__}"]
        if left:
            # Back to deleting: the next run purges and verifies again.
            _mark(item, S.DELETING, f"{len(left)} objects still present")
            result.failed += 1
        else:
            _mark(item, S.VERIFIED)
        session.add(item)


def _unplanned_keys(
    session: ScopedSession, items: list[RetentionItem]
) -> dict[uuid.UUID, list[str]]:
    """For each item, the stored copies of its planned photos that its plan does not list."""
    with_keys = {item.submission_id: item for item in items if item.object_keys}
    if not with_keys:
        return {}
    by_image: dict[uuid.UUID, list[str]] = {}
    case_of: dict[uuid.UUID, uuid.UUID] = {}
    for image_id, case_id, key in session.exec(
        select(ImageRendition.image_id, SubmissionImage.submission_id, ImageRendition.storage_key)
        .join(
            SubmissionImage,
            sa.and_(
                col(SubmissionImage.tenant_id) == col(ImageRendition.tenant_id),
                col(SubmissionImage.id) == col(ImageRendition.image_id),
            ),
        )
        .where(col(SubmissionImage.submission_id).in_(list(with_keys)))
    ):
        by_image.setdefault(image_id, []).append(key)
        case_of[image_id] = case_id
    extras: dict[uuid.UUID, list[str]] = {}
    planned = {case_id: set(item.object_keys) for case_id, item in with_keys.items()}
    for image_id, keys in by_image.items():
        case_id = case_of[image_id]
        mine = planned[case_id]
        if any(key in mine for key in keys):
            missing = [key for key in keys if key not in mine]
            if missing:
                extras.setdefault(with_keys[case_id].id, []).extend(missing)
    return extras


def _change_rows(
    session: ScopedSession,
    items: list[RetentionItem],
    policies: Policies,
    store: BlobStore,
    result: SweepResult,
    run_id: uuid.UUID,
) -> None:
    """Rows of every verified item, in one transaction with the items' new step.

    Items that clear the same categories to the same end are changed together, one statement
    per table for the whole group (a batch of a bulk sweep is usually one group).
    """
    ready = [i for i in items if i.state == S.VERIFIED]
    # A copy of a planned photo made after its objects were verified: back to deleting, so the
    # next run purges it too before any row goes (rows never point at a missing object).
    late = _unplanned_keys(session, ready)
    for item in ready:
        if late.get(item.id):
            item.object_keys = [*item.object_keys, *late[item.id]]
            _mark(item, S.DELETING, "a copy of a photo was made since planning")
            session.add(item)
    ready = [i for i in ready if not late.get(i.id)]
    if not ready:
        return
    now = clock.now()
    actions = {c: p.action for c, p in policies.items()}
    # The cases are locked while they change (a quote, a message or a note waits for this).
    locked = {
        case.id: case
        for case in session.exec(
            select(Submission)
            .where(col(Submission.id).in_([i.submission_id for i in ready]))
            .with_for_update()
        )
    }
    rows = retention_erase.case_rows(session, list(locked))
    clocks = activity_clock(session, list(locked))
    # A hold placed since planning (say between a killed run and the next) wins like activity.
    held = held_case_ids(session, list(locked), now)
    groups: dict[tuple[tuple[str, ...], str, bool], list[RetentionItem]] = {}
    for item in ready:
        case = locked.get(item.submission_id)
        changed = (
            case is None
            or item.submission_id in held
            or clocks.get(item.submission_id, item.planned_at) > item.planned_at
        )
        categories = item.categories
        if changed:
            # Only what the deleted objects force: rows that would point at nothing.
            photos = D.HEALTH_IMAGE in item.categories or bool(item.object_keys)
            categories = [D.HEALTH_IMAGE] if photos else []
        groups.setdefault((tuple(categories), item.outcome, changed), []).append(item)
    for (categories, outcome, changed), group in groups.items():
        _change_group(
            session, group, list(categories), outcome, changed, locked, rows, clocks, actions, now
        )
    for item in ready:
        changed = item.state == S.FAILED
        if item.submission_id in held:
            _mark(item, S.FAILED, "held since it was planned; photos only")
            result.held += 1
        elif changed:
            _mark(item, S.FAILED, "the case changed since it was planned; photos only")
            result.failed += 1
        else:
            _mark(item, S.ROWS_DONE)
        session.add(item)


def _change_group(
    session: ScopedSession,
    group: list[RetentionItem],
    categories: list[str],
    outcome: str,
    changed: bool,
    locked: dict[uuid.UUID, Submission],
    rows: dict[uuid.UUID, retention_erase.CaseRows],
    clocks: dict[uuid.UUID, datetime],
    actions: dict[str, str],
    now: datetime,
) -> None:
    present = [i for i in group if i.submission_id in locked]
    case_ids = [i.submission_id for i in present]
    merged = retention_erase.CaseRows.merge(
        rows.get(c, retention_erase.CaseRows()) for c in case_ids
    )
    if case_ids:
        for item in present:
            case = locked[item.submission_id]
            # The clock counts notes and messages this may delete: keep the moment they gave,
            # or the case's remaining data would look older than it is.
            last = clocks.get(item.submission_id)
            if last is not None and last > case.last_activity_at:
                case.last_activity_at = last
            before = still_cleared(
                case.retention_cleared, case.retention_cleared_at, last or item.planned_at
            )
            case.retention_cleared = sorted(before | set(categories))
            # Cleared up to the activity the item was planned on; anything later voids it.
            case.retention_cleared_at = item.planned_at
            session.add(case)
        keys = [key for item in present for key in item.object_keys]
        cleared = retention_erase.clear_categories(
            session, merged, categories, actions, case_ids=case_ids, planned_keys=keys
        )
        for item in present:
            one = rows.get(item.submission_id, retention_erase.CaseRows())
            item.counts = {**item.counts, "photos": len(one.images) if cleared.photos else 0,
                           "messages": len(one.messages) if cleared.messages else 0,
                           "notes": len(one.notes) if cleared.notes else 0,
                           "quotes": len(one.quotes) if cleared.quotes else 0}  # fmt: skip
    targets = merged.all_ids() + [str(i.submission_id) for i in group]
    if changed:
        for item in group:
            item.state = S.FAILED.value  # marked with its reason by the caller
        return
    session.flush()
    if outcome in ("delete", "deidentify"):
        retention_erase.finish_cases(session, case_ids, outcome, now)
    session.flush()
    # A patient's own record: only if none of their cases is held or active since planning.
    by_patient: dict[tuple[str, ...], list[uuid.UUID]] = {}
    unchanged = _patients_unchanged(session, present, locked, now)
    for item in present:
        patient_id = locked[item.submission_id].patient_id
        patient_categories = item.patient_categories if patient_id in unchanged else []
        if outcome == "delete" or patient_categories:
            by_patient.setdefault(tuple(patient_categories), []).append(patient_id)
    patient_targets: list[str] = []
    for patient_categories, patient_ids in by_patient.items():
        removed = retention_erase.clear_patients(session, patient_ids, patient_categories, now)
        anonymous = {D.IDENTITY, D.CONTACT} <= set(patient_categories)
        patient_targets += [str(p) for p in patient_ids if p in removed or anonymous]
    if categories:
        _erase_audit(session, targets + patient_targets, patients_only=outcome == "keep")


def _patients_unchanged(
    session: ScopedSession,
    items: list[RetentionItem],
    locked: dict[uuid.UUID, Submission],
    now: datetime,
) -> set[uuid.UUID]:
    """The items' patients none of whose cases is held or has had activity since the item was
    planned, so their own record is still due on every one of their cases (as planned)."""
    planned_at: dict[uuid.UUID, datetime] = {}
    for item in items:
        patient_id = locked[item.submission_id].patient_id
        if item.patient_categories:
            planned_at[patient_id] = min(
                item.planned_at, planned_at.get(patient_id, item.planned_at)
            )
    if not planned_at:
        return set()
    cases = list(
        session.exec(
            select(Submission.id, Submission.patient_id).where(
                col(Submission.patient_id).in_(list(planned_at))
            )
        )
    )
    ids = [c[0] for c in cases]
    held = held_case_ids(session, ids, now)
    clocks = activity_clock(session, ids)
    ok = set(planned_at)
    for case_id, patient_id in cases:
        if case_id in held or clocks.get(case_id, now) > planned_at[patient_id]:
            ok.discard(patient_id)
    return ok


def _erase_audit(session: ScopedSession, targets: list[str], *, patients_only: bool) -> None:
    """Personal details of the audit events about these rows (the chain still verifies)."""
    audit.erase_personal(session, targets, keep_staff_network=True, patients_only=patients_only)


def _record_proof(
    session: ScopedSession,
    items: list[RetentionItem],
    policies: Policies,
    store: BlobStore,
    result: SweepResult,
    run_id: uuid.UUID,
) -> None:
    done = [i for i in items if i.state == S.ROWS_DONE]
    if not done:
        return
    run = session.get(RetentionRun, (session.tenant_id, run_id))
    if run is None:
        return
    proof = dict(run.proof or {})
    per_category = dict(proof.get("categories", {}))
    now = clock.now()
    for item in done:
        # The item itself is the proof's entry (hash, categories, counts, times): it now names
        # the run that finished it, and the run keeps only the totals per category.
        item.run_id = run_id
        for category in item.categories:
            per_category[category] = per_category.get(category, 0) + 1
        item.proved_at = now
        _mark(item, S.PROVED)
        session.add(item)
        if item.outcome == "deidentify":
            result.deidentified += 1
        else:
            result.purged += 1
    run.proof = {**proof, "categories": per_category}
    session.add(run)


def _finish_run(
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    result: SweepResult,
    actor: Actor | None,
    trigger: str,
    pruned: int = 0,
    packages: int = 0,
) -> None:
    with tenant_session(tenant_id) as session:
        run = session.get(RetentionRun, (tenant_id, run_id))
        if run is None:
            return
        if pruned:
            run.proof = {**(run.proof or {}), "unlinked_deliveries": pruned}
        if packages:
            run.proof = {**(run.proof or {}), "access_packages": packages}
        run.finished_at = clock.now()
        run.status = RetentionRunStatus.FINISHED.value
        run.planned, run.purged = result.planned, result.purged
        run.deidentified, run.held, run.failed = result.deidentified, result.held, result.failed
        session.add(run)
        session.commit()
    audit.record(
        actor or system_actor(tenant_id),
        "retention.sweep",
        tenant_id=tenant_id,
        target_type="retention_run",
        target_id=run_id,
        details={"trigger": trigger, "summary": result.line()},
    )


def clinics() -> list[tuple[str, uuid.UUID]]:
    """(slug, id) of every clinic, in slug order."""
    with platform_session() as session:
        rows = list(session.exec(select(Tenant).order_by(col(Tenant.slug))))
    # An off-boarded clinic holds nothing any more: no runs are written into it.
    gone = ("offboarded_at", "offboarding_started_at")
    return [(t.slug, t.id) for t in rows if not any((t.settings or {}).get(k) for k in gone)]


DAILY = timedelta(days=1)


def sweep_daily() -> int:
    """Sweep each clinic whose last run started a day or more ago (the in-process worker calls
    this every hour; in production a cron job runs ``mi-portal retention sweep`` instead)."""
    swept = 0
    now = clock.now()
    for _slug, tenant_id in clinics():
        with tenant_session(tenant_id) as session:
            last = session.exec(select(sa.func.max(RetentionRun.started_at))).one()
        if last is not None and now - last < DAILY:
            continue
        try:
            sweep(tenant_id, trigger="worker")
            swept += 1
        except SweepBusy:
            continue  # a cron run or a purge has it
        except Exception as exc:  # one clinic's failure must not stop the others' retention
            _log.warning("retention sweep failed for one clinic: %s", type(exc).__name__)
    return swept


def runs(actor: Actor, limit: int = 20) -> list[RetentionRun]:
    check(actor, Permission.RETENTION_VIEW)
    with tenant_session(actor.require_tenant()) as session:
        return list(
            session.exec(
                select(RetentionRun).order_by(col(RetentionRun.started_at).desc()).limit(limit)
            )
        )


def proof_document(actor: Actor, run_id: object) -> dict[str, Any]:
    """A run's deletion record, as the clinic owner downloads it (no case ids, only hashes)."""
    check(actor, Permission.RETENTION_VIEW)
    from mi_portal.services.actor import parse_id

    rid = parse_id(run_id, "retention run")
    with tenant_session(actor.require_tenant()) as session:
        run = session.get(RetentionRun, (actor.require_tenant(), rid))
        tenant = session.get(Tenant, actor.require_tenant())
        if run is None or tenant is None:
            raise NotFound("retention run")
        audit.record(actor, "retention.proof_download", target_type="retention_run", target_id=rid)
        return {
            "clinic": tenant.slug,
            "run": str(run.id),
            "trigger": run.trigger,
            "started_at": run.started_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "summary": {
                "planned": run.planned,
                "purged": run.purged,
                "deidentified": run.deidentified,
                "held": run.held,
                "failed": run.failed,
            },
            "categories": (run.proof or {}).get("categories", {}),
            "items": [
                {
                    "subject_sha256": item.subject_sha256,
                    "categories": item.categories,
                    "outcome": item.outcome,
                    "objects": len(item.object_keys),
                    "counts": item.counts,
                    "planned_at": item.planned_at.isoformat(),
                    "done_at": item.proved_at.isoformat() if item.proved_at else None,
                }
                for item in session.exec(
                    select(RetentionItem)
                    .where(
                        RetentionItem.run_id == rid,
                        RetentionItem.state == S.PROVED.value,
                    )
                    .order_by(col(RetentionItem.proved_at), col(RetentionItem.id))
                )
            ],
            "hash": "sha256 of 'case:<case id>' for each item",
        }


__all__ = [
    "PlanCounts",
    "PlannedCase",
    "SweepInterrupted",
    "SweepResult",
    "count_plan",
    "preview",
    "proof_document",
    "runs",
    "sweep",
    "sweep_daily",
]
