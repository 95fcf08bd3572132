"""Letterbox an image into the model's input tensor, exactly as each family was trained.

Two recipes exist in the wild and they differ in small ways that cost accuracy when mixed
up: where the image sits on the canvas, how its new size is rounded, the channel order and
the value range. ``letterbox`` returns the tensor *and* the ``Transform`` that maps input
pixels back to original-image pixels, which postprocessing applies as is.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from detector.pipeline.decode import DecodedImage

PAD_VALUE = 114  # the grey every YOLO family pads with
# Shrinking more than twice first reduces by an integer factor with a fast box filter, then
# resamples (Pillow's own ``thumbnail`` default): a 12-megapixel PNG resizes in a third
# of the time, differing from the one-step result by 0.2 grey levels on average.
REDUCING_GAP = 2.0
# A band narrower than this is not worth a thread: handing it over costs about as much as
# resizing it.
MIN_BAND = 64

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Recipe:
    """How a family's training pipeline turned an image into its input tensor.

    centred: pad evenly on both sides (Ultralytics ``LetterBox``) or only right and bottom
        (YOLOX ``preproc``, which pastes at the top-left).
    round_size: the resized size is ``round(side * r)`` (Ultralytics) or ``int(side * r)``
        (YOLOX).
    bgr: channels in BGR order (YOLOX, which trained on OpenCV arrays) or RGB.
    unit_range: pixel values divided by 255, or left at 0-255.
    one_ratio: boxes map back by the one ratio ``r`` (YOLOX) or by each axis's real scale,
        ``new_w / w`` and ``new_h / h``. YOLOX trains with labels scaled by ``r`` on images
        resized to ``int(w * r)``: its model sees images up to a pixel smaller than their
        labels, always in the same direction, and learned to answer in the labels' frame
        (on coco-val64, undoing by ``r`` scores +0.0015 mAP). Ultralytics rounds, so its
        sizes err by up to half a pixel either way, no bias to learn: the real scale stays
        (Ultralytics' own ``scale_boxes`` divides by ``r``; under half a pixel apart).
    """

    centred: bool
    round_size: bool
    bgr: bool
    unit_range: bool
    one_ratio: bool


YOLOX_RECIPE = Recipe(centred=False, round_size=False, bgr=True, unit_range=False, one_ratio=True)
ULTRALYTICS_RECIPE = Recipe(
    centred=True, round_size=True, bgr=False, unit_range=True, one_ratio=False
)


@dataclass(frozen=True)
class Transform:
    """Where the original image sits in the input: ``x_in = x * scale_x + pad_x``.

    ``width``/``height`` are the original image's (boxes are clipped to them).
    """

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float
    width: int
    height: int

    def undo(self, boxes: NDArray[np.float32]) -> NDArray[np.float32]:
        """``(N, 4)`` xyxy boxes in input pixels → original-image pixels, clipped to it."""
        out = np.empty_like(boxes, dtype=np.float32)
        out[:, 0::2] = (boxes[:, 0::2] - self.pad_x) / self.scale_x
        out[:, 1::2] = (boxes[:, 1::2] - self.pad_y) / self.scale_y
        np.clip(out[:, 0::2], 0, self.width, out=out[:, 0::2])
        np.clip(out[:, 1::2], 0, self.height, out=out[:, 1::2])
        return out


@dataclass(frozen=True)
class Placement:
    """The resized image's size and its top-left corner on the input canvas."""

    width: int
    height: int
    left: int
    top: int


def place(width: int, height: int, input_size: tuple[int, int], recipe: Recipe) -> Placement:
    """Size and position of a ``width`` x ``height`` image letterboxed into ``input_size``.

    Mirrors YOLOX ``preproc`` (``r = min(H/h, W/w)``, ``int`` sizes, top-left) and
    Ultralytics ``LetterBox`` (``round`` sizes, the padding halved and split with
    ``round(d - 0.1)`` before / ``round(d + 0.1)`` after).
    """
    input_h, input_w = input_size
    ratio = fit_ratio(width, height, input_size)
    if recipe.round_size:
        new_w, new_h = round(width * ratio), round(height * ratio)
    else:
        new_w, new_h = int(width * ratio), int(height * ratio)
    new_w, new_h = max(1, new_w), max(1, new_h)
    if not recipe.centred:
        return Placement(new_w, new_h, 0, 0)
    left = round((input_w - new_w) / 2 - 0.1)
    top = round((input_h - new_h) / 2 - 0.1)
    return Placement(new_w, new_h, left, top)


def fit_ratio(width: int, height: int, input_size: tuple[int, int]) -> float:
    """The scale that fits a ``width`` x ``height`` image inside ``input_size`` (H, W)."""
    return min(input_size[0] / height, input_size[1] / width)


class ResizeThreads:
    """Threads a resize may split its work across; the calling thread is one of them."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._pool = ThreadPoolExecutor(count - 1, thread_name_prefix="resize")

    def map(self, function: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``function`` of every item, the first one on the calling thread."""
        futures = [self._pool.submit(function, item) for item in items[1:]]
        return [function(items[0]), *(future.result() for future in futures)]


def letterbox(
    decoded: DecodedImage,
    input_size: tuple[int, int],
    recipe: Recipe,
    dtype: type[np.floating] = np.float32,
    threads: ResizeThreads | None = None,
) -> tuple[NDArray[np.floating], Transform]:
    """The ``(1, 3, H, W)`` input tensor for ``decoded``, and the transform to undo it.

    The image is resized while still in its stored orientation and only then turned, so a
    rotated 12-megapixel photo is turned as a thumbnail.
    """
    spot = place(decoded.width, decoded.height, input_size, recipe)
    resized = resize(decoded, spot, threads)
    tensor = np.full((1, 3, *input_size), PAD_VALUE, dtype=np.float32)
    planes = resized.split()
    order = (2, 1, 0) if recipe.bgr else (0, 1, 2)
    window = (slice(spot.top, spot.top + spot.height), slice(spot.left, spot.left + spot.width))
    for channel, source in enumerate(order):
        tensor[0, channel][window] = np.asarray(planes[source])
    if recipe.unit_range:
        np.divide(tensor, 255, out=tensor)
    if recipe.one_ratio:
        scale_x = scale_y = fit_ratio(decoded.width, decoded.height, input_size)
    else:
        scale_x, scale_y = spot.width / decoded.width, spot.height / decoded.height
    transform = Transform(
        scale_x=scale_x,
        scale_y=scale_y,
        pad_x=spot.left,
        pad_y=spot.top,
        width=decoded.width,
        height=decoded.height,
    )
    return (tensor if dtype is np.float32 else tensor.astype(dtype)), transform


def resize(
    decoded: DecodedImage, spot: Placement, threads: ResizeThreads | None = None
) -> Image.Image:
    """``decoded`` resized to the placement's size, then oriented.

    Pillow's bilinear filter is antialiased (its support widens when shrinking). Measured
    against the alternatives on coco-val64 and the sample photo: OpenCV-style point
    bilinear (what the authors' demo uses) scores 0.341 mAP, this 0.345; Pillow's box
    filter is faster and scores 0.349 but drops the sample photo's car below 0.8.
    """
    stored = (spot.height, spot.width) if decoded.swaps_axes else (spot.width, spot.height)
    image = decoded.image
    if image.size != stored or decoded.box != (0.0, 0.0, *map(float, image.size)):
        image = resample(image, stored, decoded.box, threads)
    return decoded.oriented(image)


def resample(
    image: Image.Image,
    size: tuple[int, int],
    box: tuple[float, float, float, float],
    threads: ResizeThreads | None = None,
) -> Image.Image:
    """``image.resize(size, BILINEAR, box=box, reducing_gap=REDUCING_GAP)``, byte for byte,
    with the work split across ``threads``.

    Pillow resamples horizontally, rounds to 8 bits, then resamples vertically, and
    releases the GIL while it does. A row of the first pass and a column of the second
    depend on nothing else, so the first pass is cut into bands of rows and the second
    into bands of columns. (Cutting a pass along its own axis would move Pillow's
    coefficients in their last bits and some pixels by one grey level.) On two CPUs a
    640x480 photo resizes in 1.2 ms instead of 1.9 (``benchmarks/bench.py engine``).
    """
    width, height = size
    x0, y0, x1, y1 = box
    factor_x = int((x1 - x0) / width / REDUCING_GAP)
    factor_y = int((y1 - y0) / height / REDUCING_GAP)
    if threads is None or factor_x > 1 or factor_y > 1:  # Pillow reduces first: one call
        return image.resize(size, Image.Resampling.BILINEAR, box=box, reducing_gap=REDUCING_GAP)
    if width != image.width or (x0, x1) != (0, image.width):
        image = _one_pass(image, threads, horizontal=True, length=width, span=(x0, x1))
    if height != image.height or (y0, y1) != (0, image.height):
        image = _one_pass(image, threads, horizontal=False, length=height, span=(y0, y1))
    return image


def _one_pass(
    image: Image.Image,
    threads: ResizeThreads,
    *,
    horizontal: bool,
    length: int,
    span: tuple[float, float],
) -> Image.Image:
    """Resample along one axis only, from ``span`` to ``length`` pixels, in bands cut
    across the other axis, pasted back together."""
    start, end = span

    def resize_band(band: Image.Image) -> Image.Image:
        if horizontal:
            size, box = (length, band.height), (start, 0.0, end, float(band.height))
        else:
            size, box = (band.width, length), (0.0, start, float(band.width), end)
        return band.resize(size, Image.Resampling.BILINEAR, box=box)

    across = image.height if horizontal else image.width
    parts = min(threads.count, across // MIN_BAND)
    if parts < 2:
        return resize_band(image)
    image.load()  # a lazily opened image would be loaded by every thread at once
    edges = [across * part // parts for part in range(parts + 1)]
    regions = [
        (0, first, image.width, last) if horizontal else (first, 0, last, image.height)
        for first, last in itertools.pairwise(edges)
    ]
    bands = threads.map(lambda region: resize_band(image.crop(region)), regions)
    joined = Image.new(image.mode, (length, image.height) if horizontal else (image.width, length))
    for region, band in zip(regions, bands, strict=True):
        joined.paste(band, region[:2])
    return joined
