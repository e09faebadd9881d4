"""Statement plans: a queryset builder compiled once per shape, its SQL written by Tortoise, each call binding values.

``compiled`` calls the builder with marker values in place of the bound parameters, lets Tortoise build the query
(``_make_query``) and takes its SQL and parameter list, noting where each marker landed. A call binds the real
values into a copy of that parameter list and sends the SQL through Tortoise's connection (``execute_query``: its
error translation, the connection chosen by Tortoise's router or the current transaction). The result is what
awaiting the uncompiled queryset returns (``tests/test_compiled.py`` checks it on data of every shape, Tortoise's
bookkeeping attributes included, and under concurrency). With ``ORM_FAST_PATH`` off a call is the builder's own
queryset, awaited as written.

- **Bound parameters** (named in ``@compiled(...)``) are ``int``, ``float``, ``str`` or time-zone aware
  ``datetime`` values, or None. The builder may only
  pass them to the ORM (filters, ``limit``, ``offset``) and test them with ``is None``: building the query twice
  with different markers must give the same SQL, or compiling fails. A string that Tortoise embeds in a LIKE
  pattern (``icontains`` and friends) is escaped exactly as Tortoise escapes it.
- **Shape parameters** (every other parameter: enums, sort keys, flags) select one of several compiled shapes,
  each built on first use and kept. They must be hashable and few.
- Rows are hydrated by ``service.orm.hydration``, prefetches compiled by ``service.orm.prefetch``; other queries
  (``count()``, ``exists()``, ``values()``) run through their own ``_execute``.

Reads Tortoise's ``_make_query``, ``_choose_db_if_not_chosen``, ``_execute``, ``_single``,
``_raise_does_not_exist``, ``_select_for_update``, ``_db``, ``_prefetch_map``, ``_prefetch_queries`` and
pypika's ``_selects``; ``tests/test_private_names.py`` names each.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, ParamSpec, TypeVar

from tortoise.exceptions import DoesNotExist, MultipleObjectsReturned
from tortoise.filters import escape_like
from tortoise.models import Model
from tortoise.queryset import AwaitableQuery, QuerySet
from tortoise.router import router

from service.orm.errors import CompileError
from service.orm.hydration import Hydration, row_hydration
from service.orm.mode import FAST
from service.orm.prefetch import PrefetchPlan, compile_prefetches

P = ParamSpec("P")
R = TypeVar("R")

_INT_MARKERS = (7_350_000_000_000_000_000, 7_360_000_000_000_000_001)  # of different parity and magnitude
_TEXT_MARKERS = ("qzxcompiledmarkera", "qzxcompiledmarkerb")
_FLOAT_MARKERS = (7.35e-300, 7.36e-299)
_TIME_MARKERS = (datetime(2901, 1, 1, tzinfo=UTC), datetime(2902, 7, 3, 1, 2, 3, 456789, tzinfo=UTC))


TOTAL = "_page_total"
"""The annotation that carries a page's total (a subquery) on each of its rows; read it with ``page_total``."""


def page_total(rows: Sequence[Model]) -> int:
    """The ``TOTAL`` annotation of a page (0 for an empty first page: nothing matched)."""
    return int(vars(rows[0])[TOTAL] or 0) if rows else 0


def _marker(value: object, name: str, index: int, variant: int) -> object:
    if type(value) is int:
        return _INT_MARKERS[variant] + 2 * index
    if type(value) is str:
        return f"{_TEXT_MARKERS[variant]}{index}x"
    if type(value) is float:
        return _FLOAT_MARKERS[variant] * (index + 2)
    if type(value) is datetime and value.tzinfo is not None:
        return _TIME_MARKERS[variant] + timedelta(seconds=index)
    raise CompileError(
        f"bound parameter {name!r} must be an int, a float, a str or an aware datetime, got {type(value).__name__}"
    )


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


def _connection(model: type[Model], for_write: bool) -> Any:
    """The connection a query on ``model`` runs on now, chosen as Tortoise chooses it (``_choose_db``): its router,
    else the model's connection, which inside ``in_transaction()`` is that transaction's."""
    return (router.db_for_write(model) if for_write else router.db_for_read(model)) or model._meta.db


