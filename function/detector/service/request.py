"""The body and options of ``POST /detect``: parsed, checked, independent of the event shape.

Three input forms:

* a raw image body (``Content-Type: image/jpeg|png|webp``; API Gateway delivers it base64
  with ``isBase64Encoded``), options in the query string;
* JSON ``{"image": "<base64>", ...options}``;
* JSON ``{"s3": {"bucket": B, "key": K}, ...options}``, only for buckets in ``INPUT_BUCKETS``
  (otherwise anyone could make the function read any object its role can read).

Options from JSON win over the same option in the query string. Class names are matched to
ids only once the model (and so its class list) is known: :meth:`DetectRequest.options`.

The grammar of the options is the same in every form, and anything outside it is a 400
``bad_request`` (never a 500, whatever the value):

* a number (``conf``, ``iou``) is a JSON number, or text of ASCII digits: ``[+-]``, digits
  with an optional ``.`` fraction (``.5`` and ``5.`` too), an optional ``e``/``E`` exponent;
  a whole number (``max_det``) is a JSON integer or ``[+-]`` and ASCII digits. At most
  ``MAX_NUMBER_CHARS`` characters either way. Other scripts' digits (Arabic-Indic,
  fullwidth), ``²``, ``①``, ``nan``, ``inf``, ``0x10`` and ``1_0`` are not numbers here,
  although Python's ``int`` and ``float`` take some of them;
* a flag (``agnostic``, ``multi_label``, ``annotate``) is JSON ``true``/``false``, or the
  text ``1``, ``true``, ``yes``, ``on`` / ``0``, ``false``, ``no``, ``off`` in any case;
* ``classes`` is a JSON list, or text split at commas: 1 to ``MAX_CLASS_ITEMS`` items,
  each a JSON integer (an id) or text, where ASCII digits are an id and anything else
  a class name;
* spaces and tabs around text are ignored; an empty text or JSON ``null`` leaves the
  option at its default;
* the JSON body is UTF-8 (no byte order mark) holding one object, with no key twice,
  ``NaN`` and ``Infinity`` not being JSON, and numbers (anywhere in it) of at most
  ``MAX_NUMBER_CHARS`` characters.

Values are checked for range (``conf`` from 0 to 1, ...) by ``DetectOptions``.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pybase64

from detector.aws import S3Location
from detector.errors import (
    BadRequestError,
    ForbiddenError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    excerpt,
)
from detector.media import IMAGE_MEDIA_TYPES, JPEG_MEDIA_TYPE, JSON_MEDIA_TYPE
from detector.pipeline.engine import DetectOptions
from detector.settings import (
    JSON_BODY_MARGIN_BYTES,
    MAX_CLASS_ITEMS,
    MAX_NUMBER_CHARS,
    S3_MAX_KEY_BYTES,
    Settings,
    parse_flag,
)

_SPACE = " \t"  # str.strip() alone would also take Unicode spaces and separators
# [0-9], not \d: \d (and int(), float(), str.isdigit()) also match other scripts' digits.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_WHOLE = re.compile(r"[+-]?[0-9]+")
_CLASS_ID = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class DetectRequest:
    """One parsed ``/detect`` call: the image (or where to fetch it) and raw options."""

    image: bytes | None = field(default=None, repr=False)
    source: S3Location | None = None
    conf: float | None = None
    iou: float | None = None
    max_det: int | None = None
    classes: tuple[str | int, ...] | None = None
    agnostic: bool = False
    multi_label: bool = False
    annotate: bool = False
    wants_jpeg: bool = False

    def options(self, class_names: Sequence[str], settings: Settings) -> DetectOptions:
        """The engine options; unset values come from the settings (400 when out of range)."""
        return DetectOptions(
            conf=settings.conf if self.conf is None else self.conf,
            iou=settings.iou if self.iou is None else self.iou,
            max_det=settings.max_det if self.max_det is None else self.max_det,
            agnostic=self.agnostic,
            multi_label=self.multi_label,
            classes=None if self.classes is None else class_ids(self.classes, class_names),
        )


def parse_detect_request(
    *,
    body: str | None,
    is_base64: bool,
    content_type: str | None,
    query: Mapping[str, str],
    accept: str | None,
    settings: Settings,
) -> DetectRequest:
    """Parse ``/detect``: 400 malformed, 403 bucket not allowed, 413 too big, 415 media type."""
    media_type = _media_type(content_type)
    if media_type in IMAGE_MEDIA_TYPES:
        raw = _body_bytes(body, is_base64, settings.max_image_bytes)
        if not raw:
            raise BadRequestError("the request body is empty; send the image bytes")
        return _with_options(image=raw, source=None, options=query, accept=accept)
    if media_type == JSON_MEDIA_TYPE or media_type.endswith("+json"):
        document = _json_object(_body_bytes(body, is_base64, max_json_bytes(settings)))
        image, source = _json_input(document, settings)
        options = {**query, **{k: v for k, v in document.items() if k not in ("image", "s3")}}
        return _with_options(image=image, source=source, options=options, accept=accept)
    if not media_type:
        raise UnsupportedMediaTypeError(
            "set Content-Type to image/jpeg, image/png, image/webp or application/json"
        )
    raise UnsupportedMediaTypeError(
        f"{excerpt(media_type)} is not supported; "
        "send image/jpeg, image/png, image/webp or application/json"
    )


def max_json_bytes(settings: Settings) -> int:
    """The largest JSON body: the base64 of a ``max_image_bytes`` image, and room around it."""
    return base64_size(settings.max_image_bytes) + JSON_BODY_MARGIN_BYTES


def base64_size(size: int) -> int:
    """The length of the padded base64 of ``size`` bytes."""
    return 4 * ((size + 2) // 3)


def parse_options(options: Mapping[str, Any]) -> DetectRequest:
    """Detection options without an image, checked as ``/detect`` checks them (400).

    What S3 Batch Operations' ``userArguments`` and ``detector backfill --option`` carry.
    """
    return _with_options(image=None, source=None, options=options, accept=None)


def class_ids(classes: Sequence[str | int], class_names: Sequence[str]) -> frozenset[int]:
    """Class names (case-insensitive) or ids into ids of ``class_names``; 400 if unknown."""
    by_name = {name.lower(): index for index, name in enumerate(class_names)}
    ids: set[int] = set()
    for item in classes:
        if isinstance(item, int):
            if not 0 <= item < len(class_names):
                raise BadRequestError(
                    f"class id {item} is out of range: the model has {len(class_names)} classes"
                )
            ids.add(item)
        elif item.lower() in by_name:
            ids.add(by_name[item.lower()])
        else:
            raise BadRequestError(f"the model has no class named {excerpt(item)}; see GET /model")
    return frozenset(ids)


def wants_jpeg(accept: str | None) -> bool:
    """True when the client asks for ``image/jpeg`` and does not also accept JSON."""
    types = {part.split(";")[0].strip().lower() for part in (accept or "").split(",")}
    return JPEG_MEDIA_TYPE in types and JSON_MEDIA_TYPE not in types


def _with_options(
    *,
    image: bytes | None,
    source: S3Location | None,
    options: Mapping[str, Any],
    accept: str | None,
) -> DetectRequest:
    unknown = [name for name in options if name not in OPTIONS]
    if unknown:
        more = f" (and {len(unknown) - 1:,} more)" if len(unknown) > 1 else ""
        raise BadRequestError(
            f"unknown option {excerpt(min(unknown))}{more}; allowed: {', '.join(OPTIONS)}"
        )
    given = {name: value for name, value in options.items() if value is not None and value != ""}
    parsed = {name: _option(name, value) for name, value in given.items()}
    return DetectRequest(image=image, source=source, wants_jpeg=wants_jpeg(accept), **parsed)


def _json_input(
    document: Mapping[str, Any], settings: Settings
) -> tuple[bytes | None, S3Location | None]:
    has_image, has_s3 = "image" in document, "s3" in document
    if has_image == has_s3:
        raise BadRequestError('send exactly one of "image" (base64) or "s3" ({bucket, key})')
    if has_image:
        image = _base64_image(document["image"], settings.max_image_bytes)
        return image, None
    return None, _s3_source(document["s3"], settings)


def _base64_image(value: Any, max_bytes: int) -> bytes:
    if not isinstance(value, str) or not value:
        raise BadRequestError('"image" must be a non-empty base64 string')
    # Data URLs are what a browser's FileReader produces; accept them as they are.
    if value.startswith("data:") and "," in value:
        value = value.split(",", 1)[1]
    if _decoded_size(value) > max_bytes:
        raise PayloadTooLargeError(f"the image is over the limit of {max_bytes} bytes")
    try:
        return pybase64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequestError('"image" is not valid base64') from None


def _s3_source(value: Any, settings: Settings) -> S3Location:
    if not isinstance(value, Mapping) or set(value) - {"bucket", "key", "version_id"}:
        raise BadRequestError('"s3" must be {"bucket": ..., "key": ...[, "version_id": ...]}')
    bucket, key, version = value.get("bucket"), value.get("key"), value.get("version_id")
    if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
        raise BadRequestError('"s3" needs a non-empty "bucket" and "key"')
    if version is not None and not isinstance(version, str):
        raise BadRequestError('"s3.version_id" must be a string')
    if bucket not in settings.input_buckets:
        raise ForbiddenError(f"reading images from bucket {excerpt(bucket)} is not allowed")
    for name, text in (("key", key), ("version_id", version or "")):
        size = _utf8_size(text)
        if size is None or size > S3_MAX_KEY_BYTES:
            raise BadRequestError(
                f'"s3.{name}" must be UTF-8 of at most {S3_MAX_KEY_BYTES} bytes, as in S3'
            )
    return S3Location(bucket, key, version)


def _body_bytes(body: str | None, is_base64: bool, max_bytes: int) -> bytes:
    if body is None:
        return b""
    if is_base64:
        if _decoded_size(body) > max_bytes:
            raise PayloadTooLargeError(f"the request body is over the limit of {max_bytes} bytes")
        try:
            return pybase64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequestError("the request body is not valid base64") from None
    # An event's text can hold lone surrogates (JSON escapes do); kept as they are, they
    # make invalid UTF-8 that the JSON parser refuses, instead of an error while encoding.
    raw = body.encode("utf-8", "surrogatepass")
    if len(raw) > max_bytes:
        raise PayloadTooLargeError(f"the request body is over the limit of {max_bytes} bytes")
    return raw


def _json_object(raw: bytes) -> dict[str, Any]:
    if not raw:
        raise BadRequestError("the request body is empty; send a JSON object")
    try:
        document = _JSON.decode(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequestError("the request body is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise BadRequestError(
            f"the request body is not valid JSON: {error.msg} at character {error.pos:,}"
        ) from None
    except RecursionError:  # the parser's own guard against the C stack running out
        raise BadRequestError("the request body is not valid JSON: nested too deeply") from None
    if not isinstance(document, dict):
        raise BadRequestError("the request body must be a JSON object")
    return document


def _json_number(text: str) -> str:
    # Before int() or float() see it: int() refuses over 4,300 digits with a ValueError,
    # and float(int) of a big integer overflows.
    if len(text) > MAX_NUMBER_CHARS:
        raise BadRequestError(
            f"the request body has a number of {len(text):,} characters; "
            f"numbers may have at most {MAX_NUMBER_CHARS}"
        )
    return text


def _json_constant(name: str) -> Any:
    raise BadRequestError(f"the request body is not valid JSON: {name} is not a JSON number")


def _json_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise BadRequestError(f"the request body has the key {excerpt(key)} twice")
        document[key] = value
    return document


# Strict JSON: which of two "conf" keys counts, or what NaN means, is left to no parser.
_JSON = json.JSONDecoder(
    parse_int=lambda text: int(_json_number(text)),
    parse_float=lambda text: float(_json_number(text)),
    parse_constant=_json_constant,
    object_pairs_hook=_json_members,
)


def _decoded_size(text: str) -> int:
    """The size of what base64 ``text`` decodes to: exact when it is valid (padded) base64."""
    padding = 2 if text.endswith("==") else 1 if text.endswith("=") else 0
    return len(text) * 3 // 4 - padding


def _utf8_size(text: str) -> int | None:
    """The length of ``text`` in UTF-8, or None when it has no UTF-8 form (lone surrogates)."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return None


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


