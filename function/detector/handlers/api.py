"""The HTTP entry point: API Gateway REST (v1), HTTP API (v2) and Function URL events.

One set of routes on a ``proxy.Router``, for both payload formats: REST APIs (and HTTP APIs
configured for payload 1.0) send version 1.0 events, HTTP APIs and Function URLs send version
2.0. Errors are typed exceptions, turned into ``{"error": {"code", "message"}, "request_id"}``
with their status in ``error_response``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from http import HTTPStatus
from pathlib import Path
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from detector import aws, observability, snapstart, startup
from detector.auth import TokenVerifier, challenge
from detector.aws import AwsClients, S3Location
from detector.errors import (
    AuthUnavailableError,
    BadRequestError,
    DetectorError,
    ForbiddenError,
    InsufficientScopeError,
    KeyAccessError,
    MethodNotAllowedError,
    ModelError,
    ModelUnavailableError,
    NotFoundError,
    PayloadTooLargeError,
    StorageAccessDeniedError,
    StorageArchivedError,
    StorageNotFoundError,
    StorageRefusedError,
    StorageUnavailableError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
)
from detector.media import JPEG_MEDIA_TYPE
from detector.model.store import ModelHolder
from detector.observability import MeasuredModel
from detector.pipeline.engine import DetectionResult
from detector.proxy import HttpRequest, Response, Router
from detector.service.documents import (
    detection_document,
    error_document,
    model_document,
)
from detector.service.request import parse_detect_request
from detector.settings import Settings

# Built once per cold start. The same lines open handlers/s3.py: on purpose, each handler module
# stands alone as Powertools' handler modules do.
settings = Settings.from_env()
clients = AwsClients()
logger, tracer, metrics = observability.powertools(settings)
model = MeasuredModel(ModelHolder(settings, clients=clients), tracer, metrics)
app = Router()

HTML_MEDIA_TYPE = "text/html; charset=utf-8"
DEMO_PAGE = Path(__file__).resolve().parents[1] / "static" / "index.html"
# Lambda returns at most 6,291,556 bytes from a synchronous invocation; a bigger answer
# reaches the caller as a bare 502. Binary bodies travel base64-encoded; the status and
# headers fit in the margin.
MAX_RESPONSE_BODY_BYTES = 6_291_556 - 16 * 1024
RETRY_AFTER_SECONDS = "5"  # a failed model load is retried by the next request
# Looked up along each error's class hierarchy: a subclass has its parent's status.
STATUS = {
    BadRequestError: HTTPStatus.BAD_REQUEST,
    StorageRefusedError: HTTPStatus.BAD_REQUEST,
    UnauthorizedError: HTTPStatus.UNAUTHORIZED,
    ForbiddenError: HTTPStatus.FORBIDDEN,
    StorageAccessDeniedError: HTTPStatus.FORBIDDEN,
    NotFoundError: HTTPStatus.NOT_FOUND,
    StorageNotFoundError: HTTPStatus.NOT_FOUND,
    MethodNotAllowedError: HTTPStatus.METHOD_NOT_ALLOWED,
    StorageArchivedError: HTTPStatus.CONFLICT,
    PayloadTooLargeError: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    UnsupportedMediaTypeError: HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    ModelUnavailableError: HTTPStatus.SERVICE_UNAVAILABLE,
    ModelError: HTTPStatus.SERVICE_UNAVAILABLE,
    KeyAccessError: HTTPStatus.SERVICE_UNAVAILABLE,
    AuthUnavailableError: HTTPStatus.SERVICE_UNAVAILABLE,
    StorageUnavailableError: HTTPStatus.SERVICE_UNAVAILABLE,
}


@functools.cache
def verifier() -> TokenVerifier:
    """Built on first use: a configuration error then fails the request, not the cold start."""
    secrets = None
    if settings.jwt_secret_id:
        # Imported here: only this key source needs Powertools' parameters utility.
        from aws_lambda_powertools.utilities.parameters import SecretsProvider  # noqa: PLC0415

        secrets = SecretsProvider(boto3_client=clients.secretsmanager)
    return TokenVerifier.from_settings(settings, secrets_provider=secrets)


def fresh_verifier() -> None:
    """After a SnapStart restore: a new verifier, through the renewed clients, its secret
    read now rather than by the first request."""
    verifier.cache_clear()
    verifier().prefetch()


if settings.snap_start:
    snapstart.register(model, clients, prepare=[verifier], after_restore=[fresh_verifier])


def request_id() -> str | None:
    return getattr(app.lambda_context, "aws_request_id", None)


# --- errors: the one place where exceptions become statuses -----------------------------------
@app.on_error
def error_for(error: Exception) -> Response:
    if isinstance(error, DetectorError):
        return error_response(error)
    # The stack trace goes to the log only; the caller learns nothing about our internals.
    logger.exception("unhandled error")
    return error_response(DetectorError("internal error; quote the request_id when reporting it"))


def error_response(error: DetectorError) -> Response:
    """``{"error": {"code", "message"}, "request_id"}`` with the status of the error's class."""
    status = status_for(error)
    headers = {}
    if isinstance(error, MethodNotAllowedError) and error.allow:
        headers["Allow"] = error.allow
    if isinstance(error, UnauthorizedError | InsufficientScopeError):
        headers["WWW-Authenticate"] = challenge(error, settings.jwt_required_scope)
        metrics.add_metric(name="AuthFailures", unit=MetricUnit.Count, value=1)
    if status == HTTPStatus.SERVICE_UNAVAILABLE:
        headers["Retry-After"] = RETRY_AFTER_SECONDS
    log = logger.error if status >= HTTPStatus.INTERNAL_SERVER_ERROR else logger.info
    log(
        "request failed", extra={"status": int(status), "code": error.code, "reason": error.message}
    )
    return Response.json(status, error_document(error, request_id()), headers)


