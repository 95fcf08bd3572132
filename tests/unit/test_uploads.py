"""Which uploads the S3 handler processes, and where their results go."""

from __future__ import annotations

import json

import pytest

from detector.aws import S3Location
from detector.errors import BadRequestError, ConfigurationError
from detector.local import events
from detector.service.uploads import (
    Upload,
    annotated_location,
    check_layout,
    result_location,
    skip_reason,
    uploads_in_eventbridge,
    uploads_in_notification,
    uploads_in_sqs_body,
)
from detector.settings import Settings

SETTINGS = Settings(input_buckets=frozenset({"b"}))
ODD_KEYS = [
    "uploads/red flower.jpg",
    "uploads/c++/a+b.jpg",
    "uploads/100%/%2B.jpg",
    "uploads/日本/café ☕.png",
    "uploads/a=b&c;d,e:f@g$h.jpg",
]


@pytest.mark.parametrize("key", ODD_KEYS)
def test_keys_of_s3_notifications_are_url_decoded(key: str) -> None:
    notification = events.s3_notification("b", key, version_id="v7", etag="abc")
    sequencer = notification["Records"][0]["s3"]["object"]["sequencer"]

    assert uploads_in_notification(notification) == [
        Upload(S3Location("b", key, "v7"), etag="abc", sequencer=sequencer)
    ]


@pytest.mark.parametrize("key", ODD_KEYS)
def test_keys_of_eventbridge_events_are_url_decoded(key: str) -> None:
    event = events.eventbridge_event("b", key, version_id="v2", etag="e")
    [upload] = uploads_in_eventbridge(event)
    assert upload.location == S3Location("b", key, "v2")
    assert (upload.etag, upload.sequencer) == ("e", event["detail"]["object"]["sequencer"])


@pytest.mark.parametrize("key", ODD_KEYS)
def test_keys_of_notifications_in_sqs_bodies_are_url_decoded(key: str) -> None:
    body = json.dumps(events.s3_notification("b", key))
    assert uploads_in_sqs_body(body)[0].location.key == key


def test_only_object_created_records_count() -> None:
    removed = events.s3_notification("b", "uploads/a.jpg", event_name="ObjectRemoved:Delete")
    assert uploads_in_notification(removed) == []


def test_s3s_test_event_has_no_uploads() -> None:
    body = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"})
    assert uploads_in_sqs_body(body) == []


def test_eventbridge_events_that_are_not_object_created_have_no_uploads() -> None:
    event = events.eventbridge_event("b", "uploads/a.jpg")
    event["detail-type"] = "Object Deleted"
    assert uploads_in_eventbridge(event) == []


@pytest.mark.parametrize(
    "body", ["{not json", "[1]", json.dumps({"Records": [{"eventSource": "aws:sns"}]})]
)
def test_an_sqs_body_that_is_not_an_s3_notification_is_a_bad_request(body: str) -> None:
    with pytest.raises(BadRequestError):
        uploads_in_sqs_body(body)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("uploads/a.jpg", None),
        ("uploads/deep/er/a.jpg", None),
        ("other/a.jpg", "outside the uploads prefix"),
        ("uploadsX/a.jpg", "outside the uploads prefix"),
        ("detections/uploads/a.jpg.json", "one of our own outputs"),
        ("annotated/uploads/a.jpg.jpg", "one of our own outputs"),
        ("uploads/folder/", "a folder marker"),
    ],
)
def test_skip_reason(key: str, reason: str | None) -> None:
    assert skip_reason(Upload(S3Location("b", key)), SETTINGS) == reason


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("other/a.jpg", None),
        ("a.jpg", None),
        ("detections/uploads/a.jpg.json", "one of our own outputs"),
        ("other/folder/", "a folder marker"),
    ],
)
def test_objects_named_on_purpose_may_be_under_any_prefix_but_our_outputs(
    key: str, reason: str | None
) -> None:
    assert skip_reason(Upload(S3Location("b", key)), SETTINGS, any_prefix=True) == reason


def test_results_and_annotations_live_beside_the_upload_or_in_the_results_bucket() -> None:
    upload = Upload(S3Location("b", "uploads/red flower.jpg", "v1"))

    assert result_location(upload, SETTINGS) == S3Location(
        "b", "detections/uploads/red flower.jpg.json"
    )
    assert annotated_location(upload, SETTINGS) == S3Location(
        "b", "annotated/uploads/red flower.jpg.jpg"
    )
    elsewhere = Settings(results_bucket="results")
    assert result_location(upload, elsewhere) == S3Location(
        "results", "detections/b/uploads/red flower.jpg.json"
    )
    assert annotated_location(upload, elsewhere) == S3Location(
        "results", "annotated/b/uploads/red flower.jpg.jpg"
    )


def test_the_default_layout_cannot_trigger_itself() -> None:
    check_layout(SETTINGS)
    upload = Upload(S3Location("b", "uploads/a.jpg"))
    for output in (result_location(upload, SETTINGS), annotated_location(upload, SETTINGS)):
        assert skip_reason(Upload(output), SETTINGS) is not None


@pytest.mark.parametrize(
    "overrides",
    [
        {"uploads_prefix": ""},
        {"results_prefix": "uploads/results/"},
        {"annotated_prefix": "uploads/"},
        {"results_prefix": ""},
        {"uploads_prefix": "detections/uploads/"},
        {"uploads_prefix": "annotated/incoming/"},
    ],
)
def test_layouts_where_outputs_could_look_like_uploads_are_refused(
    overrides: dict[str, str],
) -> None:
    with pytest.raises(ConfigurationError):
        check_layout(Settings(**overrides))  # type: ignore[arg-type]


def test_overlapping_prefixes_are_fine_when_results_go_to_another_bucket() -> None:
    check_layout(Settings(uploads_prefix="", results_bucket="results"))


def test_overlapping_prefixes_are_refused_when_the_results_bucket_is_the_uploads_bucket() -> None:
    settings = Settings(uploads_prefix="", results_bucket="photos")
    with pytest.raises(ConfigurationError, match="same bucket"):
        check_layout(settings, "photos")
