"""The model of this container: fetched, verified, opened and kept, once.

``ModelHolder.get()`` loads on first use: fetch the sealed bytes (S3, the sealed-bytes
cache in ``Settings.model_cache_dir``, or a local file) → read and check the header →
unwrap the data key → decrypt → decompress and verify → onnxruntime session from bytes.
The plaintext model lives only in memory. A failure raises ``ModelUnavailableError`` and
leaves nothing behind: the next ``get()`` tries again from the start.

``MODEL_URI`` is ``s3://bucket/key`` (optionally ``?versionId=``), or for local work the
path of a sealed file or of a plain ``.onnx``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from aws_lambda_powertools import Logger

from detector import aws
from detector.aws import AwsClients, S3Location
from detector.cpus import cpu_count
from detector.errors import (
    ArtifactError,
    ConfigurationError,
    DetectorError,
    ModelUnavailableError,
    StorageError,
    StorageNotFoundError,
)
from detector.model import artifact
from detector.model.keys import KeyResolver, UserKeySource
from detector.pipeline.engine import Detector
from detector.pipeline.families import parse_names
from detector.settings import MODEL_URI, Settings

logger = Logger(child=True)  # the handler's Powertools Logger formats and filters it
T = TypeVar("T")
# Opens a trace subsegment by name, e.g. a Powertools tracer's ``provider.in_subsegment``.
Span = Callable[[str], AbstractContextManager[object]]


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to serve, with where it came from and what loading it cost."""

    detector: Detector
    model_id: str
    sha256: str  # of the plaintext ONNX model
    timings_ms: dict[str, float]  # fetch, read_header, unwrap_key, decrypt, decompress, ...
    source: str  # MODEL_URI
    etag: str | None  # of the S3 object; None for a local file
    version_id: str | None  # of the S3 object, in a versioned bucket
    sealed: bool
    fetched_from: str  # "s3", "cache" or "file"


@dataclass(frozen=True)
class Fetched:
    """Sealed (or, locally, plain) model bytes and where they came from."""

    data: bytes = field(repr=False)
    fetched_from: str
    etag: str | None = None
    version_id: str | None = None


class ModelHolder:
    """One per container (module level in the handlers); ``get()`` is thread-safe."""

    def __init__(
        self,
        settings: Settings,
        *,
        clients: AwsClients | None = None,
        span: Span | None = None,
    ) -> None:
        """``span``: opens a trace subsegment by name (the handlers pass their tracer's)."""
        self._settings = settings
        self._clients = clients or AwsClients()
        self._span = span
        self._keys: KeyResolver | None = None
        self._lock = threading.Lock()
        self._model: LoadedModel | None = None
        self._attempts = 0
        self._last_error: ModelUnavailableError | None = None

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def get(self, span: Span | None = None) -> LoadedModel:
        """The model, loaded on the first call; raises ModelUnavailableError.

        Threads that wait while another one loads share its outcome, success or failure;
        the next call after a failure starts a new attempt. ``span`` (default: the one given
        to the constructor) opens the trace subsegments of a load this call makes.
        """
        model = self._model
        if model is not None:
            return model
        attempts_seen = self._attempts
        with self._lock:
            if self._model is not None:
                return self._model
            if self._attempts != attempts_seen and self._last_error is not None:
                raise ModelUnavailableError(self._last_error.message)
            self._attempts += 1
            try:
                self._model = self._load(span or self._span)
            except ModelUnavailableError as exc:
                self._last_error = exc
                raise
            return self._model

    def recheck(self) -> bool:
        """Whether the model held is still the object at ``MODEL_URI`` (for a process
        restored from a snapshot taken long ago); if not, it is dropped and the next
        ``get()`` loads the new one. One HEAD request, none for a pinned ``versionId``;
        when S3 cannot say, the model held is kept (and the failure logged).
        """
        loaded = self._model
        if loaded is None or not loaded.source.startswith("s3://"):
            return True
        location = S3Location.parse(loaded.source)
        if location.version_id:
            return True  # a version never changes
        try:
            current = aws.head_object(self._clients.s3, location).etag
        except DetectorError as exc:
            logger.warning("could not recheck the model object: %s", exc.message)
            return True
        if current == loaded.etag:
            return True
        logger.warning(
            "the model object has changed since it was loaded; the next request loads it",
            extra={"model_source": loaded.source, "etag": loaded.etag, "current_etag": current},
        )
        with self._lock:
            if self._model is loaded:
                self._model = None
        return False

    def forget_keys(self) -> None:
        """Drop the key resolver, its cached key (user-managed key modes) and the clients it
        holds: the next load reads the key anew, through the clients of that time."""
        self._keys = None

    def _load(self, span: Span | None) -> LoadedModel:
        try:
            if self._keys is None:
                self._keys = KeyResolver(self._clients, UserKeySource.from_settings(self._settings))
            return load_model(self._settings, self._clients, self._keys, Steps(span))
        except DetectorError as exc:
            if self._keys is not None:
                self._keys.clear_cache()  # a corrected secret is read at the next attempt
            logger.error("model load failed: %s", exc.message, extra={"error": exc.code})
            raise ModelUnavailableError(f"the model could not be loaded: {exc.message}") from exc
        except MemoryError:
            logger.error("model load failed: out of memory")
            raise ModelUnavailableError(
                "the model could not be loaded: out of memory (give the function more)"
            ) from None
        except Exception as exc:
            # Not one of ours: the stack trace goes to the log, never to the caller.
            logger.exception("model load failed unexpectedly")
            raise ModelUnavailableError(
                "the model could not be loaded: internal error (see the function's log)"
            ) from exc


