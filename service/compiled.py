"""Tortoise querysets compiled once: the ORM writes each statement and hydrates its rows; calls bind new values.

Building a queryset costs far more CPU than running it: pypika copies its immutable query objects at every step,
and the filters, joins, ``select_related`` columns and prefetches are resolved again on every request (about a
millisecond for a post with its author and tags). A read's *shape* (filters, ordering, projection, joins,
prefetches) is fixed by the code; only its values change between requests. So::

    @compiled("post_id")
    def post_by_id(post_id: int) -> QuerySetSingle[Post | None]:
        return Post.filter(id=post_id).select_related("author").first()

    post = await post_by_id(7)

``compiled`` calls the builder with marker values in place of the bound parameters, lets Tortoise build the query
(``_make_query``) and takes its SQL and parameter list, noting where each marker landed. A call binds the real
values into a copy of that parameter list and runs the SQL through the query's own ``_execute``: Tortoise's
executor, its ``select_related`` splitting, annotations, ``.first()``/``.get()``/``.count()``/``.values()``
semantics and model hydration. The result is what awaiting the uncompiled queryset returns (tests/test_compiled.py
checks it on data of every shape, and under concurrency).

- **Bound parameters** (named in ``@compiled(...)``) are ``int`` or ``str`` values, or None. The builder may only
  pass them to the ORM (filters, ``limit``, ``offset``) and test them with ``is None``: building the query twice
  with different markers must give the same SQL, or compiling fails. A string that Tortoise embeds in a LIKE
  pattern (``icontains`` and friends) is escaped exactly as Tortoise escapes it.
- **Shape parameters** (every other parameter: enums, sort keys, flags) select one of several compiled shapes,
  each built on first use and kept. They must be hashable and few.
- **Prefetches** (``prefetch_related``, with ``Prefetch`` querysets) are compiled too, one statement per relation:
  the related rows are selected by an ``IN`` list of the parents' keys padded to the next power of two (a handful
  of statement shapes for any page size) and attached to the parents as Tortoise's own prefetch attaches them. A
  many-to-many relation is one statement joined through its table, where Tortoise sends two. As in Tortoise, a
  ``limit`` on a prefetch queryset limits all parents together. Nested prefetches are not supported.
- The connection is chosen at every call, as Tortoise chooses it: inside ``in_transaction()`` the statement runs in
  that transaction.

This layer reads private parts of Tortoise (``_make_query``, ``_execute``, ``_prefetch_map``,
``_prefetch_queries``, the relation containers' ``_set_result_for_query``): tortoise-orm is pinned to one minor
version in pyproject.toml, and tests/test_compiled.py compares every compiled read with the uncompiled ORM.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Awaitable, Callable, Generator, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar

from tortoise.expressions import F
from tortoise.filters import escape_like
from tortoise.models import Model
from tortoise.queryset import AwaitableQuery, QuerySet

P = ParamSpec("P")
R = TypeVar("R")

_PARENT_KEY = "_compiled_parent_key"
_INT_MARKERS = (7_350_000_000_000_000_000, 7_360_000_000_000_000_001)  # of different parity and magnitude
_TEXT_MARKERS = ("qzxcompiledmarkera", "qzxcompiledmarkerb")


class CompileError(TypeError):
    """A builder whose SQL depends on the values of its bound parameters, or that the layer cannot compile."""


def _marker(value: object, name: str, index: int, variant: int) -> object:
    if type(value) is int:
        return _INT_MARKERS[variant] + 2 * index
    if type(value) is str:
        return f"{_TEXT_MARKERS[variant]}{index}x"
    raise CompileError(f"bound parameter {name!r} must be an int or a str, got {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class _Slot:
    """Where one bound value goes in the parameter list: as itself, or escaped inside a LIKE pattern."""

    position: int
    name: str
    pattern: tuple[str, str] | None  # (prefix, suffix) of a LIKE pattern, or None for the value itself


class _BoundSQL:
    """Stands in for the pypika query of a compiled template: the same SQL, this call's parameters."""

    __slots__ = ("params", "sql")

    def __init__(self, sql: str, params: list[Any]) -> None:
        self.sql = sql
        self.params = params

    def get_parameterized_sql(self, ctx: object = None) -> tuple[str, list[Any]]:
        return self.sql, self.params


