"""Settings: the only place where environment variable names appear.

``Settings.from_env()`` reads them once per cold start; an explicit keyword argument wins
over the environment (``Settings.from_env(conf=0.5)``), which is how the CLI and the
tests override single values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from detector.errors import ConfigurationError

# --- the model ---------------------------------------------------------------------------
MODEL_URI = "MODEL_URI"  # s3://bucket/key[?versionId=...] or a local path
MODEL_FAMILY = "MODEL_FAMILY"  # force the family instead of detecting it
MODEL_NAMES_FILE = "MODEL_NAMES_FILE"  # class names for a plain (unsealed) local model
MODEL_KEY_SECRET_ID = "MODEL_KEY_SECRET_ID"  # Secrets Manager secret holding the 256-bit key
MODEL_KEY_PARAMETER = "MODEL_KEY_PARAMETER"  # SSM SecureString holding the key
MODEL_KEY_B64 = "MODEL_KEY_B64"  # the key itself, base64: local development only
MODEL_CACHE_DIR = "MODEL_CACHE_DIR"  # where sealed (never plaintext) bytes are cached
ORT_THREADS = "ORT_THREADS"  # onnxruntime intra-op threads; default: the CPUs we may use
# Set by Lambda itself: the CPU time a function gets is in proportion to its memory.
LAMBDA_MEMORY_MB = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"
# Set by Lambda itself: on-demand, provisioned-concurrency or snap-start.
INITIALIZATION_TYPE = "AWS_LAMBDA_INITIALIZATION_TYPE"
# Set by Lambda itself: where its runtime client (awslambdaric) asks for events.
RUNTIME_API = "AWS_LAMBDA_RUNTIME_API"
# --- detection defaults ------------------------------------------------------------------
CONF_THRESHOLD = "CONF_THRESHOLD"
IOU_THRESHOLD = "IOU_THRESHOLD"
MAX_DET = "MAX_DET"
MAX_IMAGE_BYTES = "MAX_IMAGE_BYTES"
MAX_IMAGE_PIXELS = "MAX_IMAGE_PIXELS"
MAX_JPEG_SCANS = "MAX_JPEG_SCANS"
MAX_IMAGE_CHUNKS = "MAX_IMAGE_CHUNKS"
# --- auth --------------------------------------------------------------------------------
JWT_SECRET_ID = "JWT_SECRET_ID"  # Secrets Manager secret holding the HS256 secret
JWT_SECRET = "JWT_SECRET"  # the HS256 secret itself: local development only
JWT_PUBLIC_KEY = "JWT_PUBLIC_KEY"  # PEM public key for RS256/ES256
JWT_JWKS_URL = "JWT_JWKS_URL"  # JWKS endpoint for RS256/ES256
JWT_ALGORITHMS = "JWT_ALGORITHMS"  # comma-separated allow-list; default from the key type
JWT_ISSUER = "JWT_ISSUER"
JWT_AUDIENCE = "JWT_AUDIENCE"
JWT_REQUIRED_SCOPE = "JWT_REQUIRED_SCOPE"
JWT_LEEWAY_SECONDS = "JWT_LEEWAY_SECONDS"
# --- S3 upload flow ----------------------------------------------------------------------
# Comma-separated buckets whose images the function reads: those the API may be sent by
# reference, and the only ones whose uploads the upload function processes (it needs one).
INPUT_BUCKETS = "INPUT_BUCKETS"
UPLOADS_PREFIX = "UPLOADS_PREFIX"
RESULTS_BUCKET = "RESULTS_BUCKET"  # default: beside the image (see service/uploads.py)
RESULTS_PREFIX = "RESULTS_PREFIX"
ANNOTATED_PREFIX = "ANNOTATED_PREFIX"
ANNOTATE = "ANNOTATE"
ANNOTATED_MAX_SIDE = "ANNOTATED_MAX_SIDE"  # pixels on the longest side; 0: full size
# --- observability (Powertools reads its other POWERTOOLS_* variables itself) ------------
SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
# Powertools' own switch, read here too: with tracing off the X-Ray SDK is never imported.
TRACE_DISABLED = "POWERTOOLS_TRACE_DISABLED"

# --- fixed limits of a /detect request: its grammar, not a deployment choice ------------
# A number (an option in the query string or the JSON body): 17 significant digits and an
# exponent are all a double holds, so this refuses only the hostile 5,000-digit ones.
MAX_NUMBER_CHARS = 32
MAX_CLASS_ITEMS = 4096  # names or ids in one `classes` option: far more than any model has
MAX_DET_LIMIT = 10_000  # detections kept per image (`max_det`), at most
# A JSON body may be the base64 of a MAX_IMAGE_BYTES image plus this much for the rest.
JSON_BODY_MARGIN_BYTES = 64 * 1024
S3_MAX_KEY_BYTES = 1024  # S3's own limit on a key (and a version id), in UTF-8 bytes

# A flag, in the environment and in request options alike (any case).
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class ImageLimits:
    """What decoding one image may cost; an image over any of them is refused (413) before
    its pixels are decoded. ``benchmarks/bench.py hostile`` measures the worst images that
    pass them.

    pixels: decoded size, read from the header (decompression bombs). At 50 MP (150 MB as
        8-bit RGB) decoding raises the peak RSS by up to 2.7 times that for JPEG and PNG,
        5.4 for WebP; the slowest image under these limits took 4-6 s.
    jpeg_scans: scans in a JPEG, counted from its markers. Each is another pass of the
        entropy decoder over the image: encoders write 1 (baseline), 10 (libjpeg's
        progressive) or about 12 (mozjpeg); repeated scans of a few bytes each decoded
        for minutes.
    chunks: PNG chunks, JPEG marker segments or WebP chunks. Pillow reads those in Python,
        about 8 us each; a 20 MB PNG written in libpng's 8 KB pieces has 2,560.
    """

    pixels: int = 50_000_000
    jpeg_scans: int = 32
    chunks: int = 16_384


@dataclass(frozen=True)
class Settings:
    """Everything the function reads from its environment, parsed and typed."""

    model_uri: str | None = None
    model_family: str | None = None
    model_names_file: Path | None = None
    model_key_secret_id: str | None = None
    model_key_parameter: str | None = None
    # repr=False: the key must never reach a log line through a settings dump.
    model_key_b64: str | None = field(default=None, repr=False)
    model_cache_dir: Path = Path("/tmp/detector-cache")  # noqa: S108 - Lambda's only writable dir
    ort_threads: int | None = None
    lambda_memory_mb: int | None = None
    initialization_type: str | None = None

    conf: float = 0.25
    iou: float = 0.45
    max_det: int = 300
    max_image_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = ImageLimits.pixels
    max_jpeg_scans: int = ImageLimits.jpeg_scans
    max_image_chunks: int = ImageLimits.chunks

    jwt_secret_id: str | None = None
    jwt_secret: str | None = field(default=None, repr=False)
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    jwt_algorithms: tuple[str, ...] = ()
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_required_scope: str | None = None
    jwt_leeway_seconds: int = 30

    input_buckets: frozenset[str] = frozenset()
    uploads_prefix: str = "uploads/"
    results_bucket: str | None = None
    results_prefix: str = "detections/"
    annotated_prefix: str = "annotated/"
    annotate: bool = False
    annotated_max_side: int = 2048

    service_name: str = "detector"
    metrics_namespace: str = "ServerlessDetector"
    tracing: bool = True

    @property
    def snap_start(self) -> bool:
        """Initialised for a SnapStart snapshot: the runtime hooks load the model."""
        return self.initialization_type == "snap-start"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read the environment (``os.environ`` by default); ``overrides`` win over it."""
        env = os.environ if environ is None else environ
        settings = cls(
            model_uri=_text(env, MODEL_URI),
            model_family=_text(env, MODEL_FAMILY),
            model_names_file=_path(env, MODEL_NAMES_FILE),
            model_key_secret_id=_text(env, MODEL_KEY_SECRET_ID),
            model_key_parameter=_text(env, MODEL_KEY_PARAMETER),
            model_key_b64=_text(env, MODEL_KEY_B64),
            model_cache_dir=_path(env, MODEL_CACHE_DIR) or cls.model_cache_dir,
            ort_threads=_optional_int(env, ORT_THREADS, minimum=1),
            lambda_memory_mb=_optional_int(env, LAMBDA_MEMORY_MB, minimum=1),
            initialization_type=_text(env, INITIALIZATION_TYPE),
            conf=_float(env, CONF_THRESHOLD, cls.conf),
            iou=_float(env, IOU_THRESHOLD, cls.iou),
            max_det=_int(env, MAX_DET, cls.max_det, minimum=1),
            max_image_bytes=_int(env, MAX_IMAGE_BYTES, cls.max_image_bytes, minimum=1),
            max_image_pixels=_int(env, MAX_IMAGE_PIXELS, cls.max_image_pixels, minimum=1),
            max_jpeg_scans=_int(env, MAX_JPEG_SCANS, cls.max_jpeg_scans, minimum=1),
            max_image_chunks=_int(env, MAX_IMAGE_CHUNKS, cls.max_image_chunks, minimum=1),
            jwt_secret_id=_text(env, JWT_SECRET_ID),
            jwt_secret=_text(env, JWT_SECRET),
            jwt_public_key=_text(env, JWT_PUBLIC_KEY),
            jwt_jwks_url=_text(env, JWT_JWKS_URL),
            jwt_algorithms=_list(env, JWT_ALGORITHMS),
            jwt_issuer=_text(env, JWT_ISSUER),
            jwt_audience=_text(env, JWT_AUDIENCE),
            jwt_required_scope=_text(env, JWT_REQUIRED_SCOPE),
            jwt_leeway_seconds=_int(env, JWT_LEEWAY_SECONDS, cls.jwt_leeway_seconds, minimum=0),
            input_buckets=frozenset(_list(env, INPUT_BUCKETS)),
            uploads_prefix=env.get(UPLOADS_PREFIX, cls.uploads_prefix),
            results_bucket=_text(env, RESULTS_BUCKET),
            results_prefix=env.get(RESULTS_PREFIX, cls.results_prefix),
            annotated_prefix=env.get(ANNOTATED_PREFIX, cls.annotated_prefix),
            annotate=_bool(env, ANNOTATE, cls.annotate),
            annotated_max_side=_int(env, ANNOTATED_MAX_SIDE, cls.annotated_max_side, minimum=0),
            service_name=_text(env, SERVICE_NAME) or cls.service_name,
            metrics_namespace=_text(env, METRICS_NAMESPACE) or cls.metrics_namespace,
            tracing=not _bool(env, TRACE_DISABLED, not cls.tracing),
        )
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        return replace(settings, **overrides)

    @property
    def image_limits(self) -> ImageLimits:
        return ImageLimits(self.max_image_pixels, self.max_jpeg_scans, self.max_image_chunks)


def under_lambda_runtime() -> bool:
    """Whether this process is a Lambda runtime's (or ``awslambdaric`` against a local
    Runtime API): what imports a handler there is a cold start, and events will follow."""
    return bool(os.environ.get(RUNTIME_API))


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _path(env: Mapping[str, str], name: str) -> Path | None:
    value = _text(env, name)
    return Path(value) if value else None


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


def parse_flag(text: str) -> bool | None:
    """True or False for one of the flag words (any case, spaces around trimmed); else None."""
    lowered = text.strip(" \t").lower()
    if lowered in TRUE_WORDS:
        return True
    return False if lowered in FALSE_WORDS else None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = _text(env, name)  # unset or empty: the default, as an empty request option
    if value is None:
        return default
    flag = parse_flag(value)
    if flag is None:
        raise ConfigurationError(f"{name} must be true or false, not {value!r}")
    return flag


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    value = _text(env, name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, not {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise ConfigurationError(f"{name} must be between 0 and 1, not {value}")
    return number


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    number = _optional_int(env, name, minimum=minimum)
    return default if number is None else number


def _optional_int(env: Mapping[str, str], name: str, *, minimum: int) -> int | None:
    value = _text(env, name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, not {number}")
    return number