@dataclass(slots=True)
class Plan:
    """One compiled shape: the built query (never run itself), its SQL, its parameters and their slots."""

    template: AwaitableQuery[Any]
    sql: str
    params: list[Any]
    slots: tuple[_Slot, ...]
    for_write: bool
    prefetches: tuple[PrefetchPlan, ...] = ()
    hydration: Hydration | None = None  # set for QuerySets whose rows the layer hydrates itself
    attached: tuple[PrefetchPlan, ...] = ()  # the prefetches attached after hydration (the others it placed itself)

    def bind(self, values: Mapping[str, Any]) -> list[Any]:
        params = list(self.params)
        for slot in self.slots:
            value = values[slot.name]
            params[slot.position] = (
                value if slot.pattern is None else f"{slot.pattern[0]}{escape_like(value)}{slot.pattern[1]}"
            )
        return params

    async def call(self, values: Mapping[str, Any]) -> Any:
        """One call of the compiled query: the statement, then the prefetches the hydration did not place; what
        awaiting the queryset returns (``tests/test_compiled.py`` compares them)."""
        found = await self.run(values)
        if self.attached and found:
            parents = found if isinstance(found, list) else [found]
            for prefetch in self.attached:
                await prefetch.attach(parents)
        return found

    async def run(self, values: Mapping[str, Any]) -> Any:
        """Send the statement with ``values`` and return what awaiting the queryset returns."""
        if self.hydration is None:
            return await self.instance(values)._execute()
        template = self.template
        assert isinstance(template, QuerySet)
        model = template.model
        _, rows = await _connection(model, self.for_write).execute_query(self.sql, self.bind(values))
        result = self.hydration.instances(rows)
        if not template._single:
            return result
        if len(result) == 1:
            return result[0]
        if not result:
            if template._raise_does_not_exist:
                raise DoesNotExist(model)
            return None
        raise MultipleObjectsReturned(model)

    def instance(self, values: Mapping[str, Any]) -> AwaitableQuery[Any]:
        """A copy of the template that runs this plan's SQL with ``values``, on the connection chosen now."""
        query = copy.copy(self.template)
        untyped: Any = query  # the copy's pypika query and connection are replaced: neither is typed for that
        untyped.query = _BoundSQL(self.sql, self.bind(values))
        untyped._db = _connection(query.model, self.for_write)
        if isinstance(query, QuerySet):
            query._prefetch_map = {}
            query._prefetch_queries = {}
        return query


def _build(
    build: Callable[..., Any], values: Mapping[str, Any]
) -> tuple[AwaitableQuery[Any], str, list[Any], tuple[PrefetchPlan, ...]]:
    query = build(**values)
    if not isinstance(query, AwaitableQuery):
        raise CompileError(f"{build.__qualname__} must return a Tortoise query, got {type(query).__name__}")
    prefetches = compile_prefetches(query)
    inline = {prefetch.alias: prefetch.rows for prefetch in prefetches if prefetch.rows is not None}
    if inline:
        assert isinstance(query, QuerySet)
        query = query.annotate(**inline)
    query._choose_db_if_not_chosen()
    query._make_query()
    sql, params = query.query.get_parameterized_sql()
    return query, sql, list(params), prefetches


def make_plan(build: Callable[..., Any], values: Mapping[str, Any], bound: Sequence[str]) -> Plan:
    """Build the query twice, with two sets of markers for the bound values, and locate every marker."""
    bound_names = [name for name in bound if values[name] is not None]
    variants = []
    for variant in (0, 1):
        marked = dict(values)
        for index, name in enumerate(bound_names):
            marked[name] = _marker(values[name], name, index, variant)
        variants.append(marked)
    template, sql, params, prefetches = _build(build, variants[0])
    _, other_sql, other_params, _ = _build(build, variants[1])
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
    hydration = None
    attached = prefetches
    if type(template) is QuerySet:
        keys = [term.alias or term.name for term in template.query._selects]
        placed = {prefetch.alias: place for prefetch in prefetches if (place := prefetch.placement()) is not None}
        hydration = row_hydration(template, keys, placed)
        if hydration is not None:
            attached = tuple(prefetch for prefetch in prefetches if prefetch.alias not in placed)
    return Plan(template, sql, params, tuple(slots), for_write, prefetches, hydration, attached)


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
        self._plans: dict[Hashable, Plan] = {}
        self.__doc__ = build.__doc__
        self.__qualname__ = build.__qualname__

    def _values(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        values = dict(self._defaults)
        values.update(zip(self._names, args, strict=False))
        values.update(kwargs)
        return values

    def _shape(self, values: Mapping[str, Any]) -> Hashable:
        bound = self.bound
        return tuple([values[name] is None if name in bound else values[name] for name in self._names])

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
        if prefetch.rows is not None:
            raise CompileError(f"prefetch of {relation!r} is inlined in the statement: see plan()")
        child, values = prefetch.bound(keys)
        return child.sql, child.bind(values)

    def _plan_for(self, values: Mapping[str, Any]) -> Plan:
        shape = self._shape(values)
        plan = self._plans.get(shape)
        if plan is None:
            plan = self._plans[shape] = make_plan(self.build, values, sorted(self.bound, key=self._names.index))
        return plan

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Awaitable[R]:
        if not FAST.on:
            return self.build(*args, **kwargs)  # the queryset as written, awaited by the caller
        values = self._values(args, kwargs)
        call: Awaitable[R] = self._plan_for(values).call(values)
        return call


def compiled(*bound: str) -> Callable[[Callable[P, Awaitable[R]]], Compiled[P, R]]:
    """Compile a queryset builder; ``bound`` names the parameters whose values are bound at each call."""

    def decorate(build: Callable[P, Awaitable[R]]) -> Compiled[P, R]:
        return Compiled(build, bound)

    return decorate
