"""Compiled querysets (service/orm/) give exactly what the uncompiled ORM gives.

Every compiled read of the service is called here with many argument sets on data of every shape (users with
and without profiles, a profile whose fields are all null, posts with no tags and with ten, null bodies, an
admin, a deleted author, names full of LIKE wildcards) and compared with awaiting the same builder's queryset
directly, which runs Tortoise's own SQL generation, hydration and prefetching. The comparison covers every loaded
attribute of every model instance, the related objects ``select_related`` attached and the relations
``prefetch_related`` filled in. Then the same under concurrency, inside a transaction, and the compile errors.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import random
import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace, UnionType
from typing import Annotated, Any, Union, get_args, get_origin
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError, create_model
from pydantic_core import to_json
from tortoise.exceptions import DoesNotExist, MultipleObjectsReturned, NoValuesFetched
from tortoise.expressions import F
from tortoise.fields.relational import ManyToManyRelation, ReverseRelation
from tortoise.functions import Lower
from tortoise.models import Model
from tortoise.query_utils import Prefetch
from tortoise.queryset import CountQuery, QuerySet, QuerySetSingle
from tortoise.transactions import in_transaction

from service.app import create_app
from service.auth import dependencies as auth_dependencies
from service.auth import queries as auth_queries
from service.db.client import track_queries
from service.models import Post, Profile, Role, Tag, User
from service.orm import (
    Compiled,
    CompileError,
    UnsupportedFieldError,
    compiled,
    fast_path,
    from_orm,
    page_total,
    release,
)
from service.orm import plans as orm_plans
from service.orm import schemas as orm_schemas
from service.orm.hydration import Segment, _hydrator, fast_converter, instance_builder
from service.orm.mode import FastPath
from service.orm.prefetch import _CORRELATED, compile_prefetches, relation_container
from service.pages import Page
from service.posts import queries as post_queries
from service.posts.schemas import PostRead
from service.settings import Settings
from service.tags import queries as tag_queries
from service.tags.schemas import TagRead
from service.users import queries as user_queries
from service.users.schemas import PublicUserDetailRead, PublicUserRead, UserDetailRead, UserRead
from tests.conftest import MakePost, MakeUser

POST_FIELDS = ("id", "title", "body", "author_id", "created_at", "updated_at")
ORDERS = {
    "posts": ["-created_at", "created_at", "title", "-title", "id", "-id"],
    "users": ["-created_at", "created_at", "name", "-name", "id", "-id"],
}
SEARCHES = [None, "post", "POST 1", "%", "_", "\\", "50%_off", "zzz-no-match"]


def snapshot(value: Any) -> Any:
    """Everything a query loaded into ``value``: fields, annotations, joined objects, prefetched relations."""
    if isinstance(value, Model):
        # Tortoise's bookkeeping (_partial, _saved_in_db, ...) included: a compiled hydration must set it alike.
        loaded = {key: snapshot(item) for key, item in sorted(vars(value).items())}
        return (type(value).__name__, loaded)
    if isinstance(value, ReverseRelation):
        related = [snapshot(item) for item in value.related_objects]
        if isinstance(value, ManyToManyRelation):  # a set: its order is whatever the database returns
            related.sort(key=repr)
        return ("relation", value._fetched, related)
    if isinstance(value, list | tuple):
        return [snapshot(item) for item in value]
    if isinstance(value, dict):
        return {key: snapshot(item) for key, item in value.items()}
    return value


async def assert_same(query: Compiled[..., Any], *args: Any) -> Any:
    """The compiled call and the uncompiled queryset give the same result; return it."""
    expected = await query.build(*args)
    got = await query(*args)
    assert snapshot(got) == snapshot(expected), (query.__qualname__, args)
    return got


@pytest.fixture(autouse=True)
def _models(app: Any) -> None:
    """Every test here needs the models bound to the database (Tortoise initialised), even one that only compiles:
    run alone (as mutation testing runs the tests that reach a mutant), it must not depend on an earlier test."""


@pytest.fixture
async def world(make_user: MakeUser, make_post: MakePost) -> dict[str, list[int]]:
    """Users and posts of every shape; returns their ids (and ids that do not exist)."""
    rng = random.Random(11)
    names = [f"tag{n}" for n in range(15)] + ["50%_off", "back\\slash"]
    users: list[int] = []
    posts: list[int] = []
    for n in range(10):
        name = ["Ada", "50% off", "under_score", "back\\slash", "Zoë"][n % 5] + f" {n}"
        user = await make_user(name=name, role=Role.ADMIN if n == 3 else Role.MEMBER)
        users.append(user.id)
        if n % 3 == 1:
            await Profile.create(user_id=user.id, bio=f"bio {n}", website=None if n % 2 else "https://x.example/")
        if n == 5:
            await Profile.create(user_id=user.id, bio=None, website=None)  # a profile with only nulls
        for m in range(n % 4 * 2):
            tags = rng.sample(names, min(10, m * 3))
            body = None if m == 1 else f"text {m}"
            posts.append(
                await make_post(user, title=f"post {n}.{m} {'50%_off' if m == 2 else ''}", body=body, tags=tags)
            )
    gone = await make_user()
    gone_posts = [await make_post(gone, tags=["tag1"])]
    await gone.delete()
    await Tag.create(name="unused")
    missing = [gone.id, *gone_posts, 0, -1, 2**63 - 1]
    return {"users": users, "posts": posts, "missing": missing}


async def test_post_reads_match_the_orm(world: dict[str, list[int]]) -> None:
    for post_id in world["posts"] + world["missing"]:
        await assert_same(post_queries._post_by_id, post_id)
    author = world["users"][7]
    for order, q, tag, author_id in itertools.product(
        ORDERS["posts"], SEARCHES[:4], [None, "tag3", "50%_off", "nope"], [None, author, world["missing"][0]]
    ):
        for limit, offset in [(100, None), (100, 0), (3, 2), (3, None)]:
            await assert_same(post_queries._post_page, limit, offset, author_id, tag, q, order)
        await assert_same(post_queries._count_matching, author_id, tag, q)
    for words, order in itertools.product(["post", "posts text", "the", "50%_off", "zzz"], ["-rank", "id", "title"]):
        for limit, offset in [(100, None), (3, 2)]:
            await assert_same(post_queries._post_page, limit, offset, None, None, None, order, None, None, words)
        await assert_same(post_queries._post_page, 5, None, author, "tag3", None, order, None, None, words)
        await assert_same(post_queries._count_matching, None, None, None, words)
    ranked = await post_queries._post_page(100, None, None, None, None, "-rank", search="post")
    last = ranked[len(ranked) // 2]
    found = await assert_same(
        post_queries._post_page, 100, None, None, None, None, "-rank", vars(last)["rank"], last.id, "post"
    )
    assert [post.id for post in found] == [post.id for post in ranked[len(ranked) // 2 + 1 :]]
    for q in SEARCHES:
        await assert_same(post_queries._post_page, 100, None, None, None, q, "title")
        await assert_same(post_queries._count_matching, None, None, q)
    await assert_same(post_queries._post_page, 20, 10_000, None, None, None, "-created_at")
    await assert_same(post_queries._count_all)
    middle = await Post.get(id=world["posts"][len(world["posts"]) // 2])
    for order, tag, author_id in itertools.product(ORDERS["posts"], [None, "tag3"], [None, author]):
        value = {"created_at": middle.created_at, "title": middle.title, "id": None}[order.removeprefix("-")]
        for limit in (3, 100):
            found = await assert_same(
                post_queries._post_page, limit, None, author_id, tag, None, order, value, middle.id
            )
            assert middle.id not in [post.id for post in found]
    for user_id in world["users"] + world["missing"]:
        await assert_same(post_queries._user_exists, user_id)


async def test_user_reads_match_the_orm(world: dict[str, list[int]]) -> None:
    for user_id in world["users"] + world["missing"]:
        user = await assert_same(user_queries._user_detail, user_id)
        await assert_same(user_queries._user_detail, user_id, False)
        await assert_same(auth_dependencies._user_by_id, user_id)
        if user is not None:
            await assert_same(auth_queries._user_by_email, user.email)
    await assert_same(auth_queries._user_by_email, "nobody@example.com")
    shapes = itertools.product(ORDERS["users"], SEARCHES, [None, Role.ADMIN, Role.MEMBER], [False, True])
    for order, q, role, emails in shapes:
        await assert_same(user_queries._user_page, 100, None, role, q, order, emails)
        await assert_same(user_queries._user_page, 2, 1, role, q, order, emails)
        await assert_same(user_queries._user_page, 2, None, role, q, order, emails)
        await assert_same(user_queries._count_matching, role, q, emails)
    middle = await User.get(id=world["users"][len(world["users"]) // 2])
    for order, role, emails in itertools.product(ORDERS["users"], [None, Role.MEMBER], [False, True]):
        value = {"created_at": middle.created_at, "name": middle.name, "id": None}[order.removeprefix("-")]
        found = await assert_same(user_queries._user_page, 3, None, role, None, order, emails, value, middle.id)
        assert middle.id not in [user.id for user in found]
    for name in ("users", "users:admin", "users:member", "posts", "nothing"):
        await assert_same(user_queries._counter, name)


async def test_tag_reads_match_the_orm(world: dict[str, list[int]]) -> None:
    for limit, offset in [(100, 0), (5, 3), (1, 16), (10, 1000)]:
        await assert_same(tag_queries._tag_page, limit, offset)
    for name in ("tag1", "tag3", "unused", "zzz", ""):
        await assert_same(tag_queries._tag_page, 4, 0, name, 5)
    await assert_same(tag_queries._count_tags)


async def test_reads_match_the_orm_on_an_empty_database(app: Any) -> None:
    await assert_same(post_queries._post_page, 20, None, None, None, None, "-created_at")
    await assert_same(post_queries._post_by_id, 1)
    await assert_same(user_queries._user_detail, 1)
    await assert_same(user_queries._user_page, 20, None, None, None, "name")
    await assert_same(tag_queries._tag_page, 20, 0)


@compiled("limit")
def _users_with_some_posts(limit: int) -> QuerySet[User]:
    # A limit on a prefetch of several parents limits them all together (as in Tortoise): not inlined.
    return (
        User.all().order_by("id").limit(limit).prefetch_related(Prefetch("posts", Post.all().order_by("id").limit(7)))
    )


@compiled("limit")
def _posts_with_authors_prefetched(limit: int) -> QuerySet[Post]:
    return Post.all().order_by("-id").limit(limit).prefetch_related("author")  # a forward relation: not inlined


@compiled("limit")
def _users_with_everything(limit: int) -> QuerySet[User]:
    # Reverse foreign key (ordered), reverse one-to-one and many-to-many through the reverse side: all inlined.
    return (
        User.all()
        .order_by("id")
        .limit(limit)
        .prefetch_related(Prefetch("posts", Post.all().order_by("-created_at", "-id").only("id", "title", "author_id")))
        .prefetch_related("profile")
    )


@compiled("tag_id")
def _tag_with_posts(tag_id: int) -> QuerySetSingle[Tag | None]:
    # One parent: a limit on the prefetch means the same per parent and in all, so it is inlined. Every column but
    # the search vector, which asyncpg cannot decode inside a record (binary tsvector); no response shows it.
    posts = Post.all().order_by("title", "id").limit(3).only(*POST_FIELDS)
    return Tag.filter(id=tag_id).prefetch_related(Prefetch("posts", posts)).first()


async def test_prefetches_in_separate_statements_pad_parent_keys(world: dict[str, list[int]]) -> None:
    """Pages of 1..len(posts) posts: the IN list of a separate prefetch is padded, results are unchanged."""
    for limit in range(1, len(world["posts"]) + 2):
        await assert_same(_users_with_some_posts, limit)
        await assert_same(_posts_with_authors_prefetched, limit)
    for query in (_users_with_some_posts, _posts_with_authors_prefetched):
        (prefetch,) = [prefetch for plan in query._plans.values() for prefetch in plan.prefetches]
        assert prefetch.rows is None  # a statement of its own
        assert len(prefetch.plans) > 1
        assert all(size & (size - 1) == 0 for size in prefetch.plans)  # powers of two: a few statement shapes


@compiled("limit", "offset")
def _users_with_renamed_prefetches(limit: int, offset: int | None) -> QuerySet[User]:
    posts = Post.all().order_by("id").only(*POST_FIELDS)
    users = User.all().order_by("id").limit(limit)
    users = users if offset is None else users.offset(offset)  # an offset: prefetched in statements of their own
    return users.prefetch_related(
        Prefetch("posts", posts, to_attr="written"), Prefetch("profile", Profile.all(), to_attr="bio")
    )


@compiled("limit")
def _posts_with_renamed_prefetches(limit: int) -> QuerySet[Post]:
    return (
        Post.all()
        .order_by("id")
        .limit(limit)
        .prefetch_related(
            Prefetch("author", User.all(), to_attr="writer"),
            # Ordered: a list put in ``to_attr`` keeps the database's order, which an unordered query leaves open.
            Prefetch("tags", Tag.all().order_by("id"), to_attr="labels"),
        )
    )


async def test_prefetches_to_another_attribute_match_the_orm(world: dict[str, list[int]]) -> None:
    """``Prefetch(..., to_attr=...)`` of every kind of relation, inlined or not, puts the related objects where
    Tortoise puts them."""
    for limit in (1, 3, 100):
        for offset in (None, 0, 2):
            users = await assert_same(_users_with_renamed_prefetches, limit, offset)
        posts = await assert_same(_posts_with_renamed_prefetches, limit)
    assert any(user.written for user in users)
    assert any(user.bio is not None for user in users)
    assert all(post.writer.id == post.author_id for post in posts)
    assert any(post.labels for post in posts)


def _users_prefetching(posts: QuerySet[Post], single: bool) -> Compiled[..., Any]:
    """A compiled read of users (one, or a page) that prefetches their posts with ``posts``."""

    def build(value: int) -> Any:
        users = User.all().order_by("id").prefetch_related(Prefetch("posts", posts))
        return users.filter(id=value).first() if single else users.limit(value)

    build.__qualname__ = "users prefetching posts"
    return Compiled(build, ["value"])


PREFETCHED_POSTS: dict[str, tuple[Callable[[], QuerySet[Post]], bool, bool]] = {
    # (the prefetch queryset, one parent or a page, inlined)
    "plain, a page": (lambda: Post.all().order_by("id").only(*POST_FIELDS), False, True),
    "plain, one parent": (lambda: Post.all().order_by("id").only(*POST_FIELDS), True, True),
    "an offset, one parent": (lambda: Post.all().order_by("id").offset(1).only(*POST_FIELDS), True, True),
    "an offset, a page": (lambda: Post.all().order_by("id").offset(1).only(*POST_FIELDS), False, False),
    "a limit, one parent": (lambda: Post.all().order_by("id").limit(2).only(*POST_FIELDS), True, True),
    "a limit, a page": (lambda: Post.all().order_by("id").limit(2).only(*POST_FIELDS), False, False),
    "a join": (lambda: Post.all().order_by("id").select_related("author").only(*POST_FIELDS), False, False),
    "an annotation": (lambda: Post.all().order_by("id").annotate(low=Lower("title")).only(*POST_FIELDS), False, False),
}


@pytest.mark.parametrize(("posts", "single", "inlined"), PREFETCHED_POSTS.values(), ids=PREFETCHED_POSTS.keys())
async def test_a_prefetch_is_inlined_only_where_that_gives_the_same_rows(
    world: dict[str, list[int]], posts: Callable[[], QuerySet[Post]], single: bool, inlined: bool
) -> None:
    """Inlined (a correlated subquery) for a plain prefetch, or a limited one of one parent; a statement of its own
    for a limit or offset over several parents, joins or annotations. Same results."""
    query = _users_prefetching(posts(), single)
    for value in (*world["users"], 0) if single else (1, 4, 100):  # user ids, or page sizes
        await assert_same(query, value)
    (prefetch,) = query._plan_for(query._values((1,), {})).prefetches
    assert (prefetch.rows is not None) == inlined


async def test_prefetch_plan_is_the_statement_of_a_separate_prefetch(world: dict[str, list[int]]) -> None:
    """``prefetch_plan`` gives the SQL and parameters a separate prefetch sends for these parents' keys: run, they
    select what Tortoise selects for them; an inlined prefetch has no statement of its own."""
    selected = 0
    for count in (1, 3, len(world["users"])):
        keys = world["users"][:count]
        sql, params = _users_with_some_posts.prefetch_plan("posts", keys, 10)
        assert sql.count("$") == len(params)
        assert set(keys) <= set(params)
        _, rows = await Post._meta.db.execute_query(sql, params)
        expected = await Post.filter(author_id__in=keys).order_by("id").limit(7).values_list("id", flat=True)
        assert [row["id"] for row in rows] == list(expected)
        selected += len(expected)
    assert selected
    with pytest.raises(CompileError, match="'posts' is inlined"):
        _users_with_everything.prefetch_plan("posts", world["users"][:1], 10)


async def test_inlined_prefetches_match_the_orm_in_one_statement(world: dict[str, list[int]]) -> None:
    for limit in (1, 3, 100):
        await assert_same(_users_with_everything, limit)
    for tag in await Tag.all():
        await assert_same(_tag_with_posts, tag.id)
    await assert_same(_tag_with_posts, 0)
    with track_queries() as stats:
        users = await _users_with_everything(100)
    assert stats.count == 1
    assert any(user.posts.related_objects for user in users)  # the data does exercise the relations
    for query in (_users_with_everything, _tag_with_posts, user_queries._user_detail):
        assert all(prefetch.rows is not None for plan in query._plans.values() for prefetch in plan.prefetches)


async def test_a_page_with_an_offset_prefetches_in_its_own_statement(world: dict[str, list[int]]) -> None:
    """PostgreSQL evaluates select-list subqueries for the rows an OFFSET skips: a later page is not inlined."""
    first = await assert_same(post_queries._post_page, 3, None, None, None, None, "id")
    later = await assert_same(post_queries._post_page, 3, 3, None, None, None, "id")
    assert first
    assert later
    for offset, inlined, statements in ((None, True, 1), (3, False, 2)):
        (prefetch,) = post_queries._post_page._plan_for(
            post_queries._post_page._values((3, offset, None, None, None, "id"), {})
        ).prefetches
        assert (prefetch.rows is not None) is inlined
        with track_queries() as stats:
            await post_queries._post_page(3, offset, None, None, None, "id")
        assert stats.count == statements


async def test_concurrent_calls_do_not_share_state(world: dict[str, list[int]]) -> None:
    """Many compiled calls at once, with different values and shapes, each get their own answer."""
    calls: list[tuple[Compiled[..., Any], tuple[Any, ...]]] = []
    for post_id in world["posts"]:
        calls.append((post_queries._post_by_id, (post_id,)))
    for user_id in world["users"]:
        calls.append((user_queries._user_detail, (user_id,)))
        calls.append((post_queries._post_page, (5, None, user_id, None, None, "-created_at")))
        calls.append((post_queries._post_page, (2, 1, user_id, None, None, "-created_at")))
    for q in SEARCHES:
        calls.append((user_queries._user_page, (10, None, None, q, "name")))
    expected = [snapshot(await query.build(*args)) for query, args in calls]
    for _ in range(3):
        got = await asyncio.gather(*(query(*args) for query, args in calls))
        assert [snapshot(result) for result in got] == expected


async def test_a_compiled_read_runs_in_the_current_transaction(make_user: MakeUser) -> None:
    """The connection is chosen at each call: inside in_transaction() the read sees the uncommitted write."""
    user = await make_user()
    async with in_transaction():
        await Profile.create(user_id=user.id, bio="fresh")
        inside = await user_queries._user_detail(user.id)
        assert inside is not None
        assert inside.profile is not None
        assert inside.profile.bio == "fresh"
        # A connection from the pool would not see the uncommitted profile: the transaction's own did.


def test_a_builder_whose_sql_depends_on_a_bound_value_does_not_compile() -> None:
    @compiled("post_id")
    def branching(post_id: int) -> QuerySet[Post]:
        return Post.filter(id=post_id) if post_id % 2 else Post.filter(id=post_id, title="x")

    with pytest.raises(CompileError, match="branching: the SQL depends on the values of its bound parameters"):
        branching.plan(1)

    @compiled("post_id")
    def choosing(post_id: int) -> QuerySet[Post]:  # as many parameters either way
        return Post.filter(id=post_id) if post_id % 2 else Post.filter(author_id=post_id)

    with pytest.raises(CompileError, match="choosing: the SQL depends on the values of its bound parameters"):
        choosing.plan(1)


def test_a_bound_value_must_reach_the_orm_unchanged() -> None:
    @compiled("limit")
    def shifted(limit: int) -> QuerySet[Post]:
        return Post.all().limit(limit + 1)

    with pytest.raises(
        CompileError,
        match=r"\.shifted: parameter 1 changes with the bound values but is not one of them \(a bound value must"
        r" reach the ORM unchanged\)$",
    ):
        shifted.plan(5)


def test_a_limited_many_to_many_prefetch_of_several_parents_is_refused() -> None:
    @compiled()
    def limited() -> QuerySet[Post]:
        return Post.all().prefetch_related(Prefetch("tags", Tag.all().limit(3)))

    with pytest.raises(CompileError, match="limit"):
        limited.plan()


def test_bound_values_are_ints_strings_or_aware_datetimes() -> None:
    @compiled("role")
    def by_role(role: Role) -> QuerySet[User]:
        return User.filter(role=role)

    with pytest.raises(
        CompileError, match=r"^bound parameter 'role' must be an int, a float, a str or an aware datetime, got Role$"
    ):
        by_role.plan(Role.ADMIN)

    @compiled("since")
    def since(since: datetime) -> QuerySet[Post]:
        return Post.filter(created_at__gt=since)

    with pytest.raises(CompileError, match=r"^bound parameter 'since' must be .*, got datetime$"):
        since.plan(datetime(2026, 1, 1))  # naive
    moment = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert since.plan(moment)[1] == [moment]


def test_a_builder_must_return_a_query_with_one_flat_prefetch_per_relation() -> None:
    not_a_query: Any = compiled()(lambda: 5)
    with pytest.raises(CompileError, match=r"\.<lambda> must return a Tortoise query, got int$"):
        not_a_query.plan()

    @compiled()
    def twice() -> QuerySet[Post]:
        return Post.all().prefetch_related(Prefetch("tags", Tag.all()), Prefetch("tags", Tag.all(), to_attr="x"))

    with pytest.raises(CompileError, match=r"^prefetch of 'tags': one Prefetch per relation$"):
        twice.plan()

    @compiled()
    def nested() -> QuerySet[User]:
        return User.all().prefetch_related("posts__tags")

    with pytest.raises(CompileError, match=r"^prefetch of 'posts': nested prefetches are not supported$"):
        nested.plan()


def test_a_read_that_locks_its_rows_runs_where_writes_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """``select_for_update`` makes a plan a write for Tortoise's router (a replica never takes it); other reads
    ask the router for a read, and without an answer run on the model's connection."""

    @compiled("post_id")
    def locking(post_id: int) -> QuerySet[Post]:
        return Post.filter(id=post_id).select_for_update()

    @compiled("post_id")
    def reading(post_id: int) -> QuerySet[Post]:
        return Post.filter(id=post_id)

    @compiled("post_id")
    def counting(post_id: int) -> CountQuery:
        return Post.filter(id=post_id).count()

    writer, reader = object(), object()
    routes = SimpleNamespace(
        db_for_write=lambda model: writer if model is Post else None,
        db_for_read=lambda model: reader if model is Post else None,
    )
    monkeypatch.setattr(orm_plans, "router", routes)
    for query, write, chosen in ((locking, True, writer), (reading, False, reader), (counting, False, reader)):
        plan = query._plan_for({"post_id": 1})
        assert plan.for_write is write
        assert plan.instance({"post_id": 1})._db is chosen
    monkeypatch.setattr(orm_plans, "router", SimpleNamespace(db_for_write=lambda _: None, db_for_read=lambda _: None))
    assert reading._plan_for({"post_id": 1}).instance({"post_id": 1})._db is Post._meta.db


