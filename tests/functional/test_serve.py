"""`detector serve` end to end: the real command in a subprocess, the real API handler behind
it, the real model, real JWTs; and the demo page driven in headless Chromium.

The server is a subprocess because the handler module reads its settings when imported:
in this process another test may have imported it already with other settings.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from detector.local.tokens import sign_token
from detector.pipeline import annotate
from tests.cli import detector
from tests.functional import chromium

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"
SECRET = "a-local-test-secret-of-at-least-32-bytes!"
_LISTENING = re.compile(r"Serving the API handler on (http://[\d.]+:(\d+))")


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    url: str
    port: int
    output: Path

    def text(self) -> str:
        return self.output.read_text(errors="replace")


def serve_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """This environment without model, JWT or AWS settings; its own folder for the session."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MODEL_", "JWT_", "AWS_"))
    }
    env.update(PYTHONPATH=str(REPO / "function"), JWT_SECRET=SECRET)
    env.update(DETECTOR_CACHE_DIR=str(tmp_path / "cache"))
    env.update(overrides)
    return env


def start_serve(tmp_path: Path, *args: str | Path, **overrides: str) -> Served:
    """``python -m detector serve --port 0 ARGS`` with a known JWT secret and the sample model."""
    output = tmp_path / "serve.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "detector", "serve", "--port", "0", *map(str, args)],
            env=serve_env(tmp_path, **overrides),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = _LISTENING.search(output.read_text(errors="replace"))
        if found:
            return Served(process, found.group(1), int(found.group(2)), output)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"detector serve did not start:\n{output.read_text(errors='replace')}")


def stop(served: Served) -> int:
    served.process.send_signal(signal.SIGTERM)
    return served.process.wait(timeout=20)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    running = start_serve(tmp_path_factory.mktemp("serve"))
    yield running
    stop(running)


@pytest.fixture(scope="module")
def token() -> str:
    return sign_token(SECRET, subject="tester")


def call(
    served: Served, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=60)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return (
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            response.read(),
        )
    finally:
        connection.close()


def test_an_image_posted_with_a_token_comes_back_with_its_detections(
    served: Served, token: str, dog_jpg: Path
):
    # GIVEN the sample image, sent the way the README's curl line sends it
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"}
    # WHEN
    status, _, body = call(served, "POST", "/detect", dog_jpg.read_bytes(), headers)
    # THEN the real model found the dog, the bicycle and the car
    assert status == 200, body
    document = json.loads(body)
    assert (document["width"], document["height"]) == (768, 576)
    confident = {d["label"] for d in document["detections"] if d["score"] > 0.5}
    assert {"dog", "bicycle", "car"} <= confident
    assert document["timing_ms"]["total"] > 0


def test_a_request_without_a_token_is_refused_with_401(served: Served, dog_jpg: Path):
    status, headers, body = call(
        served, "POST", "/detect", dog_jpg.read_bytes(), {"Content-Type": "image/jpeg"}
    )
    assert status == 401
    assert headers["www-authenticate"].startswith("Bearer")
    assert json.loads(body)["error"]["code"] in {"unauthorized", "invalid_token"}


def test_a_body_that_is_not_an_image_type_is_refused_with_415(served: Served, token: str):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "image/gif"}
    status, _, body = call(served, "POST", "/detect", b"GIF89a....", headers)
    assert status == 415
    assert json.loads(body)["error"]["code"] == "unsupported_media_type"


def test_a_body_over_the_lambda_payload_limit_is_refused_with_413(served: Served, token: str):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"}
    status, _, body = call(served, "POST", "/detect", b"\xff" * (6 * 1024 * 1024 + 1), headers)
    assert status == 413
    assert json.loads(body)["error"]["code"] == "too_large"


def test_the_handler_serves_the_page_at_the_root(served: Served):
    status, headers, body = call(served, "GET", "/")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert b'id="token"' in body
    # the hint on the token works under serve: see test_detector_token_mints_tokens_for_...
    assert b"<code>detector token</code> mints another" in body


def test_health_answers_without_a_token(served: Served):
    status, _, body = call(served, "GET", "/health")
    assert status == 200
    assert json.loads(body)["status"] == "ok"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_stop_signal_stops_the_server_cleanly(tmp_path: Path, signum: int):
    # GIVEN a running server
    running = start_serve(tmp_path)
    # WHEN it is sent SIGTERM, or SIGINT as Ctrl-C does
    running.process.send_signal(signum)
    code = running.process.wait(timeout=20)
    # THEN it exits 0 after saying so, without a traceback, and the port is free again
    assert code == 0, running.text()
    assert "Stopped." in running.text()
    assert "Traceback" not in running.text()
    with pytest.raises(OSError):
        http.client.HTTPConnection("127.0.0.1", running.port, timeout=2).connect()