def load_model(
    settings: Settings, clients: AwsClients, keys: KeyResolver, steps: Steps | None = None
) -> LoadedModel:
    """Fetch, open and start the model named by ``settings.model_uri``; logs the timings."""
    uri = settings.model_uri
    if not uri:
        raise ConfigurationError(f"{MODEL_URI} is not set: nothing to load")
    steps = steps or Steps()
    timings = steps.timings
    started = time.perf_counter()
    header: artifact.Header | None
    if uri.startswith("s3://"):
        fetched, model, header = _open_from_s3(
            S3Location.parse(uri), settings, clients, keys, steps
        )
    else:
        fetched, model, header = _open_local(Path(uri), keys, steps)
    # Only where the bytes came from is kept: the sealed bytes go before the session comes.
    fetched = replace(fetched, data=b"")
    detector = steps.run("session", lambda: _detector(model, header, settings))
    timings["total"] = round((time.perf_counter() - started) * 1000, 3)
    loaded = LoadedModel(
        detector=detector,
        model_id=header.metadata.model_id if header else Path(uri).stem,
        sha256=header.plaintext_sha256 if header else hashlib.sha256(model).hexdigest(),
        timings_ms=timings,
        source=uri,
        etag=fetched.etag,
        version_id=fetched.version_id,
        sealed=header is not None,
        fetched_from=fetched.fetched_from,
    )
    logger.info(
        "model loaded",
        extra={
            "model_id": loaded.model_id,
            "model_sha256": loaded.sha256,
            "model_source": uri,
            "fetched_from": loaded.fetched_from,
            "timings_ms": timings,
        },
    )
    return loaded


def _open_local(
    path: Path, keys: KeyResolver, steps: Steps
) -> tuple[Fetched, bytes, artifact.Header | None]:
    """A sealed file, or a plain ``.onnx`` (development only: never from S3)."""
    fetched = steps.run("fetch", lambda: read_local(path))
    if path.suffix == ".onnx" and not fetched.data.startswith(artifact.MAGIC):
        return fetched, fetched.data, None
    model, header = _open(fetched, keys, steps)
    return fetched, model, header


def _open_from_s3(
    location: S3Location,
    settings: Settings,
    clients: AwsClients,
    keys: KeyResolver,
    steps: Steps,
) -> tuple[Fetched, bytes, artifact.Header]:
    """Open the sealed model from the cache if it is current and sound, else from S3."""
    cache = SealedCache(settings.model_cache_dir)
    fetched = steps.run("fetch", lambda: fetch_s3(clients.s3, location, cache))
    try:
        model, header = _open(fetched, keys, steps)
    except ArtifactError:
        if fetched.fetched_from != "cache":
            raise
        # Something damaged the cached copy: drop it and take S3's.
        logger.warning("cached sealed model failed verification; fetching it again")
        cache.discard(location)
        fetched = steps.run("fetch", lambda: fetch_s3(clients.s3, location, cache))
        model, header = _open(fetched, keys, steps)
    if fetched.fetched_from == "s3":
        steps.run("cache_write", lambda: cache.store(location, fetched))
    return fetched, model, header


