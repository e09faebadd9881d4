"""Every Tortoise model of the service: one relation graph, one aerich app ("models")."""

from __future__ import annotations

from enum import StrEnum

from tortoise import Tortoise, fields
from tortoise.contrib.postgres.fields import TSVectorField
from tortoise.contrib.postgres.indexes import GinIndex
from tortoise.models import Model

APP_LABEL = "models"
"""The aerich app that holds every model (its migrations live in ``migrations/models``)."""
MODEL_MODULES = ["service.models", "aerich.models"]


class Role(StrEnum):
    """What a user may do: admins may act on anything, members on their own things."""

    ADMIN = "admin"
    MEMBER = "member"


class User(Model):
    """A person who signs in; owns posts."""

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=100)
    email = fields.CharField(max_length=254, unique=True, description="Stored lower-case")
    password_hash = fields.CharField(max_length=255)
    role = fields.CharEnumField(Role, max_length=16, default=Role.MEMBER)
    token_version = fields.IntField(default=0, description="Bumped on password change; older tokens stop working")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    posts: fields.ReverseRelation[Post]
    profile: fields.BackwardOneToOneRelation[Profile]

    class Meta:
        table = "users"
        indexes = (("created_at", "id"), ("role", "created_at", "id"), ("name", "id"))

    class PydanticMeta:
        exclude = ("password_hash", "token_version")


class Post(Model):
    """A text written by one user."""

    id = fields.BigIntField(primary_key=True)
    title = fields.CharField(max_length=200)
    body = fields.TextField(null=True)
    author: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="posts", on_delete=fields.CASCADE
    )
    author_id: int
    tags: fields.ManyToManyRelation[Tag] = fields.ManyToManyField(
        "models.Tag",
        related_name="posts",
        through="post_tags",
        forward_key="tag_id",
        backward_key="post_id",
        on_delete=fields.CASCADE,
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    search_vector = TSVectorField(
        stored=False,
        null=True,
        description="Title (weight A) and body (B), kept by a trigger (migration 5) in the database's search language",
    )

    class Meta:
        table = "posts"
        indexes = (
            ("author_id", "created_at", "id"),
            ("created_at", "id"),
            ("title", "id"),
            GinIndex(fields=("search_vector",), name="idx_posts_search_vector"),
        )

    class PydanticMeta:
        exclude = ("search_vector",)


class Profile(Model):
    """What a user says about themself; at most one per user."""

    id = fields.BigIntField(primary_key=True)
    user: fields.OneToOneRelation[User] = fields.OneToOneField(
        "models.User", related_name="profile", on_delete=fields.CASCADE
    )
    user_id: int
    bio = fields.CharField(max_length=2000, null=True)
    website = fields.CharField(max_length=2048, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "profiles"


class Tag(Model):
    """A lower-case label; a post has up to ten, a tag has any number of posts."""

    id = fields.BigIntField(primary_key=True)
    name = fields.CharField(max_length=50, unique=True, description="Stored lower-case")

    posts: fields.ManyToManyRelation[Post]

    class Meta:
        table = "tags"


class LoginThrottle(Model):
    """Failed sign-ins per account or client address in the current window: shared by every replica."""

    key = fields.CharField(max_length=320, primary_key=True, description="'email:<address>' or 'ip:<address>'")
    failures = fields.IntField()
    window_started_at = fields.DatetimeField()

    class Meta:
        table = "login_throttles"


class IdempotencyKey(Model):
    """A POST's ``Idempotency-Key`` and the answer it got: a retry within the key's lifetime gets that answer again."""

    id = fields.BigIntField(primary_key=True)
    owner = fields.CharField(max_length=32, description="'user:<id>' for a caller with a token, 'anonymous' otherwise")
    key = fields.CharField(max_length=255)
    fingerprint = fields.CharField(max_length=64, description="HMAC of method, path and body (no password stored)")
    status_code = fields.IntField(null=True, description="Null while the first request is running")
    body = fields.TextField(null=True)
    etag = fields.CharField(max_length=80, null=True, description="The answer's ETag (null before migration 8)")
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "idempotency_keys"
        unique_together = (("owner", "key"),)


class RowCount(Model):
    """Exact row counts kept by triggers (migration 3), so unfiltered list totals cost one row read.

    ``name`` is ``users``, ``users:admin``, ``users:member`` or ``posts``. Written only by the database's triggers.
    """

    name = fields.CharField(max_length=64, primary_key=True)
    n = fields.BigIntField()

    class Meta:
        table = "row_counts"


# Resolve the relations between the models now, once, for whoever imports them: pydantic_model_creator (the
# response schemas) needs them and silently leaves unresolved relations out. Tortoise.init (the pool, aerich)
# later builds on the same models.
Tortoise.init_models([__name__, "aerich.models"], APP_LABEL)
