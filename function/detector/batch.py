"""What ``detector detect`` does: image files through one model, one JSON line per image."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from detector.errors import DetectorError
from detector.pipeline.engine import DetectOptions, Detector
from detector.pipeline.families import parse_names


class FileReadError(DetectorError):
    """A file named on the command line could not be read."""

    code = "unreadable_file"


def detect_files(
    model: Path,
    images: list[Path],
    *,
    out: TextIO,
    options: DetectOptions,
    names_file: Path | None = None,
    family: str | None = None,
    threads: int | None = None,
) -> bool:
    """Print one JSON line per image (its detections, or its error); True when all succeeded.

    Raises our typed errors, before printing anything, when the model cannot be used.
    """
    names = parse_names(read_file(names_file).decode("utf-8", "replace")) if names_file else None
    detector = Detector.from_bytes(read_file(model), family=family, names=names, threads=threads)
    succeeded = True
    for path in images:
        line: dict[str, object] = {"image": str(path)}
        try:
            result = detector.detect(read_file(path), options)
        except DetectorError as exc:
            succeeded = False
            line["error"] = {"code": exc.code, "message": exc.message}
        else:
            line.update(result.to_json(detector.info.class_names))
        print(json.dumps(line), file=out, flush=True)
    return succeeded


def read_file(path: Path) -> bytes:
    """The file's bytes, or a FileReadError that names it."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FileReadError(f"cannot read {path}: {exc.strerror or exc}") from None
