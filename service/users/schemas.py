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
from pydantic_core import PydanticCustomError
from tortoise.contrib.pydantic import PydanticModel

from service import models
from service.models import Role
from service.params import SORT_HELP
from service.posts.schemas import PostCreate, PostSummaryRead
from service.schemas import (
    WHITESPACE,
    FreeText,
    Matches,
    PlainName,
    Related,
    Trimmed,
    not_null,
    regex_class,
    response_schema,
    trim,
    trimmed_length_pattern,
)

MAX_SIGNUP_POSTS = 50
MAX_EMAIL_LENGTH = 254
UserOrder = Annotated[
    Literal["created_at", "-created_at", "name", "-name", "id", "-id"], QueryParameter(description=SORT_HELP)
]


MIN_PASSWORD = 8
MAX_PASSWORD = 128
NUL = "\x00"


def _password_length(value: str) -> str:
    if len(trim(value)) < MIN_PASSWORD:
        message = f"String should have at least {MIN_PASSWORD} characters besides surrounding whitespace"
        raise PydanticCustomError("password_too_short", message)
    if NUL in value:
        raise PydanticCustomError("string_characters", "String should contain no NUL characters")
    return value


UserName = Annotated[str, Trimmed(1, 100, PlainName)]

_ATEXT = "-A-Za-z0-9!#$%&'*+/=?^_`{|}~"
_DNS_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_PATTERN = (
    f"^[{_ATEXT}](?:[{_ATEXT}.]{{0,62}}[{_ATEXT}])?@(?:{_DNS_LABEL}\\.)+[A-Za-z](?:[A-Za-z0-9-]{{0,61}}[A-Za-z])?$"
)
"""An ASCII address: a local part of at most 64 characters, then a host name whose last label ends in a letter."""
_SPECIAL_USE_DOMAINS = ("arpa", "invalid", "local", "localhost", "onion", "test")
_SPECIAL_USE = "|".join("".join(f"[{char.upper()}{char}]" for char in name) for name in _SPECIAL_USE_DOMAINS)
EMAIL_EXCLUDED = f"\\.\\.|[@.][A-Za-z0-9]{{2}}--|\\.(?:{_SPECIAL_USE})$"
"""What no address may contain: two dots in a row, a label with ``--`` in third and fourth place (Punycode), or
a special-use top-level domain (``.test``, ``.localhost``, ...), which mail cannot reach."""


def _email(value: str) -> str:
    try:
        address = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise PydanticCustomError("email", f"Input should be a valid email address: {exc}") from None
    email = address.normalized.lower()
    if len(email) > MAX_EMAIL_LENGTH:
        raise PydanticCustomError("string_too_long", f"String should have at most {MAX_EMAIL_LENGTH} characters")
    return email


Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=MAX_EMAIL_LENGTH),
    Matches(
        EMAIL_PATTERN,
        "Input should be a valid email address: name@example.com, in ASCII, with a host name that mail can reach",
        excluded=EMAIL_EXCLUDED,
    ),
    AfterValidator(_email),
    Field(
        json_schema_extra={"format": "email"},
        description="Unique regardless of case; stored lower-case; surrounding whitespace is ignored",
    ),
]
Password = Annotated[
    str,
    Field(
        min_length=MIN_PASSWORD,
        max_length=MAX_PASSWORD,
        json_schema_extra={"pattern": trimmed_length_pattern(MIN_PASSWORD, MAX_PASSWORD, regex_class(NUL))},
        description=(
            f"{MIN_PASSWORD} to {MAX_PASSWORD} characters, at least {MIN_PASSWORD} of them besides surrounding"
            " whitespace; kept exactly as typed"
        ),
    ),
    AfterValidator(_password_length),
]


_WEBSITE_MESSAGE = "Input should be an http:// or https:// URL with a host name or IPv4 address and no spaces"