@compiled("first", "author", "low", "high")
def _posts_scaled(first: int, author: int, low: float, high: float) -> QuerySet[Post]:
    # Floats bound third and fourth (as a search rank is bound in a cursor): each its own marker.
    return Post.filter(id__gte=first, author_id__gte=author).annotate(x=F("id") * low).filter(x__lt=high).order_by("id")


async def test_float_bound_values_reach_their_own_slots(world: dict[str, list[int]]) -> None:
    for low, high in ((0.5, 10.0), (1.0, 1e9), (2.25, 3.5)):
        await assert_same(_posts_scaled, world["posts"][0], world["users"][0], low, high)
    assert _posts_scaled.plan(1, 2, 0.5, 10.0)[1] == [0.5, 1, 2, 0.5, 10.0]


def test_a_bound_value_that_never_reaches_the_sql_is_refused() -> None:
    @compiled("post_id")
    def ignoring(post_id: int) -> QuerySet[Post]:
        return Post.all()

    with pytest.raises(CompileError, match="do not reach the SQL"):
        ignoring.plan(5)


def test_like_patterns_are_escaped_as_tortoise_escapes_them() -> None:
    for lookup in ("icontains", "startswith", "iendswith"):

        @compiled("q")
        def search(q: str) -> QuerySet[Post]:
            return Post.filter(**{f"title__{lookup}": q})  # noqa: B023 - compiled and called in this iteration

        for text in ("50%_off", "a\\b", "plain"):
            sql, params = search.plan(text)
            search_query = Post.filter(**{f"title__{lookup}": text})
            search_query._choose_db_if_not_chosen()
            search_query._make_query()
            expected_sql, expected_params = search_query.query.get_parameterized_sql()
            assert (sql, params) == (expected_sql, expected_params), lookup


