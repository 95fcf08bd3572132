"""The body and options of ``POST /detect``: parsed, checked, independent of the event shape.

Three input forms:

* a raw image body (``Content-Type: image/jpeg|png|webp``; API Gateway delivers it base64
  with ``isBase64Encoded``), options in the query string;
* JSON ``{"image": "<base64>", ...options}``;
* JSON ``{"s3": {"bucket": B, "key": K}, ...options}``, only for buckets in ``INPUT_BUCKETS``
  (otherwise anyone could make the function read any object its role can read).

Options from JSON win over the same option in the query string. Class names are matched to
ids only once the model (and so its class list) is known: :meth:`DetectRequest.options`.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pybase64

from detector.aws import S3Location
from detector.errors import (
    BadRequestError,
    ForbiddenError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from detector.pipeline.engine import DetectOptions
from detector.settings import Settings

IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
JSON_MEDIA_TYPE = "application/json"
OPTION_NAMES = ("conf", "iou", "max_det", "classes", "agnostic", "annotate")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_T = TypeVar("_T")


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
    annotate: bool = False
    wants_jpeg: bool = False

    def options(self, class_names: Sequence[str], settings: Settings) -> DetectOptions:
        """The engine options; unset values come from the settings (400 when out of range)."""
        return DetectOptions(
            conf=settings.conf if self.conf is None else self.conf,
            iou=settings.iou if self.iou is None else self.iou,
            max_det=settings.max_det if self.max_det is None else self.max_det,
            agnostic=self.agnostic,
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
        document = _json_object(_body_bytes(body, is_base64, _json_limit(settings)))
        image, source = _json_input(document, settings)
        options = {**query, **{k: v for k, v in document.items() if k not in ("image", "s3")}}
        return _with_options(image=image, source=source, options=options, accept=accept)
    if not media_type:
        raise UnsupportedMediaTypeError(
            "set Content-Type to image/jpeg, image/png, image/webp or application/json"
        )
    raise UnsupportedMediaTypeError(
        f"{media_type} is not supported; send image/jpeg, image/png, image/webp or application/json"
    )


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
            raise BadRequestError(f"the model has no class named {item!r}; see GET /model")
    return frozenset(ids)


def wants_jpeg(accept: str | None) -> bool:
    """True when the client asks for ``image/jpeg`` and does not also accept JSON."""
    types = {part.split(";")[0].strip().lower() for part in (accept or "").split(",")}
    return "image/jpeg" in types and JSON_MEDIA_TYPE not in types


def _with_options(
    *,
    image: bytes | None,
    source: S3Location | None,
    options: Mapping[str, Any],
    accept: str | None,
) -> DetectRequest:
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise BadRequestError(
            f"unknown option(s) {', '.join(unknown)}; allowed: {', '.join(OPTION_NAMES)}"
        )
    return DetectRequest(
        image=image,
        source=source,
        conf=_optional(options, "conf", _number),
        iou=_optional(options, "iou", _number),
        max_det=_optional(options, "max_det", _whole_number),
        classes=_optional(options, "classes", _classes),
        agnostic=_optional(options, "agnostic", _flag) or False,
        annotate=_optional(options, "annotate", _flag) or False,
        wants_jpeg=wants_jpeg(accept),
    )


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
    if _decoded_size(value) > max_bytes:
        raise PayloadTooLargeError(f"the image is over the limit of {max_bytes} bytes")
    # Data URLs are what a browser's FileReader produces; accept them as they are.
    if value.startswith("data:") and "," in value:
        value = value.split(",", 1)[1]
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
        raise ForbiddenError(f"reading images from bucket {bucket!r} is not allowed")
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
    raw = body.encode("utf-8", "surrogateescape")
    if len(raw) > max_bytes:
        raise PayloadTooLargeError(f"the request body is over the limit of {max_bytes} bytes")
    return raw


def _json_object(raw: bytes) -> dict[str, Any]:
    if not raw:
        raise BadRequestError("the request body is empty; send a JSON object")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequestError("the request body is not valid JSON") from None
    if not isinstance(document, dict):
        raise BadRequestError("the request body must be a JSON object")
    return document


def _json_limit(settings: Settings) -> int:
    # base64 makes the image 4/3 larger; leave room for the options around it.
    return settings.max_image_bytes * 4 // 3 + 64 * 1024


def _decoded_size(text: str) -> int:
    return len(text) * 3 // 4


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _optional(
    options: Mapping[str, Any], name: str, parse: Callable[[Any], _T | None]
) -> _T | None:
    value = options.get(name)
    if value is None or value == "":
        return None
    result = parse(value)
    if result is None:
        raise BadRequestError(f"option {name} has an invalid value {str(value)[:40]!r}")
    return result


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _whole_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    return None


def _classes(value: Any) -> tuple[str | int, ...] | None:
    """``"dog,person"``, ``"0,16"``, ``["dog", 16]``: names stay names, digits become ids."""
    items: list[Any] = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        return None
    parsed: list[str | int] = []
    for item in items:
        if isinstance(item, bool):
            return None
        if isinstance(item, int):
            parsed.append(item)
        elif isinstance(item, str) and item.strip():
            text = item.strip()
            parsed.append(int(text) if text.isdigit() else text)
        else:
            return None
    return tuple(parsed)
