"""`detector pack | inspect | upload | keygen`, run in-process (moto for S3 and KMS)."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from detector.commands import main
from detector.local.s3server import LocalAws
from detector.model.artifact import read_header
from tests.cli import detector
from tests.unit.onnx_graphs import constant_model, yolov8_columns


def run(capsys, *argv: str) -> tuple[int, Any, str]:
    """Exit code, stdout (parsed when it is JSON) and stderr of one command."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except json.JSONDecodeError:
        return code, out, err


def pack(capsys, model: Path, output: Path, *options: str) -> Any:
    code, packed, err = run(capsys, "pack", str(model), "-o", str(output), *options)
    assert code == 0, err
    return packed


@pytest.fixture
def key_file(tmp_path: Path, capsys) -> Path:
    path = tmp_path / "model.key"
    assert run(capsys, "keygen", "-o", str(path))[0] == 0
    return path


@pytest.fixture
def packed(tmp_path: Path, model_path, key_file, capsys) -> Path:
    sealed = tmp_path / "nano.sealed"
    pack(capsys, model_path, sealed, "--key-file", str(key_file))
    return sealed


def test_keygen_prints_a_new_base64_key_each_time(capsys):
    _, first, _ = run(capsys, "keygen")
    _, second, _ = run(capsys, "keygen")
    assert len(first.strip()) == 44 and first != second


def test_keygen_writes_a_private_file_and_never_overwrites_it(capsys, key_file):
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    before = key_file.read_text()
    code, _, err = run(capsys, "keygen", "-o", str(key_file))
    assert code == 2 and "never overwritten" in err
    assert key_file.read_text() == before


def test_pack_then_inspect_with_the_key_verifies_the_whole_artifact(
    capsys, tmp_path, model_path, coco_dir, key_file
):
    sealed = tmp_path / "nano.sealed"
    names = str(coco_dir / "names.txt")
    packed = pack(
        capsys, model_path, sealed, "--key-file", str(key_file), "--names", names, "--model-id", "m"
    )
    assert packed["model"]["model_id"] == "m"
    assert packed["model"]["family"] == "yolox"
    assert packed["model"]["input_size"] == [416, 416]
    assert packed["model"]["class_names"][16] == "dog"
    assert packed["key_wrap"] == "user-key"
    code, shown, _ = run(capsys, "inspect", str(sealed))
    assert code == 0 and "verified" not in shown and shown["sealed_length"] == sealed.stat().st_size
    code, verified, _ = run(capsys, "inspect", str(sealed), "--key-file", str(key_file))
    assert code == 0 and verified["verified"] is True
    assert key_file.read_text().strip() not in json.dumps(verified)


def test_a_key_from_an_environment_variable_packs_and_verifies(
    capsys, tmp_path, model_path, key_file, monkeypatch
):
    monkeypatch.setenv("MY_MODEL_KEY", key_file.read_text())
    sealed = tmp_path / "nano.sealed"
    pack(capsys, model_path, sealed, "--key-env", "MY_MODEL_KEY", "--compression", "zlib")
    code, verified, _ = run(capsys, "inspect", str(sealed), "--key-env", "MY_MODEL_KEY")
    assert code == 0 and verified["verified"] and verified["compression"] == "zlib"


def test_inspect_verify_finds_the_key_where_the_function_would(
    capsys, packed, key_file, monkeypatch
):
    monkeypatch.setenv("MODEL_KEY_B64", key_file.read_text().strip())
    code, verified, _ = run(capsys, "inspect", str(packed), "--verify")
    assert code == 0 and verified["verified"] is True


def test_pack_with_kms_uploads_and_inspect_verifies_from_s3(
    capsys, tmp_path, model_path, clients, bucket, kms_key
):
    sealed = tmp_path / "nano.sealed"
    upload = "s3://models/nano.sealed"
    packed = pack(capsys, model_path, sealed, "--kms-key-id", kms_key, "--upload", upload)
    assert packed["key_wrap"] == "kms" and packed["kms_key_id"] == kms_key
    assert packed["encryption_context"] == {"model_id": packed["model"]["model_id"]}
    assert packed["upload"]["uri"] == upload and packed["upload"]["version_id"]
    stored = clients.s3.get_object(Bucket="models", Key="nano.sealed")["Body"].read()
    assert stored == sealed.read_bytes()
    code, verified, _ = run(capsys, "inspect", upload, "--verify")
    assert code == 0 and verified["verified"] is True