@dataclass(slots=True)
class _Plan:
    """One compiled shape: the built query (never run itself), its SQL, its parameters and their slots."""

    template: AwaitableQuery[Any]
    sql: str
    params: list[Any]
    slots: tuple[_Slot, ...]
    for_write: bool
    prefetches: tuple[_Prefetch, ...] = ()

    def bind(self, values: Mapping[str, Any]) -> list[Any]:
        params = list(self.params)
        for slot in self.slots:
            value = values[slot.name]
            params[slot.position] = (
                value if slot.pattern is None else f"{slot.pattern[0]}{escape_like(value)}{slot.pattern[1]}"
            )
        return params

    def instance(self, values: Mapping[str, Any]) -> AwaitableQuery[Any]:
        """A copy of the template that runs this plan's SQL with ``values``, on the connection chosen now."""
        query = copy.copy(self.template)
        query.query = _BoundSQL(self.sql, self.bind(values))  # type: ignore[assignment]
        query._db = None  # type: ignore[assignment]
        query._db = query._choose_db(self.for_write)
        if isinstance(query, QuerySet):
            query._prefetch_map = {}
            query._prefetch_queries = {}
        return query


def _build(build: Callable[..., Any], values: Mapping[str, Any]) -> tuple[AwaitableQuery[Any], str, list[Any]]:
    query = build(**values)
    if not isinstance(query, AwaitableQuery):
        raise CompileError(f"{build.__qualname__} must return a Tortoise query, got {type(query).__name__}")
    query._choose_db_if_not_chosen()
    query._make_query()
    sql, params = query.query.get_parameterized_sql()
    return query, sql, list(params)


def _plan(build: Callable[..., Any], values: Mapping[str, Any], bound: Sequence[str]) -> _Plan:
    """Build the query twice, with two sets of markers for the bound values, and locate every marker."""
    bound_names = [name for name in bound if values[name] is not None]
    variants = []
    for variant in (0, 1):
        marked = dict(values)
        for index, name in enumerate(bound_names):
            marked[name] = _marker(values[name], name, index, variant)
        variants.append(marked)
    template, sql, params = _build(build, variants[0])
    _, other_sql, other_params = _build(build, variants[1])
    if sql != other_sql or len(params) != len(other_params):
        raise CompileError(f"{build.__qualname__}: the SQL depends on the values of its bound parameters")
    slots: list[_Slot] = []
    found: set[str] = set()
    for position, (param, other) in enumerate(zip(params, other_params, strict=True)):
        if param == other:
            continue
        slot = _locate(position, param, other, variants, bound_names)
        if slot is None:
            raise CompileError(
                f"{build.__qualname__}: parameter {position + 1} changes with the bound values but is not one of"
                " them (a bound value must reach the ORM unchanged)"
            )
        slots.append(slot)
        found.add(slot.name)
    if missing := set(bound_names) - found:
        raise CompileError(f"{build.__qualname__}: bound parameters {sorted(missing)} do not reach the SQL")
    for_write = bool(getattr(template, "_select_for_update", False))
    return _Plan(template, sql, params, tuple(slots), for_write)


def _locate(
    position: int, param: object, other: object, variants: list[dict[str, Any]], names: Sequence[str]
) -> _Slot | None:
    for name in names:
        first, second = variants[0][name], variants[1][name]
        if param == first and other == second:
            return _Slot(position, name, None)
        if isinstance(param, str) and isinstance(first, str) and isinstance(other, str) and first in param:
            prefix, _, suffix = param.partition(first)
            if other == f"{prefix}{second}{suffix}":
                return _Slot(position, name, (prefix, suffix))
    return None


