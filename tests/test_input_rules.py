"""The OpenAPI document states the rules request bodies are validated with: what it calls valid is accepted, and
what it calls invalid is refused (checked with the JSON schema validator schemathesis judges requests with)."""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from typing import Annotated, Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, StringConstraints, TypeAdapter, ValidationError

import service.app
from service.auth.schemas import LoginForm
from service.characters import (
    BLANK_CHARACTERS,
    CONTROL_CHARACTERS,
    FORMAT_CHARACTERS,
    LINE_SEPARATORS,
    ZERO_WIDTH_JOINERS,
)
from service.openapi import request_body_models, schema_from_json
from service.posts.schemas import PostCreate, PostUpdate
from service.schemas import WHITESPACE
from service.settings import Settings
from service.tags.schemas import lower_case_tag
from service.users.schemas import ProfileWrite, UserCreate, UserUpdate
from tests.fuzzing import openapi_document

DOCUMENT = openapi_document()
COMPONENTS = DOCUMENT["components"]["schemas"]
# The 100,000-character bound of a post's body compiles to a large automaton; schemathesis allows 150 MB too.
PATTERNS = jsonschema_rs.FancyRegexOptions(size_limit=150_000_000)

VALID_BODIES: dict[type[BaseModel], dict[str, Any]] = {
    UserCreate: {"name": "Ada", "email": "ada@example.com", "password": "analytical engine"},
    UserUpdate: {},
    ProfileWrite: {},
    PostCreate: {"title": "A post"},
    PostUpdate: {},
    LoginForm: {"username": "ada@example.com", "password": "x"},
}
"""Every model the service reads a request body (or a part of one) with, and a body it accepts."""
IGNORED_SURROUNDING_WHITESPACE = {"email", "website"}
"""Fields whose document states the value without surrounding whitespace (an ``email`` format, a URL pattern) while
the service ignores such whitespace, as their descriptions say: the document is exact for the trimmed value."""

TEXT_SAMPLES: list[Any] = [
    None,
    7,
    "",
    " ",
    "   ",
    "\t\n",
    "\u3000",
    "a",
    " a ",
    "\ta\n",
    "\x85a\xa0",
    "\ufeffa",  # a byte order mark is no whitespace
    "a b",
    "a\tb",
    "a\nb",
    "a\rb",
    "a\x00b",
    "a\x1fb",
    "a\x7fb",
    "\x1ca",  # Python's str.strip() drops it, JSON Schema and pydantic do not: a control character
    "\u0130" * 26,
    "\u0130" * 50,
    "\u0130" * 51,
    "\U0001f600" * 3,
    "1234567",
    "12345678",
    " 1234567 ",
    " 12345678 ",
    "1234\x00678",
    "a\u2028b",  # line breaks that are not control characters: refused inside one-line text, trimmed around it
    "a\u2029b",
    "a\x85b",  # NEXT LINE: a C1 control character and a line break
    "\u2028a\u2029",
    "a\x80b",
    "a\x9fb",
    "a\u200bb",  # zero-width space
    "admin\u200b",
    "\U0001f469\u200d\U0001f4bb",  # an emoji sequence held together by a zero-width joiner
    "\u0915\u094d\u200c\u0937",  # a zero-width non-joiner in Devanagari
    "adm\u202ein",  # right-to-left override
    "a\u2066b\u2069",
    "a\u061cb",
    "a\u00adb",  # soft hyphen
    "a\u2060b",
    "a\u180eb",
    "a\U000e0041b",  # an invisible tag character
    "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",
    "admin\u2800",  # braille blank
    "\u3164",  # Hangul filler
    "a\u034fb",
    "\u2764\ufe0f",  # a variation selector is no format character
]
TEXT_SAMPLES += [
    text
    for length in (49, 50, 51, 99, 100, 101, 127, 128, 129, 199, 200, 201, 253, 254, 255, 1999, 2000, 2001, 2048)
    for text in ("x" * length, " " + "x" * length + "\n", "\u3000" * 2 + "x" * (length - 2) + " ")
]
EMAIL_SAMPLES = [
    "ada@example.com",
    " ada@example.com ",
    "ADA@Example.COM",
    "a@b.co",
    "a@b.c",
    "a.b.c@d.io",
    "a..b@d.io",
    ".a@d.io",
    "a.@d.io",
    "!#$%&'*+/=?^_`{|}~-@d.io",
    "a@b.test",
    "a@b.TEST",
    "a@b.localhost",
    "a@b.example",
    "a@localhost",
    "a@b.c1",
    "a@1.2",
    "a@-b.io",
    "a@b-.io",
    "a@ab--c.io",
    "a@abc--d.io",
    "a@xn--a.io",
    "a@b_c.io",
    "a@b.io.",
    "a b@c.io",
    '"a"@b.io',
    "jos\u00e9@example.com",
    "a@ex\u00e4mple.com",
    "x" * 64 + "@d.io",
    "x" * 65 + "@d.io",
    "a@" + "b" * 63 + ".io",
    "a@" + "b" * 64 + ".io",
    "a@" + ".".join(["b" * 62] * 4),
    "a@" + ".".join(["b" * 60] * 4) + ".io",
    "a@" + ".".join(["b" * 61] * 4) + ".io",
    "no-at-sign",
]
WEBSITE_SAMPLES = [
    "https://example.com",
    "http://example.com/",
    "HTTPS://EXAMPLE.COM/a?b=c#d",
    " https://example.com/a \n",
    "https://a.b:0",
    "https://a.b:65535/x",
    "https://a.b:65536",
    "https://a.b:",
    "https://1.2.3.4/",
    "https://1.2.3.256/",
    "https://a.1",
    "https://a.0x1",
    "https://xn--a.com",
    "https://a--b.com",
    "https://a_b.com",
    "https://-a.com",
    "https://localhost",
    "https://user@a.com",
    "https://a.com/\u00fc",
    "https://a.com/?q=\u00fc#\u00e9",
    "https://a.com/a b",
    "https://a.com/a\x85b",
    "https://a.com/a\u00a0b",
    "https://a.com/%zz|^`{}\\",
    "https://a.com/\x00",
    "https://",
    "ftp://a.com",
    "javascript:alert(1)",
    "https://" + "a" * 2030 + ".com",
    "https://" + "a" * 2036 + ".com",
    "https://a.com/" + "b" * 2034,
    "https://a.com/" + "b" * 2035,
]


