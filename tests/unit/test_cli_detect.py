"""`detector detect`: one JSON line per image, errors per image, a telling exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from detector.commands import main
from tests.cli import detector
from tests.unit.images import encode, solid
from tests.unit.onnx_graphs import constant_model, yolo_rows

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def model_file(tmp_path):
    table = yolo_rows(84, classes=2)
    table[0, 7, :5] = [32.0, 16.0, 32.0, 16.0, 0.9]
    table[0, 7, 5:] = [0.1, 0.8]
    path = tmp_path / "model.onnx"
    path.write_bytes(constant_model(table, with_exp=True))
    return path


def run(capsys, *args: str) -> tuple[int, list[Any]]:
    code = main(["detect", *args])
    lines = capsys.readouterr().out.splitlines()
    return code, [json.loads(line) for line in lines]


def test_each_image_gets_one_json_line(tmp_path, model_file, capsys):
    image = tmp_path / "a.png"
    image.write_bytes(encode(solid(100, 50)))
    names = tmp_path / "names.txt"
    names.write_text("cat\ncar\n\n")
    code, lines = run(
        capsys, "--model", str(model_file), "--names", str(names), str(image), str(image)
    )
    assert code == 0
    assert len(lines) == 2
    line = lines[0]
    assert line["image"] == str(image)
    assert (line["width"], line["height"]) == (100, 50)
    assert line["detections"] == [
        {"box": [25.0, 12.5, 75.0, 37.5], "score": 0.72, "class_id": 1, "label": "car"}
    ]
    assert set(line["timing_ms"]) == {"decode", "preprocess", "inference", "postprocess", "total"}


def test_a_bad_image_does_not_stop_the_others_but_sets_the_exit_code(tmp_path, model_file, capsys):
    good = tmp_path / "good.png"
    good.write_bytes(encode(solid(100, 50)))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    code, lines = run(
        capsys, "--model", str(model_file), str(bad), str(tmp_path / "gone.jpg"), str(good)
    )
    assert code == 1
    assert lines[0]["error"]["code"] == "invalid_image"
    assert lines[1]["error"]["code"] == "unreadable_file"
    assert lines[2]["detections"][0]["label"] == "class_1"


def test_options_reach_the_engine(tmp_path, model_file, capsys):
    image = tmp_path / "a.png"
    image.write_bytes(encode(solid(100, 50)))
    code, lines = run(capsys, "--model", str(model_file), "--conf", "0.8", str(image))
    assert code == 0
    assert lines[0]["detections"] == []
    # Forced to raw YOLOX, the decoded size 32x16 is read as log-size: exp(32) strides
    # wide, clipped to the whole image.
    _, forced = run(capsys, "--model", str(model_file), "--family", "yolox", str(image))
    assert forced[0]["detections"][0]["box"] == [0.0, 0.0, 100.0, 50.0]
    # Class 0 scores 0.09: over --conf 0.05, named only with --multi-label
    _, single = run(capsys, "--model", str(model_file), "--conf", "0.05", str(image))
    _, multi = run(
        capsys, "--model", str(model_file), "--conf", "0.05", "--multi-label", str(image)
    )
    assert [d["class_id"] for d in single[0]["detections"]] == [1]
    assert [d["class_id"] for d in multi[0]["detections"]] == [1, 0]


def test_an_unusable_model_or_option_exits_2_with_a_message(tmp_path, capsys):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"junk")
    assert main(["detect", "--model", str(model), "x.jpg"]) == 2
    assert "not a valid ONNX file" in capsys.readouterr().err
    assert main(["detect", "--model", str(model), "--conf", "2", "x.jpg"]) == 2
    assert "conf must be between 0 and 1" in capsys.readouterr().err


def test_the_installed_command_runs_as_a_module(tmp_path, model_file):
    image = tmp_path / "a.png"
    image.write_bytes(encode(solid(100, 50)))
    env = {**os.environ, "PYTHONPATH": str(REPO / "function")}
    done = subprocess.run(
        [sys.executable, "-m", "detector", "detect", "--model", str(model_file), str(image)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["detections"][0]["class_id"] == 1


@pytest.mark.parametrize("family", ["yolov5", "yolov8"])
def test_a_wrong_family_is_refused_naming_the_detected_one(model_path, dog_jpg, family):
    # WHEN the YOLOX sample model is forced to be read as another family's head
    done = detector("detect", "--model", model_path, "--family", family, dog_jpg)
    # THEN nothing is answered, and the message says what the model is
    assert done.returncode == 2
    assert done.stdout == ""
    assert f"does not fit the {family} family" in done.stderr
    assert "looks like yolox" in done.stderr
