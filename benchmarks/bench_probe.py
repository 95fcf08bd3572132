"""What one fresh process measures about itself, for ``benchmarks/bench.py`` (not run by hand).

    python benchmarks/bench_probe.py cold IMAGE [IMAGE...]
    python benchmarks/bench_probe.py warm ROUNDS NAME=IMAGE[,IMAGE...] [NAME=...]
    python benchmarks/bench_probe.py decode IMAGE

The environment (set by bench.py) names the model, the key, the token secret, the threads.
Only the standard library is imported before the clock starts, so the cold probe's first
figure is the cost of importing the handler, as on a Lambda cold start. Prints one JSON
object on stdout.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


BENCH_SECRET_ENV = "BENCH_JWT_SECRET"  # the parent's copy of JWT_SECRET, to mint tokens


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB.

    ``/proc/self/status`` VmHWM first: ``getrusage``'s ru_maxrss survives ``exec`` on
    Linux, so a child started by a big parent reports at least the parent's size.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def cold(images: list[Path]) -> dict[str, Any]:
    """One cold start: import the handler, load the model as it does, detect once.

    Then detect in every other image given, so the peak RSS covers the biggest input.
    """
    started = time.perf_counter()
    import detector.handlers.api  # noqa: F401, PLC0415 - importing is what is measured
    from detector.model.store import ModelHolder  # noqa: PLC0415
    from detector.settings import Settings  # noqa: PLC0415

    imported = time.perf_counter()
    loaded = ModelHolder(Settings.from_env()).get()
    load_ms = (time.perf_counter() - imported) * 1000
    first = images[0].read_bytes()
    detect_started = time.perf_counter()
    loaded.detector.detect(first)
    first_ms = (time.perf_counter() - detect_started) * 1000
    rss_first = peak_rss_mib()
    for path in images[1:]:
        loaded.detector.detect(path.read_bytes())
    imports_ms = (imported - started) * 1000
    return {
        "imports": imports_ms,
        "load": load_ms,
        "steps": loaded.timings_ms,
        "first_detection": first_ms,
        "cold_start": imports_ms + load_ms + first_ms,
        "sealed": loaded.sealed,
        "fetched_from": loaded.fetched_from,
        "peak_rss_mib_first_detection": rss_first,
        "peak_rss_mib_all_images": peak_rss_mib(),
    }


def warm(rounds: int, cases: dict[str, list[Path]]) -> dict[str, Any]:
    """Per case: the real API handler (event in → response out) against ``session.run``.

    The handler answering JSON, the handler answering the annotated JPEG (``Accept:
    image/jpeg``), the engine's ``detect`` alone (bytes in → detections out) and bare
    ``session.run`` are timed in turn, image by image, on the same input: the handler
    through the module-level model it loaded itself, ``session.run`` on a session of the
    same model bytes with the same thread count, fed the tensor the engine would build.
    """
    from detector.handlers.api import lambda_handler  # noqa: PLC0415
    from detector.local.context import LocalContext  # noqa: PLC0415
    from detector.local.events import api_event  # noqa: PLC0415
    from detector.local.tokens import sign_token  # noqa: PLC0415
    from detector.model.store import ModelHolder  # noqa: PLC0415
    from detector.pipeline import decode, letterbox  # noqa: PLC0415
    from detector.pipeline.engine import Detector  # noqa: PLC0415
    from detector.settings import ImageLimits, Settings  # noqa: PLC0415

    settings = Settings.from_env()
    model = ModelHolder(settings).get().detector
    bare = Detector.from_bytes(_plain_model(), threads=settings.ort_threads)
    token = sign_token(os.environ[BENCH_SECRET_ENV], subject="bench", scope="detect")

    def prepared(path: Path) -> tuple[dict[str, Any], dict[str, Any], bytes, Any]:
        data = path.read_bytes()
        kind = "image/png" if path.suffix == ".png" else "image/jpeg"
        as_json, as_jpeg = (
            api_event(
                "http",
                "POST",
                "/detect",
                body=data,
                content_type=kind,
                token=token,
                headers={"accept": accept},
            )
            for accept in ("application/json", "image/jpeg")
        )
        decoded = decode.decode(data, limits=ImageLimits(pixels=10**9), fit=model.info.input_size)
        tensor, _ = letterbox.letterbox(decoded, model.info.input_size, model.adapter.recipe)
        return as_json, as_jpeg, data, tensor

    results: dict[str, Any] = {}
    unique = {path: prepared(path) for paths in cases.values() for path in set(paths)}
    for name, paths in cases.items():
        inputs = [unique[path] for path in paths]
        handler_ms: list[float] = []
        jpeg_ms: list[float] = []
        engine_ms: list[float] = []
        run_ms: list[float] = []
        for round_index in range(rounds + 1):  # round 0 warms up and is not kept
            for as_json, as_jpeg, data, tensor in inputs:
                started = time.perf_counter()
                response = lambda_handler(as_json, LocalContext())
                handled = time.perf_counter()
                drawn = lambda_handler(as_jpeg, LocalContext())
                answered = time.perf_counter()
                model.detect(data)
                detected = time.perf_counter()
                bare.session.run(None, {bare.info.input_name: tensor})
                ran = time.perf_counter()
                for answer in (response, drawn):
                    if answer.get("statusCode") != 200:
                        raise RuntimeError(f"{name}: the handler answered {answer}")
                if round_index:
                    handler_ms.append((handled - started) * 1000)
                    jpeg_ms.append((answered - handled) * 1000)
                    engine_ms.append((detected - answered) * 1000)
                    run_ms.append((ran - detected) * 1000)
        results[name] = {
            "handler_ms": handler_ms,
            "handler_jpeg_ms": jpeg_ms,
            "engine_ms": engine_ms,
            "session_run_ms": run_ms,
        }
    return {"cases": results}


def decoded(path: Path) -> dict[str, Any]:
    """Decode one image file as a detection request would (the default ``ImageLimits``, the
    sample model's 416x416 input), in a process that has done nothing else before.

    Reports the decode time and how far the peak RSS rose above the RSS just before.
    """
    from detector.errors import DetectorError  # noqa: PLC0415
    from detector.pipeline import decode  # noqa: PLC0415
    from detector.settings import Settings  # noqa: PLC0415

    data = path.read_bytes()
    limits = Settings.from_env().image_limits
    before = current_rss_mib()
    started = time.perf_counter()
    try:
        image = decode.decode(data, limits=limits, fit=(416, 416))
        outcome = f"decoded {image.width}x{image.height}"
    except DetectorError as error:
        outcome = f"refused: {error.code}"
    return {
        "decode_ms": (time.perf_counter() - started) * 1000,
        "peak_rss_growth_mib": peak_rss_mib() - before,
        "outcome": outcome,
    }


def current_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmRSS in /proc/self/status")


def _plain_model() -> bytes:
    from detector.local import samples  # noqa: PLC0415

    return samples.sample_model_path().read_bytes()


def main(argv: list[str]) -> int:
    mode, *rest = argv
    if mode == "cold":
        report = cold([Path(path) for path in rest])
    elif mode == "warm":
        rounds, *specs = rest
        cases = {}
        for spec in specs:
            name, _, paths = spec.partition("=")
            cases[name] = [Path(path) for path in paths.split(",")]
        report = warm(int(rounds), cases)
    elif mode == "decode":
        report = decoded(Path(rest[0]))
    else:
        raise SystemExit(f"unknown probe {mode!r}")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