# --- the options: one line of OPTIONS each --------------------------------------------------
class Option(NamedTuple):
    parse: Callable[[Any], Any]  # a JSON value or query-string text -> the value, or None
    expected: str  # what the value must be, for the error message


def _option(name: str, value: Any) -> Any:
    option = OPTIONS[name]
    parsed = option.parse(value)
    if parsed is None:
        raise BadRequestError(f"option {name} must be {option.expected}, not {_shown(value)}")
    return parsed


def _shown(value: Any) -> str:
    """A value of the request in a few words: containers are never walked nor printed."""
    if isinstance(value, str):
        return excerpt(value)
    if isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(value)  # a JSON number: at most MAX_NUMBER_CHARS characters
    if isinstance(value, list):
        return f"a list of {len(value):,} items"
    return "an object"


def _numeral(value: Any, pattern: re.Pattern[str]) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip(_SPACE)
    return text if len(text) <= MAX_NUMBER_CHARS and pattern.fullmatch(text) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    text = _numeral(value, _DECIMAL)
    return None if text is None else float(text)


def _whole_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = _numeral(value, _WHOLE)
    return None if text is None else int(text)


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    return parse_flag(value) if isinstance(value, str) else None


def _classes(value: Any) -> tuple[str | int, ...] | None:
    """``"dog,person"``, ``"0,16"``, ``["dog", 16]``: names stay names, ASCII digits are ids."""
    if isinstance(value, str):
        if value.count(",") >= MAX_CLASS_ITEMS:  # counted before a split makes the items
            return None
        items: list[Any] = value.split(",")
    elif isinstance(value, list):
        items = value
    else:
        return None
    if not items or len(items) > MAX_CLASS_ITEMS:
        return None
    parsed: list[str | int] = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            parsed.append(item)
            continue
        text = item.strip(_SPACE) if isinstance(item, str) else ""
        if not text or (_CLASS_ID.fullmatch(text) and len(text) > MAX_NUMBER_CHARS):
            return None
        parsed.append(int(text) if _CLASS_ID.fullmatch(text) else text)
    return tuple(parsed)


OPTIONS = {
    "conf": Option(_number, "a number"),
    "iou": Option(_number, "a number"),
    "max_det": Option(_whole_number, "a whole number"),
    "classes": Option(_classes, f"1 to {MAX_CLASS_ITEMS} class names or ids"),
    "agnostic": Option(_flag, "true or false"),
    "multi_label": Option(_flag, "true or false"),
    "annotate": Option(_flag, "true or false"),
}