def status_for(error: DetectorError) -> HTTPStatus:
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return HTTPStatus.INTERNAL_SERVER_ERROR


# --- guards: run before a route, each may refuse the request ----------------------------------
def route_dimension(request: HttpRequest) -> None:
    """Every metric of this request is counted per route (unknown paths as one bucket)."""
    route = request.path if request.path in app.routes else "other"
    metrics.add_dimension(name="route", value=route)


def authenticated(request: HttpRequest) -> None:
    claims = verifier().verify(request.headers.get("authorization"))
    logger.append_keys(subject=claims.subject)


app.before_each.append(route_dimension)


# --- routes -----------------------------------------------------------------------------------
@app.get("/health")
def health(_: HttpRequest) -> Response:
    """Liveness for load balancers and humans: no auth, so nothing about the model."""
    return Response.json(HTTPStatus.OK, {"status": "ok", "model_loaded": model.holder.loaded})


@app.get("/")
def demo_page(_: HttpRequest) -> Response:
    """The demo page (static, no secrets): it asks its user for a token and posts to /detect."""
    return Response(HTTPStatus.OK, HTML_MEDIA_TYPE, DEMO_PAGE.read_text(encoding="utf-8"))


@app.get("/model", guards=[authenticated])
def model_info(_: HttpRequest) -> Response:
    return Response.json(HTTPStatus.OK, {**model_document(model.get()), "request_id": request_id()})


@app.post("/detect", guards=[authenticated])
def detect(http: HttpRequest) -> Response:
    request = parse_detect_request(
        body=http.body,
        is_base64=http.is_base64,
        content_type=http.headers.get("content-type"),
        query=http.query,
        accept=http.headers.get("accept"),
        settings=settings,
    )
    loaded = model.get()
    names = loaded.detector.info.class_names
    options = request.options(names, settings)  # a bad option is refused before any S3 read
    image = request.image if request.image is not None else fetch_image(request.source)
    result = model.detect(loaded, image, options)
    if request.wants_jpeg:
        return deliverable(Response(HTTPStatus.OK, JPEG_MEDIA_TYPE, drawing(image, result, names)))
    annotated = drawing(image, result, names) if request.annotate else None
    document = detection_document(result, loaded, request_id=request_id(), annotated_jpeg=annotated)
    return deliverable(Response.json(HTTPStatus.OK, document))


def drawing(image: bytes, result: DetectionResult, names: Sequence[str]) -> bytes:
    # Imported here: most requests want no drawing, and Pillow's drawing modules cost a
    # cold start 10 ms.
    from detector.pipeline import annotate  # noqa: PLC0415

    return annotate.draw(
        image,
        result,
        names,
        max_side=settings.annotated_max_side,
        limits=settings.image_limits,
    )


def deliverable(response: Response) -> Response:
    """``response``, unless Lambda could not hand its body back: then a 413 that says why."""
    body = response.body
    size = 4 * math.ceil(len(body) / 3) if isinstance(body, bytes) else len(body.encode())
    if size > MAX_RESPONSE_BODY_BYTES:
        raise PayloadTooLargeError(
            f"the answer would be {size / 2**20:.1f} MiB, over the 6 MiB Lambda can return; "
            "ask without the annotated image, or set ANNOTATED_MAX_SIDE lower "
            f"(now {settings.annotated_max_side or 'full size'})"
        )
    return response


def fetch_image(source: S3Location | None) -> bytes:
    if source is None:
        raise BadRequestError('send an image, or an "s3" reference to one')
    with tracer.provider.in_subsegment("## fetch_image"):
        return aws.get_object(clients.s3, source, max_bytes=settings.max_image_bytes).body


@startup.resumes_after_the_first_call
@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False, clear_state=True
)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Powertools clears dimensions only after flushing some metrics: drop what an earlier
    # invocation without metrics (a /health call) left behind.
    metrics.clear_metrics()
    return app.resolve(event, context)
