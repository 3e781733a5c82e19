"""``mi-portal``: database, demo data and operator commands."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

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
    from mi_portal.jobs.seed import DEMO_PASSWORD, demo_users, seed

    created = seed(cases_per_clinic=args.cases_per_clinic)
    if created:
        for slug, count in created.items():
            console.print(f"seeded {count} cases for [bold]{slug}[/bold]")
    else:
        console.print("demo data already present; nothing added")
    if not args.quiet:
        console.print(
            f"\n[bold]Demo sign-ins[/bold] (password for all: [cyan]{DEMO_PASSWORD}[/cyan])"
        )
        for user in demo_users():
            where = ", ".join(user.clinics) or "platform"
            console.print(f"  {user.email:42} {user.role.value:18} {where}")
    return 0


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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
