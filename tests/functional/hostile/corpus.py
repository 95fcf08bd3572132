"""Hostile ``/detect`` requests, and what every answer to one must be.

Shared by the option, echo and limit suites (``test_options``, ``test_echo``,
``test_limits``) and the random-request fuzz (``test_api``): events for each way an option
can arrive, hypothesis strategies for values no option takes, and ``answer``, which calls
the real API handler and checks what holds for any request: no 5xx, the error shape, a
small error body, and a log with no stack trace and no line of unbounded size.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal
from urllib.parse import urlencode

import pytest
from hypothesis import strategies as st

from detector.local import events
from detector.settings import MAX_CLASS_ITEMS, MAX_NUMBER_CHARS
from tests.lambdas import logs_to_current_stdout

# Every error body, and every log line, over the whole hostile corpus: "a few KB".
MAX_ERROR_BODY_BYTES = 4096
MAX_LOG_LINE_BYTES = 4096
INPUT_BUCKET = "inputs"  # the one bucket in INPUT_BUCKETS for these suites
COCO_CLASSES = 80

Form = Literal["query", "json", "json-base64", "s3"]
# How options arrive: in the query string beside a raw image; in a JSON body beside a
# base64 image (as text, or itself base64-encoded as a binary body); beside an S3 reference.
FORMS: tuple[Form, ...] = ("query", "json", "json-base64", "s3")
KINDS = st.sampled_from(events.API_KINDS)


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    log: str

    @property
    def error(self) -> dict[str, str]:
        return dict(json.loads(self.body)["error"])

    @property
    def document(self) -> Any:
        return json.loads(self.body)


def answer(
    api: ModuleType, event: dict[str, Any], context: Any, capsys: pytest.CaptureFixture[str]
) -> Answer:
    """WHEN the real handler gets ``event``, THEN the answer holds whatever was sent."""
    capsys.readouterr()  # what earlier calls printed is theirs
    with logs_to_current_stdout():
        response = api.lambda_handler(event, context)
    captured = capsys.readouterr()
    status, body = int(response["statusCode"]), str(response.get("body") or "")
    assert status < 500, body[:300]
    # No stack trace, and nothing on stderr (where logging reports a line it failed to write)
    assert "Traceback" not in captured.out + captured.err
    assert captured.err == ""
    for line in captured.out.splitlines():
        assert len(line.encode("utf-8", "surrogatepass")) <= MAX_LOG_LINE_BYTES, line[:300]
    if status >= 400:
        assert len(body.encode("utf-8", "surrogatepass")) <= MAX_ERROR_BODY_BYTES, body[:300]
        document = json.loads(body)
        assert set(document) == {"error", "request_id"}
        assert set(document["error"]) == {"code", "message"}
        assert '"level":"ERROR"' not in captured.out  # the caller's mistake is not our error
    return Answer(status, body, captured.out)


def refused(answer: Answer, status: int = 400, code: str = "bad_request") -> Answer:
    """THEN the request was refused with ``status`` and ``code``."""
    assert (answer.status, answer.error["code"]) == (status, code), answer.body[:300]
    return answer


# --- events ---------------------------------------------------------------------------------
def with_query(event: dict[str, Any], query: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """``event`` with a query string, repeated names included, as each front door sends it.

    REST APIs keep the last value in ``queryStringParameters`` and all of them in
    ``multiValueQueryStringParameters``; HTTP APIs and Function URLs join them with commas.
    """
    event = dict(event)
    if "httpMethod" in event:
        event["queryStringParameters"] = {name: values[-1] for name, values in query.items()}
        event["multiValueQueryStringParameters"] = {k: list(v) for k, v in query.items()}
    else:
        event["queryStringParameters"] = {name: ",".join(v) for name, v in query.items()}
        pairs = [(name, value) for name, values in query.items() for value in values]
        event["rawQueryString"] = urlencode(pairs, errors="surrogatepass")
    return event


def as_binary(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` with its text body delivered base64-encoded, as a binary body is."""
    body = str(event["body"]).encode("utf-8", "surrogatepass")
    return {**event, "body": base64.b64encode(body).decode(), "isBase64Encoded": True}


def image_event(
    kind: events.ApiKind,
    image: bytes,
    token: str,
    query: Mapping[str, Sequence[str]] | None = None,
    content_type: str = "image/jpeg",
) -> dict[str, Any]:
    """A raw image body, options in the query string."""
    event = events.api_event(
        kind, "POST", "/detect", body=image, content_type=content_type, token=token
    )
    return with_query(event, query) if query else event


def json_event(
    kind: events.ApiKind, body: bytes | str, token: str, content_type: str = "application/json"
) -> dict[str, Any]:
    """A JSON body as it is, even one that is not JSON (text, not base64)."""
    event = events.api_event(
        kind, "POST", "/detect", body=b"{}", content_type=content_type, token=token
    )
    text = body if isinstance(body, str) else body.decode("utf-8", "surrogatepass")
    return {**event, "body": text, "isBase64Encoded": False}


def json_document(source: str, members: Mapping[str, str]) -> str:
    """A JSON object written by hand: ``source`` and ``members`` are JSON text fragments."""
    parts = [source] + [f"{json.dumps(name)}: {fragment}" for name, fragment in members.items()]
    return "{" + ", ".join(parts) + "}"


def image_member(image: bytes) -> str:
    return f'"image": "{base64.b64encode(image).decode()}"'


S3_MEMBER = f'"s3": {{"bucket": "{INPUT_BUCKET}", "key": "uploads/hostile.jpg"}}'


