"""The sample model and image: lookup order, and the checked download path.

Downloads are served from 127.0.0.1 (a local HTTP server over a temp folder): the test
machine has no internet, and tests must never leave it anyway.
"""

from __future__ import annotations

import dataclasses
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from detector import commands
from detector.local import samples


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1: (folder, base URL)."""
    folder = tmp_path / "origin"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No shared folder, an empty cache folder; returns the cache folder."""
    monkeypatch.setenv(samples.SHARED_DIR_ENV, str(tmp_path / "no-shared-here"))
    monkeypatch.setenv(samples.CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(samples.SAMPLE_MODEL_ENV, raising=False)
    return tmp_path / "cache"


def _serve(origin: tuple[Path, str], name: str, data: bytes) -> str:
    folder, base = origin
    (folder / name).write_bytes(data)
    return f"{base}/{name}"


def test_the_shared_copy_is_used_when_it_exists(monkeypatch: pytest.MonkeyPatch):
    # GIVEN the shared folder beside the repository (as here and in CI), nothing configured
    monkeypatch.delenv(samples.SAMPLE_MODEL_ENV, raising=False)
    monkeypatch.delenv(samples.SHARED_DIR_ENV, raising=False)
    shared_model = Path(__file__).resolve().parents[2].parent / "shared/models/yolox_nano.onnx"
    assert shared_model.is_file()
    # THEN that copy is the sample model
    assert samples.sample_model_path() == shared_model


def test_an_explicit_model_path_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # GIVEN a model at a path of the user's choosing
    mine = tmp_path / "mine.onnx"
    mine.write_bytes(b"whatever the user put there")
    monkeypatch.setenv(samples.SAMPLE_MODEL_ENV, str(mine))
    # WHEN / THEN
    assert samples.sample_model_path() == mine


def test_an_explicit_model_path_that_does_not_exist_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv(samples.SAMPLE_MODEL_ENV, str(tmp_path / "missing.onnx"))
    with pytest.raises(samples.SampleDataError, match=r"missing\.onnx, which is not a file"):
        samples.sample_model_path()


def test_a_missing_model_is_downloaded_checked_and_cached(
    offline: Path, origin: tuple[Path, str], model_bytes: bytes, monkeypatch: pytest.MonkeyPatch
):
    # GIVEN no shared folder, an empty cache, and the model at its (local) origin
    monkeypatch.setenv(samples.MODEL_URL_ENV, _serve(origin, "yolox_nano.onnx", model_bytes))
    # WHEN the sample model is asked for
    path = samples.sample_model_path()
    # THEN it was downloaded into the cache, whole, with nothing else left behind
    assert path == offline / "yolox_nano.onnx"
    assert path.read_bytes() == model_bytes
    assert sorted(p.name for p in offline.iterdir()) == ["yolox_nano.onnx"]
    # AND the next call uses the cache without the origin
    (origin[0] / "yolox_nano.onnx").unlink()
    assert samples.sample_model_path() == path


def test_a_missing_image_is_downloaded_and_cached(
    offline: Path, origin: tuple[Path, str], dog_jpg: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv(samples.IMAGE_URL_ENV, _serve(origin, "dog.jpg", dog_jpg.read_bytes()))
    path = samples.sample_image_path()
    assert path == offline / "dog.jpg"
    assert path.read_bytes() == dog_jpg.read_bytes()


def test_a_truncated_model_download_is_refused_and_nothing_is_cached(
    offline: Path, origin: tuple[Path, str], model_bytes: bytes, monkeypatch: pytest.MonkeyPatch
):
    # GIVEN an origin that serves only the first half of the model
    truncated = model_bytes[: len(model_bytes) // 2]
    monkeypatch.setenv(samples.MODEL_URL_ENV, _serve(origin, "yolox_nano.onnx", truncated))
    # WHEN / THEN the download is refused
    with pytest.raises(samples.SampleDataError, match="not a loadable ONNX model"):
        samples.sample_model_path()
    # AND neither the file nor a temporary part of it is left in the cache
    assert list(offline.iterdir()) == []


def test_a_model_with_other_shapes_is_refused(
    offline: Path, origin: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # GIVEN a valid ONNX model that is not YOLOX-Nano (an identity on a 640x640 input)
    other = _identity_model(tmp_path / "other.onnx", [1, 3, 640, 640])
    monkeypatch.setenv(samples.MODEL_URL_ENV, _serve(origin, "yolox_nano.onnx", other))
    # WHEN / THEN
    with pytest.raises(samples.SampleDataError, match=r"expected \[\[1, 3, 416, 416\]\]"):
        samples.sample_model_path()
    assert list(offline.iterdir()) == []


def test_a_download_whose_digest_differs_from_the_pinned_one_is_refused(
    offline: Path, origin: tuple[Path, str], model_bytes: bytes, monkeypatch: pytest.MonkeyPatch
):
    # GIVEN the real model at the origin, but a different pinned digest
    monkeypatch.setenv(samples.MODEL_URL_ENV, _serve(origin, "yolox_nano.onnx", model_bytes))
    pinned = dataclasses.replace(samples.MODEL, sha256="0" * 64)
    # WHEN / THEN
    with pytest.raises(samples.SampleDataError, match="expected 0000"):
        samples.fetch(pinned, offline / "yolox_nano.onnx")
    assert list(offline.iterdir()) == []


def test_a_corrupt_image_download_is_refused(
    offline: Path, origin: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv(samples.IMAGE_URL_ENV, _serve(origin, "dog.jpg", b"<html>rate limited"))
    with pytest.raises(samples.SampleDataError, match="not a decodable image"):
        samples.sample_image_path()
    assert list(offline.iterdir()) == []


def test_an_unreachable_origin_says_where_to_put_the_files(
    offline: Path, origin: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
):
    # GIVEN an origin that answers 404 (as a machine with no route to it would fail)
    monkeypatch.setenv(samples.MODEL_URL_ENV, f"{origin[1]}/nothing-here.onnx")
    # WHEN / THEN the message names the places a user can put the file
    with pytest.raises(samples.SampleDataError) as raised:
        samples.sample_model_path()
    message = str(raised.value)
    assert "no-shared-here/models/yolox_nano.onnx" in message
    assert str(offline / "yolox_nano.onnx") in message
    assert samples.SAMPLE_MODEL_ENV in message


def test_without_download_a_missing_sample_is_reported_not_fetched(offline: Path):
    with pytest.raises(samples.SampleDataError, match="not available offline"):
        samples.sample_image_path(download=False)
    assert not offline.exists()


def _identity_model(path: Path, shape: list[int]) -> bytes:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["images"], ["output"])],
        "other",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, shape)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path.read_bytes()


def test_the_built_in_coco_names_are_the_shared_names_file(coco_dir: Path):
    assert tuple((coco_dir / "names.txt").read_text().splitlines()) == samples.COCO_CLASSES


def test_offline_the_names_file_is_written_to_the_cache(offline: Path):
    path = samples.sample_names_path()
    assert path == offline / "coco-names.txt"
    assert tuple(path.read_text().splitlines()) == samples.COCO_CLASSES


def test_fetch_samples_prints_where_the_samples_are(
    model_path: Path, dog_jpg: Path, capsys: pytest.CaptureFixture[str]
):
    assert commands.main(["fetch-samples"]) == 0
    printed = capsys.readouterr().out
    assert f"model: {model_path}" in printed
    assert f"image: {dog_jpg}" in printed


def test_fetch_samples_offline_says_where_to_put_them_and_fails(
    offline: Path,
    origin: tuple[Path, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    monkeypatch.setenv(samples.MODEL_URL_ENV, f"{origin[1]}/gone.onnx")
    assert commands.main(["fetch-samples"]) == 2
    assert "put it at" in capsys.readouterr().err
