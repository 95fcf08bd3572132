"""The boto3 wrapper against moto: results, and errors a user can act on."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from detector import aws
from detector.aws import AwsClients, S3Location
from detector.errors import (
    KeyAccessError,
    PayloadTooLargeError,
    StorageAccessDeniedError,
    StorageNotFoundError,
    StorageUnavailableError,
)

CONTEXT = {"model_id": "yolox-nano"}


def test_an_object_round_trips_with_its_etag_and_version(clients, bucket):
    location = S3Location(bucket, "models/m.sealed")
    written = aws.put_object(clients.s3, location, b"sealed bytes")
    read = aws.get_object(clients.s3, location)
    assert read.body == b"sealed bytes"
    assert read.info == written
    assert written.version_id  # the bucket is versioned
    assert aws.head_object(clients.s3, location) == written


def test_a_pinned_version_is_read_even_after_the_object_changes(clients, bucket):
    location = S3Location(bucket, "m.sealed")
    first = aws.put_object(clients.s3, location, b"first")
    aws.put_object(clients.s3, location, b"second")
    pinned = S3Location(bucket, "m.sealed", first.version_id)
    assert aws.get_object(clients.s3, pinned).body == b"first"


def test_a_conditional_get_downloads_only_when_the_etag_changed(clients, bucket):
    location = S3Location(bucket, "m.sealed")
    first = aws.put_object(clients.s3, location, b"first")
    assert aws.get_object_if_changed(clients.s3, location, first.etag) is None
    aws.put_object(clients.s3, location, b"second")
    changed = aws.get_object_if_changed(clients.s3, location, first.etag)
    assert changed is not None and changed.body == b"second"


def test_a_missing_bucket_is_named(clients):
    with pytest.raises(StorageNotFoundError, match=r"s3://nope/m.sealed: the bucket does not"):
        aws.get_object(clients.s3, S3Location("nope", "m.sealed"))


def test_a_missing_object_is_named(clients, bucket):
    with pytest.raises(StorageNotFoundError, match=r"read s3://models/absent: no such object"):
        aws.get_object(clients.s3, S3Location(bucket, "absent"))
    with pytest.raises(StorageNotFoundError, match="no such object"):
        aws.head_object(clients.s3, S3Location(bucket, "absent"))


def test_access_denied_names_the_permission_that_is_missing(clients, bucket, clients_allowed):
    aws.put_object(clients.s3, S3Location(bucket, "m.sealed"), b"x")
    restricted = clients_allowed(["s3:ListBucket"])
    location = S3Location(bucket, "m.sealed")
    with pytest.raises(StorageAccessDeniedError, match="needs s3:GetObject on it"):
        aws.get_object(restricted.s3, location)
    with pytest.raises(StorageAccessDeniedError, match="needs s3:PutObject on it"):
        aws.put_object(restricted.s3, location, b"y")


def test_an_unreachable_endpoint_is_reported_as_unavailable():
    # Port 1 on the loopback: nothing listens there, so the connection is refused.
    s3 = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:1",
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2),
    )
    with pytest.raises(StorageUnavailableError, match="S3 is unreachable") as raised:
        aws.get_object(s3, S3Location("models", "m.sealed"))
    assert "127.0.0.1:1" in raised.value.message


def test_throttling_is_reported_as_unavailable():
    s3 = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    with Stubber(s3) as stub:
        stub.add_client_error("get_object", "SlowDown", "Please reduce your request rate.", 503)
        with pytest.raises(StorageUnavailableError, match=r"unavailable \(SlowDown\); retry"):
            aws.get_object(s3, S3Location("models", "m.sealed"))


def test_an_object_over_the_size_limit_is_refused_before_download(clients, bucket):
    location = S3Location(bucket, "big.jpg")
    aws.put_object(clients.s3, location, bytes(1000))
    with pytest.raises(PayloadTooLargeError, match="1000 bytes, over the limit of 999"):
        aws.get_object(clients.s3, location, max_bytes=999)


def test_kms_unwraps_a_data_key_only_with_its_encryption_context(clients, kms_key):
    generated = aws.kms_generate_data_key(clients.kms, kms_key, CONTEXT)
    assert len(generated.plaintext) == 32
    assert generated.key_arn == kms_key
    assert aws.kms_decrypt(clients.kms, generated.wrapped, key_id=kms_key, context=CONTEXT) == (
        generated.plaintext
    )
    with pytest.raises(KeyAccessError, match=r"context model_id='other'.*differs"):
        aws.kms_decrypt(
            clients.kms, generated.wrapped, key_id=kms_key, context={"model_id": "other"}
        )


def test_a_data_key_wrapped_by_another_kms_key_is_refused(clients, kms_key):
    other = clients.kms.create_key()["KeyMetadata"]["Arn"]
    generated = aws.kms_generate_data_key(clients.kms, other, CONTEXT)
    with pytest.raises(KeyAccessError, match=f"cannot use KMS key {kms_key}: access denied"):
        aws.kms_decrypt(clients.kms, generated.wrapped, key_id=kms_key, context=CONTEXT)


def test_an_unknown_kms_key_is_named(clients):
    with pytest.raises(KeyAccessError, match="alias/absent does not exist"):
        aws.kms_generate_data_key(clients.kms, "alias/absent", CONTEXT)


def test_a_disabled_kms_key_is_named_as_disabled():
    # moto decrypts with a disabled key; real KMS answers DisabledException.
    kms = boto3.client(
        "kms", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    with Stubber(kms) as stub:
        stub.add_client_error("decrypt", "DisabledException", "arn:... is disabled.", 400)
        with pytest.raises(KeyAccessError, match="KMS key arn:k is disabled"):
            aws.kms_decrypt(kms, b"wrapped", key_id="arn:k", context=CONTEXT)


def test_missing_kms_permission_names_the_action_and_the_context(clients, kms_key, clients_allowed):
    generated = aws.kms_generate_data_key(clients.kms, kms_key, CONTEXT)
    restricted = clients_allowed(["kms:GenerateDataKey"])
    with pytest.raises(KeyAccessError, match=r"needs kms:Decrypt with encryption context"):
        aws.kms_decrypt(restricted.kms, generated.wrapped, key_id=kms_key, context=CONTEXT)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://models/a/b.sealed", S3Location("models", "a/b.sealed")),
        ("s3://models/m.sealed?versionId=3", S3Location("models", "m.sealed", "3")),
    ],
)
def test_s3_uris_are_parsed_with_their_version(uri, expected):
    assert S3Location.parse(uri) == expected
    assert str(S3Location.parse(uri)) == uri


def signing_key_id(client) -> str:
    """The access key id in the signature of a call the client makes."""
    seen: list[str] = []

    def note(request, **_) -> None:
        seen.append(request.headers["Authorization"].decode().split("Credential=")[1].split("/")[0])

    client.meta.events.register("before-send", note)
    client.list_buckets()
    return seen[0]


def test_renewed_clients_resolve_credentials_anew_and_keep_what_was_given(
    aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = boto3.client("kms")
    clients = AwsClients(kms=given)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "before-the-snapshot")
    old = clients.s3
    assert signing_key_id(old) == "before-the-snapshot"
    # WHEN the credentials change (a restored snapshot) and the clients are renewed
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "after-the-restore")
    clients.renew()
    # THEN a new S3 client signs with the new credentials; the KMS client passed in stays
    assert clients.s3 is not old
    assert signing_key_id(clients.s3) == "after-the-restore"
    assert clients.kms is given
