"""Error messages stay short and printable whatever they quote."""

from __future__ import annotations

import ast

from hypothesis import given, settings
from hypothesis import strategies as st

from detector.errors import (
    MAX_ECHO_CHARS,
    MAX_MESSAGE_CHARS,
    BadRequestError,
    DetectorError,
    excerpt,
)

ANY_CHARACTER = st.characters(exclude_categories=())  # lone surrogates too
# Any text a request can carry: control characters, lone surrogates, astral characters;
# long enough to cross both limits.
TEXT = st.text(ANY_CHARACTER, max_size=3 * MAX_MESSAGE_CHARS) | st.builds(
    str.__mul__, ANY_CHARACTER, st.integers(0, 100_000)
)


@settings(max_examples=300, derandomize=True, database=None)
@given(value=TEXT)
def test_an_excerpt_is_short_printable_utf8_and_starts_like_the_value(value: str) -> None:
    quoted = excerpt(value)

    # THEN at most 40 characters of the value, each escaped to at most 10 (\U0010ffff)
    assert len(quoted) <= 10 * MAX_ECHO_CHARS + 40
    assert quoted.isprintable() and "\n" not in quoted
    quoted.encode("utf-8")  # no lone surrogate: it can go into a log line or JSON as it is
    prefix = quoted if len(value) <= MAX_ECHO_CHARS else quoted.split("... (")[0]
    assert value.startswith(ast.literal_eval(prefix))
    if len(value) > MAX_ECHO_CHARS:
        assert f"({len(value):,} characters)" in quoted


def test_a_short_value_is_quoted_whole() -> None:
    assert excerpt("dog") == "'dog'"
    assert excerpt("x" * MAX_ECHO_CHARS) == repr("x" * MAX_ECHO_CHARS)
    assert excerpt("x" * (MAX_ECHO_CHARS + 1)).endswith(f"... ({MAX_ECHO_CHARS + 1} characters)")


@settings(max_examples=100, derandomize=True, database=None)
@given(message=TEXT)
def test_no_error_message_is_longer_than_the_bound_whoever_built_it(message: str) -> None:
    error = BadRequestError(message)

    assert len(error.message) <= MAX_MESSAGE_CHARS
    assert str(error) == error.message
    if len(message) <= MAX_MESSAGE_CHARS:
        assert error.message == message
    else:
        assert error.message == message[: MAX_MESSAGE_CHARS - 3] + "..."


def test_every_error_class_is_bounded() -> None:
    def subclasses(kind: type[DetectorError]) -> list[type[DetectorError]]:
        return [kind] + [sub for child in kind.__subclasses__() for sub in subclasses(child)]

    for kind in subclasses(DetectorError):
        assert len(kind("m" * 10**6).message) == MAX_MESSAGE_CHARS, kind
