"""Cross-check the engine against Ultralytics' own predictions on the same ONNX files.

Both sides run the very same ONNX file (Ultralytics through its ``AutoBackend``), with the
same thresholds, so any difference comes from pre- or post-processing: letterbox size,
rounding and padding split, channel order, value range, NMS, mapping boxes back.

Ultralytics is not a dependency of ours (it pulls in torch): set up a venv of its own,
outside the repository::

    python3.11 -m venv /work/ultra-venv
    /work/ultra-venv/bin/pip install torch==2.14.1 torchvision==0.29.1
    /work/ultra-venv/bin/pip install ultralytics==8.4.190 onnx onnxslim onnxruntime==1.32.0 \
        pillow==13.0.0 numpy==2.4.6 -r function/requirements.txt

Without internet Ultralytics cannot download pretrained weights: train a few minutes from a
yaml on the COCO sample images (``YOLO("yolov8n.yaml").train(data=..., imgsz=320,
epochs=40, device="cpu")``); weak weights are enough, both sides run the same ones. If
they still score below any useful threshold, raise the class-logit biases of the head
(``for conv in model.model.model[-1].cv3: conv[-1].bias += 9``, ``one2one_cv3`` too for
end-to-end heads) and ``model.save(...)``. Then, from the repository root::

    YOLO_OFFLINE=1 PYTHONPATH=function "$ULTRA_VENV"/bin/python \
        benchmarks/crosscheck_ultralytics.py best.pt model.onnx --imgsz 320 --imgsz 320,416 --nms

A ``.onnx`` argument is used as it is; a ``.pt`` one is exported to ONNX once per
``--imgsz`` (static shapes), and once more with ``nms=True`` per size with ``--nms``.

It prints, per model: what ``inspect_model`` read from the export against what
Ultralytics read (family, input size, class names); whether our letterbox placement equals
Ultralytics' ``LetterBox`` for every image size from 1 to 1200 px a side; then a table
with three rows per model, over the COCO sample images, the sample dog photo and variants
of it made in a temporary folder (wide, tall, small, EXIF-rotated, greyscale, RGBA PNG):

- ``file``: ``Detector.detect(file bytes)`` against ``YOLO.predict(path)``, end to end
  (their OpenCV decode and resize against our Pillow decode, DCT-domain draft and resize);
- ``pixels``: ``Detector.detect_image`` against ``YOLO.predict`` on the same decoded pixels
  (handed to Ultralytics as the BGR array it expects), which takes the JPEG decoders out.

Columns: images, boxes on each side, boxes matched (same class, IoU >= 0.5), the median
and max of each matched box's largest corner error in original-image pixels, the mean
signed centre offset in x and y (a systematic shift shows here, noise averages out), the
max score difference, and unmatched boxes on each side with, in brackets, how many of
those score within 0.05 of ``--conf`` (expected flips at the threshold).

A third row, ``exact``, hands both sides the pixels already resized to the letterbox size,
so neither resizes and the model sees the same tensor: only placement, channel order, value
range, NMS and the mapping back remain, and boxes must agree to a fraction of a pixel.
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps
from ultralytics import YOLO  # type: ignore[import-not-found]
from ultralytics.data.augment import LetterBox  # type: ignore[import-not-found]

from detector.local.samples import coco_dir, sample_image_path
from detector.pipeline.engine import DetectOptions, Detector, inspect_model
from detector.pipeline.letterbox import ULTRALYTICS_RECIPE, place

MATCH_IOU = 0.5
NEAR_CONF = 0.05
MAX_SIDE = 1200  # image sizes swept for the placement check


@dataclass(frozen=True)
class Boxes:
    """One side's detections on one image, in original-image pixels."""

    xyxy: NDArray[np.float64]
    scores: NDArray[np.float64]
    classes: NDArray[np.int64]


@dataclass
class Tally:
    """Comparison figures summed over the images of one model and mode."""

    images: int = 0
    ours: int = 0
    theirs: int = 0
    errors: list[float] = field(default_factory=list)  # per matched box, largest corner error
    shifts: list[tuple[float, float]] = field(default_factory=list)  # centre offset x, y
    score_diff: float = 0.0
    only_ours: int = 0
    only_ours_near: int = 0
    only_theirs: int = 0
    only_theirs_near: int = 0

    def row(self, name: str, mode: str) -> str:
        errors, shifts = self.errors, self.shifts
        median = statistics.median(errors) if errors else 0.0
        worst = max(errors, default=0.0)
        dx = statistics.fmean(s[0] for s in shifts) if shifts else 0.0
        dy = statistics.fmean(s[1] for s in shifts) if shifts else 0.0
        return (
            f"{name:<28} {mode:<6} {self.images:>4} {self.ours:>5} {self.theirs:>5} "
            f"{len(errors):>5} {median:>7.3f} {worst:>7.2f} {dx:>+7.3f} {dy:>+7.3f} "
            f"{self.score_diff:>7.4f} {self.only_ours:>3} ({self.only_ours_near:>2}) "
            f"{self.only_theirs:>3} ({self.only_theirs_near:>2})"
        )


