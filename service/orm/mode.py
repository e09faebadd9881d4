"""The ``ORM_FAST_PATH`` switch: whether reads take the compiled path or the library's own.

On (the default), a compiled read runs its plan, ``from_orm`` fills schemas with ``model_construct`` and ``release``
drops prefetched relations. Off, a compiled read is the builder's queryset awaited as written (prefetches in their
own statements), ``from_orm`` is ``model_validate`` and ``release`` does nothing. It is read at every call, so the
switch (``use_fast_path``, called by ``create_app`` from the settings) takes effect at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class FastPath:
    """Whether the fast path is in use (one per process: ``FAST``)."""

    __slots__ = ("on",)

    def __init__(self) -> None:
        self.on = True


FAST = FastPath()


def use_fast_path(on: bool) -> None:
    """Turn the fast path on or off for the whole process."""
    FAST.on = on


@contextmanager
def fast_path(on: bool) -> Iterator[None]:
    """The fast path on or off inside the block, as it was afterwards (for tests that compare the two)."""
    before = FAST.on
    FAST.on = on
    try:
        yield
    finally:
        FAST.on = before