@functools.cache
def _documented(model: type[BaseModel]) -> Any:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"#/components/schemas/{model.__name__}",
        "components": DOCUMENT["components"],
    }
    return jsonschema_rs.validator_for(schema, validate_formats=True, pattern_options=PATTERNS)


def _accepted(model: type[BaseModel], body: dict[str, Any]) -> bool:
    try:
        model.model_validate(body)
    except ValidationError:
        return False
    return True


def test_every_model_that_reads_a_body_is_checked() -> None:
    app = service.app.create_app(Settings.from_env({"APP_ENV": "test"}))
    bodies = set(request_body_models(app))
    nested = {
        model for model in VALID_BODIES for top in bodies if model.__name__ in top.model_json_schema().get("$defs", {})
    }
    assert bodies | nested == set(VALID_BODIES)
    for model, body in VALID_BODIES.items():
        assert _accepted(model, body), model
        assert _documented(model).is_valid(body), model


def _string_fields(model: type[BaseModel]) -> list[str]:
    properties = COMPONENTS[model.__name__]["properties"]
    return [name for name, prop in properties.items() if '"string"' in json.dumps(prop)]


@pytest.mark.parametrize("model", list(VALID_BODIES), ids=lambda model: model.__name__)
def test_documented_string_rules_agree_with_validation(model: type[BaseModel]) -> None:
    """Each string field (and list of strings), with every sample: valid per the document exactly when accepted."""
    documented = _documented(model)
    disagreements = []
    for field in _string_fields(model):
        is_list = COMPONENTS[model.__name__]["properties"][field].get("type") == "array"
        for sample in TEXT_SAMPLES + EMAIL_SAMPLES + WEBSITE_SAMPLES:
            value = [sample] if is_list else sample
            body = {**VALID_BODIES[model], field: value}
            as_documented = body
            if field in IGNORED_SURROUNDING_WHITESPACE and isinstance(sample, str):
                as_documented = {**body, field: sample.strip(WHITESPACE)}
            if documented.is_valid(as_documented) != _accepted(model, body):
                disagreements.append((field, sample if len(repr(sample)) < 80 else f"{repr(sample)[:70]}..."))
    assert disagreements == []


def test_the_samples_reach_both_sides_of_each_rule() -> None:
    """The samples are not all valid or all invalid for any field: the agreement above means something."""
    for model in VALID_BODIES:
        for field in _string_fields(model):
            is_list = COMPONENTS[model.__name__]["properties"][field].get("type") == "array"
            verdicts = {
                _accepted(model, {**VALID_BODIES[model], field: [sample] if is_list else sample})
                for sample in TEXT_SAMPLES + EMAIL_SAMPLES + WEBSITE_SAMPLES
            }
            assert verdicts == {True, False}, (model.__name__, field)


def test_tag_lists_have_at_most_ten_names() -> None:
    documented = _documented(PostCreate)
    for tags in (["a"] * 10, ["a"] * 11, [f"t{n}" for n in range(10)], [f"t{n}" for n in range(11)]):
        body = {"title": "t", "tags": tags}
        assert documented.is_valid(body) == _accepted(PostCreate, body) == (len(tags) <= 10), tags


def test_whitespace_is_exactly_what_pydantic_trims() -> None:
    trimmed = TypeAdapter(Annotated[str, StringConstraints(strip_whitespace=True)])
    stripped = {
        chr(code)
        for code in range(0x110000)
        if unicodedata.category(chr(code)) != "Cs" and trimmed.validate_python(chr(code)) == ""
    }
    assert stripped == set(WHITESPACE)


