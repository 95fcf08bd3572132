"""``detector detect``: image files and folders through one model, one JSON line per image."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from detector.commands.options import Subcommands, add_model_options, load_model, positive_int
from detector.commands.outcome import EXIT_OK, EXIT_SOME_FAILED
from detector.errors import BadRequestError, DetectorError
from detector.media import IMAGE_SUFFIXES
from detector.settings import Settings

if TYPE_CHECKING:
    from detector.pipeline.engine import DetectOptions, Detector

# The formats the pipeline decodes; other files in a folder are passed over.
ANNOTATED_SUFFIX = ".jpg"  # appended, as the S3 flow names annotated/<key>.jpg


class FileReadError(DetectorError):
    """A file named on the command line could not be read."""

    code = "unreadable_file"


@dataclass(frozen=True)
class ImageFile:
    """One image to detect in, and its name under ``--annotate-dir``."""

    path: Path
    name: Path  # the path below the folder it was found in, or the file's own name


def register(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "detect",
        help="detect objects in image files and folders with a model",
        description="Print one JSON object per image, one per line; folders are searched "
        f"recursively for {', '.join(IMAGE_SUFFIXES)} files. Progress goes to stderr when it "
        "is a terminal. Exit code 0: every image done; 1: some image failed (its line says "
        "why); 2: the model or an option could not be used.",
    )
    parser.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="an image file or a folder of images"
    )
    add_model_options(parser, required=True)
    parser.add_argument("--names", type=Path, help="class names, one per line (plain models)")
    parser.add_argument("--family", help="force the model family instead of detecting it")
    parser.add_argument(
        "--conf", type=float, default=Settings.conf, help="score threshold (%(default)s)"
    )
    parser.add_argument(
        "--iou", type=float, default=Settings.iou, help="NMS IoU threshold (%(default)s)"
    )
    parser.add_argument(
        "--max-det",
        type=positive_int,
        default=Settings.max_det,
        help="detections kept per image (%(default)s)",
    )
    parser.add_argument("--agnostic", action="store_true", help="NMS across classes")
    parser.add_argument(
        "--multi-label",
        action="store_true",
        help="keep every class over --conf for a box, not only its best (as in validation)",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        help="onnxruntime threads (default: the CPUs this process may use)",
    )
    parser.add_argument(
        "--annotate-dir",
        type=Path,
        metavar="DIR",
        help="also write each image with its boxes drawn, as DIR/<name>.jpg",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from detector.pipeline.engine import DetectOptions  # noqa: PLC0415 - keep --help fast

    options = DetectOptions(
        conf=args.conf,
        iou=args.iou,
        max_det=args.max_det,
        agnostic=args.agnostic,
        multi_label=args.multi_label,
    )
    images = find_images(args.paths)
    if args.annotate_dir:
        check_annotated_names(images, args.annotate_dir)
    model = load_model(args, family=args.family, names=args.names, threads=args.threads)
    progress = Progress(sys.stderr) if sys.stderr.isatty() else None
    succeeded = detect_files(
        model.detector,
        images,
        out=sys.stdout,
        options=options,
        annotate_dir=args.annotate_dir,
        progress=progress,
    )
    return EXIT_OK if succeeded else EXIT_SOME_FAILED


def find_images(paths: Sequence[Path]) -> list[ImageFile]:
    """The files named, and the image files under the folders named, in a stable order.

    A path that does not exist stays in the list, so that its line reports it.
    """
    images: list[ImageFile] = []
    for path in paths:
        if not path.is_dir():
            images.append(ImageFile(path, Path(path.name)))
            continue
        found = sorted(
            candidate
            for candidate in path.rglob("*")
            if candidate.suffix.lower() in IMAGE_SUFFIXES
            and candidate.is_file()
            and not any(part.startswith(".") for part in candidate.relative_to(path).parts)
        )
        images.extend(ImageFile(image, image.relative_to(path)) for image in found)
    if not images:
        folders = ", ".join(str(path) for path in paths)
        raise BadRequestError(f"no {', '.join(IMAGE_SUFFIXES)} files in {folders}")
    return images


def check_annotated_names(images: Iterable[ImageFile], annotate_dir: Path) -> None:
    """Refuse, before any work, two images that would be drawn into the same file."""
    seen: dict[Path, Path] = {}
    for image in images:
        other = seen.setdefault(image.name, image.path)
        if other != image.path:
            raise BadRequestError(
                f"{other} and {image.path} would both be drawn as "
                f"{annotated_path(annotate_dir, image)}: name their folders instead"
            )


def annotated_path(annotate_dir: Path, image: ImageFile) -> Path:
    return annotate_dir / image.name.with_name(image.name.name + ANNOTATED_SUFFIX)


def detect_files(
    detector: Detector,
    images: Sequence[ImageFile],
    *,
    out: TextIO,
    options: DetectOptions,
    annotate_dir: Path | None = None,
    progress: Progress | None = None,
) -> bool:
    """Print one JSON line per image (its detections, or its error); True when all succeeded."""
    from detector.pipeline import annotate  # noqa: PLC0415 - keep --help fast

    settings = Settings.from_env()
    names = detector.info.class_names
    failed = 0
    for number, image in enumerate(images, start=1):
        if progress:
            progress.show(number, len(images), image.path, failed)
        line: dict[str, object] = {"image": str(image.path)}
        try:
            data = read_file(image.path)
            result = detector.detect(data, options)
            line.update(result.to_json(names))
            if annotate_dir is not None:
                target = annotated_path(annotate_dir, image)
                drawn = annotate.draw(
                    data,
                    result,
                    names,
                    max_side=settings.annotated_max_side,
                    limits=settings.image_limits,
                )
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(drawn)  # an OSError stops the run: every image would fail
                line["annotated"] = str(target)
        except DetectorError as exc:
            failed += 1
            line = {"image": str(image.path), "error": {"code": exc.code, "message": exc.message}}
        print(json.dumps(line), file=out, flush=True)
    if progress:
        progress.done(len(images), failed)
    return failed == 0


class Progress:
    """A counter on one terminal line, rewritten in place: ``[12/340] photos/cat.jpg``."""

    def __init__(self, terminal: TextIO) -> None:
        self._terminal = terminal
        self._started = time.monotonic()

    def show(self, number: int, total: int, path: Path, failed: int) -> None:
        failures = f", {failed} failed" if failed else ""
        self._write(f"[{number}/{total}{failures}] {path}")

    def done(self, total: int, failed: int) -> None:
        seconds = time.monotonic() - self._started
        self._write(f"{total} images, {failed} failed, {seconds:.1f} s\n")

    def _write(self, text: str) -> None:
        # \r and "erase to the end of the line": the next count replaces this one.
        self._terminal.write(f"\r\x1b[K{text}")
        self._terminal.flush()


def read_file(path: Path) -> bytes:
    """The file's bytes, or a FileReadError that names it."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FileReadError(f"cannot read {path}: {exc.strerror or exc}") from None
