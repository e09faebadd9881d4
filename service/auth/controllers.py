"""Sign-in (OAuth2 password flow)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.exceptions import NotAuthorizedException
from litestar.params import URLEncodedBody
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from service.auth import queries
from service.auth.dependencies import BEARER, AppSettings, CurrentUser, unauthorized
from service.auth.schemas import LoginForm, Token
from service.conditional import NO_VALIDATORS
from service.errors import BODY_ERRORS, DATABASE_ERRORS, JSON_WRITES, TOKEN_REQUIRED, RateLimitedError
from service.hashing import HashingBusyError
from service.metrics import SIGN_IN_REFUSALS
from service.security import issue_token, verify_password


class AuthController(Controller):
    """Tokens for the password flow."""

    path = "/auth"
    tags = ["auth"]
    opt = {NO_VALIDATORS: True}  # tokens are not representations: no ETag

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
            SIGN_IN_REFUSALS.labels("throttled").inc()
            raise RateLimitedError(headers={"Retry-After": str(wait)})
        user = await queries.fetch_user_by_email(email)
        try:
            matches = await verify_password(user.password_hash if user else None, data.password)
        except HashingBusyError:
            await queries.give_back(limits)
            SIGN_IN_REFUSALS.labels("hashing_busy").inc()
            raise
        if not matches or user is None:
            await queries.delete_expired(limits)
            SIGN_IN_REFUSALS.labels("wrong_credentials").inc()
            raise unauthorized("Incorrect email or password")
        await queries.signed_in(limits)
        token = issue_token(user.id, user.token_version, settings.jwt_secret, settings.jwt_ttl_seconds)
        return Token(access_token=token, expires_in=settings.jwt_ttl_seconds)

    @post(
        "/logout",
        status_code=HTTP_204_NO_CONTENT,
        summary="Sign out everywhere",
        security=BEARER,
        raises=[*TOKEN_REQUIRED],
        responses=DATABASE_ERRORS,
    )
    async def logout(self, current_user: CurrentUser) -> None:
        """Revoke every token of the caller's account: this one and those of every other session and device (a
        token is not tied to a session, so signing out is signing out everywhere). Signing in again gives a new
        token."""
        await queries.revoke_tokens(current_user.id)
