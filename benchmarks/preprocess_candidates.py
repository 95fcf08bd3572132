"""Ways to turn a JPEG into the model's tensor, timed side by side (``bench.py preprocess``).

    PYTHONPATH=build/bench-site:. python benchmarks/preprocess_candidates.py ROUNDS IMAGES BIG_JPEG

Run by ``bench.py`` in a process of its own, with ``build/bench-site`` (OpenCV, pyvips with
its binary libvips, simplejpeg, cykooz-resizer: none of them a dependency of the project)
on its path. Every candidate takes the same JPEG bytes to the same YOLOX tensor (BGR,
0-255, top-left on grey 114, ``int(side * r)``) with one thread, and they take turns image by
image. Time is CPU time of this process (``process_time``: all its threads, none of the
neighbours' stalls) and wall time. Candidates that change the pixels are also scored: COCO
mAP@[.5:.95] on the same images (conf 0.01, IoU 0.65) and the sample photo's car, with
boxes undone as the engine does. Prints one JSON object.
"""

from __future__ import annotations

import contextlib
import io
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from detector.local import coco as coco_eval
from detector.local import samples
from detector.pipeline import decode, letterbox, postprocess
from detector.pipeline.engine import Detector
from detector.pipeline.letterbox import PAD_VALUE, YOLOX_RECIPE, Placement, place
from detector.settings import ImageLimits

SIZE = (416, 416)
LIMITS = ImageLimits(pixels=10**9)
Tensor = NDArray[np.float32]


def optional(name: str) -> Any:
    """A benchmark-only module, or None when build/bench-site lacks it."""
    with contextlib.suppress(ImportError):
        return __import__(name)
    return None


cv2, pyvips, simplejpeg, cykooz = (
    optional(name) for name in ("cv2", "pyvips", "simplejpeg", "cykooz_resizer")
)
if cv2:
    cv2.setNumThreads(1)
if pyvips:
    pyvips.cache_set_max(0)  # every call decodes, as every request would


def fill(pixels: NDArray[np.uint8], spot: Placement, *, bgr_source: bool) -> Tensor:
    """HWC uint8 pixels into the padded CHW float tensor in one strided copy."""
    tensor = np.empty((1, 3, *SIZE), np.float32)
    tensor[0, :, spot.height :, :] = PAD_VALUE
    tensor[0, :, : spot.height, spot.width :] = PAD_VALUE
    channels = pixels.transpose(2, 0, 1)
    tensor[0, :, : spot.height, : spot.width] = channels if bgr_source else channels[::-1]
    return tensor


def spot_for(width: int, height: int) -> Placement:
    return place(width, height, SIZE, YOLOX_RECIPE)


def dct_factor(width: int, height: int, spot: Placement) -> int:
    """The largest JPEG DCT reduction (1, 2, 4, 8) that keeps the image at least as big as
    ``spot``: what Pillow's ``draft`` picks for ours."""
    factor = 1
    while (
        factor < 8 and width // (factor * 2) >= spot.width and height // (factor * 2) >= spot.height
    ):
        factor *= 2
    return factor


# --- candidates: JPEG bytes -> tensor ---------------------------------------------------
def ours(data: bytes) -> Tensor:
    decoded = decode.decode(data, limits=LIMITS, fit=SIZE)
    return letterbox.letterbox(decoded, SIZE, YOLOX_RECIPE)[0]


def ours_fused(data: bytes) -> Tensor:
    decoded = decode.decode(data, limits=LIMITS, fit=SIZE)
    spot = spot_for(decoded.width, decoded.height)
    return fill(np.asarray(letterbox.resize(decoded, spot)), spot, bgr_source=False)


def pillow_with(resample: Callable[[Image.Image, Placement], Image.Image]) -> Callable[..., Any]:
    def candidate(data: bytes) -> Tensor:
        decoded = decode.decode(data, limits=LIMITS, fit=SIZE)
        spot = spot_for(decoded.width, decoded.height)
        return fill(np.asarray(resample(decoded.image, spot)), spot, bgr_source=False)

    return candidate


def pillow_box(image: Image.Image, spot: Placement) -> Image.Image:
    return image.resize((spot.width, spot.height), Image.Resampling.BOX)


def pillow_point_bilinear(image: Image.Image, spot: Placement) -> Image.Image:
    scale = (image.width / spot.width, 0, 0, 0, image.height / spot.height, 0)
    return image.transform(
        (spot.width, spot.height), Image.Transform.AFFINE, scale, Image.Resampling.BILINEAR
    )