def option_event(
    kind: events.ApiKind, form: Form, name: str, value: str, image: bytes, token: str
) -> dict[str, Any]:
    """A request with option ``name`` set to ``value`` in ``form``.

    ``value`` is query-string text for the "query" form, a JSON fragment for the others
    (any JSON text, or text that only looks like JSON).
    """
    if form == "query":
        return image_event(kind, image, token, {name: [value]})
    source = S3_MEMBER if form == "s3" else image_member(image)
    event = json_event(kind, json_document(source, {name: value}), token)
    return as_binary(event) if form == "json-base64" else event


# --- values no option takes -----------------------------------------------------------------
ASCII_DIGITS = "0123456789"
# Decimal digits of other scripts (Arabic-Indic, Devanagari, fullwidth, ...): Python's
# int() and float() read every one of the 65 sets.
FOREIGN_DIGITS = st.characters(categories=["Nd"], exclude_characters=ASCII_DIGITS)
# Numeric characters that are not decimal digits: ², ½, ①, Ⅻ. str.isdigit() is True for
# some of them, int() takes none.
NUMBER_SYMBOLS = st.characters(categories=["No", "Nl"])


@st.composite
def numerals_with(draw: st.DrawFn, odd: st.SearchStrategy[str]) -> str:
    """A number-like text of ASCII digits with at least one ``odd`` character among them."""
    chars = draw(st.lists(st.sampled_from(ASCII_DIGITS) | odd, min_size=1, max_size=6))
    chars[draw(st.integers(0, len(chars) - 1))] = draw(odd)
    text = "".join(chars)
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + "." + text[cut:]
    return draw(st.sampled_from(["", "-", "+"])) + text


@st.composite
def long_numerals(draw: st.DrawFn) -> str:
    """Valid JSON numbers of more than MAX_NUMBER_CHARS characters, up to 6,000 digits.

    int() refuses more than 4,300 digits; a float of that many overflows.
    """
    digits = draw(st.integers(MAX_NUMBER_CHARS + 1, 6000))
    first, rest = draw(st.sampled_from("123456789")), draw(st.sampled_from(ASCII_DIGITS))
    number = first + rest * (digits - 1)
    shape = draw(st.sampled_from(["{}", "-{}", "0.{}", "{}e5", "1e{}", "-{}.5E-3"]))
    return shape.format(number)


SIGN_AND_DOT_GARBAGE = st.from_regex(
    r"[+-]{2,3}[0-9]{1,4}|[0-9]{1,4}[+-]{1,2}|[0-9]+[+-][0-9]+"
    r"|[+-]?[0-9]*\.[0-9]*\.[0-9]*|[+-]?[eE][0-9]+|[+-]?\.|[0-9]+[eE][+-]?",
    fullmatch=True,
)
PYTHON_ONLY_NUMBERS = st.sampled_from(
    [
        "nan",
        "NaN",
        "-nan",
        "inf",
        "-inf",
        "+inf",
        "Infinity",
        "-Infinity",
        "infinity",
        "0x10",
        "0X1F",
        "0o7",
        "0b1",
        "1_0",
        "1__0",
        "0_5",
        "1j",
        "0.5\u3000",  # an ideographic space: str.strip() takes it, float() too
        "\u20000.5",  # an en quad
        "0.5\xa0",
        "\u22121",  # a minus sign, not a hyphen-minus
        "\u0661\u066b\u0665",  # Arabic-Indic 1, Arabic decimal separator, 5
    ]
)
# Text that no option takes: not a number, not a flag, not a known class or a class id.
UNTAKEN_TEXT = st.one_of(
    numerals_with(FOREIGN_DIGITS),
    numerals_with(NUMBER_SYMBOLS),
    long_numerals(),
    SIGN_AND_DOT_GARBAGE,
    PYTHON_ONLY_NUMBERS,
)


@st.composite
def deep_json(draw: st.DrawFn) -> str:
    """Arrays or objects nested up to 100,000 levels: past the JSON parser's recursion guard."""
    depth = draw(st.integers(1, 100_000) | st.sampled_from([990, 1000, 1010, 30_000]))
    if draw(st.booleans()):
        return "[" * depth + "]" * depth
    return '{"a": ' * depth + "0" + "}" * depth


# JSON no option takes, and no other member either: numbers that are too long, or not
# JSON (NaN), or infinite once parsed (1e999), and containers nested past any use.
UNTAKEN_JSON_VALUES = st.one_of(
    long_numerals(),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1E+400"]),
    deep_json(),
)
# ... and the untaken text as JSON strings: options refuse those too.
UNTAKEN_JSON = UNTAKEN_JSON_VALUES | UNTAKEN_TEXT.map(json.dumps)

JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.floats()
# Any JSON value but text (text is the grammar's business: UNTAKEN_TEXT above).
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=8,
)


def takes(name: str, value: Any) -> bool:
    """Whether option ``name`` takes the JSON value ``value`` (never text, never null).

    The README's grammar, for non-text values: conf and iou a finite number from 0 to 1,
    max_det a whole number from 1 to 10000, flags true or false, classes 1 to 4096 ids of
    the model's 80 classes; and no JSON number of more than 32 characters.
    """
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and len(json.dumps(value)) > MAX_NUMBER_CHARS:
        return False
    if name in ("conf", "iou"):
        return number and math.isfinite(value) and 0 <= value <= 1
    if name == "max_det":
        return number and isinstance(value, int) and 1 <= value <= 10_000
    if name in ("agnostic", "multi_label", "annotate"):
        return isinstance(value, bool)
    assert name == "classes"
    return (
        isinstance(value, list)
        and 1 <= len(value) <= MAX_CLASS_ITEMS
        and all(
            isinstance(item, int)
            and not isinstance(item, bool)
            and 0 <= item < COCO_CLASSES
            and len(json.dumps(item)) <= MAX_NUMBER_CHARS
            for item in value
        )
    )