def test_a_session_token_is_printed_when_no_jwt_setting_is_given(tmp_path: Path):
    running = start_serve(tmp_path, JWT_SECRET="")
    try:
        printed = re.search(r"^(eyJ[\w-]+\.[\w-]+\.[\w-]+)$", running.text(), re.MULTILINE)
        assert printed, running.text()
        status, _, _ = call(
            running, "GET", "/model", headers={"Authorization": f"Bearer {printed[1]}"}
        )
        assert status == 200
    finally:
        stop(running)


def test_it_says_which_model_it_serves_and_logs_one_short_line_per_request(
    served: Served, token: str, dog_jpg: Path
):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"}
    call(served, "POST", "/detect", dog_jpg.read_bytes(), headers)
    text = served.text()
    assert "Model yolox_nano: yolox, 416x416 input, 80 classes; plain ONNX" in text
    assert re.search(r"^POST /detect 200 \d+ ms$", text, re.MULTILINE)
    # the function's own JSON logs and metrics stay out of the way of the token and URL
    assert '"_aws"' not in text and '"level"' not in text


def test_verbose_shows_the_functions_own_logs_and_metrics(
    tmp_path: Path, token: str, dog_jpg: Path
):
    running = start_serve(tmp_path, "--verbose")
    try:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"}
        status, _, _ = call(running, "POST", "/detect", dog_jpg.read_bytes(), headers)
        assert status == 200
    finally:
        stop(running)
    assert '"InferenceMs"' in running.text()  # the EMF metrics document


def test_detector_token_mints_tokens_for_the_running_session(tmp_path: Path):
    # GIVEN serve running with a secret of its own (no JWT setting at all)
    running = start_serve(tmp_path, JWT_SECRET="")
    env = serve_env(tmp_path, JWT_SECRET="")
    try:
        # WHEN `detector token` is run beside it, as the page's hint says
        minted = detector("token", env=env)
        # THEN its token is accepted by the server
        assert minted.returncode == 0, minted.stderr
        headers = {"Authorization": f"Bearer {minted.stdout.strip()}"}
        status, _, _ = call(running, "GET", "/model", headers=headers)
        assert status == 200
        assert "`detector token` mints another" in running.text()
    finally:
        stop(running)
    # AND once it has stopped, there is no session secret left to mint with
    assert list((tmp_path / "cache").iterdir()) == []
    after = detector("token", env=env)
    assert after.returncode == 2
    assert "start `detector serve`" in after.stderr


def test_a_busy_port_is_refused_with_a_hint_at_port_0(served: Served, tmp_path: Path):
    done = detector("serve", "--port", str(served.port), env=serve_env(tmp_path), timeout=120)
    assert done.returncode == 2
    assert f"127.0.0.1:{served.port} is already in use" in done.stderr
    assert "--port 0" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_a_model_that_cannot_be_loaded_stops_serve_at_start_with_the_reason(tmp_path: Path):
    missing = tmp_path / "missing.onnx"
    done = detector("serve", "--port", "0", "--model", missing, env=serve_env(tmp_path))
    assert done.returncode == 2
    assert f"no model file at {missing}" in done.stderr
    assert "Serving" not in done.stdout


def test_a_sealed_model_is_served_with_its_key_given_as_detect_takes_it(
    tmp_path: Path, model_path: Path
):
    # GIVEN the sample model sealed with a key of one's own
    key = tmp_path / "model.key"
    sealed = tmp_path / "nano.sealed"
    assert detector("keygen", "-o", key).returncode == 0
    packed = detector("pack", model_path, "-o", sealed, "--key-file", key, "--model-id", "nano")
    assert packed.returncode == 0, packed.stderr
    # WHEN it is served without its key, THEN serve stops and says how to give it
    refused = detector("serve", "--port", "0", "--model", sealed, env=serve_env(tmp_path))
    assert refused.returncode == 2
    assert "give its key with --key-file FILE" in refused.stderr
    # WHEN with its key, THEN it serves it
    running = start_serve(tmp_path, "--model", sealed, "--key-file", key)
    try:
        assert "Model nano: yolox, 416x416 input, 80 classes; sealed" in running.text()
        headers = {"Authorization": f"Bearer {sign_token(SECRET, subject='t')}"}
        status, _, body = call(running, "GET", "/model", headers=headers)
        assert status == 200
        assert json.loads(body)["model_id"] == "nano"
    finally:
        stop(running)


# --- the page, in headless Chromium ------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[chromium.Chromium]:
    path = chromium.executable()
    if path is None:
        pytest.fail("chromium is not installed: run `make browser` (Debian's chromium package)")
    with chromium.Chromium(path) as running:
        yield running