READ_CALLS: dict[str, Callable[[dict[str, list[int]], User], dict[str, Any]]] = {
    "/users/me": lambda world, caller: {"current_user": caller},
    "/users": lambda world, caller: {
        "optional_user": None,
        "limit": 100,
        "offset": None,
        "cursor": None,
        "role": None,
        "q": None,
        "order": "name",
    },
    "/users/{user_id:int}": lambda world, caller: {"user_id": world["users"][4], "optional_user": caller},
    "/users/{user_id:int}/posts": lambda world, caller: {
        "user_id": world["users"][7],
        "limit": 20,
        "offset": None,
        "cursor": None,
        "order": "-created_at",
    },
    "/posts": lambda world, caller: {
        "limit": 100,
        "offset": None,
        "cursor": None,
        "author_id": None,
        "tag": None,
        "q": None,
        "order": "-created_at",
    },
    "/posts/{post_id:int}": lambda world, caller: {"post_id": world["posts"][-1]},
    "/tags": lambda world, caller: {"limit": 100, "offset": None, "cursor": None},
}


def assert_instances(value: Any, declared: Any) -> int:
    """``value`` is an instance of ``declared`` (a schema, a union of schemas, or a ``Page`` of either), nested
    schemas too.

    Returns how many schema instances were checked.
    """
    if get_origin(declared) is Page:
        assert isinstance(value, Page)
        (item_type,) = get_args(declared)
        return sum(assert_instances(item, item_type) for item in value.items)
    if get_origin(declared) in (Union, UnionType):
        assert type(value) in get_args(declared), (type(value), declared)
        declared = type(value)
    assert type(value) is declared, (type(value), declared)
    checked = 1
    for name, info in declared.model_fields.items():
        field_value = getattr(value, name)
        annotation = info.annotation
        if get_origin(annotation) is list and isinstance(get_args(annotation)[0], type):
            (item_type,) = get_args(annotation)
            if issubclass(item_type, BaseModel):
                checked += sum(assert_instances(item, item_type) for item in field_value)
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            checked += assert_instances(field_value, annotation)
        elif field_value is not None and get_origin(annotation) in (Union, UnionType):
            (inner,) = [arg for arg in get_args(annotation) if arg is not type(None)]
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                checked += assert_instances(field_value, inner)
    return checked


