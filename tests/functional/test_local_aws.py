"""The local AWS endpoint: moto's real HTTP server on 127.0.0.1, started and stopped by us."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import boto3
import pytest

from detector.local.s3server import LocalAws


def test_a_plain_boto3_client_reaches_the_local_endpoint_inside_activated(
    monkeypatch: pytest.MonkeyPatch,
):
    # GIVEN a profile in the environment that would otherwise win over the dummy credentials
    monkeypatch.setenv("AWS_PROFILE", "someone-real")
    with LocalAws() as aws, aws.activated():
        # WHEN a client is built the ordinary way, with no endpoint argument
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="demo")
        s3.put_object(Bucket="demo", Key="uploads/a.txt", Body=b"hello")
        # THEN it talked to 127.0.0.1
        assert urlparse(s3.meta.endpoint_url).hostname == "127.0.0.1"
        assert s3.get_object(Bucket="demo", Key="uploads/a.txt")["Body"].read() == b"hello"
        assert "AWS_PROFILE" not in os.environ
    # AND the environment is restored afterwards
    assert os.environ["AWS_PROFILE"] == "someone-real"
    assert "AWS_ENDPOINT_URL" not in os.environ


def test_each_endpoint_starts_empty_and_its_port_is_closed_on_exit():
    with LocalAws() as first:
        first.client("s3").create_bucket(Bucket="left-over")
        port = urlparse(first.endpoint_url).port
    assert port is not None
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    with LocalAws() as second:
        assert second.client("s3").list_buckets()["Buckets"] == []


def test_other_services_are_served_too():
    with LocalAws() as aws:
        secrets = aws.client("secretsmanager")
        secrets.create_secret(Name="jwt", SecretString="s3cr3t")
        assert secrets.get_secret_value(SecretId="jwt")["SecretString"] == "s3cr3t"


def test_the_endpoint_is_only_known_while_running():
    aws = LocalAws()
    with pytest.raises(RuntimeError, match="not running"):
        _ = aws.endpoint_url


def test_a_chosen_port_is_used_and_reached_through_the_loopback_address():
    # GIVEN a free port picked here
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # WHEN the endpoint is asked to listen on every interface on that port
    with LocalAws(host="0.0.0.0", port=port) as aws:
        # THEN its URL is the loopback address on that port, and it answers there
        assert aws.endpoint_url == f"http://127.0.0.1:{port}"
        assert aws.client("s3").list_buckets()["Buckets"] == []
