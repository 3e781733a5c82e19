"""``mi-portal``: database, demo data and operator commands."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

console = Console()


def _db(args: argparse.Namespace) -> int:
    from mi_portal import migrations

    if args.db_command == "upgrade":
        migrations.upgrade(args.revision)
        console.print(f"database at revision {args.revision}")
    elif args.db_command == "downgrade":
        migrations.downgrade(args.revision)
        console.print(f"database downgraded to {args.revision}")
    return 0


def _seed(args: argparse.Namespace) -> int:
    from mi_portal.jobs.seed import DEMO_PASSWORD, demo_totp_secret, demo_users, seed

    created = seed(cases_per_clinic=args.cases_per_clinic)
    if created:
        for slug, count in created.items():
            console.print(f"seeded {count} cases for [bold]{slug}[/bold]")
    else:
        console.print("demo data already present; nothing added")
    if not args.quiet:
        table = Table(
            title=f"Demo sign-ins — password for all: {DEMO_PASSWORD}", title_justify="left"
        )
        for column in ("email", "role", "clinics", "TOTP secret (add to an authenticator app)"):
            table.add_column(column, no_wrap=True)
        for user in demo_users():
            table.add_row(
                user.email,
                user.role.value,
                ", ".join(user.clinics) or "platform",
                demo_totp_secret(user.email),
            )
        Console(width=160).print(table)
    return 0


def _audit(args: argparse.Namespace) -> int:
    from mi_portal.services import audit

    try:
        chains = audit.chains(args.tenant)
    except LookupError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    broken = 0
    for chain in chains:
        problem = audit.verify_chain(chain)
        if problem is None:
            console.print(f"ok      {chain} ({audit.chain_length(chain)} entries)")
        else:
            broken += 1
            console.print(f"[red]BROKEN[/red]  {problem}")
    return 1 if broken else 0


def _clinic(args: argparse.Namespace) -> int:
    from sqlmodel import select

    from mi_portal.config import get_settings
    from mi_portal.db import platform_session
    from mi_portal.models import Tenant
    from mi_portal.services.actor import NotFound, system_actor
    from mi_portal.services.onboarding import provision_first_owner

    with platform_session() as session:
        tenant = session.exec(select(Tenant).where(Tenant.slug == args.slug)).first()
        tenant_id = tenant.id if tenant else None
    try:
        if tenant_id is None:
            raise NotFound("clinic")
        token = provision_first_owner(
            actor=system_actor(), tenant_id=tenant_id, email=args.email, full_name=args.name
        )
    except NotFound:
        console.print(f"[red]no active clinic with slug {args.slug!r}[/red]")
        return 2
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        return 1
    console.print(f"first owner of {args.slug} provisioned (recorded in both audit logs)")
    if token:
        origin = get_settings().frontend_origin.rstrip("/")
        # The one-time link is the new owner's credential: hand it over, do not log it.
        console.print(f"set-password link: {origin}/invite?token={token}")
    return 0


def _storage(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from mi_portal.services.storage_check import check

    report = check(remove_orphans=args.remove_orphans, grace=timedelta(hours=args.grace_hours))
    console.print(f"{report.objects} objects, {report.rows} rendition rows")
    for key in report.orphan_objects:
        state = (
            "removed"
            if key in report.removed
            else "kept (within grace period)"
            if args.remove_orphans
            else ""
        )
        console.print(f"object without row: {key} {state}".rstrip())
    for key in report.missing_objects:
        console.print(f"[red]row without object[/red]: {key}")
    if not report.orphan_objects and not report.missing_objects:
        console.print("storage and database agree")
    return 1 if report.missing_objects else 0


def _images(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mi_portal.services.images import ImageRejected, process_image

    out = Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    rejected = 0
    for name in args.files:
        path = Path(name)
        try:
            processed = process_image(path.read_bytes(), path.name)
        except ImageRejected as exc:
            rejected += 1
            console.print(f"[red]rejected[/red]  {name}: {exc.reason}")
            continue
        except OSError as exc:
            rejected += 1
            console.print(f"[red]rejected[/red]  {name}: cannot read the file ({exc.strerror})")
            continue
        sizes = ", ".join(f"{r.kind} {r.width}x{r.height}" for r in processed.renditions)
        console.print(
            f"[green]accepted[/green]  {name}: {processed.source_format}; {sizes}; sha256 {processed.original.sha256[:16]}…"
        )
        if out:
            stem = path.stem or "photo"
            for r in processed.renditions:
                (out / f"{stem}.{r.kind}.jpg").write_bytes(r.data)
    return 1 if rejected else 0


def _outbox(args: argparse.Namespace) -> int:
    import signal
    import threading

    from mi_portal.services import outbox

    if args.once:
        counts = outbox.deliver_once(
            batch=args.batch, worker_id=args.worker_id, lease_seconds=args.lease
        )
        console.print(str(counts))  # numbers only: never an address or a message
        return 0
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    console.print("delivering queued messages; Ctrl-C stops after the current message")
    outbox.run(
        batch=args.batch,
        lease_seconds=args.lease,
        worker_id=args.worker_id,
        idle_sleep=args.sleep,
        stop=stop,
        report=lambda counts: console.print(str(counts)),
    )
    return 0


def _quotes(args: argparse.Namespace) -> int:
    from mi_portal.services import quotes

    count = quotes.expire_sweep()
    console.print(f"expired={count}")
    return 0


def _rights(args: argparse.Namespace) -> int:
    from mi_portal.services import outbox, retention, rights_intake, rights_locator

    if args.rights_command == "locator-rebuild":
        clinics = retention.clinics()
        digests = sum(rights_locator.rebuild(tenant_id) for _slug, tenant_id in clinics)
        console.print(f"clinics={len(clinics)} digests={digests}")
        return 0
    count = rights_intake.expire_unverified()
    outbox.prune_platform()
    console.print(f"expired={count}")
    return 0


def _tenant_id(slug: str):  # type: ignore[no-untyped-def]
    from sqlmodel import select

    from mi_portal.db import platform_session
    from mi_portal.models import Tenant

    with platform_session() as session:
        return session.exec(select(Tenant.id).where(Tenant.slug == slug)).first()


def _retention(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from mi_portal.services import retention, retention_rules
    from mi_portal.services.actor import system_actor

    if args.retention_command == "set":
        tenant_id = _tenant_id(args.tenant)
        if tenant_id is None:
            console.print(f"[red]no clinic with slug {args.tenant!r}[/red]")
            return 2
        try:
            saved = retention_rules.apply_policies(
                system_actor(tenant_id), tenant_id, {args.category: (args.days, args.action)}
            )
        except retention_rules.RetentionProblem as exc:
            console.print(f"[red]{exc.message}[/red]")
            return 2
        policy = saved[args.category]
        console.print(
            f"{args.tenant}: {args.category} kept {policy.days} days, then {policy.action}"
        )
        return 0
    if args.max is not None and args.max < 1:
        console.print("[red]--max must be at least 1[/red]")
        return 2
    clinics = retention.clinics()
    if args.tenant:
        clinics = [(slug, tid) for slug, tid in clinics if slug == args.tenant]
        if not clinics:
            console.print(f"[red]no clinic with slug {args.tenant!r}[/red]")
            return 2
    total = retention.SweepResult(dry_run=args.dry_run)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    ) as bar:
        for slug, tenant_id in clinics:
            task = bar.add_task(slug, total=None)

            def report(done: int, of: int, task=task) -> None:  # type: ignore[no-untyped-def]
                bar.update(task, completed=done, total=of)

            try:
                result = retention.sweep(
                    tenant_id,
                    dry_run=args.dry_run,
                    max_items=args.max,
                    trigger="cli",
                    progress=report,
                )
            except retention.SweepBusy:
                console.print(f"{slug}: another sweep of this clinic is running; skipped")
                total.failed += 1
                continue
            except Exception as exc:  # one clinic's failure must not stop the others
                console.print(f"[red]{slug}: sweep failed ({type(exc).__name__})[/red]")
                total.failed += 1
                continue
            if not result.planned:
                bar.update(task, completed=1, total=1)  # nothing to do: show it done
            total.add(result)
    if not args.tenant and not args.dry_run:
        from mi_portal.services import session_hygiene

        # Platform-wide personal data with no clinic: finished staff sessions' network data.
        cleared = session_hygiene.clear_session_network()
        console.print(f"staff sessions whose network data was cleared: {cleared}")
    # Counts only: never a name, an address or a case.
    console.print(("dry run: " if args.dry_run else "") + total.line(), soft_wrap=True)
    return 1 if total.failed else 0


def _tenant_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mi_portal.services.actor import NotFound
    from mi_portal.services.tenant_export import ExportRefused, export_tenant

    try:
        summary = export_tenant(args.slug, Path(args.out))
    except NotFound:
        console.print(f"[red]no clinic with slug {args.slug!r}[/red]")
        return 2
    except ExportRefused as exc:
        console.print(f"[red]{exc}; give a new or empty folder[/red]")
        return 2
    for table, count in summary.tables.items():
        console.print(f"{count:>8}  {table}")
    console.print(
        f"exported {args.slug}: {summary.rows} rows in {len(summary.tables)} files, "
        f"{summary.objects} objects ({summary.object_bytes} bytes) to {summary.out_dir}"
    )
    if summary.missing_objects:
        # Keys name a clinic and a record, never a person: safe to show the operator.
        console.print(f"[red]{len(summary.missing_objects)} objects missing from the store[/red]")
        for key in summary.missing_objects[:20]:
            console.print(f"missing: {key}")
        return 1
    return 0


def _tenant_purge(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from mi_portal.services.actor import NotFound
    from mi_portal.services.tenant_purge import PurgeRefused, purge_tenant

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    ) as bar:
        task = bar.add_task(f"purging {args.slug}", total=None)
        try:
            summary = purge_tenant(
                args.slug,
                confirm=args.confirm,
                progress=lambda done, of: bar.update(task, completed=done, total=of),
            )
        except NotFound:
            console.print(f"[red]no clinic with slug {args.slug!r}[/red]")
            return 2
        except PurgeRefused as exc:
            console.print(f"[red]refused: {exc}[/red]")
            return 2
    rows = sum(summary.rows.values())
    console.print(
        f"{args.slug}: {summary.cases} cases purged, {rows} other rows deleted, "
        f"{summary.objects} stray objects removed; the clinic is closed (slug kept, never reused)"
    )
    if summary.sweep is not None:
        console.print(summary.sweep.line())
    return 0


_TENANT_COMMANDS = {"export": _tenant_export, "purge": _tenant_purge}


def _tenant(args: argparse.Namespace) -> int:
    return _TENANT_COMMANDS[args.tenant_command](args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mi-portal", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="schema migrations")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="apply revisions (and set up the app role)")
    up.add_argument("revision", nargs="?", default="head")
    down = db_sub.add_parser("downgrade", help="revert revisions")
    down.add_argument("revision", nargs="?", default="base")
    db.set_defaults(func=_db)

    sd = sub.add_parser("seed", help="create demo data when missing")
    sd.add_argument("--cases-per-clinic", type=int, default=110)
    sd.add_argument("--quiet", action="store_true", help="do not print the demo sign-ins")
    sd.set_defaults(func=_seed)

    au = sub.add_parser("audit", help="audit log tools")
    au_sub = au.add_subparsers(dest="audit_command", required=True)
    verify = au_sub.add_parser(
        "verify", help="check the hash chains; non-zero exit on a broken one"
    )
    verify.add_argument("--tenant", metavar="SLUG", help="only this clinic's chain")
    au.set_defaults(func=_audit)

    cl = sub.add_parser("clinic", help="platform-level clinic onboarding")
    cl_sub = cl.add_subparsers(dest="clinic_command", required=True)
    po = cl_sub.add_parser("provision-owner", help="give a clinic without an owner its first owner")
    po.add_argument("slug", metavar="SLUG")
    po.add_argument("--email", required=True)
    po.add_argument("--name", required=True, help="the owner's full name")
    cl.set_defaults(func=_clinic)

    st = sub.add_parser("storage", help="blob store tools")
    st_sub = st.add_subparsers(dest="storage_command", required=True)
    chk = st_sub.add_parser("check", help="objects without rows and rows without objects")
    chk.add_argument(
        "--remove-orphans", action="store_true", help="delete objects no row points at"
    )
    chk.add_argument("--grace-hours", type=float, default=24.0, help="never remove younger orphans")
    st.set_defaults(func=_storage)

    im = sub.add_parser("images", help="health-image pipeline tools")
    im_sub = im.add_subparsers(dest="images_command", required=True)
    ins = im_sub.add_parser("inspect", help="run the intake pipeline on files")
    ins.add_argument("files", nargs="+", metavar="FILE")
    ins.add_argument("--out", metavar="DIR", help="write the renditions here")
    im.set_defaults(func=_images)

    ob = sub.add_parser("outbox", help="deliver queued email and SMS")
    ob_sub = ob.add_subparsers(dest="outbox_command", required=True)
    dl = ob_sub.add_parser("deliver", help="send due messages (loops until stopped)")
    dl.add_argument("--once", action="store_true", help="one round over every clinic, then exit")
    dl.add_argument("--batch", type=int, default=100, help="rows claimed at a time per clinic")
    dl.add_argument(
        "--lease", type=float, default=120.0, help="seconds a claim holds (longer than one send)"
    )
    dl.add_argument("--sleep", type=float, default=2.0, help="seconds to wait when idle")
    dl.add_argument("--worker-id", help="name recorded on claimed rows (default host:pid)")
    ob.set_defaults(func=_outbox)

    qu = sub.add_parser("quotes", help="quote upkeep")
    qu_sub = qu.add_subparsers(dest="quotes_command", required=True)
    qu_sub.add_parser(
        "expire", help="mark sent quotes past their date expired (the outbox worker does too)"
    )
    qu.set_defaults(func=_quotes)

    ri = sub.add_parser("rights", help="privacy-rights request upkeep")
    ri_sub = ri.add_subparsers(dest="rights_command", required=True)
    ri_sub.add_parser(
        "expire",
        help="erase requests not confirmed within 30 days (the outbox worker does it daily)",
    )
    ri_sub.add_parser(
        "locator-rebuild",
        help="write every clinic's patient digests afresh (after upgrading to the locator, or "
        "after changing MI_SECRET_KEY)",
    )
    ri.set_defaults(func=_rights)

    rt = sub.add_parser("retention", help="retention periods and the purge")
    rt_sub = rt.add_subparsers(dest="retention_command", required=True)
    sw = rt_sub.add_parser(
        "sweep", help="purge or de-identify what is due (one clinic or all); crash-safe"
    )
    sw.add_argument("--tenant", metavar="SLUG", help="only this clinic")
    sw.add_argument("--dry-run", action="store_true", help="count what is due; change nothing")
    sw.add_argument("--max", type=int, metavar="N", help="at most N cases per clinic this run")
    rs = rt_sub.add_parser("set", help="set one category's period and action for a clinic")
    rs.add_argument("--tenant", metavar="SLUG", required=True)
    rs.add_argument("--category", required=True, choices=[c.value for c in _categories()])
    rs.add_argument("--days", type=int, required=True)
    rs.add_argument("--action", required=True, choices=["delete", "deidentify"])
    rt.set_defaults(func=_retention)

    te = sub.add_parser("tenant", help="clinic off-boarding")
    te_sub = te.add_subparsers(dest="tenant_command", required=True)
    ex = te_sub.add_parser(
        "export", help="write everything a clinic holds (JSON per table, stored objects)"
    )
    ex.add_argument("slug", metavar="SLUG")
    ex.add_argument("--out", metavar="DIR", required=True, help="a new or empty folder")
    pu = te_sub.add_parser(
        "purge",
        help="delete everything a clinic holds (through the retention purge), then close it",
    )
    pu.add_argument("slug", metavar="SLUG")
    pu.add_argument("--confirm", metavar="SLUG", required=True, help="the slug again, to confirm")
    te.set_defaults(func=_tenant)
    return parser


def _categories():  # type: ignore[no-untyped-def]
    from mi_portal.models import DataCategory

    return list(DataCategory)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
