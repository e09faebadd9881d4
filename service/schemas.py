"""What every feature's schemas share: generated response models, string rules, pagination parameters."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from pydantic import BeforeValidator, GetCoreSchemaHandler, GetJsonSchemaHandler, StringConstraints
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema
from tortoise.contrib.pydantic import PydanticModel, pydantic_model_creator
from tortoise.fields.relational import ReverseRelation
from tortoise.models import Model

from service.characters import (
    BLANK_CHARACTERS,
    CONTROL_CHARACTERS,
    FORMAT_CHARACTERS,
    LINE_SEPARATORS,
    ZERO_WIDTH_JOINERS,
    describe_character,
)

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


S = TypeVar("S", bound=PydanticModel)


class SchemaMismatchError(TypeError):
    """A declared response shape that differs from what pydantic_model_creator generates for its model."""


def response_schema(model: type[Model], name: str, declared: type[S]) -> type[PydanticModel]:
    """``pydantic_model_creator(model)`` for the fields of ``declared``, checked against it field by field.

    ``declared`` lists the fields and their types for type checkers (the generated class is built at run time,
    so mypy cannot see it): each module uses it under ``TYPE_CHECKING`` and this class at run time. Any
    difference in names or types raises SchemaMismatchError at import. The generated model gets the unique
    ``name`` (one OpenAPI component each) and loses the ``nullable`` key Litestar's OpenAPI rejects.
    """
    wanted = {field: info.annotation for field, info in declared.model_fields.items()}
    schema = pydantic_model_creator(model, name=name, include=tuple(wanted))
    generated = {field: info.annotation for field, info in schema.model_fields.items()}
    if generated != wanted:
        raise SchemaMismatchError(f"{name}: {model.__name__} generates {generated}, declared {wanted}")
    for info in schema.model_fields.values():
        if isinstance(info.json_schema_extra, dict):
            info.json_schema_extra.pop("nullable", None)
    schema.model_rebuild(force=True)
    return schema


def _related_list(value: Any) -> Any:
    """A prefetched relation (reverse foreign key, many-to-many) as the list of its objects."""
    return list(value) if isinstance(value, ReverseRelation) else value


T = TypeVar("T")
Related = Annotated[list[T], BeforeValidator(_related_list)]
"""``list[T]`` that also takes a prefetched Tortoise relation (what ``prefetch_related`` fills in)."""


def sorted_names(value: Any) -> Any:
    """Before-validator: the ``name`` of each object of a prefetched relation, sorted by code point."""
    if isinstance(value, ReverseRelation):
        return sorted([item.name for item in value])
    return value


WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
"""What trimming removes from both ends of a string: Unicode's White_Space characters, the set pydantic's
``strip_whitespace`` strips (``tests/test_openapi.py`` checks every code point)."""


def trim(value: str) -> str:
    """``value`` without surrounding ``WHITESPACE``."""
    return value.strip(WHITESPACE)


def regex_class(characters: str) -> str:
    """The body of a regular expression character class naming ``characters`` (runs as ranges), spelled the same
    way by Python's ``re``, by the ECMA-262 dialect of JSON Schema's ``pattern`` and by the Rust engine of the
    validator schemathesis judges with: ``\\xNN`` and ``\\uNNNN``, and a character beyond U+FFFF as itself (the
    three spell its escape differently)."""

    def escape(code: int) -> str:
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code <= 0xFFFF else chr(code)

    codes = sorted({ord(char) for char in characters})
    runs: list[list[int]] = []
    for code in codes:
        if runs and code == runs[-1][1] + 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    return "".join(escape(low) if low == high else f"{escape(low)}-{escape(high)}" for low, high in runs)


_WHITESPACE_CLASS = regex_class(WHITESPACE)


def _checked(
    schema: core_schema.CoreSchema, problem: Callable[[str], str | None], error_type: str
) -> core_schema.CoreSchema:
    """``schema``, then a check: a string for which ``problem`` gives a message is a validation error saying it.

    The error is raised as pydantic's ``PydanticCustomError``, so the client reads the message as written (a
    ``ValueError`` would reach it as ``"Value error, ..."``).
    """

    def check(value: str) -> str:
        if (message := problem(value)) is not None:
            raise PydanticCustomError(error_type, message)
        return value

    return core_schema.no_info_after_validator_function(check, schema)


@dataclass(frozen=True, slots=True)
class CharacterRule:
    """Annotated metadata: reject strings with characters outside a set, and say so in the JSON schema too."""

    forbidden: str  # the body of a regular expression character class: what must not appear
    rule: str  # what the string holds instead, as the document and the error messages say it: "no ..."

    @property
    def message(self) -> str:
        return f"String should contain {self.rule}"

    def problem(self, value: str) -> str | None:
        """The error message for ``value``, naming the first forbidden character in it; None if it has none."""
        found = re.search(f"[{self.forbidden}]", value)
        return None if found is None else f"{self.message}; found {describe_character(found.group())}"

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return _checked(handler(source), self.problem, "string_characters")

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = f"^[^{self.forbidden}]*$"
        return json_schema


def character_rule(forbidden: str, rule: str) -> CharacterRule:
    """A ``CharacterRule`` refusing the characters of ``forbidden``."""
    return CharacterRule(regex_class(forbidden), rule)


SingleLine = character_rule(CONTROL_CHARACTERS + LINE_SEPARATORS, "no control characters (including line breaks)")
"""A one-line string: no control characters, no line breaks (U+0085, U+2028 and U+2029 included)."""
PlainName = character_rule(
    CONTROL_CHARACTERS + LINE_SEPARATORS + FORMAT_CHARACTERS + BLANK_CHARACTERS,
    "no control characters (including line breaks) and no invisible or formatting characters (zero-width"
    " characters and joiners, bidirectional controls, soft hyphens, fillers)",
)
"""A one-line name people tell apart by sight (user names, tags): nothing invisible that could make a look-alike."""
PlainTitle = character_rule(
    CONTROL_CHARACTERS
    + LINE_SEPARATORS
    + FORMAT_CHARACTERS.translate(dict.fromkeys(map(ord, ZERO_WIDTH_JOINERS)))
    + BLANK_CHARACTERS,
    "no control characters (including line breaks) and no invisible or formatting characters (zero-width"
    " characters, bidirectional controls, soft hyphens, fillers) other than the zero-width joiner and non-joiner",
)
"""A post's title: as ``PlainName``, but the zero-width joiner and non-joiner that emoji and scripts need pass."""
FreeText = character_rule(
    CONTROL_CHARACTERS.translate(dict.fromkeys(map(ord, "\t\n\r\x85"))),
    "no control characters other than tabs and line breaks",
)
"""Text that may hold tabs and line breaks (U+0085, U+2028 and U+2029 included) but no other control characters (no
NUL, which PostgreSQL refuses)."""


