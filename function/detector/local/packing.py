"""What ``detector pack``, ``inspect``, ``upload`` and ``keygen`` do: one function each.

These run on a person's machine, never in the function; each returns a JSON-ready summary
(never a key) and raises our typed errors.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from detector import aws
from detector.aws import AwsClients, S3Location
from detector.errors import ConfigurationError, ModelError, StorageError
from detector.model import keys
from detector.model.artifact import (
    MAGIC,
    Compression,
    DataKey,
    ModelMetadata,
    open_sealed,
    read_header,
    seal,
)
from detector.model.keys import KeyResolver, UserKeySource
from detector.model.store import read_local, read_names, write_atomically
from detector.pipeline.engine import inspect_model
from detector.settings import Settings

SEALED_CONTENT_TYPE = "application/vnd.serverless-detector.sealed-model"


def pack(
    model_path: Path,
    output: Path,
    *,
    kms_key_id: str | None = None,
    user_key: UserKeySource | None = None,
    names_file: Path | None = None,
    family: str | None = None,
    model_id: str | None = None,
    compression: Compression = Compression.ZSTD,
    level: int | None = None,
    upload_to: str | None = None,
    overwrite: bool = False,
    warn: Callable[[str], None] | None = None,
    clients: AwsClients | None = None,
) -> dict[str, Any]:
    """Seal an ONNX model into ``output`` (and upload it): a summary of what was written.

    An existing ``output`` is refused unless ``overwrite``. ``warn`` hears of what the
    user should fix but need not: a model sealed without class names.
    """
    if (kms_key_id is None) == (user_key is None):
        raise ConfigurationError("give exactly one key: a KMS key id, or a key of your own")
    if output.exists() and not overwrite:
        raise ConfigurationError(f"{output} exists; give --force to replace it, or another -o")
    destination = S3Location.parse(upload_to) if upload_to else None
    aws_clients = clients or AwsClients()
    model = read_local(model_path).data
    if model.startswith(MAGIC):
        raise ConfigurationError(f"{model_path} is sealed already: pack takes the plain .onnx")
    metadata = describe_model(
        model, names_file=names_file, family=family, model_id=model_id, default_id=model_path.stem
    )
    if kms_key_id is not None:
        data_key = keys.kms_data_key(aws_clients.kms, kms_key_id, metadata.model_id)
    else:
        data_key = keys.user_data_key(KeyResolver(aws_clients, user_key).user_key())
    sealed = seal(model, data_key, metadata, compression=compression, level=level)
    _check_round_trip(sealed, data_key, model)
    _write_atomically(output, sealed)
    summary = {"output": str(output), **_summary(sealed)}
    if destination is not None:
        summary["upload"] = _upload(aws_clients, sealed, destination)
    # Said once it is done: a pack that failed has more pressing news.
    if warn and names_file is None and metadata.class_names == _numbered(metadata.class_names):
        count = len(metadata.class_names)
        warn(
            f"{model_path} names none of its {count} classes, and no --names file was given: "
            f"they are sealed as class_0 ... class_{count - 1}, and answers will say so. To "
            "name them, pack it again with --names FILE (one name a line, line N naming class N)"
        )
    return summary


def describe_model(
    model: bytes,
    *,
    names_file: Path | None,
    family: str | None,
    model_id: str | None,
    default_id: str,
) -> ModelMetadata:
    """The metadata sealed with a model; refuses bytes that are not a model we can run."""
    info = inspect_model(model, family=family)
    names = tuple(read_names(names_file) or info.class_names)
    if info.class_names and len(names) != len(info.class_names):
        raise ModelError(
            f"{names_file} has {len(names)} class names; the model has "
            f"{len(info.class_names)} classes"
        )
    digest = hashlib.sha256(model).hexdigest()
    return ModelMetadata(
        family=info.family,
        input_size=info.input_size,
        class_names=names,
        model_id=model_id or f"{default_id}-{digest[:12]}",
    )


def inspect(
    source: str,
    *,
    verify: bool = False,
    user_key: UserKeySource | None = None,
    clients: AwsClients | None = None,
) -> dict[str, Any]:
    """The header of a sealed model (a path or s3:// URI); with ``verify``, checked throughout.

    ``verify`` takes the key from ``user_key``, else from where the function's settings say
    (``MODEL_KEY_*``), or has KMS unwrap it.
    """
    aws_clients = clients or AwsClients()
    if source.startswith("s3://"):
        sealed = aws.get_object(aws_clients.s3, S3Location.parse(source)).body
    else:
        sealed = read_local(Path(source)).data
    summary = _summary(sealed)
    if verify or user_key is not None:
        header = read_header(sealed)
        # Without a key option, the function's own settings say where the key is.
        key_source = user_key or UserKeySource.from_settings(Settings.from_env())
        model = open_sealed(sealed, KeyResolver(aws_clients, key_source))
        inspect_model(model, family=header.metadata.family)
        summary["verified"] = True
    return summary


def upload(sealed_path: Path, uri: str, *, clients: AwsClients | None = None) -> dict[str, Any]:
    """Put a sealed model in S3; a file that is not a sealed model is refused."""
    destination = S3Location.parse(uri)
    sealed = read_local(sealed_path).data
    read_header(sealed)
    return _upload(clients or AwsClients(), sealed, destination)


def keygen(output: Path | None = None) -> str:
    """A new 256-bit key as base64; with ``output``, written there (0600, never overwritten)."""
    encoded = keys.encode_key(keys.generate_key())
    if output is None:
        return encoded
    try:
        descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigurationError(f"{output} exists; a key file is never overwritten") from None
    except OSError as exc:
        raise StorageError(f"cannot write {output}: {exc.strerror}") from None
    with os.fdopen(descriptor, "w") as file:
        file.write(encoded + "\n")
    return f"key written to {output}"


def _numbered(names: tuple[str, ...]) -> tuple[str, ...]:
    """The names the pipeline makes up for a model that has none."""
    return tuple(f"class_{index}" for index in range(len(names)))


def _summary(sealed: bytes) -> dict[str, Any]:
    return read_header(sealed).to_json()


def _check_round_trip(sealed: bytes, data_key: DataKey, model: bytes) -> None:
    """Open what was just sealed before anyone relies on it."""
    if open_sealed(sealed, lambda header: data_key.plaintext) != model:
        raise ModelError("the sealed model did not open to the same bytes; nothing written")


def _upload(clients: AwsClients, sealed: bytes, destination: S3Location) -> dict[str, Any]:
    header = read_header(sealed)
    info = aws.put_object(
        clients.s3,
        destination,
        sealed,
        content_type=SEALED_CONTENT_TYPE,
        metadata={"model-id": header.metadata.model_id, "sha256": header.plaintext_sha256},
    )
    return {"uri": str(destination), "etag": info.etag, "version_id": info.version_id}


def _write_atomically(path: Path, data: bytes) -> None:
    try:
        write_atomically(path, data)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror}") from None