def test_the_page_draws_the_detections_of_an_uploaded_image(
    served: Served, browser: chromium.Chromium, token: str, dog_jpg: Path
):
    # GIVEN the page, a pasted token and the sample image chosen in the file picker
    browser.open(f"{served.url}/")
    browser.type_into("#token", token)
    browser.choose_file("#file", dog_jpg)
    # WHEN the detection request has come back
    state = browser.wait_for(
        "['done', 'error'].includes(document.body.dataset.state) && document.body.dataset.state"
    )
    screenshot = browser.screenshot(ARTIFACTS / "page-detections.png")
    # THEN the boxes are listed with their labels, and drawn over the image
    assert state == "done", browser.evaluate("document.getElementById('status').textContent")
    labels = browser.evaluate(
        "[...document.querySelectorAll('#detections li')].map(li => li.dataset.label)"
    )
    assert {"dog", "bicycle", "car"} <= set(labels)
    assert browser.evaluate("document.getElementById('canvas').width") > 0
    assert "inference" in browser.evaluate("document.getElementById('timing').textContent")
    assert screenshot.stat().st_size > 10_000


def test_the_page_explains_a_refused_token(
    served: Served, browser: chromium.Chromium, dog_jpg: Path
):
    browser.open(f"{served.url}/")
    browser.type_into("#token", "not-a-token")
    browser.choose_file("#file", dog_jpg)
    browser.wait_for("document.body.dataset.state === 'error'")
    browser.screenshot(ARTIFACTS / "page-401.png")
    status = browser.evaluate("document.getElementById('status').textContent")
    assert status.startswith("401")
    assert "token" in status
    assert browser.evaluate("document.querySelectorAll('#detections li').length") == 0


@pytest.mark.parametrize(
    ("name", "content", "status"),
    [
        ("animation.gif", b"GIF89a" + b"\0" * 64, "415"),
        ("huge.jpg", b"\xff\xd8\xff" + b"\0" * (6 * 1024 * 1024 + 1), "413"),
    ],
)
def test_the_page_explains_a_refused_image(
    served: Served,
    browser: chromium.Chromium,
    token: str,
    tmp_path: Path,
    name: str,
    content: bytes,
    status: str,
):
    # GIVEN a file the API refuses: a GIF (media type), or a body over the 6 MB limit
    path = tmp_path / name
    path.write_bytes(content)
    browser.open(f"{served.url}/")
    browser.type_into("#token", token)
    # WHEN it is chosen
    browser.choose_file("#file", path)
    browser.wait_for("document.body.dataset.state === 'error'")
    # THEN the page says which status and what to do about it
    message = browser.evaluate("document.getElementById('status').textContent")
    assert message.startswith(status), message
    assert ("S3" in message) if status == "413" else ("JPEG, PNG or WebP" in message)


def test_the_empty_page_shows_no_canvas_border(served: Served, browser: chromium.Chromium):
    browser.open(f"{served.url}/")
    assert browser.evaluate("getComputedStyle(document.getElementById('canvas')).display") == "none"
    browser.screenshot(ARTIFACTS / "page-empty.png")


def test_picking_an_image_then_pasting_a_token_says_ready_then_detects(
    served: Served, browser: chromium.Chromium, token: str, dog_jpg: Path
):
    status = "document.getElementById('status').textContent"
    # GIVEN the image chosen first: the page asks for a token
    browser.open(f"{served.url}/")
    browser.choose_file("#file", dog_jpg)
    browser.wait_for(f"{status} === 'Paste a token to run the detection.'")
    # WHEN the token is pasted, THEN the status line follows
    browser.type_into("#token", token)
    assert browser.evaluate(status) == "Ready: press Detect."
    assert browser.evaluate("document.getElementById('detect').disabled") is False
    # AND Detect runs the detection
    browser.evaluate("document.getElementById('detect').click()")
    assert (
        browser.wait_for("document.body.dataset.state !== 'busy' && document.body.dataset.state")
        == "done"
    )


def test_the_page_colours_each_class_as_the_annotated_jpegs_do(
    served: Served, browser: chromium.Chromium
):
    browser.open(f"{served.url}/")
    ids = [0, 1, 2, 15, 16, 57, 79]
    on_page = browser.evaluate(f"{ids}.map((id) => [colour(id), textColour(id)])")
    in_jpegs = [
        [f"rgb{annotate.colour(i)}", f"rgb{annotate.text_colour(annotate.colour(i))}"] for i in ids
    ]
    assert on_page == in_jpegs


def test_an_annotated_jpeg_from_the_api_lands_in_the_artifacts(
    served: Served, token: str, dog_jpg: Path
):
    # WHEN the API is asked for the annotated image itself
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "image/jpeg",
        "Accept": "image/jpeg",
    }
    status, response_headers, body = call(served, "POST", "/detect", dog_jpg.read_bytes(), headers)
    # THEN it is a JPEG of the photo, kept for a person to look at (the best label on top)
    assert status == 200
    assert response_headers["content-type"] == "image/jpeg"
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "api-annotated.jpg").write_bytes(body)
    with Image.open(ARTIFACTS / "api-annotated.jpg") as picture:
        assert picture.size == (768, 576)
