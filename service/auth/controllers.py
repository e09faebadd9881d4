"""Sign-in (OAuth2 password flow)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.exceptions import NotAuthorizedException
from litestar.params import URLEncodedBody
from litestar.status_codes import HTTP_200_OK

from service.auth import queries
from service.auth.dependencies import AppSettings, unauthorized
from service.auth.schemas import LoginForm, Token
from service.errors import BODY_ERRORS, JSON_WRITES, RateLimitedError
from service.hashing import HashingBusyError
from service.security import issue_token, verify_password


class AuthController(Controller):
    """Tokens for the password flow."""

    path = "/auth"
    tags = ["auth"]

    @post(
        "/token",
        status_code=HTTP_200_OK,
        summary="Sign in",
        raises=[*JSON_WRITES, NotAuthorizedException, RateLimitedError],
        responses=BODY_ERRORS,
    )
    async def create_token(
        self, request: Request[Any, Any, Any], data: URLEncodedBody[LoginForm], settings: AppSettings
    ) -> Token:
        """Exchange an email (``username``) and password for a bearer token.

        401 if they do not match (the same answer, in the same time, whether or not the email exists); 429 with
        ``Retry-After`` after a few failures for the account from this address (``LOGIN_MAX_FAILURES``), many for
        the account from everywhere (``LOGIN_ACCOUNT_MAX_FAILURES``) or from this address over all accounts
        (``LOGIN_ADDRESS_MAX_FAILURES``); 503 with ``Retry-After`` when too many passwords are being checked.
        """
        email = data.username.lower()
        limits = queries.throttle_limits(email, request.client.host if request.client else None, settings)
        if (wait := await queries.seconds_blocked(limits)) or (wait := await queries.reserve_attempt(limits)):
            raise RateLimitedError(headers={"Retry-After": str(wait)})
        user = await queries.fetch_user_by_email(email)
        try:
            matches = await verify_password(user.password_hash if user else None, data.password)
        except HashingBusyError:
            await queries.give_back(limits)
            raise
        if not matches or user is None:
            await queries.delete_expired(limits)
            raise unauthorized("Incorrect email or password")
        await queries.signed_in(limits)
        token = issue_token(user.id, user.token_version, settings.jwt_secret, settings.jwt_ttl_seconds)
        return Token(access_token=token, expires_in=settings.jwt_ttl_seconds)
