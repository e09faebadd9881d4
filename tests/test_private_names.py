"""Other libraries' private names: only service/orm/ uses them, and this file names every one it uses.

Outside service/orm/ the service uses public APIs only: no ``obj._name`` on another library's object (a class's
own ``self._name`` is its own business), no ``getattr(obj, "_name")``, no import of a private name or module.
That includes Tortoise's ``Model._meta``: the service reads model metadata through ``Model.describe()`` and
connections through ``tortoise.connection.get_connection``. A release of Tortoise or pypika that renames or
removes one of the names service/orm/ uses fails here by name, before any comparison of the fast path with the
plain one (tests/test_compiled.py) has to find out why they differ.
"""

from __future__ import annotations

import ast
import inspect
import tomllib
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import tortoise.models
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from tortoise.backends.base.executor import BaseExecutor
from tortoise.fields.relational import ManyToManyRelation, ReverseRelation
from tortoise.models import Model

from service.models import Post, Tag, User

SERVICE = Path(__file__).resolve().parents[1] / "service"
ORM = SERVICE / "orm"


@dataclass(frozen=True, slots=True)
class Use:
    """One use of a private name: where, the source text, the name."""

    path: str
    line: int
    text: str
    name: str


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _own_names(tree: ast.AST) -> dict[ast.ClassDef, set[str]]:
    """Per class of the service: the names it defines itself (methods, class attributes, ``self.x = ...``)."""
    owned: dict[ast.ClassDef, set[str]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        names: set[str] = set()
        for item in node.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(item.name)
            elif isinstance(item, ast.Assign | ast.AnnAssign):
                targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                names.update(target.id for target in targets if isinstance(target, ast.Name))
        for inner in ast.walk(node):
            targets = []
            if isinstance(inner, ast.Assign):
                targets = inner.targets
            elif isinstance(inner, ast.AnnAssign | ast.AugAssign):
                targets = [inner.target]
            for target in targets:
                if (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id in ("self", "cls")
                ):
                    names.add(target.attr)
        owned[node] = names
    return owned


def private_uses(path: Path) -> list[Use]:
    """Every read or write of another library's private name in ``path``: ``x._name`` (not on ``self`` or ``cls``
    for a name its own class defines), ``getattr(x, "_name")`` and friends, and imports of private names or
    modules from outside the service."""
    tree = ast.parse(path.read_text(), str(path))
    owned = _own_names(tree)
    enclosing: dict[ast.AST, ast.ClassDef] = {}

    def visit(node: ast.AST, cls: ast.ClassDef | None) -> None:
        for child in ast.iter_child_nodes(node):
            if cls is not None:
                enclosing[child] = cls
            visit(child, child if isinstance(child, ast.ClassDef) else cls)

    visit(tree, None)
    where = str(path.relative_to(SERVICE.parent)) if SERVICE.parent in path.parents else path.name
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            value = node.value
            cls = enclosing.get(node)
            if isinstance(value, ast.Name) and value.id in ("self", "cls") and cls and node.attr in owned[cls]:
                continue
            uses.append(Use(where, node.lineno, ast.unparse(node), node.attr))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr", "setattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
        ):
            uses.append(Use(where, node.lineno, ast.unparse(node), node.args[1].value))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "service":
                continue
            private_module = [part for part in node.module.split(".") if _private(part)]
            for alias in node.names:
                if private_module or _private(alias.name):
                    uses.append(Use(where, node.lineno, f"from {node.module} import {alias.name}", alias.name))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if any(_private(part) for part in alias.name.split(".")):
                    uses.append(Use(where, node.lineno, f"import {alias.name}", alias.name))
    return uses


def test_outside_the_orm_package_the_service_uses_public_names_only() -> None:
    found = [use for path in sorted(SERVICE.rglob("*.py")) if ORM not in path.parents for use in private_uses(path)]
    assert found == []


def test_the_check_finds_each_kind_of_private_use(tmp_path: Path) -> None:
    """The walker itself: what it must flag, and what it must leave (a class's own names, the service's names)."""
    sample = tmp_path / "sample.py"
    source = """
import tortoise._private
from pydantic._internal import something
from tortoise.models import _rfk_getter
from service.security import _hasher
from tortoise.backends.asyncpg.client import AsyncpgDBClient


class Client(AsyncpgDBClient):
    _kept = 1

    def __init__(self):
        self._own = 2

    async def close(self):
        await super()._close()
        return self._own, self._kept, self._pool, self.__class__


def read(model, query):
    return model._meta, getattr(query, "_limit", None), query.__dict__, query._single
"""
    sample.write_text(source)
    uses = private_uses(sample)
    assert sorted(use.text for use in uses) == sorted(
        [
            "import tortoise._private",
            "from pydantic._internal import something",
            "from tortoise.models import _rfk_getter",
            "super()._close",
            "self._pool",
            "model._meta",
            "getattr(query, '_limit', None)",
            "query._single",
        ]
    )