HEADER = (
    f"{'model':<28} {'mode':<6} {'imgs':>4} {'ours':>5} {'their':>5} {'match':>5} "
    f"{'med px':>7} {'max px':>7} {'bias x':>7} {'bias y':>7} {'max ds':>7} "
    f"{'only ours':>9} {'only theirs':>11}"
)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    options = DetectOptions(conf=args.conf, iou=args.iou, max_det=args.max_det)
    with tempfile.TemporaryDirectory(prefix="crosscheck-") as folder:
        work = Path(folder)
        models = list(_onnx_files(args.models, args.imgsz, nms=args.nms, work=work))
        images = sorted((coco_dir() / "images").glob("*.jpg"))
        images += [sample_image_path(), *make_variants(sample_image_path(), work)]
        rows = []
        for path in models:
            data = path.read_bytes()
            theirs = YOLO(str(path), task="detect")
            size = check_metadata(path.name, data, theirs)
            check_placement(path.name, size)
            ours = Detector.from_bytes(data)
            for mode in ("file", "pixels", "exact"):
                tally = compare(ours, theirs, images, options, size, mode=mode)
                rows.append(tally.row(path.name, mode))
        print(HEADER)
        print("\n".join(rows))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", type=Path, help=".onnx files, or .pt to export")
    parser.add_argument(
        "--imgsz", action="append", type=_size, help="export size for .pt: 320 or 320,416 (h,w)"
    )
    parser.add_argument("--nms", action="store_true", help="also export .pt with nms=True")
    parser.add_argument("--conf", type=float, default=0.25)
    parser.add_argument("--iou", type=float, default=0.7, help="Ultralytics' default")
    parser.add_argument("--max-det", type=int, default=300)
    return parser


def _size(text: str) -> tuple[int, int]:
    sides = [int(part) for part in text.split(",")]
    return (sides[0], sides[0]) if len(sides) == 1 else (sides[0], sides[1])


def _onnx_files(
    models: Sequence[Path], sizes: Sequence[tuple[int, int]] | None, *, nms: bool, work: Path
) -> Iterator[Path]:
    """The ONNX files to compare: given ones as they are, ``.pt`` ones exported."""
    for model in models:
        if model.suffix == ".onnx":
            yield model
            continue
        for height, width in sizes or [(640, 640)]:
            for with_nms in (False, True) if nms else (False,):
                tag = f"{model.stem}-{height}x{width}{'-nms' if with_nms else ''}"
                copy = work / f"{tag}.pt"  # export writes next to the weights
                shutil.copyfile(model, copy)
                exported = YOLO(str(copy)).export(
                    format="onnx", imgsz=(height, width), nms=with_nms, dynamic=False
                )
                yield Path(exported)


