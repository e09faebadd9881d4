"""``python -m service``: serve the API (default) and the operator's commands."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import signal
import sys
from collections.abc import Sequence

from service.observability import configure_logging
from service.settings import Settings, SettingsError

logger = logging.getLogger("service.migrations")


class CommandError(Exception):
    """A failure the operator can act on: printed as one line, exit status 1."""


async def prepare_database(settings: Settings) -> str:
    """Reach the database (embedded if no DATABASE_URL), then migrate it or check it is at the code's version."""
    from service import db

    url = db.resolve_database_url(settings)
    try:
        await db.check_database(url, settings.pool.connect_timeout)
        if settings.migrate_on_start:
            applied = await db.upgrade(settings, url)
            if applied:
                logger.info("applied migrations", extra={"fields": {"migrations": list(applied)}})
            return url
        db.ensure_current(await db.migration_state(url), url)
    except (db.DatabaseUnreachableError, db.DatabaseAheadError, db.DatabaseBehindError) as exc:
        raise CommandError(str(exc)) from None
    return url


def serve(settings: Settings) -> None:
    """Check (and migrate) the database, then serve HTTP with uvicorn until SIGINT/SIGTERM."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from service.metrics import prepare_multiprocess_directory
    from service.serving import DrainingServer

    signal.signal(signal.SIGTERM, _stop)
    url = asyncio.run(prepare_database(settings))
    os.environ["DATABASE_URL"] = url  # workers use the database this process checked, never a second one
    config = uvicorn.Config(
        "service.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )
    prepare_multiprocess_directory(settings)  # before the workers start: they inherit it
    if config.workers > 1:  # uvicorn's supervisor; its worker processes stop without a drain phase
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    server = DrainingServer(config, settings.shutdown_drain_seconds)
    server.run()
    if not server.started:
        raise CommandError("the server did not start")


def _stop(signum: int, frame: object) -> None:
    """SIGTERM is a normal stop: uvicorn drains requests first, then re-raises the signal here; exit 0."""
    raise SystemExit(0)


def read_password(prompt: str) -> str:
    """From the terminal without echo, or the first line of stdin when it is not a terminal."""
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("Repeat the password: ") != first:
            raise CommandError("the passwords do not match")
        return first
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise CommandError("no password on stdin: pipe it in (one line), or run in a terminal to be asked for it")
    return password


async def create_admin(settings: Settings, email: str, name: str | None) -> str:
    """Promote the user with ``email`` to admin, or create an admin (password read from the terminal/stdin)."""
    from pydantic import ValidationError
    from tortoise.timezone import now
    from tortoise.transactions import in_transaction

    from service.db import database
    from service.models import Role, User
    from service.security import hash_password
    from service.users.schemas import UserCreate

    url = await prepare_database(settings)
    async with database(settings, url):
        existing = await User.get_or_none(email=email.strip().lower())
        if existing is not None:
            if existing.role == Role.ADMIN:
                return f"{existing.email} (id {existing.id}) is already an admin; nothing changed"
            await User.filter(id=existing.id).update(role=Role.ADMIN, updated_at=now())
            return f"promoted {existing.email} (id {existing.id}) to admin; the password was left unchanged"
        if not name:
            raise CommandError(f"no user has the email {email!r}; give --name to create one")
        try:
            data = UserCreate(name=name, email=email, password=read_password("Password for the new admin: "))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise CommandError(problems) from None
        password_hash = await hash_password(data.password)
        async with in_transaction("default"):
            user = await User.create(name=data.name, email=data.email, password_hash=password_hash, role=Role.ADMIN)
        return f"created admin {user.email} (id {user.id})"


def _program_name() -> str:
    """How the operator ran us: ``posts-api`` (the installed script) or ``python -m service``."""
    invoked = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "python -m service" if invoked in ("", "__main__.py", "-m", "-c") else invoked


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_program_name(),
        description="Posts API: users, profiles, posts and tags. Configured by environment variables "
        "(docs/configuration.md).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serving = commands.add_parser("serve", help="serve HTTP on HOST:PORT (the default command)")
    serving.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="server processes (overrides WORKERS; one per core the service may use)",
    )
    admin = commands.add_parser(
        "create-admin",
        help="make or promote an admin; the password is read from the terminal or stdin, never from arguments",
    )
    admin.add_argument("--email", required=True, help="the admin's email (an existing user is promoted)")
    admin.add_argument("--name", help="the display name, needed when the user does not exist yet")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    workers = getattr(args, "workers", None)
    if workers is not None and not 1 <= workers <= 64:
        parser.error("--workers must be between 1 and 64")
    try:
        settings = Settings.from_env()
        if workers is not None:
            settings = settings.model_copy(update={"workers": workers})
        configure_logging(settings)
        if args.command == "create-admin":
            print(asyncio.run(create_admin(settings, args.email, args.name)))
        else:
            serve(settings)
    except (SettingsError, CommandError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