async def test_every_read_handler_returns_instances_of_its_declared_type(
    app: Any, app_settings: Settings, world: dict[str, list[int]]
) -> None:
    """Each GET handler of the API, called as Litestar calls it, returns its declared response type, nested
    schemas included: real instances built from the ORM objects, not dicts that only look like them."""
    caller = await User.get(id=world["users"][4])
    tested = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if route.path not in READ_CALLS or "GET" not in handler.http_methods:
                continue
            arguments = READ_CALLS[route.path](world, caller)
            if "settings" in handler.parsed_fn_signature.parameters:
                arguments["settings"] = app_settings
            result = await handler.fn(**arguments)  # bound to its controller
            checked = assert_instances(result, handler.parsed_fn_signature.return_type.annotation)
            assert checked > 1 or route.path == "/users/me", route.path
            tested.add(route.path)
    assert tested == set(READ_CALLS)


@pytest.mark.parametrize(
    ("model", "field"),
    [(Post, "created_at"), (User, "updated_at"), (User, "role"), (Profile, "created_at")],
)
def test_fast_converters_return_what_the_fields_return(model: type[Model], field: str) -> None:
    """The converters the hydration uses for datetimes and enums, called or written inline into a generated builder,
    give exactly what the field's own ``to_python_value`` gives (value, type and time zone object) for every kind of
    value, not only for what asyncpg returns (those take the fast path, the rest goes to the field)."""
    data_field = model._meta.fields_map[field]
    convert = fast_converter(data_field)
    assert convert is not data_field.to_python_value  # the fast path is in use for these fields
    inlined = instance_builder(model, {}, [], [(0, field, convert, True)])  # as the hydration writes it
    instant = datetime(2025, 3, 30, 1, 30, 15, 123456, tzinfo=UTC)
    values: list[Any] = [
        None,
        instant,
        instant.replace(fold=1),
        instant.astimezone(ZoneInfo("Europe/Paris")),
        instant.astimezone(timezone(timedelta(hours=-5, minutes=-30))),
        instant.replace(tzinfo=None),
        "2025-03-30T01:30:15.123456+00:00",
        "admin",
        "member",
        Role.ADMIN,
    ]
    for value in values:
        try:
            expected: Any = data_field.to_python_value(value)
        except Exception as error:
            with pytest.raises(type(error)):
                convert(value)
            with pytest.raises(type(error)):
                inlined((value,))
            continue
        for got in (convert(value), vars(inlined((value,)))[field]):
            assert (got, type(got)) == (expected, type(expected)), value
            if isinstance(expected, datetime):
                assert (got.tzinfo, got.fold, got.isoformat()) == (expected.tzinfo, expected.fold, expected.isoformat())


