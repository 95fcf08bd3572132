"""The API handler end to end: real events, real JWTs, the real model, moto for S3."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import botocore.client
import numpy as np
import pytest
from aws_lambda_powertools.metrics.provider.base import reset_cold_start_flag_provider
from PIL import Image

from detector.local import events
from detector.local.jwks import serve_jwks, unused_local_url
from detector.local.packing import describe_model
from detector.local.tokens import sign_token
from detector.model import keys
from detector.model.artifact import seal
from detector.pipeline import annotate
from tests import tokens
from tests.lambdas import (
    binary_body,
    emf_documents,
    fresh_module,
    header,
    json_body,
    logs_to_current_stdout,
)

KINDS = events.API_KINDS
INPUT_BUCKET = "detector-inputs"
COCO_DOG = 16


@pytest.fixture
def api(handler_env: pytest.MonkeyPatch) -> ModuleType:
    handler_env.setenv("INPUT_BUCKETS", f"{INPUT_BUCKET},another-bucket")
    return fresh_module("detector.handlers.api")


@pytest.fixture
def token() -> str:
    return tokens.hs256()


def call(api: ModuleType, event: dict[str, Any], context: Any) -> dict[str, Any]:
    response: dict[str, Any] = api.lambda_handler(event, context)
    return response


def detect_event(
    kind: events.ApiKind, image: bytes, token: str | None, **kwargs: Any
) -> dict[str, Any]:
    return events.api_event(
        kind, "POST", "/detect", body=image, content_type="image/jpeg", token=token, **kwargs
    )


def json_event(
    kind: events.ApiKind, document: Any, token: str | None, **kwargs: Any
) -> dict[str, Any]:
    body = json.dumps(document).encode()
    return events.api_event(
        kind, "POST", "/detect", body=body, content_type="application/json", token=token, **kwargs
    )


def labels(document: dict[str, Any]) -> set[str]:
    return {d["label"] for d in document["detections"]}


# --- /health ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_health_needs_no_token_and_tells_only_whether_the_model_is_loaded(
    api, lambda_context, kind
) -> None:
    response = call(api, events.api_event(kind, "GET", "/health"), lambda_context)

    assert response["statusCode"] == 200
    assert json_body(response) == {"status": "ok", "model_loaded": False}


def test_health_reports_the_model_loaded_after_a_detection(
    api, lambda_context, dog_jpg: Path, token
) -> None:
    call(api, detect_event("http", dog_jpg.read_bytes(), token), lambda_context)

    response = call(api, events.api_event("http", "GET", "/health"), lambda_context)
    assert json_body(response)["model_loaded"] is True


@pytest.mark.parametrize("kind", KINDS)
def test_the_root_serves_the_demo_page_without_a_token(api, lambda_context, kind) -> None:
    response = call(api, events.api_event(kind, "GET", "/"), lambda_context)

    assert response["statusCode"] == 200
    assert (header(response, "Content-Type") or "").startswith("text/html")
    assert "<html" in response["body"].lower()


# --- /model -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_model_describes_the_loaded_model(api, lambda_context, model_bytes, token, kind) -> None:
    response = call(api, events.api_event(kind, "GET", "/model", token=token), lambda_context)

    assert response["statusCode"] == 200
    document = json_body(response)
    assert document["sha256"] == hashlib.sha256(model_bytes).hexdigest()
    assert document["family"].startswith("yolox")
    assert document["input_size"] == {"height": 416, "width": 416}
    assert len(document["classes"]) == 80
    assert document["classes"][COCO_DOG] == "dog"
    assert document["request_id"] == lambda_context.aws_request_id


# --- /detect: the three input forms -----------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_detect_finds_the_dog_in_a_raw_jpeg_body(
    api, lambda_context, dog_jpg: Path, model_bytes, token, kind
) -> None:
    # GIVEN the street photo posted as the raw body
    event = detect_event(kind, dog_jpg.read_bytes(), token)

    # WHEN the handler runs
    response = call(api, event, lambda_context)

    # THEN the dog, the bicycle and the car are found, with the model and request id
    assert response["statusCode"] == 200
    document = json_body(response)
    assert {"dog", "bicycle"} <= labels(document)
    assert document["model"]["sha256"] == hashlib.sha256(model_bytes).hexdigest()
    assert document["request_id"] == lambda_context.aws_request_id
    with Image.open(dog_jpg) as image:
        assert (document["width"], document["height"]) == image.size


def test_detect_gives_the_same_detections_for_json_base64_as_for_a_raw_body(
    api, lambda_context, dog_jpg: Path, token
) -> None:
    image = dog_jpg.read_bytes()
    raw = json_body(call(api, detect_event("rest", image, token), lambda_context))
    encoded = {"image": base64.b64encode(image).decode()}
    as_json = json_body(call(api, json_event("rest", encoded, token), lambda_context))

    assert as_json["detections"] == raw["detections"]


def test_detect_reads_an_image_from_an_allowed_bucket(
    api, lambda_context, dog_jpg: Path, token
) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=INPUT_BUCKET)
    s3.put_object(Bucket=INPUT_BUCKET, Key="big/dog photo.jpg", Body=dog_jpg.read_bytes())

    document = {"s3": {"bucket": INPUT_BUCKET, "key": "big/dog photo.jpg"}}
    response = call(api, json_event("http", document, token), lambda_context)

    assert response["statusCode"] == 200
    assert "dog" in labels(json_body(response))


def test_detect_refuses_a_bucket_that_is_not_listed_without_reading_it(
    api, lambda_context, dog_jpg: Path, token, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="someone-elses-bucket")
    s3.put_object(Bucket="someone-elses-bucket", Key="secret.jpg", Body=dog_jpg.read_bytes())

    s3_calls: list[str] = []
    make_api_call = botocore.client.BaseClient._make_api_call

    def spy(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name == "s3":
            s3_calls.append(operation)
        return make_api_call(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", spy)
    document = {"s3": {"bucket": "someone-elses-bucket", "key": "secret.jpg"}}
    response = call(api, json_event("http", document, token), lambda_context)

    assert response["statusCode"] == 403
    assert json_body(response)["error"]["code"] == "forbidden"
    assert [op for op in s3_calls if op in ("GetObject", "HeadObject")] == []


def test_detect_says_404_for_a_missing_object_in_an_allowed_bucket(
    api, lambda_context, token
) -> None:
    boto3.client("s3").create_bucket(Bucket=INPUT_BUCKET)
    document = {"s3": {"bucket": INPUT_BUCKET, "key": "nope.jpg"}}

    response = call(api, json_event("http", document, token), lambda_context)

    assert response["statusCode"] == 404


# --- /detect: options -------------------------------------------------------------------------
def test_a_higher_confidence_threshold_keeps_fewer_detections(
    api, lambda_context, dog_jpg: Path, token
) -> None:
    image = dog_jpg.read_bytes()
    low = json_body(
        call(api, detect_event("http", image, token, query={"conf": "0.05"}), lambda_context)
    )
    high = json_body(
        call(api, detect_event("http", image, token, query={"conf": "0.7"}), lambda_context)
    )

    assert len(high["detections"]) < len(low["detections"])
    assert all(d["score"] >= 0.7 for d in high["detections"])


def box_iou(a: list[float], b: list[float]) -> float:
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def test_the_iou_option_decides_which_overlapping_boxes_survive(
    api, lambda_context, dog_jpg: Path, token
) -> None:
    image = dog_jpg.read_bytes()

    def detect(iou: str) -> list[dict[str, Any]]:
        query = {"conf": "0.01", "iou": iou, "max_det": "300"}
        document = json_body(
            call(api, detect_event("http", image, token, query=query), lambda_context)
        )
        detections: list[dict[str, Any]] = document["detections"]
        return detections

    strict, loose = detect("0.2"), detect("0.9")

    # A looser threshold lets overlapping boxes of one class through; a strict one does not.
    assert len(loose) > len(strict)
    for i, first in enumerate(strict):
        for second in strict[i + 1 :]:
            if first["class_id"] == second["class_id"]:
                assert box_iou(first["box"], second["box"]) <= 0.21  # boxes are rounded to 0.01 px


@pytest.mark.parametrize("classes", ["dog", "DOG", str(COCO_DOG), ["dog"], [COCO_DOG]])
def test_classes_by_name_or_id_keep_only_those_classes(
    api, lambda_context, dog_jpg: Path, token, classes
) -> None:
    document = {"image": base64.b64encode(dog_jpg.read_bytes()).decode(), "classes": classes}
    result = json_body(call(api, json_event("http", document, token), lambda_context))

    assert labels(result) == {"dog"}


def test_max_det_caps_the_number_of_detections(api, lambda_context, dog_jpg: Path, token) -> None:
    event = detect_event(
        "http", dog_jpg.read_bytes(), token, query={"max_det": "1", "agnostic": "true"}
    )
    assert len(json_body(call(api, event, lambda_context))["detections"]) == 1


def test_multi_label_changes_nothing_at_the_default_thresholds_and_adds_names_at_low_ones(
    api, lambda_context, dog_jpg: Path, token
) -> None:
    def detections(query: dict[str, str]) -> list[dict[str, object]]:
        event = detect_event("http", dog_jpg.read_bytes(), token, query=query)
        found: list[dict[str, object]] = json_body(call(api, event, lambda_context))["detections"]
        return found

    # GIVEN the sample photo at the default thresholds: the same answer either way
    assert detections({"multi_label": "true"}) == detections({})
    # WHEN the threshold is low enough that some boxes pass under a second class
    single = detections({"conf": "0.01"})
    multi = detections({"conf": "0.01", "multi_label": "true"})

    # THEN some box comes back under two names, which never happens with one label a box
    def boxes_with_two_names(found: list[dict[str, object]]) -> int:
        return len(found) - len({str(detection["box"]) for detection in found})

    assert boxes_with_two_names(single) == 0
    assert boxes_with_two_names(multi) > 0


def test_annotate_adds_the_annotated_jpeg_to_the_json(
    api, lambda_context, dog_jpg: Path, token
) -> None:
    event = detect_event("http", dog_jpg.read_bytes(), token, query={"annotate": "true"})
    document = json_body(call(api, event, lambda_context))

    with Image.open(io.BytesIO(base64.b64decode(document["annotated_image"]))) as drawn:
        assert drawn.format == "JPEG"
        assert drawn.size == (document["width"], document["height"])


@pytest.mark.parametrize("kind", KINDS)
def test_accept_image_jpeg_returns_the_annotated_image_itself(
    api, lambda_context, dog_jpg: Path, token, kind
) -> None:
    event = detect_event(kind, dog_jpg.read_bytes(), token, headers={"Accept": "image/jpeg"})
    response = call(api, event, lambda_context)

    assert response["statusCode"] == 200
    assert header(response, "Content-Type") == "image/jpeg"
    with Image.open(io.BytesIO(binary_body(response))) as drawn, Image.open(dog_jpg) as original:
        assert drawn.size == original.size


def test_a_big_photo_is_answered_with_a_preview_its_boxes_scaled(
    api, lambda_context, dog_jpg: Path, token
) -> None:
    # GIVEN the sample photo enlarged to 12 megapixels
    with Image.open(dog_jpg) as original:
        big = original.resize((4000, 3000), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    big.save(out, format="JPEG", quality=90)
    # WHEN asking for boxes and the drawing in JSON
    event = detect_event("http", out.getvalue(), token, query={"annotate": "true"})
    document = json_body(call(api, event, lambda_context))
    # THEN the boxes are in the photo's pixels, and the drawing fits 2048 pixels: the photo
    # decoded at half size
    assert (document["width"], document["height"]) == (4000, 3000)
    assert "dog" in labels(document)
    with Image.open(io.BytesIO(base64.b64decode(document["annotated_image"]))) as drawn:
        assert drawn.size == (2000, 1500)


@pytest.mark.parametrize("ask", ["accept", "annotate"])
def test_an_answer_lambda_could_not_return_is_a_413_that_says_why(
    handler_env, lambda_context, token, ask
) -> None:
    # GIVEN full-size drawings, and a 3000x2400 photo of pure noise (JPEG keeps ~6.5 MB of it)
    handler_env.setenv("ANNOTATED_MAX_SIDE", "0")
    api = fresh_module("detector.handlers.api")
    noise = np.random.default_rng(7).integers(0, 256, (2400, 3000, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, format="JPEG", quality=90)
    # WHEN asking for the drawing, as the answer itself or inside the JSON
    kwargs: dict[str, Any] = (
        {"headers": {"Accept": "image/jpeg"}} if ask == "accept" else {"query": {"annotate": "1"}}
    )
    response = call(api, detect_event("http", out.getvalue(), token, **kwargs), lambda_context)
    # THEN a 413 says so, instead of the bare 502 Lambda gives for answers over 6 MB
    assert response["statusCode"] == 413
    error = json_body(response)["error"]
    assert error["code"] == "too_large"
    assert "over the 6 MiB Lambda can return" in error["message"]
    assert "ANNOTATED_MAX_SIDE" in error["message"]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ({"conf": "2"}, "conf"),
        ({"conf": "high"}, "conf"),
        ({"iou": "-0.1"}, "iou"),
        ({"max_det": "0"}, "max_det"),
        ({"max_det": "1.5"}, "max_det"),
        ({"classes": "unicorn"}, "unicorn"),
        ({"classes": "80"}, "out of range"),
        ({"agnostic": "maybe"}, "agnostic"),
        ({"colour": "red"}, "unknown option"),
    ],
)
def test_bad_options_are_a_400_that_names_the_option(
    api, lambda_context, dog_jpg: Path, token, query, fragment
) -> None:
    response = call(
        api, detect_event("http", dog_jpg.read_bytes(), token, query=query), lambda_context
    )

    assert response["statusCode"] == 400
    assert fragment in json_body(response)["error"]["message"]


# --- /detect: bad bodies ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"hello", "text/plain", 415, "unsupported_media_type"),
        (b"hello", None, 415, "unsupported_media_type"),
        (b"\x00" * 300 + b"not an image", "image/jpeg", 400, "invalid_image"),
        (b"", "image/png", 400, "bad_request"),
        (b"{not json", "application/json", 400, "bad_request"),
        (b"[1, 2]", "application/json", 400, "bad_request"),
        (b'{"image": "***"}', "application/json", 400, "bad_request"),
        (
            b'{"image": "aGk=", "s3": {"bucket": "b", "key": "k"}}',
            "application/json",
            400,
            "bad_request",
        ),
        (b'{"s3": {"bucket": "detector-inputs"}}', "application/json", 400, "bad_request"),
    ],
    ids=[
        "text",
        "no-type",
        "not-image",
        "empty",
        "bad-json",
        "json-array",
        "bad-base64",
        "image-and-s3",
        "s3-no-key",
    ],
)
def test_bad_bodies_get_a_clear_error(
    api, lambda_context, token, body, content_type, status, code
) -> None:
    event = events.api_event(
        "http", "POST", "/detect", body=body, content_type=content_type, token=token
    )
    response = call(api, event, lambda_context)

    assert response["statusCode"] == status
    document = json_body(response)
    assert document["error"]["code"] == code
    assert document["request_id"] == lambda_context.aws_request_id


def test_a_body_over_the_size_limit_is_a_413(
    handler_env, lambda_context, dog_jpg: Path, token
) -> None:
    handler_env.setenv("MAX_IMAGE_BYTES", "10000")
    api = fresh_module("detector.handlers.api")

    response = call(api, detect_event("http", dog_jpg.read_bytes(), token), lambda_context)

    assert response["statusCode"] == 413
    assert json_body(response)["error"]["code"] == "too_large"


# --- routing ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_an_unknown_path_is_a_404(api, lambda_context, token, kind) -> None:
    response = call(api, events.api_event(kind, "GET", "/admin", token=token), lambda_context)

    assert response["statusCode"] == 404
    assert json_body(response)["error"]["code"] == "not_found"


def test_a_known_path_with_the_wrong_method_is_a_405_with_allow(api, lambda_context, token) -> None:
    response = call(api, events.api_event("rest", "GET", "/detect", token=token), lambda_context)

    assert response["statusCode"] == 405
    assert header(response, "Allow") == "POST"
    assert json_body(response)["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("kind", KINDS)
def test_a_trailing_slash_reaches_the_same_route_behind_every_front_door(
    api, lambda_context, kind
) -> None:
    response = call(api, events.api_event(kind, "GET", "/health/"), lambda_context)

    assert response["statusCode"] == 200
    assert json_body(response)["status"] == "ok"


def test_an_http_api_stage_is_not_part_of_the_route(api, lambda_context, token) -> None:
    # GIVEN an HTTP API on a named stage: its rawPath starts with the stage
    event = events.api_event("http", "GET", "/model", token=token)
    event["requestContext"]["stage"] = "prod"
    event["rawPath"] = "/prod/model"
    assert call(api, event, lambda_context)["statusCode"] == 200
    # and behind a custom domain the stage is not in the path, and nothing is cut off
    event["rawPath"] = "/model"
    assert call(api, event, lambda_context)["statusCode"] == 200


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"version": "2.0"},
        {"httpMethod": "GET", "path": "/health", "headers": ["not", "a", "map"]},
        {"httpMethod": "GET", "path": "/health", "headers": {"accept": 7}},
        {"httpMethod": "POST", "path": "/detect", "body": {"image": "x"}},
        {"httpMethod": "GET", "path": "/health", "multiValueQueryStringParameters": {"a": [1]}},
        ["a", "list"],
    ],
    ids=["empty", "v2-empty", "headers-list", "header-number", "body-dict", "query-number", "list"],
)
def test_an_event_that_is_not_an_http_request_is_a_400_not_a_crash(
    api, lambda_context, event
) -> None:
    response = call(api, event, lambda_context)

    assert response["statusCode"] == 400
    assert "not an API Gateway or Function URL event" in json_body(response)["error"]["message"]


# --- auth through the handler -----------------------------------------------------------------
@pytest.mark.parametrize("path", ["/model", "/detect"])
def test_no_token_is_a_401_with_a_bearer_challenge(api, lambda_context, path) -> None:
    method = "GET" if path == "/model" else "POST"
    response = call(api, events.api_event("http", method, path), lambda_context)

    assert response["statusCode"] == 401
    assert header(response, "WWW-Authenticate") == 'Bearer realm="detector"'


def test_an_expired_token_is_a_401_invalid_token_and_is_never_logged(
    api, lambda_context, capsys
) -> None:
    now = int(time.time())
    expired = tokens.hs256(iat=now - 7200, exp=now - 3600)

    with logs_to_current_stdout():
        event = events.api_event("http", "GET", "/model", token=expired)
        response = call(api, event, lambda_context)

    assert response["statusCode"] == 401
    assert 'error="invalid_token"' in (header(response, "WWW-Authenticate") or "")
    assert json_body(response)["error"]["message"] == "the token has expired"
    output = capsys.readouterr().out
    assert "the token has expired" in output  # the reason is logged ...
    assert expired not in output and expired.split(".")[2] not in output  # ... the token is not


def test_tokens_stay_out_of_the_logs_even_with_powertools_debugging_on(
    handler_env, lambda_context, token, capsys
) -> None:
    handler_env.setenv("POWERTOOLS_DEV", "true")
    handler_env.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    handler_env.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    api = fresh_module("detector.handlers.api")

    with logs_to_current_stdout():
        response = call(api, events.api_event("http", "GET", "/model", token=token), lambda_context)

    assert response["statusCode"] == 200
    captured = capsys.readouterr()
    assert token.split(".")[2] not in captured.out + captured.err


def test_a_token_without_the_scope_is_a_403_insufficient_scope(api, lambda_context) -> None:
    token = tokens.hs256(scope="read")
    response = call(api, events.api_event("http", "GET", "/model", token=token), lambda_context)

    assert response["statusCode"] == 403
    challenge = header(response, "WWW-Authenticate") or ""
    assert 'error="insufficient_scope"' in challenge and 'scope="detect"' in challenge


def test_auth_failures_are_counted_per_route_in_emf(api, lambda_context, capsys) -> None:
    call(api, events.api_event("http", "GET", "/model", token="x.y.z"), lambda_context)

    documents = emf_documents(capsys.readouterr().out)
    failures = [d for d in documents if "AuthFailures" in d]
    assert len(failures) == 1
    assert failures[0]["AuthFailures"] in (1, [1])
    assert failures[0]["route"] == "/model"
    assert failures[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "DetectorTest"


def test_a_cold_start_emits_the_detection_metrics(
    api, lambda_context, dog_jpg: Path, token, capsys
) -> None:
    reset_cold_start_flag_provider()  # type: ignore[no-untyped-call]  # a new container
    call(api, detect_event("http", dog_jpg.read_bytes(), token), lambda_context)

    documents = emf_documents(capsys.readouterr().out)
    merged = {key: value for document in documents for key, value in document.items()}
    for name in ("ColdStart", "ModelLoadMs", "InferenceMs", "Detections"):
        assert name in merged, name
    assert merged["route"] == "/detect"


def test_the_signing_secret_can_come_from_secrets_manager(
    handler_env, lambda_context, token
) -> None:
    boto3.client("secretsmanager").create_secret(Name="detector/jwt", SecretString=tokens.SECRET)
    handler_env.delenv("JWT_SECRET")
    handler_env.setenv("JWT_SECRET_ID", "detector/jwt")
    api = fresh_module("detector.handlers.api")

    response = call(api, events.api_event("http", "GET", "/model", token=token), lambda_context)

    assert response["statusCode"] == 200


def test_a_jwks_endpoint_that_is_down_is_a_503_to_retry_not_a_401(
    handler_env, lambda_context
) -> None:
    handler_env.delenv("JWT_SECRET")
    handler_env.setenv("JWT_JWKS_URL", unused_local_url())
    api = fresh_module("detector.handlers.api")
    key = tokens.rsa_private_key()
    token = sign_token(tokens.private_pem(key), subject="svc", key_id="rsa-1")

    response = call(api, events.api_event("http", "GET", "/model", token=token), lambda_context)

    assert response["statusCode"] == 503
    assert header(response, "Retry-After")
    assert json_body(response)["error"]["code"] == "auth_unavailable"


def test_a_token_from_the_jwks_is_accepted_by_the_handler(handler_env, lambda_context) -> None:
    key = tokens.rsa_private_key()
    with serve_jwks([tokens.public_jwk(key, "rsa-1")]) as server:
        handler_env.delenv("JWT_SECRET")
        handler_env.setenv("JWT_JWKS_URL", server.url)
        api = fresh_module("detector.handlers.api")
        token = sign_token(tokens.private_pem(key), subject="svc", scope="detect", key_id="rsa-1")

        response = call(api, events.api_event("url", "GET", "/model", token=token), lambda_context)

    assert response["statusCode"] == 200


def test_a_rest_api_proxy_resource_routes_by_path(api, lambda_context, token) -> None:
    event = events.api_event("rest", "GET", "/model", token=token)
    event["resource"] = "/{proxy+}"
    event["pathParameters"] = {"proxy": "model"}

    assert call(api, event, lambda_context)["statusCode"] == 200


def test_unconfigured_auth_is_a_500_that_says_what_is_missing(
    handler_env, lambda_context, token
) -> None:
    handler_env.delenv("JWT_SECRET")
    api = fresh_module("detector.handlers.api")

    response = call(api, events.api_event("http", "GET", "/model", token=token), lambda_context)

    assert response["statusCode"] == 500
    assert "JWT_SECRET" in json_body(response)["error"]["message"]


# --- the model cannot be loaded: 503, and the next call tries again ---------------------------
def test_a_model_that_cannot_be_loaded_is_a_503_and_the_next_call_retries(
    handler_env, lambda_context, tmp_path: Path, model_bytes, dog_jpg: Path, token
) -> None:
    # GIVEN the model is not where MODEL_URI points (yet)
    model_file = tmp_path / "model.onnx"
    handler_env.setenv("MODEL_URI", str(model_file))
    api = fresh_module("detector.handlers.api")
    event = detect_event("http", dog_jpg.read_bytes(), token)

    # WHEN a request comes in
    first = call(api, event, lambda_context)

    # THEN it gets a 503 with Retry-After, and health says not loaded
    assert first["statusCode"] == 503
    assert header(first, "Retry-After")
    assert json_body(first)["error"]["code"] == "model_unavailable"

    # WHEN the model appears, the next request loads it and succeeds
    model_file.write_bytes(model_bytes)
    second = call(api, event, lambda_context)
    assert second["statusCode"] == 200


def test_a_bug_is_a_500_without_a_stack_trace(
    api, lambda_context, dog_jpg: Path, token, monkeypatch, capsys
) -> None:
    # GIVEN the drawing code fails unexpectedly (a stand-in for any bug)
    def broken(*args: object, **kwargs: object) -> bytes:
        raise RuntimeError("secret internals at 0xdeadbeef")

    monkeypatch.setattr(annotate, "draw", broken)
    event = detect_event("http", dog_jpg.read_bytes(), token, headers={"Accept": "image/jpeg"})

    with logs_to_current_stdout():
        response = call(api, event, lambda_context)

    assert response["statusCode"] == 500
    assert "0xdeadbeef" not in response["body"] and "Traceback" not in response["body"]
    assert json_body(response)["error"]["code"] == "internal_error"
    assert "0xdeadbeef" in capsys.readouterr().out  # the log has the details


# --- the real thing: a sealed model in S3, opened with KMS on the first request ----------
def test_a_sealed_model_in_s3_is_opened_on_the_first_request_and_answers(
    handler_env,
    lambda_context,
    clients,
    bucket,
    kms_key,
    model_bytes,
    coco_dir: Path,
    tmp_path: Path,
    dog_jpg: Path,
    token,
) -> None:
    # GIVEN the model sealed with a KMS data key and uploaded to S3
    metadata = describe_model(
        model_bytes,
        names_file=coco_dir / "names.txt",
        family=None,
        model_id="yolox-nano",
        default_id="unused",
    )
    sealed = seal(model_bytes, keys.kms_data_key(clients.kms, kms_key, "yolox-nano"), metadata)
    clients.s3.put_object(Bucket=bucket, Key="models/yolox-nano.sealed", Body=sealed)
    handler_env.setenv("MODEL_URI", f"s3://{bucket}/models/yolox-nano.sealed")
    handler_env.setenv("MODEL_CACHE_DIR", str(tmp_path / "cache"))
    handler_env.delenv("MODEL_NAMES_FILE")
    api = fresh_module("detector.handlers.api")

    # WHEN the model is asked for, then an image is sent
    described = json_body(
        call(api, events.api_event("http", "GET", "/model", token=token), lambda_context)
    )
    detected = json_body(
        call(api, detect_event("http", dog_jpg.read_bytes(), token), lambda_context)
    )

    # THEN the model is the sealed one, with the class names from inside the artifact
    assert described["model_id"] == "yolox-nano"
    assert described["sha256"] == hashlib.sha256(model_bytes).hexdigest()
    assert described["classes"][COCO_DOG] == "dog"
    assert "dog" in labels(detected)
    assert detected["model"] == {"id": "yolox-nano", "sha256": described["sha256"]}
