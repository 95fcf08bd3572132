"""`detector demo` end to end, as `make demo` runs it: a subprocess with no AWS credentials.

A subprocess, because the demo imports the handlers after pointing the environment at its
local endpoint, and they read their settings when imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def run_demo(output_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MODEL_", "JWT_"))}
    clean.update(PYTHONPATH=str(REPO / "function"), **env)
    return subprocess.run(
        [sys.executable, "-m", "detector", "demo", "--output-dir", str(output_dir)],
        env=clean,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    output_dir = tmp_path_factory.mktemp("demo") / "demo-output"
    return run_demo(output_dir), output_dir


def test_the_demo_runs_every_step_and_succeeds(demo):
    result, _ = demo
    assert result.returncode == 0, result.stdout + result.stderr
    for step in range(1, 9):
        assert f"[{step}/8]" in result.stdout
    assert "stopped" in result.stdout


def test_the_demo_prints_the_detections_of_the_api_call_as_a_table(demo):
    result, _ = demo
    rows = [line.split() for line in result.stdout.splitlines()]
    scores = {row[0]: float(row[1]) for row in rows if len(row) >= 2 and _is_score(row[1])}
    assert scores["dog"] > 0.7
    assert scores["bicycle"] > 0.7
    assert scores["car"] > 0.7
    assert "without a token: 401" in result.stdout


def test_the_demo_writes_the_annotated_jpeg_and_the_response(demo):
    _, output_dir = demo
    with Image.open(output_dir / "dog.api.jpg") as annotated:
        assert annotated.format == "JPEG"
        assert annotated.size == (768, 576)
    document = json.loads((output_dir / "api-response.json").read_text())
    labels = {item["label"] for item in document["detections"]}
    assert {"dog", "bicycle", "car"} <= labels
    assert document["model"]["id"] == "yolox-nano-coco"


def test_the_demo_shows_the_result_object_of_the_s3_upload(demo):
    result, output_dir = demo
    # The result object is printed as JSON after its S3 URI
    printed = result.stdout[result.stdout.index("s3://detector-demo/detections/") :]
    document = json.loads(printed[printed.index("{") : printed.index("\n      }") + 8])
    assert {"dog", "bicycle", "car"} <= {item["label"] for item in document["detections"]}
    assert document["source"]["key"] == "uploads/dog.jpg"
    with Image.open(output_dir / "dog.s3.jpg") as annotated:
        assert annotated.size == (768, 576)


def test_the_demo_stops_with_a_clear_message_when_the_model_is_missing(tmp_path: Path):
    result = run_demo(tmp_path / "out", DETECTOR_SAMPLE_MODEL=str(tmp_path / "nowhere.onnx"))
    assert result.returncode == 2
    assert "The demo stopped:" in result.stdout
    assert "nowhere.onnx" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def _is_score(text: str) -> bool:
    try:
        return 0.0 <= float(text) <= 1.0 and "." in text
    except ValueError:
        return False