def test_the_named_character_sets_are_unicodes() -> None:
    """Every control character (Cc), line or paragraph separator (Zl, Zp) and format character (Cf) of Python's
    Unicode database, and nothing else, is in the set of that name (a newer Unicode version fails this first)."""
    categories: dict[str, set[str]] = {"Cc": set(), "Zl": set(), "Zp": set(), "Cf": set()}
    for code in range(0x110000):
        category = unicodedata.category(chr(code))
        if category in categories:
            categories[category].add(chr(code))
    assert set(CONTROL_CHARACTERS) == categories["Cc"]
    assert set(LINE_SEPARATORS) == categories["Zl"] | categories["Zp"]
    assert set(FORMAT_CHARACTERS) == categories["Cf"]
    assert set(ZERO_WIDTH_JOINERS) <= categories["Cf"]
    assert not set(BLANK_CHARACTERS) & set().union(*categories.values())


FORMAT_AND_LINE_BREAK_CASES: list[tuple[type[BaseModel], str, Any, bool]] = [
    (UserCreate, "name", "admin\u200b", False),
    (UserCreate, "name", "\U0001f469\u200d\U0001f4bb", False),
    (UserCreate, "name", "adm\u202ein", False),
    (UserCreate, "name", "a\U000e0041b", False),
    (UserCreate, "name", "admin\u2800", False),
    (UserCreate, "name", "\u2764\ufe0f", True),
    (PostCreate, "title", "\U0001f469\u200d\U0001f4bb", True),
    (PostCreate, "title", "\u0915\u094d\u200c\u0937", True),
    (PostCreate, "title", "a\u200bb", False),
    (PostCreate, "title", "adm\u202ein", False),
    (PostCreate, "title", "a\u2028b", False),
    (PostCreate, "title", "a\x85b", False),
    (PostCreate, "tags", ["a\u200db"], False),
    (PostCreate, "body", "a\u2028b\x85c", True),
    (PostCreate, "body", "a\x80b", False),
    (ProfileWrite, "bio", "a\u2029b", True),
    (LoginForm, "username", "a\u2028b@example.com", False),
]
"""What the rules decide for line breaks and invisible characters: (model, field, value, accepted)."""


def test_format_characters_and_line_breaks_as_documented() -> None:
    decided = [
        (model.__name__, field, value, _accepted(model, {**VALID_BODIES[model], field: value}))
        for model, field, value, _ in FORMAT_AND_LINE_BREAK_CASES
    ]
    documented = [
        (model.__name__, field, value, _documented(model).is_valid({**VALID_BODIES[model], field: value}))
        for model, field, value, _ in FORMAT_AND_LINE_BREAK_CASES
    ]
    expected = [
        (model.__name__, field, value, accepted) for model, field, value, accepted in FORMAT_AND_LINE_BREAK_CASES
    ]
    assert decided == expected
    assert documented == expected


def test_lower_casing_a_tag_keeps_its_length() -> None:
    for code in range(0x110000):
        char = chr(code)
        if unicodedata.category(char) != "Cs":
            assert len(lower_case_tag(char)) == 1, hex(code)
    assert lower_case_tag("\u0130STANBUL") == "istanbul"


def _property(model: type[BaseModel], field: str) -> dict[str, Any]:
    prop: dict[str, Any] = COMPONENTS[model.__name__]["properties"][field]
    string_branches = [branch for branch in prop.get("anyOf", [prop]) if branch.get("type") == "string"]
    (branch,) = string_branches
    return branch


def _from_documented_rules(prop: dict[str, Any]) -> st.SearchStrategy[str]:
    """Strings the property's pattern generates, kept when the rest of its rules hold too."""
    validator = jsonschema_rs.validator_for(prop, validate_formats=True, pattern_options=PATTERNS)
    return st.from_regex(prop["pattern"]).filter(validator.is_valid)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.data())
def test_what_the_document_calls_a_valid_email_or_website_is_accepted(data: st.DataObject) -> None:
    for model, field in ((UserCreate, "email"), (ProfileWrite, "website")):
        value = data.draw(_from_documented_rules(_property(model, field)), label=field)
        body = {**VALID_BODIES[model], field: value}
        assert _accepted(model, body), (field, value)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_what_the_document_calls_a_valid_name_title_or_password_is_accepted(data: st.DataObject) -> None:
    for model, field in (
        (UserCreate, "name"),
        (UserCreate, "password"),
        (PostCreate, "title"),
        (LoginForm, "username"),
    ):
        value = data.draw(_from_documented_rules(_property(model, field)), label=field)
        body = {**VALID_BODIES[model], field: value}
        assert _accepted(model, body), (field, value)


def test_the_document_is_built_from_the_models_json_schema() -> None:
    """The converter turns every request body's JSON schema into Litestar's spec objects and back unchanged."""
    for model in VALID_BODIES:
        assert COMPONENTS[model.__name__]["title"] == model.__name__
    sample = {
        "type": "object",
        "properties": {"a": {"anyOf": [{"$ref": "#/components/schemas/Role"}, {"type": "null"}]}},
        "not": {"pattern": "x"},
        "required": ["a"],
    }
    assert schema_from_json(sample).to_schema() == sample
    with pytest.raises(ValueError, match="no field for"):
        schema_from_json({"type": "string", "x-unknown": 1})
    assert re.search(COMPONENTS["UserCreate"]["properties"]["name"]["pattern"], "  Ada  ")
