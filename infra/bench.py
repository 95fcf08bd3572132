"""Benchmarks that print figures: run ``python infra/bench.py`` from the repository root.

Each section is one function returning rows (``Row``); ``main`` runs the sections asked
for, prints one table and writes every row to a JSON file. Ratios are always measured side
by side in one run, interleaved image by image, because the machine is shared and noisy:
two figures taken minutes apart say little about each other.

Sections:
- ``engine``: median end-to-end time per image (bytes in → detections out) against the
  median bare ``session.run`` on the same images, on the COCO sample images and on a
  12-megapixel JPEG made by upscaling a sample (in a temporary folder, never kept).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "function"))

from PIL import Image  # noqa: E402

from detector import imageio, preprocess  # noqa: E402
from detector.engine import Detector  # noqa: E402
from detector.local import samples  # noqa: E402

TWELVE_MP = (4000, 3000)


@dataclass(frozen=True)
class Row:
    section: str
    case: str
    measured: str  # what the figure is
    value: float
    unit: str
    goal: str = ""  # e.g. "<= 1.15"; empty when the row is informational


def median_ms(samples_s: Sequence[float]) -> float:
    return statistics.median(samples_s) * 1000


def interleaved(
    cases: Sequence[object],
    first: Callable[[object], None],
    second: Callable[[object], None],
    rounds: int,
) -> tuple[list[float], list[float]]:
    """Time ``first(case)`` and ``second(case)`` alternately on every case, ``rounds`` times."""
    times_first: list[float] = []
    times_second: list[float] = []
    for _ in range(rounds):
        for case in cases:
            for run, times in ((first, times_first), (second, times_second)):
                start = time.perf_counter()
                run(case)
                times.append(time.perf_counter() - start)
    return times_first, times_second


def _engine_pair(
    detector: Detector, images: Sequence[bytes], rounds: int, case: str, goal: str
) -> list[Row]:
    """End-to-end ``detect`` against bare ``session.run`` on the same images.

    Also reports the engine's own per-stage medians, which say where the overhead goes.
    """
    tensors = {}
    for data in images:
        decoded = imageio.decode(data, max_pixels=10**9)
        tensors[id(data)] = preprocess.letterbox(
            decoded, detector.info.input_size, detector.family.recipe
        )[0]
    feed_name = detector.info.input_name
    stages: dict[str, list[float]] = {}

    def end_to_end(data: object) -> None:
        result = detector.detect(data)  # type: ignore[arg-type]
        for stage, ms in result.timing_ms.items():
            stages.setdefault(stage, []).append(ms)

    def session_run(data: object) -> None:
        detector.session.run(None, {feed_name: tensors[id(data)]})

    for data in images[:3]:  # warm-up: first runs allocate
        end_to_end(data)
        session_run(data)
    stages.clear()
    e2e, run = interleaved(images, end_to_end, session_run, rounds)
    e2e_ms, run_ms = median_ms(e2e), median_ms(run)
    return [
        Row("engine", case, "end-to-end median", e2e_ms, "ms"),
        Row("engine", case, "session.run median", run_ms, "ms"),
        Row("engine", case, "overhead (difference of medians)", e2e_ms - run_ms, "ms"),
        *(
            Row("engine", case, f"  stage median: {stage}", statistics.median(times), "ms")
            for stage, times in stages.items()
            if stage != "total"
        ),
        Row("engine", case, "ratio end-to-end / session.run", e2e_ms / run_ms, "x", goal),
    ]


def twelve_megapixel_jpeg(source: Path, folder: Path) -> Path:
    """A sample photo upscaled to 4000x3000 and saved as a JPEG in ``folder``."""
    path = folder / "twelve-megapixel.jpg"
    with Image.open(source) as image:
        big = image.convert("RGB").resize(TWELVE_MP, Image.Resampling.BICUBIC)
    out = io.BytesIO()
    big.save(out, format="JPEG", quality=90)
    path.write_bytes(out.getvalue())
    return path


def engine_section(rounds: int = 5, threads: int | None = None) -> list[Row]:
    """The engine's overhead over ``session.run`` on COCO images and on a 12 MP JPEG."""
    detector = Detector.from_bytes(samples.sample_model_path().read_bytes(), threads=threads)
    coco = [p.read_bytes() for p in sorted((samples.coco_dir() / "images").glob("*.jpg"))]
    rows = _engine_pair(detector, coco, rounds, f"coco-val64 ({len(coco)} JPEGs)", "<= 1.15")
    with tempfile.TemporaryDirectory() as folder:
        big = twelve_megapixel_jpeg(samples.sample_image_path(), Path(folder)).read_bytes()
        rows += _engine_pair(detector, [big], rounds * 4, "12 MP JPEG (4000x3000)", "<= 2.5")
    return rows


SECTIONS: dict[str, Callable[[argparse.Namespace], list[Row]]] = {
    "engine": lambda args: engine_section(rounds=args.rounds, threads=args.threads),
}


def print_table(rows: Sequence[Row]) -> None:
    header = ("section", "case", "measured", "value", "goal")
    table = [header] + [
        (r.section, r.case, r.measured, f"{r.value:.2f} {r.unit}", r.goal) for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", metavar="SECTION", help=f"any of {list(SECTIONS)}")
    parser.add_argument("--rounds", type=int, default=5, help="passes over the images")
    parser.add_argument("--threads", type=int, help="onnxruntime threads (default: the CPUs)")
    parser.add_argument("--json", type=Path, default=REPO / "build" / "bench.json")
    args = parser.parse_args(argv)
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; known: {list(SECTIONS)}")
    rows = [row for name in args.sections or SECTIONS for row in SECTIONS[name](args)]
    print_table(rows)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps([asdict(row) for row in rows], indent=2))
    print(f"\nwritten: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
