"""The ``detector`` command: thin; each subcommand parses its arguments and calls one module.

Local-only subcommands import ``detector.local`` lazily so the runtime never loads it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from detector.errors import DetectorError

Command = Callable[[argparse.Namespace], int]


class FileReadError(DetectorError):
    """A file named on the command line could not be read."""

    code = "unreadable_file"


EXIT_OK = 0
EXIT_SOME_FAILED = 1  # at least one image could not be processed
EXIT_UNUSABLE = 2  # the model (or another input every image needs) could not be used


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="detector", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_detect(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; the return value is the process exit code."""
    args = build_parser().parse_args(argv)
    command: Command = args.func
    return command(args)


# --- detect --------------------------------------------------------------------------------
def _add_detect(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
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
    parser.set_defaults(func=_detect)


def _detect(args: argparse.Namespace) -> int:
    from detector.engine import DetectOptions, Detector  # noqa: PLC0415 - keep --help fast
    from detector.families import parse_names  # noqa: PLC0415

    try:
        options = DetectOptions(
            conf=args.conf, iou=args.iou, max_det=args.max_det, agnostic=args.agnostic
        )
        names = parse_names(_read(args.names).decode("utf-8", "replace")) if args.names else None
        detector = Detector.from_bytes(
            _read(args.model), family=args.family, names=names, threads=args.threads
        )
    except DetectorError as exc:
        print(f"detector: {exc.message}", file=sys.stderr)
        return EXIT_UNUSABLE
    failed = False
    for path in args.images:
        line: dict[str, object] = {"image": str(path)}
        try:
            result = detector.detect(_read(path), options)
        except DetectorError as exc:
            failed = True
            line["error"] = {"code": exc.code, "message": exc.message}
        else:
            line.update(result.to_json(detector.info.class_names))
        print(json.dumps(line), flush=True)
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FileReadError(f"cannot read {path}: {exc.strerror or exc}") from None


if __name__ == "__main__":
    sys.exit(main())