def test_upload_puts_a_sealed_file_and_refuses_a_plain_model(
    capsys, packed, model_path, clients, bucket
):
    code, uploaded, _ = run(capsys, "upload", str(packed), "s3://models/a.sealed")
    assert code == 0 and uploaded["etag"]
    code, _, err = run(capsys, "upload", str(model_path), "s3://models/b.sealed")
    assert code == 2 and "not a sealed model" in err


def test_pack_refuses_a_file_that_is_not_an_onnx_model(capsys, tmp_path, dog_jpg, key_file):
    output = tmp_path / "dog.sealed"
    code, _, err = run(capsys, "pack", str(dog_jpg), "-o", str(output), "--key-file", str(key_file))
    assert code == 2 and err.startswith("detector pack: ") and "ONNX" in err
    assert not output.exists()


def test_pack_refuses_a_model_that_is_sealed_already(capsys, tmp_path, packed, key_file):
    output = tmp_path / "twice.sealed"
    code, _, err = run(capsys, "pack", str(packed), "-o", str(output), "--key-file", str(key_file))
    assert code == 2 and "is sealed already: pack takes the plain .onnx" in err
    assert not output.exists()


def test_pack_refuses_names_that_do_not_fit_the_model(capsys, tmp_path, model_path, key_file):
    names = tmp_path / "names.txt"
    names.write_text("cat\ndog\n")
    output = tmp_path / "m.sealed"
    code, _, err = run(
        capsys, "pack", str(model_path), "-o", str(output), "--key-file", str(key_file),
        "--names", str(names),
    )  # fmt: skip
    assert code == 2 and "2 class names" in err and "80 classes" in err
    assert not output.exists()


def test_a_binary_key_file_is_refused_with_what_it_should_hold(capsys, tmp_path, packed):
    binary = tmp_path / "binary.key"
    binary.write_bytes(b"\xff" * 32)
    code, _, err = run(capsys, "inspect", str(packed), "--key-file", str(binary))
    assert code == 2 and "should hold the base64 text of the key" in err


def test_inspect_with_the_wrong_key_says_wrong_key(capsys, tmp_path, packed):
    other = tmp_path / "other.key"
    run(capsys, "keygen", "-o", str(other))
    code, _, err = run(capsys, "inspect", str(packed), "--key-file", str(other))
    assert code == 2 and "wrong key" in err


def test_inspect_refuses_a_tampered_body_and_a_truncated_file(capsys, packed, key_file):
    data = packed.read_bytes()
    tampered = bytearray(data)
    tampered[read_header(data).size + 10] ^= 0x01
    packed.write_bytes(bytes(tampered))
    code, _, err = run(capsys, "inspect", str(packed), "--key-file", str(key_file))
    assert code == 2 and "failed authentication" in err
    packed.write_bytes(data[:-1])
    code, _, err = run(capsys, "inspect", str(packed))
    assert code == 2 and "truncated" in err


def test_inspect_refuses_a_tampered_header(capsys, packed, key_file):
    data = packed.read_bytes()
    renamed = data.replace(b'"family":"yolox"', b'"family":"yolov"', 1)
    assert renamed != data
    packed.write_bytes(renamed)
    code, _, err = run(capsys, "inspect", str(packed), "--key-file", str(key_file))
    assert code == 2 and "failed authentication" in err


def test_inspect_refuses_an_unknown_format_version(capsys, packed):
    data = bytearray(packed.read_bytes())
    data[9] = 9
    packed.write_bytes(bytes(data))
    code, _, err = run(capsys, "inspect", str(packed))
    assert code == 2 and "format version 9" in err


def test_inspect_of_a_kms_model_with_a_wrong_context_says_so(
    capsys, tmp_path, model_path, clients, bucket, kms_key
):
    sealed = tmp_path / "nano.sealed"
    pack(capsys, model_path, sealed, "--kms-key-id", kms_key, "--model-id", "model-a")
    sealed.write_bytes(sealed.read_bytes().replace(b'"model-a"', b'"model-b"', 1))
    code, _, err = run(capsys, "inspect", str(sealed), "--verify")
    assert code == 2 and "context differs" in err


# --- sealed models wherever a model is taken (subprocesses, as a user runs them) ----------
NO_KEY_SETTINGS = {"MODEL_KEY_B64": "", "MODEL_KEY_SECRET_ID": "", "MODEL_KEY_PARAMETER": ""}


def detected_classes(stdout: str) -> set[int]:
    return {item["class_id"] for item in json.loads(stdout)["detections"]}


def test_detect_on_a_sealed_model_without_its_key_says_how_to_give_it(packed, dog_jpg):
    done = detector("detect", "--model", packed, dog_jpg, env=NO_KEY_SETTINGS)

    assert done.returncode == 2
    assert "sealed with a key of your own: give its key with --key-file" in done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr


def test_detect_takes_a_sealed_models_key_the_ways_inspect_does(packed, key_file, dog_jpg):
    # GIVEN the model sealed with a key of one's own; WHEN detect gets that key from a file,
    # from a named variable, or from the function's own setting
    ways = [
        (["--key-file", str(key_file)], NO_KEY_SETTINGS),
        (["--key-env", "MY_KEY"], {**NO_KEY_SETTINGS, "MY_KEY": key_file.read_text()}),
        ([], {**NO_KEY_SETTINGS, "MODEL_KEY_B64": key_file.read_text().strip()}),
    ]
    for options, env in ways:
        done = detector("detect", "--model", packed, *options, dog_jpg, env=env)

        # THEN the dog (COCO class 16) is found
        assert done.returncode == 0, done.stderr
        assert 16 in detected_classes(done.stdout)


def test_detect_opens_a_kms_sealed_model_with_no_key_option(tmp_path, model_path, dog_jpg):
    # GIVEN a model sealed with a KMS key on a local AWS endpoint
    with LocalAws() as aws, aws.activated():
        key_arn = aws.client("kms").create_key()["KeyMetadata"]["Arn"]
        sealed = tmp_path / "kms.sealed"
        assert main(["pack", str(model_path), "-o", str(sealed), "--kms-key-id", key_arn]) == 0

        # WHEN detect is given it, and nothing else: the header says KMS wraps its key
        done = detector("detect", "--model", sealed, dog_jpg, env=aws.environ())

    # THEN KMS unwraps the key and the dog is found
    assert done.returncode == 0, done.stderr
    assert 16 in detected_classes(done.stdout)


def test_inspect_verify_without_a_key_says_how_to_give_it(capsys, packed, monkeypatch):
    for name in NO_KEY_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    code, _, err = run(capsys, "inspect", str(packed), "--verify")
    assert code == 2 and "give its key with --key-file FILE" in err


def test_pack_without_names_warns_how_to_add_them(tmp_path, model_path, key_file, coco_dir):
    # WHEN the sample model, which carries no class names, is packed without --names
    unnamed = detector("pack", model_path, "-o", tmp_path / "a.sealed", "--key-file", key_file)
    # THEN it is packed, with a warning that says what happened and how to do better
    assert unnamed.returncode == 0, unnamed.stderr
    assert unnamed.stderr.startswith("detector pack: warning: ")
    assert "names none of its 80 classes" in unnamed.stderr
    assert "class_0 ... class_79" in unnamed.stderr and "--names FILE" in unnamed.stderr
    # AND with names given there is nothing to warn about
    names = ["--names", str(coco_dir / "names.txt")]
    named = detector(
        "pack", model_path, "-o", tmp_path / "b.sealed", "--key-file", key_file, *names
    )
    assert named.returncode == 0
    assert named.stderr == ""
    assert json.loads(named.stdout)["model"]["class_names"][16] == "dog"


def test_pack_seals_the_names_a_model_carries_without_a_warning(tmp_path, key_file):
    # GIVEN a model whose metadata names its classes, as Ultralytics exports do
    model = tmp_path / "named.onnx"
    metadata = {"names": "{0: 'cat', 1: 'car'}"}
    model.write_bytes(constant_model(yolov8_columns(84, classes=2), metadata=metadata))

    done = detector("pack", model, "--key-file", key_file)

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert json.loads(done.stdout)["model"]["class_names"] == ["cat", "car"]
    assert (tmp_path / "named.sealed").exists()  # the default output, beside the model


def test_pack_does_not_overwrite_a_file_unless_forced(tmp_path, model_path, key_file, coco_dir):
    output = tmp_path / "m.sealed"
    output.write_bytes(b"someone's file")
    argv = ["pack", model_path, "-o", output, "--key-file", key_file]
    argv += ["--names", coco_dir / "names.txt"]

    refused = detector(*argv)

    assert refused.returncode == 2
    assert f"{output} exists; give --force to replace it" in refused.stderr
    assert output.read_bytes() == b"someone's file"
    forced = detector(*argv, "--force")
    assert forced.returncode == 0, forced.stderr
    assert read_header(output.read_bytes()).metadata.class_names[16] == "dog"


def test_inspect_prints_the_class_list_on_one_line(packed):
    printed = detector("inspect", packed).stdout
    [line] = [line for line in printed.splitlines() if '"class_names"' in line]
    assert line.strip().startswith('"class_names": ["class_0", "class_1",')
    assert line.rstrip().endswith('"class_79"]')
    assert len(printed.splitlines()) < 30
    assert json.loads(printed)["model"]["family"] == "yolox"
