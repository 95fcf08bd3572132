"""The sealed-model format: the writer (``seal``) and the reader (``open_sealed``) side by side.

A sealed model is a fixed 128-byte prologue, a variable part, then the compressed model
encrypted with AES-256-GCM in chunks. All integers are big-endian::

    offset  size  field
         0     8  magic  b"\\x89DTSEAL\\n" (the \\x89 and \\n catch text-mode transfers)
         8     2  format version (1)
        10     1  cipher id (1: AES-256-GCM, chunked)
        11     1  compression id (1: zstd, 2: zlib)
        12     1  key wrap (1: KMS envelope, 2: user-managed 256-bit key)
        13     1  flags (0; anything else is refused)
        14     4  chunk size: compressed bytes per encrypted chunk
        18    16  salt: HKDF salt that makes the content key fresh for every artifact
        34     8  nonce prefix: chunk i is sealed with nonce = prefix || uint32(i)
        42    32  key commitment: proves the data key is the one this artifact was sealed with
        74     8  plaintext length (the ONNX model)
        82    32  plaintext sha256
       114     8  compressed length
       122     2  wrapped-key length W (the KMS CiphertextBlob; 0 for a user key)
       124     4  metadata length M
       128     W  wrapped data key
     128+W     M  metadata: UTF-8 JSON {"model": {model_id, family, input_size, class_names},
                  "kms_key_id": str | null}
    128+W+M       chunks: ciphertext || 16-byte GCM tag, each chunk_size bytes of compressed
                  model except the last

Every chunk is authenticated with the whole header (bytes 0 .. 128+W+M) plus one byte,
1 for the last chunk and 0 otherwise, as associated data; together with the counter in the
nonce this binds each chunk to its place, so reordering, dropping or truncating at a chunk
boundary is refused. The AES key and the key commitment are derived from the data key
with HKDF-SHA256 over the salt; the commitment turns "wrong key" into its own clear error
instead of a generic authentication failure. KMS unwraps the data key only with the
encryption context ``{"model_id": <the model id in the header>}``.

The reader decrypts chunk by chunk into the decompressor (the compressed model is never
held whole), hands on no byte of a chunk before its tag is verified, decompresses at most
the plaintext length the authenticated header declares (plus one byte, to notice more), so
a crafted artifact cannot make it allocate more, and returns the model only once its
length and sha256 match the header.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import io
import itertools
import json
import os
import struct
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from detector.errors import ArtifactError, KeyAccessError

MAGIC = b"\x89DTSEAL\n"
FORMAT_VERSION = 1
CIPHER_AES_256_GCM_CHUNKED = 1
KEY_BYTES = 32
TAG_BYTES = 16
DEFAULT_CHUNK_SIZE = 1 << 20
MIN_CHUNK_SIZE = 16
MAX_CHUNK_SIZE = 1 << 26
# A Lambda function has at most 10 GiB of memory; a model near that could never be opened.
MAX_PLAINTEXT_LENGTH = 8 << 30
MAX_WRAPPED_KEY_LENGTH = 4096
MAX_METADATA_LENGTH = 1 << 20
# zstd frames may ask for a window of up to 2 GiB; we never write one over 128 MiB.
MAX_ZSTD_WINDOW = 1 << 27
DEFAULT_LEVELS = {"zstd": 9, "zlib": 6}
_ZLIB_STEP = 1 << 16

_PROLOGUE = struct.Struct(">8sHBBBBI16s8s32sQ32sQHI")
PROLOGUE_SIZE = _PROLOGUE.size  # 128
_HKDF_INFO = b"serverless-detector sealed model v1"
_NONCE_PREFIX_BYTES = 8


class Compression(enum.IntEnum):
    ZSTD = 1
    ZLIB = 2


class KeyWrap(enum.IntEnum):
    KMS = 1  # envelope: the data key, wrapped by KMS, sits in the header
    USER_KEY = 2  # the user's own 256-bit key, kept in Secrets Manager or SSM


@dataclass(frozen=True)
class ModelMetadata:
    """What the loader needs to know about the model without looking inside it."""

    family: str
    input_size: tuple[int, int]  # (height, width)
    class_names: tuple[str, ...]
    model_id: str

    def __post_init__(self) -> None:
        _require_metadata(
            isinstance(self.model_id, str) and 0 < len(self.model_id) <= 256,
            "the model id must be 1 to 256 characters",
        )
        _require_metadata(
            self.model_id.isprintable() and self.model_id.strip() == self.model_id,
            "the model id must be printable and without surrounding spaces",
        )
        _require_metadata(
            isinstance(self.family, str) and 0 < len(self.family) <= 64,
            "the model family must be 1 to 64 characters",
        )
        _require_metadata(
            isinstance(self.input_size, tuple)
            and len(self.input_size) == 2
            and all(type(n) is int and 0 < n <= 65_536 for n in self.input_size),
            "the input size must be two positive whole numbers (height, width)",
        )
        _require_metadata(
            isinstance(self.class_names, tuple)
            and all(isinstance(name, str) for name in self.class_names),
            "the class names must be a list of strings",
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "family": self.family,
            "input_size": list(self.input_size),
            "class_names": list(self.class_names),
        }

    @classmethod
    def from_json(cls, document: Any) -> ModelMetadata:
        _require_metadata(
            isinstance(document, dict)
            and set(document) == {"model_id", "family", "input_size", "class_names"},
            "the header's model metadata is malformed",
        )
        _require_metadata(
            isinstance(document["input_size"], list) and isinstance(document["class_names"], list),
            "the header's model metadata is malformed",
        )
        return cls(
            family=document["family"],
            input_size=tuple(document["input_size"]),
            class_names=tuple(document["class_names"]),
            model_id=document["model_id"],
        )


@dataclass(frozen=True)
class DataKey:
    """A data key for one artifact and how the header carries it."""

    plaintext: bytes = field(repr=False)
    wrap: KeyWrap
    wrapped: bytes = b""
    kms_key_id: str | None = None

    def __post_init__(self) -> None:
        if len(self.plaintext) != KEY_BYTES:
            raise KeyAccessError(f"a model key must be {KEY_BYTES} bytes (256 bits)")
        if (self.wrap is KeyWrap.KMS) != bool(self.wrapped and self.kms_key_id):
            raise KeyAccessError("a KMS data key needs its wrapped form and key id, others none")


@dataclass(frozen=True)
class Header:
    """The parsed header of a sealed model. ``size`` is its length in bytes."""

    version: int
    compression: Compression
    key_wrap: KeyWrap
    chunk_size: int
    salt: bytes
    nonce_prefix: bytes
    key_commitment: bytes
    plaintext_length: int
    plaintext_sha256: str
    compressed_length: int
    wrapped_key: bytes
    kms_key_id: str | None
    metadata: ModelMetadata
    size: int

    @property
    def chunk_count(self) -> int:
        return -(-self.compressed_length // self.chunk_size)

    @property
    def sealed_length(self) -> int:
        """The exact length of the whole artifact this header describes."""
        return self.size + self.compressed_length + TAG_BYTES * self.chunk_count

    @property
    def encryption_context(self) -> dict[str, str]:
        return encryption_context(self.metadata.model_id)

    def to_json(self) -> dict[str, Any]:
        """Everything a person may want to see; there is no key in a header to leak."""
        return {
            "format_version": self.version,
            "cipher": "AES-256-GCM, chunked",
            "compression": self.compression.name.lower(),
            "key_wrap": "kms" if self.key_wrap is KeyWrap.KMS else "user-key",
            "kms_key_id": self.kms_key_id,
            "encryption_context": self.encryption_context if self.key_wrap is KeyWrap.KMS else None,
            "chunk_size": self.chunk_size,
            "chunks": self.chunk_count,
            "plaintext_length": self.plaintext_length,
            "plaintext_sha256": self.plaintext_sha256,
            "compressed_length": self.compressed_length,
            "sealed_length": self.sealed_length,
            "model": self.metadata.to_json(),
        }


DataKeyLookup = Callable[[Header], bytes]
"""Returns the 32-byte data key for a header: KMS unwraps it, or the user's key is read."""