def _open(fetched: Fetched, keys: KeyResolver, steps: Steps) -> tuple[bytes, artifact.Header]:
    # open_sealed times its own steps (read_header, unwrap_key, decrypt, decompress).
    with steps.span("open_sealed"):
        model = artifact.open_sealed(fetched.data, keys, timings_ms=steps.timings)
    return model, artifact.read_header(fetched.data)


def _detector(model: bytes, header: artifact.Header | None, settings: Settings) -> Detector:
    if header is None:
        family, names = settings.model_family, read_names(settings.model_names_file)
    else:
        family = settings.model_family or header.metadata.family
        names = header.metadata.class_names or None
    return Detector.from_bytes(
        model,
        family=family,
        names=names,
        threads=settings.ort_threads or cpu_count(settings.lambda_memory_mb),
        limits=settings.image_limits,
    )


def fetch_s3(s3: aws.S3Client, location: S3Location, cache: SealedCache) -> Fetched:
    """The sealed bytes: from the cache when S3 confirms they are current, else downloaded."""
    cached = cache.load(location)
    if cached is not None and location.version_id:
        return cached  # a version never changes: no need to ask S3
    if cached is not None and cached.etag:
        changed = aws.get_object_if_changed(s3, location, cached.etag)
        if changed is None:
            return cached
        return Fetched(changed.body, "s3", changed.info.etag, changed.info.version_id)
    downloaded = aws.get_object(s3, location)
    return Fetched(downloaded.body, "s3", downloaded.info.etag, downloaded.info.version_id)


def read_local(path: Path) -> Fetched:
    try:
        return Fetched(path.read_bytes(), "file")
    except FileNotFoundError:
        raise StorageNotFoundError(f"no model file at {path}") from None
    except OSError as exc:
        raise StorageError(f"cannot read the model file {path}: {exc.strerror}") from None


def read_names(path: Path | None) -> tuple[str, ...] | None:
    """Class names from a names file (line N is class id N), or None without a file."""
    if path is None:
        return None
    try:
        return parse_names(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read the class names file {path}: {exc}") from None


class SealedCache:
    """Sealed bytes of S3 models, one entry per object, keyed by its ETag or version.

    Only ever sealed bytes (useless without the key); a damaged entry is caught by the
    artifact's own authentication, and then discarded. Failures to write are logged and
    otherwise ignored: the cache only saves a download.
    """

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def load(self, location: S3Location) -> Fetched | None:
        """The cached entry for ``location``, or None (also for an entry that makes no sense)."""
        body, meta = self._paths(location)
        try:
            entry = json.loads(meta.read_text())
            etag, version_id = entry["etag"], entry["version_id"]
            if entry["uri"] != _unversioned(location) or not all(
                value is None or isinstance(value, str) for value in (etag, version_id)
            ):
                return None
            if location.version_id and version_id != location.version_id:
                return None
            return Fetched(body.read_bytes(), "cache", etag, version_id)
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            return None

    def store(self, location: S3Location, fetched: Fetched) -> None:
        body, meta = self._paths(location)
        entry = {
            "uri": _unversioned(location),
            "etag": fetched.etag,
            "version_id": fetched.version_id,
        }
        try:
            self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomically(body, fetched.data)
            write_atomically(meta, json.dumps(entry).encode())
        except OSError as exc:
            logger.warning("could not cache the sealed model: %s", exc.strerror)

    def discard(self, location: S3Location) -> None:
        for path in self._paths(location):
            path.unlink(missing_ok=True)

    def _paths(self, location: S3Location) -> tuple[Path, Path]:
        name = hashlib.sha256(_unversioned(location).encode()).hexdigest()[:32]
        return self._directory / f"{name}.sealed", self._directory / f"{name}.json"


def _unversioned(location: S3Location) -> str:
    return f"s3://{location.bucket}/{location.key}"


def write_atomically(path: Path, data: bytes) -> None:
    """Write a sibling temporary file, then rename it: never a half-written file."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class Steps:
    """Times each cold-start step into ``timings`` (ms), each in a trace subsegment."""

    def __init__(self, span: Span | None = None) -> None:
        self.timings: dict[str, float] = {}
        self._span = span

    def span(self, name: str) -> AbstractContextManager[object]:
        return self._span(f"## {name}") if self._span else nullcontext()

    def run(self, step: str, action: Callable[[], T]) -> T:
        started = time.perf_counter()
        with self.span(step):
            result = action()
        self.timings[step] = round((time.perf_counter() - started) * 1000, 3)
        return result