@dataclass(slots=True)
class _Prefetch:
    """One prefetched relation: how to select its rows for a set of parent keys, and where to put them."""

    relation: str
    to_attr: str | None
    kind: str  # "many" (reverse FK), "m2m", "one" (reverse one-to-one), "forward" (FK or one-to-one)
    parent_key: Callable[[Model], Any]
    child_key: str
    related: QuerySet[Any]
    plans: dict[int, _Plan] = field(default_factory=dict)

    def bound(self, keys: Sequence[Any]) -> tuple[_Plan, dict[str, Any]]:
        """The plan for ``keys`` padded to the next power of two (repeating the last), and its values."""
        size = 1 << (len(keys) - 1).bit_length()
        padded = [*keys, *[keys[-1]] * (size - len(keys))]
        return self._plan_for(size), {f"key{n}": key for n, key in enumerate(padded)}

    def _plan_for(self, size: int) -> _Plan:
        plan = self.plans.get(size)
        if plan is None:
            names = [f"key{n}" for n in range(size)]

            def build(**keys: int) -> QuerySet[Any]:
                wanted = [keys[name] for name in names]
                if self.kind == "m2m":
                    return self.related.filter(**{f"{self.child_key}__in": wanted}).annotate(
                        **{_PARENT_KEY: F(self.child_key)}
                    )
                return self.related.filter(**{f"{self.child_key}__in": wanted})

            build.__qualname__ = f"prefetch of {self.relation!r}"
            plan = self.plans[size] = _plan(build, dict.fromkeys(names, 0), names)
        return plan

    async def attach(self, parents: Sequence[Model]) -> None:
        keys = list(dict.fromkeys(key for key in map(self.parent_key, parents) if key is not None))
        rows: list[Any] = []
        if keys:
            plan, values = self.bound(keys)
            rows = await plan.instance(values)._execute()
        if self.kind in ("one", "forward"):
            by_key = {getattr(row, self.child_key): row for row in rows}
            for parent in parents:
                found = by_key.get(self.parent_key(parent))
                setattr(parent, f"_{self.relation}" if self.kind == "one" else self.relation, found)
                if self.to_attr:
                    setattr(parent, self.to_attr, found)
            return
        grouped: dict[Any, list[Any]] = {}
        if self.kind == "m2m":
            for row in rows:
                grouped.setdefault(row.__dict__.pop(_PARENT_KEY), []).append(row)
        else:
            for row in rows:
                grouped.setdefault(getattr(row, self.child_key), []).append(row)
        for parent in parents:
            getattr(parent, self.relation)._set_result_for_query(grouped.get(self.parent_key(parent), []), self.to_attr)


def _prefetches(template: AwaitableQuery[Any]) -> tuple[_Prefetch, ...]:
    """The compiled form of a QuerySet's ``prefetch_related``."""
    if not isinstance(template, QuerySet):
        return ()
    model = template.model
    meta = model._meta
    wanted: dict[str, tuple[str | None, QuerySet[Any]]] = {}
    for name, queries in template._prefetch_queries.items():
        if len(queries) != 1:
            raise CompileError(f"prefetch of {name!r}: one Prefetch per relation")
        wanted[name] = queries[0]
    for name, forwarded in template._prefetch_map.items():
        if forwarded:
            raise CompileError(f"prefetch of {name!r}: nested prefetches are not supported")
        if name not in wanted:
            wanted[name] = (None, meta.fields_map[name].related_model.all())
    result = []
    for name, (to_attr, related) in wanted.items():
        relation: Any = meta.fields_map[name]
        pk = meta.pk_attr
        if name in meta.backward_fk_fields or name in meta.backward_o2o_fields:
            key_attr = relation.to_field_instance.model_field_name
            kind = "many" if name in meta.backward_fk_fields else "one"
            result.append(_Prefetch(name, to_attr, kind, _getter(key_attr), relation.relation_field, related))
        elif name in meta.m2m_fields:
            if not relation.related_name or relation.related_name.endswith("+"):
                raise CompileError(f"prefetch of {name!r}: the many-to-many relation needs a related_name")
            related_pk = relation.related_model._meta.pk_attr
            child_key = f"{relation.related_name}__{pk}"
            if related._fields_for_select and related_pk not in related._fields_for_select:
                related = related.only(*related._fields_for_select, related_pk)
            result.append(_Prefetch(name, to_attr, "m2m", _getter(pk), child_key, related))
        else:  # a forward foreign key or one-to-one
            result.append(
                _Prefetch(name, to_attr, "forward", _getter(relation.source_field), relation.to_field, related)
            )
    return tuple(result)


