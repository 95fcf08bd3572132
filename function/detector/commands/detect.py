"""``detector detect``: image files through one model, one JSON line per image."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from detector.commands.options import Subcommands
from detector.commands.outcome import EXIT_OK, EXIT_SOME_FAILED
from detector.errors import DetectorError

if TYPE_CHECKING:
    from detector.pipeline.engine import DetectOptions


class FileReadError(DetectorError):
    """A file named on the command line could not be read."""

    code = "unreadable_file"


def register(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "detect",
        help="detect objects in image files with an ONNX model",
        description="Print one JSON object per image, one per line. Exit code 1 when any "
        "image failed, 2 when the model could not be used.",
    )
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    parser.add_argument("--model", required=True, type=Path, help="a plain .onnx file")
    parser.add_argument("--names", type=Path, help="class names, one per line")
    parser.add_argument("--family", help="force the model family instead of detecting it")
    parser.add_argument("--conf", type=float, default=0.25, help="score threshold (0.25)")
    parser.add_argument("--iou", type=float, default=0.45, help="NMS IoU threshold (0.45)")
    parser.add_argument("--max-det", type=int, default=300, help="detections kept (300)")
    parser.add_argument("--agnostic", action="store_true", help="NMS across classes")
    parser.add_argument("--threads", type=int, help="onnxruntime threads (the CPUs we may use)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from detector.pipeline.engine import DetectOptions  # noqa: PLC0415 - keep --help fast

    options = DetectOptions(
        conf=args.conf, iou=args.iou, max_det=args.max_det, agnostic=args.agnostic
    )
    succeeded = detect_files(
        args.model,
        args.images,
        out=sys.stdout,
        options=options,
        names_file=args.names,
        family=args.family,
        threads=args.threads,
    )
    return EXIT_OK if succeeded else EXIT_SOME_FAILED


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
    from detector.pipeline.engine import Detector  # noqa: PLC0415 - keep --help fast
    from detector.pipeline.families import parse_names  # noqa: PLC0415

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