def encryption_context(model_id: str) -> dict[str, str]:
    """The KMS encryption context of a model: IAM policies can condition on it."""
    return {"model_id": model_id}


# --- writer -----------------------------------------------------------------------------
def seal(
    model: bytes,
    key: DataKey,
    metadata: ModelMetadata,
    *,
    compression: Compression = Compression.ZSTD,
    level: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> bytes:
    """Compress ``model`` and encrypt it under ``key``: the bytes of a sealed artifact."""
    return seal_payload(
        compress(model, compression, level=level),
        plaintext_length=len(model),
        plaintext_sha256=hashlib.sha256(model).hexdigest(),
        key=key,
        metadata=metadata,
        compression=compression,
        chunk_size=chunk_size,
    )


def compress(model: bytes, compression: Compression, *, level: int | None = None) -> bytes:
    name = compression.name.lower()
    chosen = DEFAULT_LEVELS[name] if level is None else level
    if compression is Compression.ZSTD:
        return zstandard.ZstdCompressor(level=chosen, threads=-1).compress(model)
    return zlib.compress(model, chosen)


def seal_payload(
    compressed: bytes,
    *,
    plaintext_length: int,
    plaintext_sha256: str,
    key: DataKey,
    metadata: ModelMetadata,
    compression: Compression,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> bytes:
    """Encrypt an already compressed model whose plaintext length and digest are given."""
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise ArtifactError(f"chunk size must be {MIN_CHUNK_SIZE} to {MAX_CHUNK_SIZE} bytes")
    salt = os.urandom(16)
    aes_key, commitment = _derive(key.plaintext, salt)
    header = _header_bytes(
        compression=compression,
        key=key,
        chunk_size=chunk_size,
        salt=salt,
        nonce_prefix=os.urandom(_NONCE_PREFIX_BYTES),
        commitment=commitment,
        plaintext_length=plaintext_length,
        plaintext_sha256=bytes.fromhex(plaintext_sha256),
        compressed_length=len(compressed),
        metadata=metadata,
    )
    parsed = _parse_header(header, total_length=None)
    sealed = bytearray(parsed.sealed_length)
    sealed[: parsed.size] = header
    cipher = AESGCM(aes_key)
    source = memoryview(compressed)
    target = memoryview(sealed)
    for index, start, end, out in _chunk_spans(parsed):
        cipher.encrypt_into(
            _nonce(parsed, index),
            source[start:end],
            _chunk_aad(header, index, parsed.chunk_count),
            target[out : out + end - start + TAG_BYTES],
        )
    return bytes(sealed)


def _header_bytes(
    *,
    compression: Compression,
    key: DataKey,
    chunk_size: int,
    salt: bytes,
    nonce_prefix: bytes,
    commitment: bytes,
    plaintext_length: int,
    plaintext_sha256: bytes,
    compressed_length: int,
    metadata: ModelMetadata,
) -> bytes:
    document = {"model": metadata.to_json(), "kms_key_id": key.kms_key_id}
    encoded = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    if len(encoded) > MAX_METADATA_LENGTH:
        raise ArtifactError(f"the model metadata is over {MAX_METADATA_LENGTH} bytes")
    prologue = _PROLOGUE.pack(
        MAGIC,
        FORMAT_VERSION,
        CIPHER_AES_256_GCM_CHUNKED,
        compression,
        key.wrap,
        0,
        chunk_size,
        salt,
        nonce_prefix,
        commitment,
        plaintext_length,
        plaintext_sha256,
        compressed_length,
        len(key.wrapped),
        len(encoded),
    )
    return prologue + key.wrapped + encoded


# --- reader -----------------------------------------------------------------------------
def read_header(data: bytes) -> Header:
    """Parse and check the header of a whole sealed artifact (nothing is decrypted yet)."""
    return _parse_header(data, total_length=len(data))


def open_sealed(
    data: bytes,
    key_resolver: DataKeyLookup,
    *,
    timings_ms: MutableMapping[str, float] | None = None,
) -> bytes:
    """The plaintext model inside ``data``, fully verified; ``timings_ms`` gets each step.

    Raises ArtifactError for anything wrong with the artifact (including a wrong user key)
    and whatever the resolver raises (KeyAccessError) when the key cannot be had.
    """
    steps: MutableMapping[str, float] = {} if timings_ms is None else timings_ms
    started = time.perf_counter()
    header = read_header(data)
    started = _lap(steps, "read_header", started)
    data_key = key_resolver(header)
    started = _lap(steps, "unwrap_key", started)
    chunks = DecryptedChunks(data, header, content_cipher(header, data_key))
    model = decompress_payload(chunks, header)
    # Decryption runs interleaved with decompression; its share is timed on its own.
    steps["decrypt"] = round(chunks.seconds * 1000, 3)
    steps["decompress"] = round((time.perf_counter() - started - chunks.seconds) * 1000, 3)
    return model


def content_cipher(header: Header, data_key: bytes) -> AESGCM:
    """The AES-GCM cipher for the payload, once the data key is shown to be the right one."""
    if len(data_key) != KEY_BYTES:
        raise KeyAccessError(f"a model key must be {KEY_BYTES} bytes (256 bits)")
    aes_key, commitment = _derive(data_key, header.salt)
    if not hmac.compare_digest(commitment, header.key_commitment):
        raise ArtifactError(
            "wrong key: this model was sealed with a different key (or its header was altered)"
        )
    return AESGCM(aes_key)


class DecryptedChunks:
    """The compressed model, one authenticated chunk at a time, in one reused buffer.

    A chunk is decrypted only when the decompressor asks for it, so the whole compressed
    model is never in memory twice; no byte of a chunk is handed out before its tag has
    been verified. ``seconds`` adds up the time spent decrypting.
    """

    def __init__(self, data: bytes, header: Header, cipher: AESGCM) -> None:
        if len(data) != header.sealed_length:
            raise ArtifactError("the artifact changed length since its header was read")
        self._data = memoryview(data)
        self._header = header
        self._cipher = cipher
        self._aad_header = bytes(data[: header.size])
        self.seconds = 0.0

    def __iter__(self) -> Iterator[memoryview]:
        header = self._header
        buffer = memoryview(bytearray(min(header.chunk_size, header.compressed_length)))
        for index, start, end, offset in _chunk_spans(header):
            began = time.perf_counter()
            try:
                self._cipher.decrypt_into(
                    _nonce(header, index),
                    self._data[offset : offset + end - start + TAG_BYTES],
                    _chunk_aad(self._aad_header, index, header.chunk_count),
                    buffer[: end - start],
                )
            except InvalidTag:
                raise ArtifactError(
                    f"chunk {index + 1} of {header.chunk_count} failed authentication: "
                    "the artifact was altered or damaged"
                ) from None
            self.seconds += time.perf_counter() - began
            # The consumer is done with this chunk before it asks for the next one.
            yield buffer[: end - start]


def decompress_payload(chunks: Iterable[memoryview], header: Header) -> bytes:
    """Decompress at most the declared length, then check length and sha256."""
    limit = header.plaintext_length
    try:
        if header.compression is Compression.ZSTD:
            model = _zstd_bounded(chunks, limit)
        else:
            model = _zlib_bounded(chunks, limit)
    except (zstandard.ZstdError, zlib.error):
        raise ArtifactError("the compressed model inside the artifact is corrupt") from None
    if len(model) < limit:
        raise ArtifactError(
            f"the model decompresses to {len(model)} bytes, its header declares {limit}"
        )
    if hashlib.sha256(model).hexdigest() != header.plaintext_sha256:
        raise ArtifactError("the decrypted model does not match the sha256 in its header")
    return model


def _zstd_bounded(chunks: Iterable[memoryview], limit: int) -> bytes:
    """At most ``limit`` bytes: a stream reader allocates no more than it is asked for.

    (``ZstdDecompressor.decompress(max_output_size=...)`` trusts a frame's declared content
    size, and ``decompressobj()`` returns everything one input produces.)
    """
    decompressor = zstandard.ZstdDecompressor(max_window_size=MAX_ZSTD_WINDOW)
    source = io.BufferedReader(_ChunkStream(chunks))
    reader = decompressor.stream_reader(source, read_across_frames=True)
    pieces: list[bytes] = []
    produced = 0
    # One more byte than declared is asked for, to notice output past the declared end.
    while piece := reader.read(limit + 1 - produced):
        pieces.append(piece)
        produced += len(piece)
        _refuse_past(limit, produced)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


class _ChunkStream(io.RawIOBase):
    """A readable file over chunks, for zstandard's stream reader."""

    def __init__(self, chunks: Iterable[memoryview]) -> None:
        self._chunks = iter(chunks)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        target = memoryview(buffer).cast("B")
        count = min(len(target), len(self._pending))
        target[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


def _zlib_bounded(chunks: Iterable[memoryview], limit: int) -> bytes:
    """At most ``limit`` bytes, produced in small steps (zlib builds each output twice)."""
    decompressor = zlib.decompressobj()
    pieces: list[bytes] = []
    produced = 0
    steps = (
        chunk[start : start + _ZLIB_STEP]
        for chunk in chunks
        for start in range(0, len(chunk), _ZLIB_STEP)
    )
    # A last empty input drains output zlib still holds once all input is consumed.
    for step in itertools.chain(steps, [memoryview(b"")]):
        if decompressor.eof and step:
            raise ArtifactError("the compressed model inside the artifact has trailing data")
        data: bytes | memoryview = step
        while not decompressor.eof:
            piece = decompressor.decompress(data, min(_ZLIB_STEP, limit + 1 - produced))
            pieces.append(piece)
            produced += len(piece)
            _refuse_past(limit, produced)
            data = decompressor.unconsumed_tail
            if not piece and not data:
                break
    if not decompressor.eof:
        raise ArtifactError("the compressed model inside the artifact ends early")
    if decompressor.unused_data:
        raise ArtifactError("the compressed model inside the artifact has trailing data")
    return b"".join(pieces)


def _refuse_past(limit: int, produced: int) -> None:
    if produced > limit:
        raise ArtifactError(
            f"the model decompresses to more than the {limit} bytes its header declares"
        )


def _parse_header(data: bytes, *, total_length: int | None) -> Header:
    """The header at the start of ``data``; checked against the artifact's length if given."""
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise ArtifactError(
            "not a sealed model: the file does not start with the sealed-model signature "
            "(a plain .onnx must be sealed with `detector pack` first)"
        )
    if len(data) < PROLOGUE_SIZE:
        raise ArtifactError(f"the artifact is truncated: {len(data)} bytes, not even a header")
    (
        _magic,
        version,
        cipher,
        compression,
        key_wrap,
        flags,
        chunk_size,
        salt,
        nonce_prefix,
        commitment,
        plaintext_length,
        plaintext_sha256,
        compressed_length,
        wrapped_length,
        metadata_length,
    ) = _PROLOGUE.unpack_from(data)
    if version != FORMAT_VERSION:
        raise ArtifactError(
            f"the artifact has format version {version}; this build reads version "
            f"{FORMAT_VERSION} (seal it again with this build's `detector pack`, or upgrade)"
        )
    _require(cipher == CIPHER_AES_256_GCM_CHUNKED, f"unknown cipher id {cipher}")
    _require(compression in {c.value for c in Compression}, f"unknown compression {compression}")
    _require(key_wrap in {w.value for w in KeyWrap}, f"unknown key wrapping {key_wrap}")
    _require(flags == 0, f"unknown header flags {flags:#04x}")
    _require(
        MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE, f"chunk size {chunk_size} out of range"
    )
    _require(
        0 < plaintext_length <= MAX_PLAINTEXT_LENGTH,
        f"declared model length {plaintext_length} is out of range",
    )
    _require(
        0 < compressed_length <= MAX_PLAINTEXT_LENGTH,
        f"declared compressed length {compressed_length} is out of range",
    )
    _require(wrapped_length <= MAX_WRAPPED_KEY_LENGTH, "the wrapped key is too long")
    _require(metadata_length <= MAX_METADATA_LENGTH, "the header metadata is too long")
    size = PROLOGUE_SIZE + wrapped_length + metadata_length
    if len(data) < size:
        raise ArtifactError(f"the artifact is truncated inside its header ({len(data)} bytes)")
    wrapped_key = bytes(data[PROLOGUE_SIZE : PROLOGUE_SIZE + wrapped_length])
    kms_key_id, metadata = _parse_metadata(bytes(data[PROLOGUE_SIZE + wrapped_length : size]))
    wrap = KeyWrap(key_wrap)
    if wrap is KeyWrap.KMS:
        _require(bool(wrapped_key) and kms_key_id is not None, "KMS wrapping without a wrapped key")
    else:
        _require(not wrapped_key and kms_key_id is None, "a user-key artifact carries a KMS key")
    header = Header(
        version=version,
        compression=Compression(compression),
        key_wrap=wrap,
        chunk_size=chunk_size,
        salt=salt,
        nonce_prefix=nonce_prefix,
        key_commitment=commitment,
        plaintext_length=plaintext_length,
        plaintext_sha256=plaintext_sha256.hex(),
        compressed_length=compressed_length,
        wrapped_key=wrapped_key,
        kms_key_id=kms_key_id,
        metadata=metadata,
        size=size,
    )
    if total_length is not None and total_length != header.sealed_length:
        raise ArtifactError(
            f"the artifact is {total_length} bytes but its header declares "
            f"{header.sealed_length}: the file is "
            + ("truncated" if total_length < header.sealed_length else "followed by extra data")
            + " (or its header was altered)"
        )
    return header


def _parse_metadata(encoded: bytes) -> tuple[str | None, ModelMetadata]:
    try:
        document = json.loads(encoded.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        # RecursionError: nesting too deep for the parser (the header is not authenticated yet).
        raise ArtifactError("the header metadata is not valid JSON") from None
    _require(
        isinstance(document, dict) and set(document) == {"model", "kms_key_id"},
        "the header metadata is malformed",
    )
    kms_key_id = document["kms_key_id"]
    _require(kms_key_id is None or isinstance(kms_key_id, str), "the KMS key id is malformed")
    return kms_key_id, ModelMetadata.from_json(document["model"])


# --- shared by writer and reader ---------------------------------------------------------
def _derive(data_key: bytes, salt: bytes) -> tuple[bytes, bytes]:
    """(AES key, key commitment): fresh for every artifact, since the salt is."""
    okm = HKDF(algorithm=hashes.SHA256(), length=2 * KEY_BYTES, salt=salt, info=_HKDF_INFO)
    derived = okm.derive(data_key)
    return derived[:KEY_BYTES], derived[KEY_BYTES:]


def _chunk_spans(header: Header) -> Iterator[tuple[int, int, int, int]]:
    """(index, start, end in the compressed model, offset of the sealed chunk)."""
    for index in range(header.chunk_count):
        start = index * header.chunk_size
        end = min(start + header.chunk_size, header.compressed_length)
        yield index, start, end, header.size + start + index * TAG_BYTES


def _nonce(header: Header, index: int) -> bytes:
    return header.nonce_prefix + index.to_bytes(4, "big")


def _chunk_aad(header_bytes: bytes, index: int, count: int) -> bytes:
    return header_bytes + (b"\x01" if index == count - 1 else b"\x00")


def _lap(timings_ms: MutableMapping[str, float], step: str, started: float) -> float:
    now = time.perf_counter()
    timings_ms[step] = round((now - started) * 1000, 3)
    return now


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ArtifactError(f"invalid sealed model: {message}")


def _require_metadata(condition: bool, message: str) -> None:
    if not condition:
        raise ArtifactError(f"invalid model metadata: {message}")
