"""The OAuth2 password flow's form and token."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from service.schemas import SingleLine, Trimmed


class LoginForm(BaseModel):
    """OAuth2 password grant, form-encoded: ``username`` is the email."""

    username: Annotated[str, Trimmed(1, 254, SingleLine)] = Field(description="The account's email")
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class Token(BaseModel):
    """A bearer token and how long it lives."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int = Field(description="Seconds until the token expires")
