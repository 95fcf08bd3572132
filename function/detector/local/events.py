"""Lambda events shaped exactly as AWS sends them, for ``detector event``, ``invoke`` and tests.

* API Gateway REST API (payload 1.0), HTTP API (payload 2.0), Lambda Function URL;
* S3 notifications (keys URL-encoded as S3 does it: "red flower.jpg" -> "red+flower.jpg"),
  the same wrapped in SQS messages, and EventBridge "Object Created" events;
* S3 Batch Operations ``LambdaInvoke`` events, schema 1.0 and 2.0 (keys URL-encoded as in
  the job's manifest: "red flower.jpg" -> "red%20flower.jpg").

Binary bodies are base64 with ``isBase64Encoded: true`` (what API Gateway does for binary
media types and HTTP APIs/Function URLs do for non-text bodies); JSON stays text.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote_plus, urlencode

from detector.errors import BadRequestError
from detector.local.tokens import mint_token
from detector.media import IMAGE_MEDIA_TYPES_BY_SUFFIX
from detector.settings import Settings

ApiKind = Literal["rest", "http", "url"]
API_KINDS: tuple[ApiKind, ...] = ("rest", "http", "url")
ACCOUNT = "123456789012"
REGION = "us-east-1"
API_ID = "a1b2c3d4e5"
FUNCTION_URL_ID = "abcdefghijklmnopqrstuvwxyz234567"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:detector-uploads"
TEXT_TYPES = ("application/json", "text/")
EPOCH = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)  # fixed: sample files stay byte-stable


@dataclass(frozen=True)
class _Request:
    """What every front door passes on, before it shapes it into its own event."""

    method: str
    path: str
    headers: dict[str, str]
    query: Mapping[str, str] | None
    body: str | None
    is_base64: bool
    request_id: str
    now: datetime


def api_event(
    kind: ApiKind,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    content_type: str | None = None,
    token: str | None = None,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    stage: str = "prod",
    request_id: str | None = None,
    now: datetime = EPOCH,
) -> dict[str, Any]:
    """An HTTP request as the given front door delivers it to Lambda."""
    all_headers = {"accept": "application/json", "host": _host(kind), "user-agent": "curl/8.5.0"}
    if content_type:
        all_headers["content-type"] = content_type
    if token:
        all_headers["authorization"] = f"Bearer {token}"
    all_headers.update({name.lower(): value for name, value in (headers or {}).items()})
    is_base64 = body is not None and not (content_type or "").startswith(TEXT_TYPES)
    request = _Request(
        method=method,
        path=path,
        headers=all_headers,
        query=query,
        body=None if body is None else _encode_body(body, is_base64),
        is_base64=is_base64,
        request_id=request_id or str(uuid.uuid4()),
        now=now,
    )
    return _rest_event(request, stage) if kind == "rest" else _v2_event(kind, request)


def request_event(
    kind: ApiKind,
    *,
    method: str | None = None,
    path: str = "/detect",
    image: Path | None = None,
    s3: str | None = None,
    as_json: bool = False,
    options: Mapping[str, str] | None = None,
    accept: str | None = None,
    token: str | None = None,
    secret: str | None = None,
    send_token: bool = True,
) -> dict[str, Any]:
    """What ``detector event api`` writes: a request carrying an image file or an S3 object.

    A raw ``image`` goes as the body with its options in the query string; as JSON (``as_json``
    or ``s3``, "BUCKET/KEY") the options go in the document. ``token`` is sent as it is;
    otherwise one is minted with ``secret`` (default: JWT_SECRET), if there is one.
    """
    options = dict(options or {})
    body: bytes | None = None
    content_type = None
    query = options
    if image and not as_json:
        body, content_type = image.read_bytes(), image_type(image)
    elif image or s3:
        document: dict[str, object] = dict(options)
        if image:
            document["image"] = base64.b64encode(image.read_bytes()).decode()
        else:
            bucket, _, key = (s3 or "").partition("/")
            document["s3"] = {"bucket": bucket, "key": key}
        body, content_type, query = json.dumps(document).encode(), "application/json", {}
    return api_event(
        kind,
        method or ("POST" if body is not None else "GET"),
        path,
        body=body,
        content_type=content_type,
        token=_bearer(token, secret) if send_token else None,
        query=query,
        headers={"accept": accept} if accept else None,
    )


def upload_event(
    via: Literal["direct", "sqs", "eventbridge"],
    bucket: str,
    key: str,
    *,
    size: int = 0,
    etag: str | None = None,
    version_id: str | None = None,
) -> dict[str, Any]:
    """What ``detector event s3`` writes: an upload, as S3 sends it ``via`` that route."""
    if via == "eventbridge":
        return eventbridge_event(bucket, key, size=size, etag=etag, version_id=version_id)
    event = s3_notification(bucket, key, size=size, etag=etag, version_id=version_id)
    return sqs_event([event]) if via == "sqs" else event


def image_type(path: Path) -> str:
    """The media type of an image file, from its suffix."""
    media_type = IMAGE_MEDIA_TYPES_BY_SUFFIX.get(path.suffix.lower())
    if media_type is None:
        raise BadRequestError(f"{path.suffix} is not .jpg, .png or .webp")
    return media_type


def _bearer(token: str | None, secret: str | None) -> str | None:
    if token:
        return token
    settings = Settings.from_env()
    if not (secret or settings.jwt_secret):
        return None
    return mint_token(secret=secret, subject="local", scope=settings.jwt_required_scope or "detect")


def s3_notification(
    bucket: str,
    key: str,
    *,
    size: int = 0,
    etag: str | None = None,
    version_id: str | None = None,
    event_name: str = "ObjectCreated:Put",
    now: datetime = EPOCH,
) -> dict[str, Any]:
    """An S3 event notification with one record; ``key`` is given decoded, sent encoded."""
    obj = _s3_object(key, size, etag, version_id, now, etag_field="eTag", version_field="versionId")
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": _iso(now),
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLEUSERID"},
        "requestParameters": {"sourceIPAddress": "198.51.100.7"},
        "responseElements": {
            "x-amz-request-id": "C3D13FE58DE4C810",
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "detector-uploads",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": obj,
        },
    }
    return {"Records": [record]}


def sqs_event(
    notifications: Sequence[Mapping[str, Any] | str], now: datetime = EPOCH
) -> dict[str, Any]:
    """SQS messages whose bodies are S3 notifications (a ``str`` is sent as it is)."""
    records = []
    for index, notification in enumerate(notifications):
        body = notification if isinstance(notification, str) else json.dumps(notification)
        millis = str(int(now.timestamp() * 1000))
        records.append(
            {
                "messageId": str(uuid.UUID(int=index + 1)),
                "receiptHandle": base64.b64encode(f"receipt-{index}".encode()).decode(),
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": millis,
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": millis,
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": QUEUE_ARN,
                "awsRegion": REGION,
            }
        )
    return {"Records": records}


def eventbridge_event(
    bucket: str,
    key: str,
    *,
    size: int = 0,
    etag: str | None = None,
    version_id: str | None = None,
    now: datetime = EPOCH,
) -> dict[str, Any]:
    """An EventBridge ``aws.s3`` "Object Created" event (the key URL-encoded, as S3 sends it)."""
    obj = _s3_object(
        key, size, etag, version_id, now, etag_field="etag", version_field="version-id"
    )
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": obj,
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": ACCOUNT,
            "source-ip-address": "198.51.100.7",
            "reason": "PutObject",
        },
    }


def batch_operations_event(
    bucket: str,
    key: str,
    *,
    version_id: str | None = None,
    schema: Literal["1.0", "2.0"] = "2.0",
    user_arguments: Mapping[str, str] | None = None,
    job_id: str = "f3cc4f60-61f6-4a2b-8a21-d07600c373ce",
) -> dict[str, Any]:
    """What an S3 Batch Operations job sends for one object; ``key`` given decoded, sent encoded.

    Schema 1.0 names the bucket by ARN and has no ``userArguments``; 2.0 names it and has.
    """
    # Imported here: the upload flow's modules create their Powertools child loggers when
    # imported, and `serve`/`invoke` import this module before they set the service name.
    from detector.service.batch_operations import encode_key  # noqa: PLC0415

    task: dict[str, Any] = {
        "taskId": _token_id(f"{job_id}/{bucket}/{key}/{version_id}"),
        "s3Key": encode_key(key),
        "s3VersionId": version_id,
    }
    job: dict[str, Any] = {"id": job_id}
    if schema == "1.0":
        task["s3BucketArn"] = f"arn:aws:s3:::{bucket}"
    else:
        task["s3Bucket"] = bucket
        job["userArguments"] = dict(user_arguments or {})
    return {
        "invocationSchemaVersion": schema,
        "invocationId": _token_id(f"invocation/{task['taskId']}"),
        "job": job,
        "tasks": [task],
    }


def _token_id(seed: str) -> str:
    """An opaque base64 id, as Batch Operations' task and invocation ids look; stable per seed."""
    digest = hashlib.sha256(seed.encode()).digest()[:24]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _rest_event(request: _Request, stage: str) -> dict[str, Any]:
    method, path, headers, query, now = (
        request.method,
        request.path,
        request.headers,
        request.query,
        request.now,
    )
    # REST APIs keep the header case the client sent; curl sends these capitalised.
    cased = {
        "-".join(part.capitalize() for part in name.split("-")): v for name, v in headers.items()
    }
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": cased,
        "multiValueHeaders": {name: [value] for name, value in cased.items()},
        "queryStringParameters": dict(query) if query else None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": API_ID,
            "domainName": _host("rest"),
            "domainPrefix": API_ID,
            "extendedRequestId": "JKJaXmPLvHcESHA=",
            "httpMethod": method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": "198.51.100.7",
                "user": None,
                "userAgent": headers.get("user-agent"),
                "userArn": None,
            },
            "path": f"/{stage}{path}",
            "protocol": "HTTP/1.1",
            "requestId": request.request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "resourceId": "2gxmpl",
            "resourcePath": path,
            "stage": stage,
        },
        "body": request.body,
        "isBase64Encoded": request.is_base64,
    }