def test_a_compiled_builder_keeps_its_name_doc_and_defaults() -> None:
    @compiled("limit")
    def newest(limit: int = 2, order: str = "-id") -> QuerySet[Post]:
        """The newest posts."""
        return Post.all().order_by(order).limit(limit)

    assert (newest.__qualname__, newest.__doc__) == (newest.build.__qualname__, "The newest posts.")
    assert newest.plan() == newest.plan(2, "-id")  # the defaults fill what a call leaves out
    assert newest.plan()[1] == [2]
    assert newest.plan(order="id")[0] != newest.plan()[0]
    with pytest.raises(CompileError, match=r"newest has no parameters \['offset', 'since'\]"):
        compiled("limit", "offset", "since")(newest.build)


def test_a_separate_prefetch_pads_its_keys_to_the_next_power_of_two() -> None:
    """1 key, 2, 3 or 4, 5 to 8, ...: the last key repeated up to the size, one plan per size, made once."""
    _users_with_some_posts.plan(3)
    (prefetch,) = [prefetch for plan in _users_with_some_posts._plans.values() for prefetch in plan.prefetches]
    for count, size in ((1, 1), (2, 2), (3, 4), (4, 4), (5, 8), (8, 8), (9, 16)):
        keys = list(range(100, 100 + count))
        plan, values = prefetch.bound(keys)
        assert values == {f"key{n}": keys[min(n, count - 1)] for n in range(size)}, count
        assert plan is prefetch.bound(keys)[0] is prefetch.plans[size]
        assert sorted(plan.bind(values)[:size]) == sorted(values.values())


async def test_a_forward_prefetch_of_parents_without_a_row_gives_what_tortoise_gives(make_user: MakeUser) -> None:
    """A post with no author key, one whose key names no user and one whose author exists: the author Tortoise's
    own prefetch (``fetch_related``) sets, and the key it leaves; no statement when no parent has a key."""
    author = await make_user()
    (prefetch,) = compile_prefetches(Post.all().prefetch_related("author"))
    assert prefetch.kind == "forward"
    for author_ids in ([None], [None, 2**62, author.id]):
        mine, theirs = (
            [Post(title="draft", **({} if key is None else {"author_id": key})) for key in author_ids] for _ in range(2)
        )
        with track_queries() as stats:
            await prefetch.attach(mine)
        assert stats.count == (0 if author_ids == [None] else 1)
        for post in theirs:
            await post.fetch_related("author")
        assert snapshot(mine) == snapshot(theirs)
    assert mine[-1].author.id == author.id


@pytest.mark.parametrize("to_attr", [None, "labels"])
@pytest.mark.parametrize("known", [True, False], ids=["container made", "container read"])
async def test_a_separate_prefetch_fills_the_containers_tortoise_fills(
    world: dict[str, list[int]], to_attr: str | None, known: bool
) -> None:
    """A many-to-many prefetch in a statement of its own fills the container a parent already holds (read before
    the prefetch: Tortoise's prefetch fills that one), and, for a relation whose container the layer does not know
    how to make, the one its attribute gives."""
    tags = Tag.all().order_by("id")  # ordered: a to_attr list keeps the database's order
    expected = await Post.all().order_by("id").offset(1).prefetch_related(Prefetch("tags", tags, to_attr=to_attr))
    (prefetch,) = compile_prefetches(Post.all().offset(1).prefetch_related(Prefetch("tags", tags, to_attr=to_attr)))
    assert prefetch.rows is None  # an offset: not inlined
    assert prefetch.container is not None
    if not known:
        prefetch.container = None
    parents = await Post.all().order_by("id").offset(1)
    held = [parent.tags for parent in parents[::2]]  # containers made before the prefetch
    await prefetch.attach(parents)
    assert any(list(parent.tags) for parent in parents)
    assert snapshot(parents) == snapshot(expected)
    assert all(parent.tags is container for parent, container in zip(parents[::2], held, strict=True))


