"""Sign-in (OAuth2 password flow) and the caller's own account."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions import NotAuthorizedException
from litestar.params import URLEncodedBody
from litestar.status_codes import HTTP_200_OK

from service.auth import queries
from service.auth.dependencies import BEARER, AppSettings, CurrentUser, unauthorized
from service.auth.schemas import LoginForm, Token
from service.errors import JSON_WRITES, READS, TOKEN_REQUIRED, RateLimitedError
from service.media import require_declared_media_type
from service.security import issue_token, verify_password
from service.users import schemas as user_schemas


class AuthController(Controller):
    """Tokens for the password flow."""

    path = "/auth"
    tags = ["auth"]

    @post(
        "/token",
        before_request=require_declared_media_type,
        status_code=HTTP_200_OK,
        summary="Sign in",
        raises=[*JSON_WRITES, NotAuthorizedException, RateLimitedError],
    )
    async def create_token(
        self, request: Request[Any, Any, Any], data: URLEncodedBody[LoginForm], settings: AppSettings
    ) -> Token:
        """Exchange an email (``username``) and password for a bearer token.

        401 if they do not match (the same answer, in the same time, whether or not the email exists); 429 with
        ``Retry-After`` after a few failures for the account (``LOGIN_MAX_FAILURES``), or many from the client
        address (``LOGIN_ADDRESS_MAX_FAILURES``).
        """
        email = data.username.lower()
        limits = queries.throttle_limits(email, request.client.host if request.client else None, settings)
        if wait := await queries.seconds_blocked(limits):
            raise RateLimitedError(headers={"Retry-After": str(wait)})
        user = await queries.fetch_user_by_email(email)
        if not await verify_password(user.password_hash if user else None, data.password) or user is None:
            await queries.record_failure(limits)
            raise unauthorized("Incorrect email or password")
        await queries.forget_failures(email)
        token = issue_token(user.id, user.token_version, settings.jwt_secret, settings.jwt_ttl_seconds)
        return Token(access_token=token, expires_in=settings.jwt_ttl_seconds)


class MeController(Controller):
    """The caller's own account."""

    path = "/users/me"
    tags = ["users"]
    security = BEARER

    @get("/", summary="The caller", raises=[*READS, *TOKEN_REQUIRED])
    async def get_me(self, current_user: CurrentUser) -> user_schemas.User:
        """The user the bearer token belongs to."""
        return user_schemas.User.model_validate(current_user)