def make_variants(photo: Path, work: Path) -> list[Path]:
    """Awkward versions of ``photo``: other aspect ratios, EXIF rotation, grey, alpha."""
    image = Image.open(photo).convert("RGB")
    width, height = image.size
    made = {
        "wide.jpg": image.crop((0, height // 3, width, height * 2 // 3)),
        "tall.jpg": image.crop((width // 3, 0, width * 2 // 3, height)),
        "small.jpg": image.resize((width // 4, height // 4), Image.Resampling.LANCZOS),
        "grey.jpg": image.convert("L"),
        "alpha.png": image.convert("RGBA"),
    }
    paths = []
    for name, variant in made.items():
        paths.append(work / name)
        variant.save(paths[-1], quality=92)
    # Stored turned a quarter to the left, with EXIF orientation 6 saying "turn it right
    # to view": the upright picture is the original's.
    exif = Image.Exif()
    exif[0x0112] = 6
    paths.append(work / "exif6.jpg")
    image.transpose(Image.Transpose.ROTATE_90).save(paths[-1], quality=92, exif=exif)
    return paths


def check_metadata(name: str, data: bytes, theirs: object) -> tuple[int, int]:
    """Print what we and Ultralytics read from the export; return its (height, width)."""
    info = inspect_model(data)
    their_names = tuple(dict(theirs.names).values())  # type: ignore[attr-defined]
    same = "same" if info.class_names == their_names else "DIFFERENT"
    print(
        f"{name}: family {info.family}, input {info.input_size[1]}x{info.input_size[0]}, "
        f"{len(info.class_names)} class names ({same} as Ultralytics')"
    )
    return info.input_size


def check_placement(name: str, size: tuple[int, int]) -> None:
    """Our letterbox placement against Ultralytics' ``LetterBox`` for every image size."""
    theirs = LetterBox(new_shape=size, auto=False, scale_fill=False, scaleup=True, center=True)
    differ = 0
    for height in range(1, MAX_SIDE + 1):
        for width in range(1, MAX_SIDE + 1, 7):
            params = theirs.get_params({"img": np.empty((height, width, 0), np.uint8)})
            spot = place(width, height, size, ULTRALYTICS_RECIPE)
            mine = ((spot.width, spot.height), spot.left, spot.top)
            differ += mine != (tuple(params["new_unpad"]), params["left"], params["top"])
    print(f"{name}: placement differs from LetterBox for {differ} image sizes")


def compare(
    ours: Detector,
    theirs: object,
    images: Sequence[Path],
    options: DetectOptions,
    size: tuple[int, int],
    *,
    mode: str,
) -> Tally:
    tally = Tally()
    for path in images:
        data = path.read_bytes()
        if mode == "file":
            mine = _ours(ours.detect(data, options).detections)
            source: object = str(path)
        else:
            pixels = _upright(data)
            if mode == "exact":  # already the letterbox size: neither side resizes
                spot = place(pixels.width, pixels.height, size, ULTRALYTICS_RECIPE)
                pixels = pixels.resize((spot.width, spot.height), Image.Resampling.BILINEAR)
            mine = _ours(ours.detect_image(pixels, options).detections)
            source = np.ascontiguousarray(np.asarray(pixels)[..., ::-1])  # BGR, as cv2 gives
        result = theirs.predict(  # type: ignore[attr-defined]
            source,
            conf=options.conf,
            iou=options.iou,
            max_det=options.max_det,
            imgsz=size,
            agnostic_nms=False,
            verbose=False,
        )[0]
        other = Boxes(
            result.boxes.xyxy.numpy().astype(np.float64),
            result.boxes.conf.numpy().astype(np.float64),
            result.boxes.cls.numpy().astype(np.int64),
        )
        tally.images += 1
        _add(tally, mine, other, options.conf)
    return tally


def _upright(data: bytes) -> Image.Image:
    """The picture as a person sees it: decoded by Pillow, turned as EXIF says, RGB."""
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    return image.convert("RGB")


def _ours(detections: object) -> Boxes:
    return Boxes(
        np.asarray(detections.boxes, np.float64),  # type: ignore[attr-defined]
        np.asarray(detections.scores, np.float64),  # type: ignore[attr-defined]
        np.asarray(detections.class_ids, np.int64),  # type: ignore[attr-defined]
    )


def _add(tally: Tally, mine: Boxes, other: Boxes, conf: float) -> None:
    """Match boxes of the same class greedily by IoU and add the figures to ``tally``."""
    tally.ours += len(mine.scores)
    tally.theirs += len(other.scores)
    iou = _iou(mine.xyxy, other.xyxy)
    iou[mine.classes[:, None] != other.classes[None, :]] = 0
    used_mine: set[int] = set()
    used_other: set[int] = set()
    # Weak weights leave same-class boxes that clipping made identical: among equal IoUs,
    # the pair with the closest scores is the same box.
    gap = np.abs(mine.scores[:, None] - other.scores[None, :])
    for flat in np.lexsort((gap.ravel(), -iou.ravel())):
        i, j = divmod(int(flat), iou.shape[1])
        if iou[i, j] < MATCH_IOU:
            break
        if i in used_mine or j in used_other:
            continue
        used_mine.add(i)
        used_other.add(j)
        delta = mine.xyxy[i] - other.xyxy[j]
        tally.errors.append(float(np.abs(delta).max()))
        tally.shifts.append((float(delta[0::2].mean()), float(delta[1::2].mean())))
        tally.score_diff = max(tally.score_diff, abs(float(mine.scores[i] - other.scores[j])))
    tally.only_ours += len(mine.scores) - len(used_mine)
    tally.only_ours_near += _near(mine, used_mine, conf)
    tally.only_theirs += len(other.scores) - len(used_other)
    tally.only_theirs_near += _near(other, used_other, conf)


def _near(boxes: Boxes, used: set[int], conf: float) -> int:
    """How many unmatched boxes score so close to ``conf`` that a flip is expected."""
    left = [k for k in range(len(boxes.scores)) if k not in used]
    return int(np.sum(boxes.scores[left] < conf + NEAR_CONF))


def _iou(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    low = np.maximum(a[:, None, :2], b[None, :, :2])
    high = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(high - low, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).prod(axis=1)
    return np.asarray(inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9))


if __name__ == "__main__":
    sys.exit(main())
