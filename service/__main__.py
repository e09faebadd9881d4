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
from dataclasses import dataclass, field
from typing import Any

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
    from uvicorn.supervisors import Multiprocess

    from service.metrics import prepare_multiprocess_directory
    from service.protocol import ServingConfig
    from service.serving import DrainingServer

    signal.signal(signal.SIGTERM, _stop)
    url = asyncio.run(prepare_database(settings))
    os.environ["DATABASE_URL"] = url  # workers use the database this process checked, never a second one
    config = ServingConfig(
        "service.app:create_app",
        head_max_bytes=settings.request_head_max_bytes,
        receive_timeout=settings.request_receive_timeout,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
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


def checked(what: str, rules: Any, value: str) -> str:
    """``value`` validated by ``rules`` (a string type of the sign-up schema); CommandError naming ``what`` if not."""
    from pydantic import TypeAdapter, ValidationError

    try:
        return str(TypeAdapter(rules).validate_python(value))
    except ValidationError as exc:
        problems = "; ".join(error["msg"] for error in exc.errors())
        raise CommandError(f"{what}: {problems}") from None


@dataclass(frozen=True, slots=True)
class AdminRequest:
    """What ``create-admin`` was given, checked by the sign-up rules before any database is started."""

    email: str
    name: str | None
    password: str = field(repr=False)
    reset_password: bool


def admin_request(email: str, name: str | None, reset_password: bool) -> AdminRequest:
    """Check the email and name, then read the password (terminal or stdin) and check it: no database needed."""
    from service.users.schemas import Email, Password, UserName

    email = checked("--email", Email, email)
    name = None if name is None else checked("--name", UserName, name)
    prompt = (
        f"New password for {email}: "
        if reset_password
        else f"Password for {email} (its current one if the account exists): "
    )
    password = checked("password", Password, read_password(prompt))
    return AdminRequest(email=email, name=name, password=password, reset_password=reset_password)


async def create_admin(settings: Settings, request: AdminRequest) -> str:
    """Create an admin, or make an existing account one if the operator holds its password (or resets it).

    An existing account is promoted only with its current password (verified against the stored hash) or with
    ``reset_password``, which sets the given password and revokes every token the account has: anyone may sign up
    an address first, and promoting it as it is would hand admin rights to whoever chose that password.
    """
    from litestar.exceptions import NotFoundException
    from tortoise.exceptions import IntegrityError
    from tortoise.timezone import now

    from service.db import database
    from service.models import Role, User
    from service.security import verify_password
    from service.users.queries import create_user, update_user
    from service.users.schemas import UserCreate

    url = await prepare_database(settings)
    async with database(settings, url):
        existing = await User.get_or_none(email=request.email)
        if existing is None:
            if request.name is None:
                raise CommandError(f"no user has the email {request.email!r}; give --name to create one")
            data = UserCreate(name=request.name, email=request.email, password=request.password)
            try:
                user_id = await create_user(data, Role.ADMIN)
            except IntegrityError:
                raise CommandError(f"an account with the email {request.email} was just created; run again") from None
            return f"created admin {request.email} (id {user_id})"
        who = f"{existing.email} (id {existing.id})"
        if request.reset_password:
            try:
                await update_user(existing.id, {"password": request.password, "role": Role.ADMIN})
            except NotFoundException:
                raise CommandError(f"{who} was deleted meanwhile; nothing changed") from None
            return f"{who} is an admin with the new password; every token it had is revoked"
        if not await verify_password(existing.password_hash, request.password):
            raise CommandError(
                f"{who} already exists and that is not its password, so it stays as it is: give the account's "
                "current password (piped or typed), or run again with --reset-password to set the password you "
                "give and revoke every token the account has"
            )
        if existing.role == Role.ADMIN:
            return f"{who} is already an admin; nothing changed"
        # Only while the password is still the one just verified.
        if not await User.filter(id=existing.id, password_hash=existing.password_hash).update(
            role=Role.ADMIN, updated_at=now()
        ):
            raise CommandError(f"{who} changed its password or was deleted meanwhile; nothing changed")
        return f"promoted {who} to admin; the password was left unchanged"


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
        description="Create an admin, or promote an existing account: that needs the account's current password, "
        "or --reset-password. The password is read from the terminal, or from the first line of stdin when piped.",
    )
    admin.add_argument("--email", required=True, help="the admin's email")
    admin.add_argument("--name", help="the display name, needed when the user does not exist yet")
    admin.add_argument(
        "--reset-password",
        action="store_true",
        help="for an existing account: set the password given instead of checking it, and revoke its tokens",
    )
    admin.add_argument("--verbose", action="store_true", help="log the database steps (JSON lines on stderr)")
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
        if args.command == "create-admin":
            if not args.verbose:  # one result line; the database steps only on request
                settings = settings.model_copy(update={"log_level": "WARNING"})
            configure_logging(settings)
            request = admin_request(args.email, args.name, args.reset_password)
            print(asyncio.run(create_admin(settings, request)))
        else:
            configure_logging(settings)
            serve(settings)
    except (SettingsError, CommandError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