def test_no_module_of_the_service_is_over_400_lines() -> None:
    lengths = {
        str(path.relative_to(SERVICE.parent)): len(path.read_text().splitlines()) for path in SERVICE.rglob("*.py")
    }
    assert {path: lines for path, lines in lengths.items() if lines > 400} == {}


def _orm_uses() -> list[Use]:
    return [use for path in sorted(ORM.rglob("*.py")) for use in private_uses(path)]


QUERYSET = (
    "_single",
    "_raise_does_not_exist",
    "_offset",
    "_limit",
    "_select_related",
    "_select_for_update",
    "_annotations",
    "_prefetch_map",
    "_prefetch_queries",
    "_fields_for_select",
    "_select_related_idx",
    "_choose_db_if_not_chosen",
    "_make_query",
    "_execute",
    "_db",
)
"""Tortoise's QuerySet: the shape of a read (plans, prefetch, hydration) and how it runs."""
PYPIKA_QUERY = ("_wheres", "_selects")
"""pypika's query: the where-tree an inlined prefetch is correlated in, the select list hydration reads."""
MODEL = ("_meta",)
"""Tortoise's model metadata: field tables, table names, keys, connection."""
TORTOISE_MODELS_MODULE = ("_rfk_getter", "_m2m_getter")
"""The functions behind a model's relation attributes, whose arguments make a relation container."""
RELATION = ("_set_result_for_query",)
"""How Tortoise's own prefetch fills a relation container."""
INSTANCE_STATE = ("_partial", "_saved_in_db", "_custom_generated_pk", "_await_when_save")
"""The bookkeeping attributes ``Model._init_from_db`` sets, which the generated hydration writes (as strings)."""
NAMED = {*QUERYSET, *PYPIKA_QUERY, *MODEL, *TORTOISE_MODELS_MODULE, *RELATION}


def test_every_private_name_the_orm_package_uses_is_named_here() -> None:
    """A new private name in service/orm/ must be named here (and checked below); a name no longer used goes."""
    used = {use.name for use in _orm_uses()}
    assert used - NAMED == set(), [use for use in _orm_uses() if use.name not in NAMED]
    assert NAMED - used == set()


def test_the_private_parts_of_tortoise_and_pypika_still_exist(app: Any) -> None:
    posts = Post.filter(id=1).select_related("author").prefetch_related("tags").only("id", "title", "author__id")
    for query in (posts, posts.first(), Post.all().count(), Post.all().exists()):
        missing = [
            name for name in ("_execute", "_db", "_choose_db_if_not_chosen", "_make_query") if not hasattr(query, name)
        ]
        assert not missing, f"{type(query).__name__} lacks {missing}"
    missing = [name for name in QUERYSET if not hasattr(posts, name)]
    assert not missing, f"QuerySet lacks {missing}"
    posts._choose_db_if_not_chosen()
    posts._make_query()
    assert posts._select_related_idx  # filled in by _make_query, as the hydration expects
    missing = [name for name in PYPIKA_QUERY if not hasattr(posts.query, name)]
    assert not missing, f"pypika's query lacks {missing}"
    assert all(hasattr(model, "_meta") for model in (Post, User, Tag))
    assert all(callable(getattr(tortoise.models, name, None)) for name in TORTOISE_MODELS_MODULE)
    for relation in (
        ReverseRelation(Post, "author_id", User(id=1), "id"),
        ManyToManyRelation(Post(id=1), Post._meta.fields_map["tags"]),
    ):
        assert all(callable(getattr(relation, name, None)) for name in RELATION)


def test_the_instance_state_the_hydration_writes_is_what_tortoise_sets() -> None:
    """The generated builders write these attributes by name (strings, not attribute access): they must be the ones
    ``Model._init_from_db`` sets, and related objects go where the executor puts them (``_<relation>``)."""
    source = inspect.getsource(Model._init_from_db)
    for name in INSTANCE_STATE:
        assert f"self.{name} = " in source, name
    assert 'f"_{attr}"' in inspect.getsource(BaseExecutor._execute_prefetch_queries) + inspect.getsource(
        BaseExecutor.execute_select
    )


def test_the_libraries_whose_private_names_the_orm_package_uses_are_pinned_to_one_minor_version() -> None:
    """Tortoise and pypika (the owners of every name above) are pinned in pyproject.toml to the minor version these
    names were checked against."""
    project = tomllib.loads((SERVICE.parent / "pyproject.toml").read_text())["project"]
    ranges = {
        canonicalize_name(Requirement(text).name): Requirement(text).specifier for text in project["dependencies"]
    }
    for name, minor in (("tortoise-orm", "1.1"), ("pypika-tortoise", "0.6")):
        allowed = ranges[name]
        assert allowed.contains(version(name)), name
        assert allowed.contains(f"{minor}.99"), name
        next_minor = f"{minor.split('.')[0]}.{int(minor.split('.')[1]) + 1}.0"
        assert not allowed.contains(next_minor), f"{name} must be pinned below {next_minor}"
