"""/settings/retention: the clinic's retention periods and actions, their history, the sweeps.

The form holds what was typed; what is saved stays on the server (``_saved``). Every edit asks
the sweep's own planner what the next run would do with the unsaved changes (the preview);
saving needs a confirmation that repeats it. The page has no view state beyond its address.
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

import reflex as rx

from mi_portal.services import retention, retention_rules
from mi_portal.services.actor import NotFound, PermissionDenied
from mi_portal.services.permissions import Permission, has_permission, page_access
from mi_portal.services.retention_rules import ACTION_LABELS, BY_CATEGORY, CATEGORIES
from mi_portal.state.guard import current, guarded

_MAX_TYPED = 12  # a period is at most 5 digits; keep a little of a mistyped one to show it


def _rows(policies: retention_rules.Policies) -> list[dict[str, Any]]:
    return [
        {
            "category": info.category,
            "label": info.label,
            "holds": info.holds,
            "days": str(policies[info.category].days),
            "action": policies[info.category].action,
            "action_label": ACTION_LABELS.get(policies[info.category].action, ""),
            "actions": [{"value": a, "label": ACTION_LABELS[a]} for a in info.actions],
            "single": len(info.actions) == 1,
            "default": policies[info.category].is_default,
        }
        for info in CATEGORIES
    ]


def _run_view(run: Any) -> dict[str, str]:
    return {
        "id": str(run.id),
        "started": run.started_at.strftime("%Y-%m-%d %H:%M UTC"),
        "finished": run.finished_at.strftime("%Y-%m-%d %H:%M UTC") if run.finished_at else "—",
        "trigger": {
            "cli": "Command",
            "worker": "Daily run",
            "tenant-purge": "Clinic removal",
            "rights-request": "Erasure request",
        }.get(run.trigger, run.trigger),
        "counts": (
            f"{run.planned} planned · {run.purged} deleted · {run.deidentified} de-identified · "
            f"{run.held} held · {run.failed} failed"
        ),
    }


class RetentionState(rx.State):
    blocked: str = ""
    loading: bool = True
    can_manage: bool = False
    rows: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    preview: str = ""
    dirty: bool = False
    confirming: bool = False
    notice: str = ""
    error: str = ""
    history: list[dict[str, Any]] = []
    runs: list[dict[str, str]] = []
    # What is saved, by category: (days, action). Never sent to the browser.
    _saved: dict[str, tuple[int, str]] = {}

    @rx.var
    def lines(self) -> list[dict[str, Any]]:
        """The rows as shown: each with its own error ("" when it has none)."""
        return [{**r, "error": self.errors.get(r["category"], "")} for r in self.rows]

    async def _fetch(self) -> None:
        actor = current().actor
        policies = await asyncio.to_thread(retention_rules.get_policies, actor)
        self._saved = {c: (p.days, p.action) for c, p in policies.items()}
        self.rows = _rows(policies)
        self.errors, self.dirty, self.confirming = {}, False, False
        history = await asyncio.to_thread(retention_rules.policy_history, actor)
        self.history = [{"at": h.at, "who": h.who, "lines": h.lines} for h in history]
        self.runs = [_run_view(r) for r in await asyncio.to_thread(retention.runs, actor)]
        await self._preview()

    def _changes(self) -> dict[str, tuple[str, str]]:
        """The rows whose typed period or chosen action differ from what is saved."""
        changes = {}
        for row in self.rows:
            typed = (str(row["days"]).strip(), str(row["action"]))
            days, action = self._saved.get(row["category"], (0, ""))
            if typed != (str(days), action):
                changes[row["category"]] = typed
        return changes

    async def _preview(self) -> None:
        """Each changed row checked on its own, then the next run with all of them."""
        changes = self._changes()
        self.dirty = bool(changes)
        errors = {}
        for category, (days, _action) in changes.items():
            try:
                retention_rules.parse_days(category, days)
            except retention_rules.RetentionProblem as problem:
                errors[category] = problem.message
        if not errors:
            try:
                counts = await asyncio.to_thread(
                    functools.partial(retention.preview, current().actor, changes)
                )
                self.preview = "On the next run: " + counts.summary()
            except retention_rules.RetentionProblem as problem:
                errors[problem.field] = problem.message
        self.errors = errors
        if errors:
            self.preview = ""

    @rx.event
    @guarded(Permission.SELF, page=True)
    async def load(self):  # type: ignore[no-untyped-def]
        signed = current()
        self.notice, self.error, self.confirming = "", "", False
        blocked = page_access(
            signed.actor, Permission.RETENTION_VIEW, has_memberships=bool(signed.memberships)
        )
        if blocked:
            self.loading = False
            if blocked == "pick":
                return rx.redirect("/clinics/pick")
            self.blocked, self.rows, self.history, self.runs = blocked, [], [], []
            self._saved, self.preview = {}, ""
            return None
        self.blocked = ""
        self.can_manage = has_permission(signed.actor, Permission.RETENTION_MANAGE)
        await self._fetch()
        self.loading = False
        return None

    def _set(self, category: object, key: str, value: str) -> bool:
        if not isinstance(category, str) or category not in BY_CATEGORY:
            return False
        self.rows = [{**r, key: value} if r["category"] == category else r for r in self.rows]
        self.notice = ""
        return True

    @rx.event
    @guarded(Permission.RETENTION_MANAGE)
    async def set_days(self, category: str, value: str) -> None:
        if isinstance(value, (str, int)) and self._set(category, "days", str(value)[:_MAX_TYPED]):
            await self._preview()

    @rx.event
    @guarded(Permission.RETENTION_MANAGE)
    async def set_action(self, category: str, value: str) -> None:
        info = BY_CATEGORY.get(category) if isinstance(category, str) else None
        if info is not None and value in info.actions and self._set(category, "action", value):
            await self._preview()

    @rx.event
    @guarded(Permission.RETENTION_MANAGE)
    async def discard(self) -> None:
        self.notice = ""
        await self._fetch()

    @rx.event
    @guarded(Permission.RETENTION_MANAGE)
    async def ask_save(self) -> None:
        self.notice = ""
        await self._preview()
        if not self.errors:
            self.confirming = self.dirty
            if not self.dirty:
                self.notice = "Nothing has changed."

    @rx.event
    @guarded(Permission.RETENTION_MANAGE)
    async def cancel_save(self) -> None:
        self.confirming = False

    @rx.event
    @guarded(Permission.RETENTION_MANAGE)
    async def save(self) -> None:
        if not self.confirming:
            return  # saving follows the confirmation dialog, never a bare event
        self.confirming, self.notice = False, ""
        changes = self._changes()
        if not changes:
            return
        try:
            await asyncio.to_thread(
                functools.partial(retention_rules.save_policies, current().actor, changes)
            )
        except retention_rules.RetentionProblem as problem:
            self.errors = {problem.field: problem.message}
            return
        await self._fetch()
        self.notice = "Retention settings saved. The next run applies them."

    @rx.event
    @guarded(Permission.RETENTION_VIEW)
    async def download_proof(self, run_id: str):  # type: ignore[no-untyped-def]
        self.error = ""
        try:
            proof = await asyncio.to_thread(retention.proof_document, current().actor, run_id)
        except (NotFound, PermissionDenied):
            self.error = "That run was not found."
            return None
        stamp = str(proof["started_at"])[:10]
        return rx.download(
            data=json.dumps(proof, indent=2, sort_keys=True),
            filename=f"retention-proof-{stamp}-{str(proof['run'])[:8]}.json",
            mime_type="application/json",
        )
