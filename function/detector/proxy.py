"""HTTP through Lambda: API Gateway's proxy events in, their responses out, and a router.

REST APIs send payload format 1.0; HTTP APIs send 2.0 (or 1.0 where configured so), and so
do Function URLs. ``HttpRequest.from_event`` reads either into one view, ``Response.to_event``
writes the answer in the format the request came in, and ``Router`` finds a route by method
and path, runs its guards, and turns what it raises into a response through one function.

Powertools' event handler did this job until its import cost every cold start ~70 ms (its
package imports all of its resolvers, asyncio and ~35 event classes: ``python -m
benchmarks.bench imports``); what the API needs of it is the little here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from detector.errors import BadRequestError, MethodNotAllowedError, NotFoundError
from detector.media import JSON_MEDIA_TYPE


@dataclass(frozen=True)
class HttpRequest:
    """One request, whichever payload format carried it.

    ``path`` has no trailing slash (but ``/`` itself). ``headers`` have lower-case names; a
    name sent twice holds its values joined by ", ", as payload 2.0 delivers it. ``query``
    joins a repeated name's values by commas, as HTTP APIs deliver them: the same request
    means the same behind every front door.
    """

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    is_base64: bool = False
    payload_version: str = "1.0"

    @classmethod
    def from_event(cls, event: Any) -> HttpRequest:
        """The request in an API Gateway (REST or HTTP API) or Function URL event; a
        ``BadRequestError`` for anything else."""
        if not isinstance(event, Mapping):
            raise BadRequestError("not an API Gateway or Function URL event")
        if event.get("version") == "2.0":
            context = _mapping(event.get("requestContext"))
            return cls(
                method=_text(_mapping(context.get("http")).get("method")),
                path=_normal_path(
                    _path_without_stage(_text(event.get("rawPath")), context.get("stage"))
                ),
                headers=_headers(event.get("headers")),
                query=_query(event.get("queryStringParameters")),
                body=_body(event.get("body")),
                is_base64=event.get("isBase64Encoded") is True,
                payload_version="2.0",
            )
        repeated = event.get("multiValueQueryStringParameters")
        return cls(
            method=_text(event.get("httpMethod")),
            path=_normal_path(_text(event.get("path"))),
            headers=_headers(event.get("headers")),
            query=_query(repeated) if repeated else _query(event.get("queryStringParameters")),
            body=_body(event.get("body")),
            is_base64=event.get("isBase64Encoded") is True,
        )


def _mapping(value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadRequestError("not an API Gateway or Function URL event")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequestError("not an API Gateway or Function URL event: no method or path")
    return value


def _path_without_stage(raw_path: str, stage: Any) -> str:
    """An HTTP API's ``rawPath`` starts with its stage's name, unless the stage is ``$default``
    or the request came through a custom domain (then the prefix is not there)."""
    if isinstance(stage, str) and stage != "$default":
        prefix = "/" + stage
        if raw_path == prefix or raw_path.startswith(prefix + "/"):
            return raw_path[len(prefix) :] or "/"
    return raw_path


def _normal_path(path: str) -> str:
    """``/health/`` is ``/health``; ``/`` stays ``/``."""
    return path.rstrip("/") or "/"


def _headers(value: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, text in _mapping(value).items():
        if not isinstance(name, str) or not isinstance(text, str):
            raise BadRequestError("not an API Gateway or Function URL event: a header is not text")
        key = name.lower()
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def _query(value: Any) -> dict[str, str]:
    query = {}
    for name, values in _mapping(value).items():
        items = values if isinstance(values, list) else [values]
        if not isinstance(name, str) or not all(isinstance(item, str) for item in items):
            raise BadRequestError("not an API Gateway or Function URL event: a query is not text")
        query[name] = ",".join(items)
    return query


def _body(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise BadRequestError("not an API Gateway or Function URL event: the body is not text")
    return value


@dataclass(frozen=True)
class Response:
    """An answer: bytes travel base64-encoded, text as it is."""

    status: int
    content_type: str
    body: str | bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, status: int, document: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> Response:
        body = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
        return cls(status, JSON_MEDIA_TYPE, body, headers or {})

    def to_event(self, payload_version: str) -> dict[str, Any]:
        """The dict Lambda hands back to API Gateway or the Function URL, in the request's
        payload format."""
        is_base64 = isinstance(self.body, bytes)
        body = base64.b64encode(self.body).decode() if isinstance(self.body, bytes) else self.body
        headers = {**self.headers, "Content-Type": self.content_type}
        answer: dict[str, Any] = {"statusCode": int(self.status)}
        if payload_version == "2.0":
            answer |= {"headers": headers, "cookies": []}
        else:
            answer["multiValueHeaders"] = {name: [value] for name, value in headers.items()}
        return answer | {"body": body, "isBase64Encoded": is_base64}


RouteFunction = Callable[[HttpRequest], Response]
Guard = Callable[[HttpRequest], None]
ErrorFunction = Callable[[Exception], Response]


@dataclass(frozen=True)
class Route:
    function: RouteFunction
    guards: Sequence[Guard] = ()


class Router:
    """Routes by method and exact path (``HttpRequest`` has dropped a trailing slash). The
    function registered with ``on_error`` turns every exception, ours or not, into the
    response, so no request ends without an answer (without one, exceptions propagate)."""

    def __init__(self) -> None:
        self.routes: dict[str, dict[str, Route]] = {}
        self.before_each: list[Guard] = []
        self.error_function: ErrorFunction | None = None
        self.lambda_context: Any = None  # of the invocation being resolved

    def on_error(self, function: ErrorFunction) -> ErrorFunction:
        """Register the one function that turns what a request raised into its response."""
        self.error_function = function
        return function

    def get(
        self, path: str, guards: Sequence[Guard] = ()
    ) -> Callable[[RouteFunction], RouteFunction]:
        return self.route("GET", path, guards)

    def post(
        self, path: str, guards: Sequence[Guard] = ()
    ) -> Callable[[RouteFunction], RouteFunction]:
        return self.route("POST", path, guards)

    def route(
        self, method: str, path: str, guards: Sequence[Guard] = ()
    ) -> Callable[[RouteFunction], RouteFunction]:
        def register(function: RouteFunction) -> RouteFunction:
            self.routes.setdefault(path, {})[method] = Route(function, tuple(guards))
            return function

        return register

    def find(self, request: HttpRequest) -> Route:
        """The route for the request; ``NotFoundError`` or ``MethodNotAllowedError`` (with
        ``allow``, the methods the path does accept)."""
        methods = self.routes.get(request.path)
        if methods is None:
            raise NotFoundError(f"no such route; try {', '.join(sorted(self.routes))}")
        route = methods.get(request.method.upper())
        if route is None:
            allow = ", ".join(methods)
            raise MethodNotAllowedError(f"{request.path} accepts {allow} only", allow)
        return route

    def resolve(self, event: Any, context: Any) -> dict[str, Any]:
        """The answer to ``event`` in its payload format, whatever happens on the way."""
        self.lambda_context = context
        request = None
        try:
            request = HttpRequest.from_event(event)
            for guard in self.before_each:
                guard(request)
            route = self.find(request)
            for guard in route.guards:
                guard(request)
            response = route.function(request)
        except Exception as error:  # every failure gets an answer, through one function
            if self.error_function is None:
                raise
            response = self.error_function(error)
        return response.to_event(request.payload_version if request else _version_of(event))


def _version_of(event: Any) -> str:
    return "2.0" if isinstance(event, Mapping) and event.get("version") == "2.0" else "1.0"
