"""The fast path of the ORM: compiled querysets and schema filling, the one place that knows other libraries'
private parts.

- ``plans``: a read's queryset compiled once per shape (``@compiled``), its SQL written by Tortoise;
- ``prefetch``: prefetches inlined as correlated subqueries, or one statement per relation;
- ``hydration``: rows made into model instances by a plan made once per shape;
- ``schemas``: ``from_orm`` fills response schemas from model instances with ``model_construct``;
- ``mode``: the ``ORM_FAST_PATH`` switch; off, every read is the plain Tortoise queryset and every schema is
  validated by pydantic.

Outside this package the service uses public APIs only (``tests/test_private_names.py``); the private names used
here are named by that test too, so a release that moves one fails loudly.
"""

from service.orm.errors import CompileError, UnsupportedFieldError
from service.orm.mode import fast_path, use_fast_path
from service.orm.plans import TOTAL, Compiled, compiled, page_total
from service.orm.prefetch import release
from service.orm.schemas import from_orm

__all__ = [
    "TOTAL",
    "CompileError",
    "Compiled",
    "UnsupportedFieldError",
    "compiled",
    "fast_path",
    "from_orm",
    "page_total",
    "release",
    "use_fast_path",
]
