"""The floor with what our function must do besides: a sealed model and a checked token.

``benchmarks.floor`` plus, and nothing else: PyJWT checks an HS256 bearer token against a
secret read from Secrets Manager; the model is an envelope (a KMS-wrapped data key, a nonce,
AES-GCM over the zstd-compressed model, made by ``pack``) unwrapped by KMS, decrypted,
decompressed and checked against its sha256. No logging, metrics, routing, options, letterbox
or NMS. Set against ``benchmarks.floor``, it is the part of the cold-start goal that the
product's requirements take before any code of ours runs (``coldstart`` section).
"""

from __future__ import annotations

import hashlib
import os
import struct
from typing import Any

import boto3
import jwt
import onnxruntime as ort
import zstandard
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from benchmarks import floor

MODEL_URI = "FLOOR_SEALED_MODEL_URI"  # s3://bucket/key of an envelope made by pack()
SECRET_ID = "JWT_SECRET_ID"
NONCE_BYTES = 12
DIGEST_BYTES = 32  # sha256
_session: ort.InferenceSession | None = None
_secret: str | None = None


def pack(model: bytes, plaintext_key: bytes, wrapped_key: bytes) -> bytes:
    """The envelope: len(wrapped key), wrapped key, nonce, AES-GCM(zstd(model)) whose
    associated data is the model's sha256."""
    nonce = os.urandom(NONCE_BYTES)
    digest = hashlib.sha256(model).digest()
    sealed = AESGCM(plaintext_key).encrypt(nonce, zstandard.compress(model), digest)
    return struct.pack(">H", len(wrapped_key)) + wrapped_key + nonce + digest + sealed


def unpack(envelope: bytes, kms: Any) -> bytes:
    (length,) = struct.unpack_from(">H", envelope)
    wrapped, rest = envelope[2 : 2 + length], envelope[2 + length :]
    nonce, rest = rest[:NONCE_BYTES], rest[NONCE_BYTES:]
    digest, sealed = rest[:DIGEST_BYTES], rest[DIGEST_BYTES:]
    key = kms.decrypt(CiphertextBlob=wrapped)["Plaintext"]
    model = zstandard.ZstdDecompressor().decompress(AESGCM(key).decrypt(nonce, sealed, digest))
    if hashlib.sha256(model).digest() != digest:
        raise ValueError("the model does not match its digest")
    return model


def session() -> ort.InferenceSession:
    global _session  # noqa: PLW0603 - one session per process, as a Lambda handler keeps it
    if _session is None:
        model = unpack(floor.fetch(MODEL_URI), boto3.client("kms"))
        _session = floor.one_thread_session(model)
    return _session


def secret() -> str:
    global _secret  # noqa: PLW0603 - read once per process
    if _secret is None:
        client = boto3.client("secretsmanager")
        _secret = client.get_secret_value(SecretId=os.environ[SECRET_ID])["SecretString"]
    return _secret


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    token = event["headers"]["authorization"].removeprefix("Bearer ")
    jwt.decode(token, secret(), algorithms=["HS256"])
    return floor.answer(session(), event)
