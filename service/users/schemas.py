"""User shapes: sign-up and update bodies with their rules, and the generated responses."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from litestar.params import QueryParameter
from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema
from tortoise.contrib.pydantic import PydanticModel

from service import models
from service.models import Role
from service.params import SORT_HELP
from service.posts.schemas import PostCreate, PostSummary
from service.schemas import FreeText, Related, SingleLine, not_null, response_schema

MAX_SIGNUP_POSTS = 50
MAX_EMAIL_LENGTH = 254
UserOrder = Annotated[
    Literal["created_at", "-created_at", "name", "-name", "id", "-id"], QueryParameter(description=SORT_HELP)
]


MIN_PASSWORD = 8
MAX_PASSWORD = 128


def _password_length(value: str) -> str:
    if len(value.strip()) < MIN_PASSWORD:
        raise ValueError(f"must have at least {MIN_PASSWORD} characters besides surrounding whitespace")
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


UserName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SingleLine]


def _email(value: str) -> str:
    try:
        address = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from None
    email = address.normalized.lower()
    if len(email) > MAX_EMAIL_LENGTH:
        raise ValueError(f"must be at most {MAX_EMAIL_LENGTH} characters once lower-cased")
    return email


Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=MAX_EMAIL_LENGTH),
    AfterValidator(_email),
    Field(json_schema_extra={"format": "email"}, description="Unique regardless of case; stored lower-case"),
]
Password = Annotated[
    str,
    Field(
        min_length=MIN_PASSWORD,
        max_length=MAX_PASSWORD,
        description=(
            f"{MIN_PASSWORD} to {MAX_PASSWORD} characters, at least {MIN_PASSWORD} of them besides surrounding"
            " whitespace; kept exactly as typed"
        ),
    ),
    AfterValidator(_password_length),
]


def _website(value: str) -> str:
    try:
        url = _HTTP_URL.validate_python(value)
    except ValidationError:
        raise ValueError("must be an http:// or https:// URL") from None
    if not url.host or any(char.isspace() for char in value):
        raise ValueError("must be an http:// or https:// URL with a host and no spaces")
    return value


_HTTP_URL = TypeAdapter(AnyHttpUrl)
Website = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2048),
    AfterValidator(_website),
    Field(
        json_schema_extra={"format": "uri", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^\\s/?#]+\\S*$"},
        description="An http(s) URL, kept as given",
    ),
]
Bio = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), FreeText]


class _UserColumns(PydanticModel):
    """The user fields responses show (``pydantic_model_creator`` generates the real class from the model)."""

    id: int
    name: str
    email: str
    role: Role
    created_at: datetime
    updated_at: datetime


class _ProfileColumns(PydanticModel):
    """The profile fields responses show."""

    bio: str | None
    website: str | None


if TYPE_CHECKING:
    _User = _UserColumns
    _Profile = _ProfileColumns
else:
    _User = response_schema(models.User, "UserFields", _UserColumns)
    _Profile = response_schema(models.Profile, "ProfileFields", _ProfileColumns)


class Profile(_Profile):
    """What a user says about themself."""


class ProfileIn(BaseModel):
    """A profile as a whole: both fields, each may be null."""

    bio: Bio | None = Field(default=None, description="At most 2000 characters")
    website: Website | None = None


class User(_User):
    """An account: never its password or hash."""


class UserDetail(User):
    """A user with their post count and their 20 most recent posts (without bodies)."""

    profile: Profile | None = Field(description="The user's profile, or null when they have none")
    post_count: int
    posts: Related[PostSummary]


class UserCreate(BaseModel):
    """Sign-up: everything needed to create an account."""

    name: UserName
    email: Email
    password: Password
    role: Role | None = Field(default=None, description="Only an admin may give a role other than member")
    profile: ProfileIn | None = Field(default=None, description="Created with the user, in the same transaction")
    posts: list[PostCreate] = Field(
        default_factory=list, max_length=MAX_SIGNUP_POSTS, description="Created with the user, all or nothing"
    )


class UserUpdate(BaseModel):
    """Any of a user's editable fields; the ones left out keep their value."""

    name: UserName | SkipJsonSchema[None] = None
    email: Email | SkipJsonSchema[None] = None
    password: Password | SkipJsonSchema[None] = None
    role: Role | SkipJsonSchema[None] = Field(default=None, description="Changing it is admin-only")

    @field_validator("name", "email", "password", "role", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        return not_null(value)
