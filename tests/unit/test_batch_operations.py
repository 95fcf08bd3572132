"""How S3 Batch Operations spell keys, and how the handler reads them back."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from detector.service.batch_operations import encode_key, task_upload

# S3 keys: any Unicode text (UTF-8 on the wire, so no lone surrogates), control characters too.
KEYS = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=200)


@given(KEYS)
def test_an_encoded_key_decodes_to_itself_in_the_handler(key: str) -> None:
    task = {"taskId": "t", "s3Key": encode_key(key), "s3Bucket": "b"}

    assert task_upload(task).location.key == key


@given(KEYS)
def test_an_encoded_key_is_one_plain_csv_field(key: str) -> None:
    encoded = encode_key(key)

    assert encoded.isascii()
    assert not set(encoded) & set(',"\r\n +')  # nothing CSV quotes, nothing decoded as a space
    [row] = csv.reader(io.StringIO(f"bucket,{encoded}\r\n"))
    assert row == ["bucket", encoded]


def test_schema_1_names_the_bucket_by_arn() -> None:
    arn = "arn:aws:s3:::b"
    task = {"taskId": "t", "s3Key": "a%20b.jpg", "s3BucketArn": arn}

    upload = task_upload(task)

    assert (upload.location.bucket, upload.location.key) == ("b", "a b.jpg")