def test_an_inlined_prefetch_is_a_correlated_array_of_rows() -> None:
    """The statement Tortoise writes for the prefetch queryset, correlated on the parent's quoted key column and
    packed as an array of rows, named by its annotation."""
    fresh = Compiled(post_queries._post_by_id.build, ["post_id"])  # compiled here, not by an earlier test
    sql, _ = fresh.plan(1)
    (plan,) = fresh._plans.values()
    assert [prefetch.relation for prefetch in plan.prefetches] == ["tags"]
    assert plan.attached == ()  # put in their containers by the hydration of the posts' rows
    assert (
        'ARRAY((SELECT ROW("s".*) FROM (SELECT "tags"."id" "id","tags"."name" "name" FROM "tags" LEFT OUTER JOIN'
        ' "post_tags" ON "tags"."id"="post_tags"."tag_id" WHERE "post_tags"."post_id"="posts"."id") "s"))'
        ' "_compiled_rows_tags"'
    ) in sql


async def test_a_locking_read_is_sent_where_the_router_sends_writes(
    world: dict[str, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []

    class Recording:
        def __init__(self, name: str) -> None:
            self.name = name

        async def execute_query(self, sql: str, values: list[Any]) -> Any:
            sent.append(self.name)
            return await Post._meta.db.execute_query(sql, values)

    @compiled("post_id")
    def locking(post_id: int) -> QuerySet[Post]:
        return Post.filter(id=post_id).select_for_update()

    writer, reader = Recording("writer"), Recording("reader")
    routes = SimpleNamespace(
        db_for_write=lambda model: writer if model is Post else None,
        db_for_read=lambda model: reader if model is Post else None,
    )
    monkeypatch.setattr(orm_plans, "router", routes)
    post_id = world["posts"][0]
    assert [post.id for post in await locking(post_id)] == [post_id]
    assert [post.id for post in await _reading_posts(post_id)] == [post_id]
    assert sent == ["writer", "reader"]


@compiled("post_id")
def _reading_posts(post_id: int) -> QuerySet[Post]:
    return Post.filter(id=post_id)


@compiled("post_id")
def _post_or_error(post_id: int) -> QuerySetSingle[Post]:
    return Post.get(id=post_id)


@compiled("author_id")
def _one_post_of(author_id: int) -> QuerySetSingle[Post]:
    return Post.filter(author_id=author_id).get()


async def test_get_raises_what_tortoise_raises(world: dict[str, list[int]]) -> None:
    """``.get()``: the one object; none or several raise Tortoise's own exceptions, with its messages."""
    await assert_same(_post_or_error, world["posts"][0])
    authors = [post.author_id for post in await Post.filter(id__in=world["posts"])]
    several = next(author for author in authors if authors.count(author) > 1)
    for query, value, error in (
        (_post_or_error, 0, DoesNotExist),
        (_one_post_of, several, MultipleObjectsReturned),
    ):
        with pytest.raises(error) as expected:
            await query.build(value)
        with pytest.raises(error) as got:
            await query(value)
        assert str(got.value) == str(expected.value)
        assert "Post" in str(got.value)


@compiled("user_id")
def _user_with_profile_prefetched(user_id: int) -> QuerySetSingle[User | None]:
    # A reverse one-to-one prefetch is attached after the hydration, to the one user or to nobody.
    return User.filter(id=user_id).prefetch_related("profile").first()


@compiled("limit")
def _posts_with_tag_names_only(limit: int) -> QuerySet[Post]:
    # A many-to-many prefetch that leaves out the tags' key: added, as Tortoise adds it.
    return Post.all().order_by("id").limit(limit).prefetch_related(Prefetch("tags", Tag.all().only("name")))


async def test_single_reads_and_keyless_prefetches_match_the_orm(world: dict[str, list[int]]) -> None:
    for user_id in (*world["users"], *world["missing"]):
        await assert_same(_user_with_profile_prefetched, user_id)
    for limit in (1, 5, 100):
        posts = await assert_same(_posts_with_tag_names_only, limit)
    assert all(tag.id for post in posts for tag in post.tags)


def test_a_many_to_many_prefetch_needs_a_related_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its rows are selected through the reverse name (``posts__id``): without one there is none to select by."""
    tags = Post._meta.fields_map["tags"]
    for hidden in ("posts+", None):
        monkeypatch.setattr(tags, "related_name", hidden)

        @compiled()
        def tagged() -> QuerySet[Post]:
            return Post.all().prefetch_related("tags")

        with pytest.raises(CompileError, match=r"^prefetch of 'tags': the many-to-many relation needs a related_name$"):
            tagged.plan()


def test_an_instance_builder_converts_with_any_converter() -> None:
    """A converter that is not written inline is called: on every value (Tortoise's "complex" fields), or only
    on values that are not null ("default" fields)."""
    build = instance_builder(Post, {}, [(0, "id")], [(1, "title", str.upper, True), (2, "body", str.lower, False)])
    assert {k: v for k, v in vars(build((1, "ab", "CD"))).items() if k != "_await_when_save"} == {
        "id": 1,
        "title": "AB",
        "body": "cd",
    }
    assert vars(build((2, "x", None)))["body"] is None
    with pytest.raises(TypeError):
        build((3, None, None))  # called on null too


def test_a_prefetch_that_cannot_be_correlated_is_refused() -> None:
    """The parent's key goes where the marker value is: a prefetch queryset that itself holds that value twice
    over cannot say which."""

    @compiled()
    def ambiguous() -> QuerySetSingle[User | None]:
        return User.all().prefetch_related(Prefetch("posts", Post.filter(author_id=_CORRELATED))).first()

    with pytest.raises(CompileError, match="cannot correlate Post rows to the parent's id"):
        ambiguous.plan()


@compiled("limit")
def _posts_with_authors_and_profiles(limit: int) -> QuerySet[Post]:
    # Two levels of select_related: the author, then the author's profile (null where there is none).
    return Post.all().order_by("id").limit(limit).select_related("author__profile")


@compiled("limit")
def _posts_with_profiles_only(limit: int) -> QuerySet[Post]:
    # The author only as the way to the profile (none of its columns): a "filler" level, left to Tortoise.
    return (
        Post.all()
        .order_by("id")
        .limit(limit)
        .select_related("author__profile")
        .only("id", "title", "author__profile__bio")
        .prefetch_related("tags")
    )


@compiled("limit")
def _posts_with_author_names(limit: int) -> QuerySet[Post]:
    # A joined model with one column: hydrated by the layer like any other.
    return Post.all().order_by("id").limit(limit).select_related("author").only("id", "title", "author__name")


@compiled("limit")
def _users_with_tagged_posts(limit: int) -> QuerySet[User]:
    # A prefetch queryset with a prefetch of its own: a statement of its own, whose tags are one more.
    return (
        User.all().order_by("id").limit(limit).prefetch_related(Prefetch("posts", Post.all().prefetch_related("tags")))
    )


async def test_nested_joins_and_prefetches_match_the_orm(world: dict[str, list[int]]) -> None:
    """``select_related`` two levels deep (hydrated by the layer: each level's columns, set on its holder), a level
    with no columns of its own (left to Tortoise), and a prefetch queryset with a prefetch of its own."""
    for limit in (1, 5, 100):
        posts = await assert_same(_posts_with_authors_and_profiles, limit)
        await assert_same(_posts_with_author_names, limit)
        await assert_same(_posts_with_profiles_only, limit)
        users = await assert_same(_users_with_tagged_posts, limit)
    assert {post.author.profile is None for post in posts} == {True, False}
    assert any(list(post.tags) for user in users for post in user.posts)
    shapes = (
        (_posts_with_authors_and_profiles, True),
        (_posts_with_author_names, True),
        (_posts_with_profiles_only, False),
    )
    for query, hydrated in shapes:
        (plan,) = query._plans.values()
        assert (plan.hydration is not None) is hydrated
    (plan,) = _users_with_tagged_posts._plans.values()
    assert [prefetch.rows for prefetch in plan.prefetches] == [None]
    (plan,) = _posts_with_profiles_only._plans.values()
    assert plan.attached == plan.prefetches  # hydrated by Tortoise: the tags attached after it
    assert any(list(post.tags) for post in await _posts_with_profiles_only(100))
    # Hydrated by the layer: the posts, a reverse foreign key, go in their containers as the rows are hydrated; the
    # profile, a reverse one-to-one, is attached after.
    await _users_with_everything(5)
    (plan,) = _users_with_everything._plans.values()
    assert [prefetch.relation for prefetch in plan.attached] == ["profile"]


def test_a_joined_instance_is_set_on_its_holder_unless_the_holder_is_none() -> None:
    """Three levels of a row: the second all null is None, and the third, though present, has no holder to go on."""

    def level(name: str, start: int) -> Callable[[Any], Any]:
        return lambda row: SimpleNamespace(level=name, value=row[start])

    segments = (
        Segment(0, 1, level("post", 0), None),
        Segment(1, 2, level("author", 1), (0, "_author")),
        Segment(2, 3, level("profile", 2), (1, "_profile")),
    )
    full, orphan, bare = _hydrator(segments, ())([(1, 2, 3), (1, None, 3), (1, 2, None)])
    assert (full._author.value, full._author._profile.value) == (2, 3)
    assert orphan._author is None
    assert bare._author._profile is None


def test_a_bound_value_the_builder_chooses_by_is_refused() -> None:
    """The two builds' markers differ in parity: a builder that sends its value only for odd values sends a
    constant in one build, so the value does not reach the SQL unchanged in both."""

    @compiled("post_id")
    def odd_only(post_id: int) -> QuerySet[Post]:
        return Post.filter(id=post_id if post_id % 2 else 5)

    with pytest.raises(CompileError):
        odd_only.plan(3)


def test_relation_containers_are_made_as_tortoise_makes_them() -> None:
    """The prefetch places related objects in containers made with the arguments of Tortoise's own attribute
    getters: for every reverse and many-to-many relation of the service, the same container as reading the
    attribute gives (a Tortoise release that changes the getters fails here; the layer would fall back)."""
    relations = [(User, "posts"), (Post, "tags"), (Tag, "posts")]
    for model, name in relations:
        made = relation_container(model, name)
        assert made is not None, (model.__name__, name)
        key, make = made
        instance = model(id=1)
        container = make(instance)
        expected = getattr(model(id=1), name)
        assert key == f"_{name}"
        assert type(container) is type(expected)
        assert {k: v for k, v in vars(container).items() if k != "instance"} == {
            k: v for k, v in vars(expected).items() if k != "instance"
        }
        assert container.instance is instance
    for model, name in [(User, "name"), (User, "profile"), (Post, "author"), (User, "no_such_attribute")]:
        assert relation_container(model, name) is None, (model.__name__, name)  # not made directly: read instead


def test_releasing_a_relation_never_fetched_changes_nothing() -> None:
    user = User(id=1, name="Ada")
    before = dict(vars(user))
    release([user], "posts")
    assert vars(user) == before


def test_the_fast_path_is_on_by_default() -> None:
    assert FastPath().on is True


async def test_released_instances_are_freed_without_the_garbage_collector(world: dict[str, list[int]]) -> None:
    """A prefetched relation's container points back at its instance: a cycle only the garbage collector frees.
    ``release`` drops the containers once the responses are built, so the instances go with their last reference;
    reading a released relation raises like a relation never fetched."""
    tagged = [post_id for post_id in world["posts"] if await Post.filter(id=post_id, tags__id__isnull=False).exists()]
    gc.disable()
    try:
        for read, key, relation in [
            (post_queries._post_by_id, tagged[0], "tags"),
            (user_queries._user_detail, world["users"][7], "posts"),
        ]:
            instance: Any = await read(key)
            assert list(getattr(instance, relation))
            kept = weakref.ref(instance)
            release([instance], relation)
            del instance
            assert kept() is None, relation
        unreleased = await post_queries._post_by_id(tagged[0])
        assert unreleased is not None
        assert list(unreleased.tags)
        kept = weakref.ref(unreleased)
        del unreleased
        assert kept() is not None  # the cycle keeps it: what release is for
        released = await post_queries._post_by_id(tagged[0])
        assert released is not None
        release([released], "tags")
        with pytest.raises(NoValuesFetched):
            list(released.tags)
    finally:
        gc.enable()
        gc.collect()


async def test_from_orm_builds_what_model_validate_builds(
    world: dict[str, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The response schemas are built from the ORM objects by ``from_orm`` (no second validation of what the
    typed model fields already hold): the same instances as ``model_validate``, field by field, set fields and
    JSON included, for every read's objects. The plans are made here, not taken from those made at import."""
    monkeypatch.setattr(orm_schemas, "_builders", {})
    pairs: list[tuple[type[BaseModel], Any]] = []
    for post_id in world["posts"]:
        pairs.append((PostRead, await post_queries._post_by_id(post_id)))
    for offset in (None, 3):
        pairs += [(PostRead, post) for post in await post_queries._post_page(100, offset, None, None, None, "id")]
    for user_id in world["users"]:
        pairs.append((UserDetailRead, await user_queries._user_detail(user_id)))
        pairs.append((PublicUserDetailRead, await user_queries._user_detail(user_id, False)))
        pairs.append((UserRead, await auth_dependencies._user_by_id(user_id)))
    pairs += [(UserRead, user) for user in await user_queries._user_page(100, None, None, None, "id", True)]
    pairs += [(PublicUserRead, user) for user in await user_queries._user_page(100, None, None, None, "id")]
    pairs += [(TagRead, tag) for tag in await tag_queries._tag_page(100, 0)]
    assert {schema for schema, _ in pairs} == {
        PostRead,
        UserDetailRead,
        PublicUserDetailRead,
        UserRead,
        PublicUserRead,
        TagRead,
    }
    for schema, obj in pairs:
        built, validated = from_orm(schema)(obj), schema.model_validate(obj)
        assert built == validated
        assert built.model_fields_set == validated.model_fields_set
        assert built.__pydantic_extra__ == validated.__pydantic_extra__
        assert built.__pydantic_private__ == validated.__pydantic_private__
        assert to_json(built) == to_json(validated)
        assert assert_instances(built, schema) >= 1
    assert from_orm(PostRead) is from_orm(PostRead)  # one plan per schema


class _Named(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    name: str
    size: int | None = None


class _WithPrivate(_Named):
    _seen: int = PrivateAttr(default=7)


class _WithExtra(_Named):
    model_config = ConfigDict(from_attributes=True, extra="allow")


class _WithPostInit(_Named):
    def model_post_init(self, context: Any) -> None:
        self.__dict__["name"] = self.name.upper()


class _WithNested(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    inner: _Named
    maybe: _Named | None
    count: int | None
    many: Annotated[list[_Named], BeforeValidator(list)]
    words: Annotated[list[str], BeforeValidator(lambda words: sorted(words))]


@pytest.mark.parametrize("schema", [_Named, _WithPrivate, _WithExtra, _WithPostInit])
def test_from_orm_fills_every_kind_of_schema_as_model_validate_does(
    schema: type[BaseModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A schema ``model_construct`` fills with more than the values (private attributes, extra fields, a
    ``model_post_init``) is built as ``model_validate`` builds it, instance state included."""
    monkeypatch.setattr(orm_schemas, "_builders", {})
    obj = SimpleNamespace(name="ada", size=3)
    built, validated = from_orm(schema)(obj), schema.model_validate(obj)
    assert type(built) is schema
    assert built.__dict__ == validated.__dict__
    assert built.model_fields_set == validated.model_fields_set
    assert built.__pydantic_extra__ == validated.__pydantic_extra__
    assert built.__pydantic_private__ == validated.__pydantic_private__
    with fast_path(False), pytest.raises(ValidationError):
        from_orm(schema)(SimpleNamespace(name=1))


def test_from_orm_builds_nested_optional_and_listed_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orm_schemas, "_builders", {})
    build = from_orm(_WithNested)
    for maybe, count in ((SimpleNamespace(name="b", size=2), 3), (None, None)):
        obj = SimpleNamespace(
            inner=SimpleNamespace(name="a", size=None),
            maybe=maybe,
            count=count,
            many=(SimpleNamespace(name="c", size=1), SimpleNamespace(name="d", size=None)),
            words={"z", "y"},
        )
        built, validated = build(obj), _WithNested.model_validate(obj)
        assert built == validated
        assert built.model_fields_set == validated.model_fields_set
        assert [type(item) for item in built.many] == [_Named, _Named]
        assert built.words == ["y", "z"]


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (Annotated[str, BeforeValidator(lambda value: value), BeforeValidator(lambda value: value)], "BeforeValidator"),
        (Annotated[str, Field(alias="other")], "an alias"),
        (Annotated[str, Field(validation_alias="other")], "an alias"),
        (Annotated[str, BeforeValidator(lambda value, info: value)], "takes more than the value"),
        (list[int], "list"),
        (_Named | int, "int"),
        (Annotated[_Named, BeforeValidator(lambda value: value)], "_Named"),
    ],
)
def test_from_orm_refuses_each_field_it_cannot_fill(
    annotation: Any, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(orm_schemas, "_builders", {})
    schema = create_model("Refused", __config__=ConfigDict(from_attributes=True), field=(annotation, ...))
    with pytest.raises(UnsupportedFieldError, match=message):
        from_orm(schema)


def test_from_orm_refuses_a_field_that_is_not_an_attribute_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orm_schemas, "_builders", {})
    schema = create_model("Dashed", __config__=ConfigDict(from_attributes=True), **{"two-words": (int, ...)})
    with pytest.raises(UnsupportedFieldError, match=r"Dashed\.two-words: not an attribute name"):
        from_orm(schema)


async def test_a_first_page_carries_its_total(world: dict[str, list[int]]) -> None:
    """``page_total`` reads the total every row of a first page carries: the number of matches, not of rows."""
    total = await Post.all().count()
    assert total > 3
    for limit in (1, 3):
        page = await post_queries._post_page(limit, None, None, None, None, "id")
        assert len(page) == limit
        assert page_total(page) == total
    assert page_total([]) == 0


def test_from_orm_refuses_a_field_it_cannot_copy() -> None:
    class Unsupported(BaseModel):
        when: dict[str, int]

    with pytest.raises(UnsupportedFieldError, match=r"Unsupported\.when"):
        from_orm(Unsupported)


async def test_with_orm_fast_path_off_every_read_is_the_plain_queryset(
    app_settings: Settings, world: dict[str, list[int]]
) -> None:
    """``ORM_FAST_PATH=0`` (read by ``create_app``): a compiled read returns the builder's own queryset, awaited as
    written (the tags prefetched in statements of their own), ``from_orm`` validates, ``release`` keeps relations."""
    create_app(app_settings.model_copy(update={"orm_fast_path": False}))
    try:
        post_id = world["posts"][-1]
        read = post_queries._post_by_id(post_id)
        assert type(read) is QuerySet
        with track_queries() as stats:
            post = await read
        assert stats.count == 3  # the post and its author; the tags' links; the tags
        assert post is not None
        built = from_orm(PostRead)(post)
        assert built == PostRead.model_validate(post)
        with pytest.raises(ValidationError):  # validated, not constructed
            from_orm(TagRead)(SimpleNamespace(**dict.fromkeys(TagRead.model_fields, object())))
        release([post], "tags")
        assert list(post.tags)  # left as Tortoise made it
        found = post_queries._post_page(5, None, None, None, None, "id", search="zzz-no-match")
        assert type(found) is QuerySet
        assert await found == []  # keyword arguments reach the builder too
    finally:
        create_app(app_settings)
    from_orm(TagRead)(SimpleNamespace(**dict.fromkeys(TagRead.model_fields, object())))  # constructed: no check
    read = post_queries._post_by_id(post_id)
    assert type(read) is not QuerySet  # the fast path is back
    with track_queries() as stats:
        await read
    assert stats.count == 1