def _website(value: str) -> str:
    try:
        url = _HTTP_URL.validate_python(value)
    except ValidationError:
        raise PydanticCustomError("url", _WEBSITE_MESSAGE) from None
    if not url.host or any(char.isspace() for char in value):
        raise PydanticCustomError("url", _WEBSITE_MESSAGE)
    return value


_HTTP_URL = TypeAdapter(AnyHttpUrl)
_HOST_LABEL = "[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*"
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_PORT = "(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_URL_CHARACTER = f"[^\\x00-\\x20\\x7f{regex_class(WHITESPACE)}]"
WEBSITE_PATTERN = (
    f"^[Hh][Tt][Tt][Pp][Ss]?://(?:(?:{_HOST_LABEL}\\.)+[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*|{_OCTET}(?:\\.{_OCTET}){{3}})"
    f"(?::{_PORT})?(?:[/?#]{_URL_CHARACTER}*)?$"
)
"""An http(s) URL with a host name (ASCII labels, the last one starting with a letter) or an IPv4 address, an
optional port, then any path, query and fragment without spaces or control characters."""
Website = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=2048),
    Matches(WEBSITE_PATTERN, _WEBSITE_MESSAGE),
    AfterValidator(_website),
    Field(
        description=(
            "An http(s) URL as browsers read it (characters outside RFC 3986 are allowed), kept as given;"
            " surrounding whitespace is ignored"
        )
    ),
]
Bio = Annotated[str, Trimmed(0, 2000, FreeText)]


class _UserColumns(PydanticModel):
    """The user fields responses show (``pydantic_model_creator`` generates the real class from the model)."""

    id: int
    name: str
    email: str
    role: Role
    created_at: datetime
    updated_at: datetime


class _PublicUserColumns(PydanticModel):
    """The user fields anyone may see: no email."""

    id: int
    name: str
    role: Role
    created_at: datetime
    updated_at: datetime


class _ProfileColumns(PydanticModel):
    """The profile fields responses show."""

    bio: str | None
    website: str | None


if TYPE_CHECKING:
    _User = _UserColumns
    _PublicUser = _PublicUserColumns
    _Profile = _ProfileColumns
else:
    _User = response_schema(models.User, "UserFields", _UserColumns)
    _PublicUser = response_schema(models.User, "PublicUserFields", _PublicUserColumns)
    _Profile = response_schema(models.Profile, "ProfileFields", _ProfileColumns)


class ProfileRead(_Profile):
    """What a user says about themself."""


class ProfileWrite(BaseModel):
    """A profile as a whole: both fields, each may be null."""

    bio: Bio | None = Field(default=None, description="At most 2000 characters")
    website: Website | None = None


class UserRead(_User):
    """An account as its owner and admins see it (with the email); never its password or hash."""


class PublicUserRead(_PublicUser):
    """An account as everyone else sees it: no email."""


class UserDetailRead(UserRead):
    """A user with their post count and their 20 most recent posts (without bodies), as the owner and admins see
    it."""

    profile: ProfileRead | None = Field(description="The user's profile, or null when they have none")
    post_count: int
    posts: Related[PostSummaryRead]


class PublicUserDetailRead(PublicUserRead):
    """A user with their post count and their 20 most recent posts (without bodies), as everyone else sees it."""

    profile: ProfileRead | None = Field(description="The user's profile, or null when they have none")
    post_count: int
    posts: Related[PostSummaryRead]


CLOSED_SCHEMAS = ("PublicUserRead", "PublicUserDetailRead")
"""Components the OpenAPI document closes (``additionalProperties: false``): they never carry an email, which is
also how a client (and a schema validator) tells them from the owner's shapes."""


class UserCreate(BaseModel):
    """Sign-up: everything needed to create an account."""

    name: UserName
    email: Email
    password: Password
    role: Role | None = Field(default=None, description="Only an admin may give a role other than member")
    profile: ProfileWrite | None = Field(default=None, description="Created with the user, in the same transaction")
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