def _getter(attribute: str) -> Callable[[Model], Any]:
    return lambda instance: getattr(instance, attribute)


class _Call(Awaitable[R]):
    """One call of a compiled query: awaiting it runs the statement (and its prefetches)."""

    __slots__ = ("plan", "values")

    def __init__(self, plan: _Plan, values: dict[str, Any]) -> None:
        self.plan = plan
        self.values = values

    def __await__(self) -> Generator[Any, None, R]:
        return self._run().__await__()

    async def _run(self) -> R:
        result = await self.plan.instance(self.values)._execute()
        if self.plan.prefetches and result:
            parents = result if isinstance(result, list) else [result]
            for prefetch in self.plan.prefetches:
                await prefetch.attach(parents)
        return result  # type: ignore[no-any-return]


class Compiled(Generic[P, R]):
    """A queryset builder compiled once per shape; calling it runs the compiled statement with new values."""

    def __init__(self, build: Callable[P, Awaitable[R]], bound: Sequence[str]) -> None:
        signature = inspect.signature(build)
        unknown = set(bound) - set(signature.parameters)
        if unknown:
            raise CompileError(f"{build.__qualname__} has no parameters {sorted(unknown)}")
        self.build = build
        self.bound = frozenset(bound)
        self._names = tuple(signature.parameters)
        self._defaults = {
            name: parameter.default
            for name, parameter in signature.parameters.items()
            if parameter.default is not inspect.Parameter.empty
        }
        self._plans: dict[Hashable, _Plan] = {}
        self.__doc__ = build.__doc__
        self.__qualname__ = build.__qualname__

    def _values(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        values = dict(self._defaults)
        values.update(zip(self._names, args, strict=False))
        values.update(kwargs)
        return values

    def _shape(self, values: Mapping[str, Any]) -> Hashable:
        bound = self.bound
        return tuple(values[name] is None if name in bound else values[name] for name in self._names)

    def plan(self, *args: P.args, **kwargs: P.kwargs) -> tuple[str, list[Any]]:
        """The SQL and parameters a call with these arguments sends (compiling its shape if needed)."""
        values = self._values(args, kwargs)
        plan = self._plan_for(values)
        return plan.sql, plan.bind(values)

    def prefetch_plan(
        self, relation: str, keys: Sequence[Any], *args: P.args, **kwargs: P.kwargs
    ) -> tuple[str, list[Any]]:
        """The SQL and parameters of the prefetch of ``relation`` for parents with these ``keys``."""
        plan = self._plan_for(self._values(args, kwargs))
        (prefetch,) = [prefetch for prefetch in plan.prefetches if prefetch.relation == relation]
        child, values = prefetch.bound(keys)
        return child.sql, child.bind(values)

    def _plan_for(self, values: Mapping[str, Any]) -> _Plan:
        shape = self._shape(values)
        plan = self._plans.get(shape)
        if plan is None:
            plan = _plan(self.build, values, sorted(self.bound, key=self._names.index))
            plan.prefetches = _prefetches(plan.template)
            self._plans[shape] = plan
        return plan

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Awaitable[R]:
        values = self._values(args, kwargs)
        return _Call(self._plan_for(values), values)


def compiled(*bound: str) -> Callable[[Callable[P, Awaitable[R]]], Compiled[P, R]]:
    """Compile a queryset builder; ``bound`` names the parameters whose values are bound at each call."""

    def decorate(build: Callable[P, Awaitable[R]]) -> Compiled[P, R]:
        return Compiled(build, bound)

    return decorate