def _v2_event(kind: ApiKind, request: _Request) -> dict[str, Any]:
    method, path, headers, query, now = (
        request.method,
        request.path,
        request.headers,
        request.query,
        request.now,
    )
    route_key = f"{method} {path}" if kind == "http" else "$default"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT if kind == "http" else "anonymous",
            "apiId": API_ID if kind == "http" else FUNCTION_URL_ID,
            "domainName": _host(kind),
            "domainPrefix": API_ID if kind == "http" else FUNCTION_URL_ID,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "198.51.100.7",
                "userAgent": headers.get("user-agent"),
            },
            "requestId": request.request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": request.is_base64,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if request.body is not None:
        event["body"] = request.body
    return event


def _s3_object(
    key: str,
    size: int,
    etag: str | None,
    version_id: str | None,
    now: datetime,
    *,
    etag_field: str,
    version_field: str,
) -> dict[str, Any]:
    """The object part of both S3 event shapes, which spell the ETag and version differently."""
    obj: dict[str, Any] = {
        "key": quote_plus(key, safe="/"),
        "size": size,
        etag_field: etag or hashlib.md5(key.encode(), usedforsecurity=False).hexdigest(),
        "sequencer": f"{int(now.timestamp() * 1000):016X}",
    }
    if version_id:
        obj[version_field] = version_id
    return obj


def _host(kind: ApiKind) -> str:
    if kind == "url":
        return f"{FUNCTION_URL_ID}.lambda-url.{REGION}.on.aws"
    return f"{API_ID}.execute-api.{REGION}.amazonaws.com"


def _encode_body(body: bytes, is_base64: bool) -> str:
    return base64.b64encode(body).decode() if is_base64 else body.decode("utf-8")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def handler_kind(event: Mapping[str, Any]) -> Literal["api", "s3"]:
    """Which of our handlers an event is for: HTTP requests go to ``api``, the rest to ``s3``."""
    if "httpMethod" in event or "routeKey" in event or "rawPath" in event:
        return "api"
    return "s3"
