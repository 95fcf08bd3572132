"""`detector detect` over files and folders, with annotated copies and a progress counter."""

from __future__ import annotations

import json
import os
import pty
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.cli import REPO, detector


@pytest.fixture
def photos(tmp_path: Path, dog_jpg: Path) -> Path:
    """A folder tree as a user has one: images at two depths, other files, a hidden folder."""
    root = tmp_path / "photos"
    (root / "street").mkdir(parents=True)
    (root / ".thumbnails").mkdir()
    shutil.copy(dog_jpg, root / "dog.jpg")
    with Image.open(dog_jpg) as image:
        image.save(root / "street" / "dog.png")
    shutil.copy(dog_jpg, root / "street" / "DOG2.JPEG")
    shutil.copy(dog_jpg, root / ".thumbnails" / "dog.jpg")
    (root / "notes.txt").write_text("not an image")
    (root / "street" / "model.onnx").write_bytes(b"not an image either")
    return root


def lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_a_folder_is_searched_recursively_for_images_only(model_path, coco_dir, photos):
    # WHEN detect is given the folder
    done = detector("detect", "--model", model_path, "--names", coco_dir / "names.txt", photos)

    # THEN every image below it, and only images, gets its line, in a stable order
    assert done.returncode == 0, done.stderr
    found = lines(done.stdout)
    assert [line["image"] for line in found] == [
        str(photos / "dog.jpg"),
        str(photos / "street" / "DOG2.JPEG"),
        str(photos / "street" / "dog.png"),
    ]
    for line in found:
        assert "dog" in {d["label"] for d in line["detections"]}
    # and nothing is printed to stderr when it is not a terminal
    assert done.stderr == ""


def test_files_and_folders_mix_and_a_missing_file_gets_its_own_error_line(
    model_path, photos, dog_jpg, tmp_path
):
    done = detector("detect", "--model", model_path, dog_jpg, tmp_path / "gone.jpg", photos)

    assert done.returncode == 1
    found = lines(done.stdout)
    assert len(found) == 5
    assert found[1] == {
        "image": str(tmp_path / "gone.jpg"),
        "error": {
            "code": "unreadable_file",
            "message": f"cannot read {tmp_path / 'gone.jpg'}: No such file or directory",
        },
    }


def test_annotated_copies_mirror_the_folder_tree(model_path, photos, tmp_path):
    out = tmp_path / "annotated"

    done = detector("detect", "--model", model_path, photos, "--annotate-dir", out)

    assert done.returncode == 0, done.stderr
    written = sorted(path.relative_to(out).as_posix() for path in out.rglob("*") if path.is_file())
    assert written == ["dog.jpg.jpg", "street/DOG2.JPEG.jpg", "street/dog.png.jpg"]
    assert [line["annotated"] for line in lines(done.stdout)] == [
        str(out / name) for name in written
    ]
    with Image.open(out / "street" / "dog.png.jpg") as annotated:
        assert annotated.format == "JPEG"
        assert annotated.size == (768, 576)
        # boxes were drawn: the copy is not the photo re-encoded
        with Image.open(photos / "street" / "dog.png") as original:
            assert annotated.convert("RGB").tobytes() != original.convert("RGB").tobytes()


def test_two_images_that_would_be_drawn_into_one_file_are_refused_before_any_work(
    model_path, photos, dog_jpg, tmp_path
):
    out = tmp_path / "annotated"

    done = detector(
        "detect", "--model", model_path, dog_jpg, photos / "dog.jpg", "--annotate-dir", out
    )

    assert done.returncode == 2
    assert "would both be drawn as" in done.stderr
    assert done.stdout == ""
    assert not out.exists()


def test_a_folder_without_images_is_an_error_that_names_the_image_types(model_path, tmp_path):
    (tmp_path / "notes.txt").write_text("nothing to see")

    done = detector("detect", "--model", model_path, tmp_path)

    assert done.returncode == 2
    assert ".jpg, .jpeg, .png, .webp" in done.stderr


def test_progress_is_counted_on_stderr_when_it_is_a_terminal(model_path, photos):
    # GIVEN stderr is a terminal (a pseudo-terminal here), stdout a pipe
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "detector", "detect", "--model", str(model_path), str(photos)],
        env={**os.environ, "PYTHONPATH": str(REPO / "function")},
        stdout=subprocess.PIPE,
        stderr=terminal,
        text=True,
    )
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal's last holder has gone
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    stdout, _ = process.communicate(timeout=300)

    # THEN the counter went to the terminal, and stdout holds nothing but JSON lines
    assert process.returncode == 0
    text = shown.decode()
    assert "[1/3] " in text and "[3/3] " in text
    assert "3 images, 0 failed" in text
    assert len(lines(stdout)) == 3


def test_ctrl_c_stops_a_long_run_with_exit_130_and_no_traceback(model_path, dog_jpg, tmp_path):
    # GIVEN a run over many images, under way
    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(200):
        (folder / f"{index:03}.jpg").symlink_to(dog_jpg)
    process = subprocess.Popen(
        [sys.executable, "-m", "detector", "detect", "--model", str(model_path), str(folder)],
        env={**os.environ, "PYTHONPATH": str(REPO / "function")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    # WHEN Ctrl-C is pressed
    process.send_signal(signal.SIGINT)
    rest, stderr = process.communicate(timeout=120)
    # THEN it stops at once, says so in one line, and what it printed is whole JSON lines
    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert stderr.strip() == "detector detect: interrupted"
    printed = lines(first + rest)
    assert 1 <= len(printed) < 200