def cykooz_bilinear(image: Image.Image, spot: Placement) -> Image.Image:
    out = Image.new("RGB", (spot.width, spot.height))
    _CYKOOZ.resize_pil(image, out, _CYKOOZ_OPTIONS)
    return out


def ort_resize_session() -> ort.InferenceSession:
    """uint8 ``[H, W, 3]`` and ``[h, w]`` in, point-bilinear ``[1, h, w, 3]`` out."""
    nodes = [
        helper.make_node("Unsqueeze", ["image", "axis0"], ["batch"]),
        helper.make_node("Concat", ["one", "hw", "three"], ["sizes"], axis=0),
        helper.make_node(
            "Resize", ["batch", "", "", "sizes"], ["resized"], mode="linear", antialias=0
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "resize",
        [
            helper.make_tensor_value_info("image", TensorProto.UINT8, ["h", "w", 3]),
            helper.make_tensor_value_info("hw", TensorProto.INT64, [2]),
        ],
        [helper.make_tensor_value_info("resized", TensorProto.UINT8, None)],
        initializer=[
            numpy_helper.from_array(np.array([0], np.int64), "axis0"),
            numpy_helper.from_array(np.array([1], np.int64), "one"),
            numpy_helper.from_array(np.array([3], np.int64), "three"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    model.ir_version = 9
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def ort_point_bilinear(image: Image.Image, spot: Placement) -> Image.Image:
    hw = np.array([spot.height, spot.width], np.int64)
    (resized,) = _ORT_RESIZE.run(None, {"image": np.asarray(image), "hw": hw})
    return Image.fromarray(resized[0])


def simplejpeg_with(*, any_scale: bool) -> Callable[[bytes], Tensor]:
    """simplejpeg's decode, BGR out, then Pillow's resize; ``any_scale``: libjpeg-turbo's
    M/8 DCT scaling down to the size wanted, else the power-of-two ones, as ours."""

    def candidate(data: bytes) -> Tensor:
        height, width, _, _ = simplejpeg.decode_jpeg_header(data)
        spot = spot_for(width, height)
        factor = dct_factor(width, height, spot)
        wanted = (spot.width, spot.height) if any_scale else (width // factor, height // factor)
        pixels = simplejpeg.decode_jpeg(
            data, colorspace="BGR", min_width=wanted[0], min_height=wanted[1]
        )
        resized = Image.fromarray(pixels).resize(
            (spot.width, spot.height), Image.Resampling.BILINEAR, reducing_gap=2.0
        )
        return fill(np.asarray(resized), spot, bgr_source=True)

    return candidate


def pyvips_linear(data: bytes) -> Tensor:
    header = pyvips.Image.new_from_buffer(data, "")
    spot = spot_for(header.width, header.height)
    shrink = dct_factor(header.width, header.height, spot)  # JPEG shrink-on-load
    image = pyvips.Image.new_from_buffer(data, "", access="sequential", shrink=shrink)
    if image.bands != 3:
        image = image.colourspace("srgb")
    image = image.resize(
        spot.width / image.width, vscale=spot.height / image.height, kernel="linear"
    )
    return fill(image.numpy(), spot, bgr_source=False)


def opencv_floor(data: bytes) -> Tensor:
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    height, width = pixels.shape[:2]
    spot = spot_for(width, height)
    resized = cv2.resize(pixels, (spot.width, spot.height), interpolation=cv2.INTER_LINEAR)
    return fill(resized, spot, bgr_source=True)


def opencv_reduced(data: bytes) -> Tensor:
    """OpenCV with its own DCT-domain reduction for big JPEGs (IMREAD_REDUCED_COLOR_n)."""
    header = Image.open(io.BytesIO(data))
    spot = spot_for(*header.size)
    factor = dct_factor(*header.size, spot)
    flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2}
    flags |= {4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flags[factor])
    resized = cv2.resize(pixels, (spot.width, spot.height), interpolation=cv2.INTER_LINEAR)
    return fill(resized, spot, bgr_source=True)


_CYKOOZ: Any = cykooz.Resizer() if cykooz else None
_CYKOOZ_OPTIONS = (
    cykooz.ResizeOptions(resize_alg=cykooz.ResizeAlg.convolution(cykooz.FilterType.bilinear))
    if cykooz
    else None
)
_ORT_RESIZE = ort_resize_session()


def candidates() -> dict[str, Callable[[bytes], Tensor]]:
    found: dict[str, Callable[[bytes], Tensor]] = {
        "ours: Pillow decode + antialiased bilinear": ours,
        "ours, fused HWC->CHW float fill": ours_fused,
        "Pillow box filter (changes pixels)": pillow_with(pillow_box),
        "Pillow point bilinear, Image.transform": pillow_with(pillow_point_bilinear),
        "onnxruntime Resize, point bilinear": pillow_with(ort_point_bilinear),
    }
    if simplejpeg:
        found["simplejpeg decode (BGR) + Pillow resize"] = simplejpeg_with(any_scale=False)
        found["simplejpeg M/8-scaled decode + Pillow resize"] = simplejpeg_with(any_scale=True)
    if pyvips:
        found["pyvips shrink-on-load + linear reduce"] = pyvips_linear
    if cykooz:
        found["cykooz-resizer bilinear convolution (SIMD)"] = pillow_with(cykooz_bilinear)
    if cv2:
        found["OpenCV decode + point bilinear (the floor)"] = opencv_floor
        found["OpenCV reduced decode + point bilinear"] = opencv_reduced
    return found


def timed(
    runs: dict[str, Callable[[bytes], Tensor]], images: list[bytes], rounds: int
) -> dict[str, dict[str, float]]:
    """Median CPU and wall ms per image of every candidate, taking turns image by image."""
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    wall: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():
        run(images[0])  # warm-up
    for _ in range(rounds):
        for data in images:
            for name, run in runs.items():
                started, used = time.perf_counter(), time.process_time()
                run(data)
                cpu[name].append(time.process_time() - used)
                wall[name].append(time.perf_counter() - started)
    return {
        name: {
            "cpu_ms": statistics.median(cpu[name]) * 1000,
            "wall_ms": statistics.median(wall[name]) * 1000,
        }
        for name in runs
    }


def scored(
    runs: dict[str, Callable[[bytes], Tensor]], coco: Path, photo: bytes, count: int = 0
) -> dict[str, dict[str, float]]:
    """mAP on COCO (conf 0.01, IoU 0.65; the first ``count`` images, 0: all) and the
    photo's best car score, per candidate."""
    detector = Detector.from_bytes(samples.sample_model_path().read_bytes(), threads=1)
    images, annotations, paths = coco_eval.ground_truth(coco)
    if count:
        images, paths = images[:count], paths[:count]
        annotations = [a for a in annotations if int(a["image_id"]) < count]  # type: ignore[call-overload]

    def detect(run: Callable[[bytes], Tensor], data: bytes, conf: float, iou: float) -> Any:
        """The engine's steps after the tensor, boxes undone by YOLOX's one ratio."""
        width, height = Image.open(io.BytesIO(data)).size
        ratio = letterbox.fit_ratio(width, height, SIZE)
        transform = letterbox.Transform(ratio, ratio, 0, 0, width, height)
        output = detector._infer(run(data))
        found = detector.adapter.decode(output, conf, False)
        return postprocess.finish(
            found, transform, conf=conf, iou=iou, max_det=300, agnostic=False, classes=None
        )

    results = {}
    for name, run in runs.items():
        found = []
        for image_id, path in enumerate(paths):
            detections = detect(run, path.read_bytes(), 0.01, 0.65)
            for (x1, y1, x2, y2), score, class_id in zip(
                detections.boxes.tolist(),
                detections.scores.tolist(),
                detections.class_ids.tolist(),
                strict=True,
            ):
                box = [x1, y1, x2 - x1, y2 - y1]
                found.append(
                    {"image_id": image_id, "category_id": class_id, "bbox": box, "score": score}
                )
        mean_ap = coco_eval.mean_average_precision(images, annotations, found)
        on_photo = detect(run, photo, 0.25, 0.45)
        cars = on_photo.scores[on_photo.class_ids == 2]
        results[name] = {
            "map": mean_ap,
            "photo_car": float(cars.max()) if len(cars) else 0.0,
        }
    return results


def main(argv: list[str]) -> int:
    """ROUNDS passes; the first IMAGES COCO images (0: all); BIG_JPEG for the reduced path."""
    rounds, count, big = int(argv[0]), int(argv[1]), Path(argv[2])
    coco = samples.coco_dir()
    runs = candidates()
    images = [path.read_bytes() for path in sorted((coco / "images").glob("*.jpg"))]
    images = images[:count] if count else images
    big_jpeg = big.read_bytes()
    big_runs = {
        name: run
        for name, run in runs.items()
        if not name.startswith(("OpenCV decode", "ours,", "Pillow", "onnxruntime", "cykooz"))
    }
    report = {
        "coco": timed(runs, images, rounds),
        "big": timed(big_runs, [big_jpeg], rounds * 8),
        "accuracy": scored(runs, coco, samples.sample_image_path().read_bytes(), count),
        "images": len(images),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