def trimmed_length_pattern(min_length: int, max_length: int, forbidden: str) -> str:
    """A ``pattern`` matching exactly the strings that, once trimmed, hold ``min_length..max_length`` characters
    and none of the ``forbidden`` class (surrounding whitespace may be anything trimming removes)."""
    space, inner, edge = f"[{_WHITESPACE_CLASS}]*", f"[^{forbidden}]", f"[^{forbidden}{_WHITESPACE_CLASS}]"
    if max_length == 1:
        text = edge if min_length else f"{edge}?"
    elif min_length >= 2:
        text = f"{edge}{inner}{{{min_length - 2},{max_length - 2}}}{edge}"
    else:
        text = f"{edge}(?:{inner}{{0,{max_length - 2}}}{edge})?"
        text = text if min_length else f"(?:{text})?"
    return f"^{space}{text}{space}$"


@dataclass(frozen=True, slots=True)
class Trimmed:
    """Annotated metadata for a ``str``: surrounding whitespace is dropped, then ``min_length..max_length``
    characters must be left, none of them forbidden by ``characters``.

    JSON Schema's ``minLength``/``maxLength`` count the string as sent, so the JSON schema states the rule as a
    ``pattern`` (``"   "`` does not match it, nor does a name of 101 characters once trimmed, while one of 100
    characters with surrounding spaces does), with the ``minLength`` that holds for every string it accepts.
    """

    min_length: int
    max_length: int
    characters: CharacterRule

    @property
    def pattern(self) -> str:
        return trimmed_length_pattern(self.min_length, self.max_length, self.characters.forbidden)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        lengths = StringConstraints(strip_whitespace=True, min_length=self.min_length, max_length=self.max_length)
        return handler.generate_schema(Annotated[str, lengths, self.characters])

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.pop("maxLength", None)
        json_schema.pop("minLength", None)
        if self.min_length:
            json_schema["minLength"] = self.min_length
        json_schema["pattern"] = self.pattern
        json_schema["description"] = f"{self.lengths} once surrounding whitespace is trimmed; {self.characters.rule}"
        return json_schema

    @property
    def lengths(self) -> str:
        if self.min_length:
            return f"{self.min_length} to {self.max_length} characters"
        return f"At most {self.max_length} characters"


@dataclass(frozen=True, slots=True)
class Matches:
    """Annotated metadata: the (trimmed) string must match ``pattern`` and contain no match of ``excluded``; the
    JSON schema states both (``pattern``, and ``not: {pattern: excluded}``)."""

    pattern: str
    message: str
    excluded: str = ""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        compiled = re.compile(self.pattern)
        excluded = re.compile(self.excluded) if self.excluded else None

        def problem(value: str) -> str | None:
            if compiled.fullmatch(value) is None or (excluded is not None and excluded.search(value) is not None):
                return self.message
            return None

        return _checked(handler(source), problem, "string_pattern_mismatch")

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = self.pattern
        if self.excluded:
            json_schema["not"] = {"pattern": self.excluded}
        return json_schema


def not_null(value: object) -> object:
    """For ``mode="before"`` field validators of optional update fields that may be left out but not nulled."""
    if value is None:
        raise PydanticCustomError("not_null", "Input should not be null; leave the field out to keep its value")
    return value
