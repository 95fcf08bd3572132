from pathlib import Path

import pytest

from detector.errors import ConfigurationError
from detector.settings import ImageLimits, Settings


def test_defaults_apply_when_the_environment_is_empty():
    settings = Settings.from_env({})
    assert settings.conf == 0.25
    assert settings.iou == 0.45
    assert settings.max_det == 300
    assert settings.uploads_prefix == "uploads/"
    assert settings.results_prefix == "detections/"
    assert settings.input_buckets == frozenset()
    assert settings.model_cache_dir == Path("/tmp/detector-cache")


def test_environment_values_are_parsed_and_typed():
    settings = Settings.from_env(
        {
            "MODEL_URI": "s3://models/yolox.sealed?versionId=3",
            "CONF_THRESHOLD": "0.4",
            "MAX_DET": "10",
            "ORT_THREADS": "2",
            "INPUT_BUCKETS": "a, b,,c",
            "ANNOTATE": "yes",
            "ANNOTATED_MAX_SIDE": "0",
            "JWT_ALGORITHMS": "RS256,ES256",
        }
    )
    assert settings.model_uri == "s3://models/yolox.sealed?versionId=3"
    assert settings.conf == 0.4
    assert settings.max_det == 10
    assert settings.ort_threads == 2
    assert settings.input_buckets == frozenset({"a", "b", "c"})
    assert settings.annotate is True
    assert settings.annotated_max_side == 0
    assert settings.jwt_algorithms == ("RS256", "ES256")


def test_the_image_limits_come_from_the_environment_with_the_documented_defaults():
    assert Settings.from_env({}).image_limits == ImageLimits(50_000_000, 32, 16_384)
    settings = Settings.from_env(
        {"MAX_IMAGE_PIXELS": "1000", "MAX_JPEG_SCANS": "12", "MAX_IMAGE_CHUNKS": "64"}
    )
    assert settings.image_limits == ImageLimits(pixels=1000, jpeg_scans=12, chunks=64)


def test_an_explicit_argument_wins_over_the_environment():
    settings = Settings.from_env({"CONF_THRESHOLD": "0.4"}, conf=0.1)
    assert settings.conf == 0.1


def test_an_unknown_override_is_refused():
    with pytest.raises(TypeError, match="unknown settings"):
        Settings.from_env({}, confidence=0.1)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CONF_THRESHOLD", "high", "must be a number"),
        ("IOU_THRESHOLD", "1.5", "between 0 and 1"),
        ("MAX_DET", "0", "at least 1"),
        ("ORT_THREADS", "two", "whole number"),
        ("ANNOTATE", "maybe", "true or false"),
        ("ANNOTATED_MAX_SIDE", "-1", "at least 0"),
        ("MAX_JPEG_SCANS", "0", "at least 1"),
        ("MAX_IMAGE_CHUNKS", "many", "whole number"),
    ],
)
def test_a_bad_value_names_the_variable(name, value, message):
    with pytest.raises(ConfigurationError, match=message) as caught:
        Settings.from_env({name: value})
    assert name in str(caught.value)


def test_secrets_stay_out_of_the_repr():
    settings = Settings.from_env({"MODEL_KEY_B64": "c2VjcmV0", "JWT_SECRET": "hunter2"})
    assert "c2VjcmV0" not in repr(settings)
    assert "hunter2" not in repr(settings)
