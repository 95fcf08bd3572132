"""A smoke test of ``benchmarks/bench.py``: every section, at its smallest, still prints figures.

It keeps the benchmark from rotting unseen; it asserts no timing (figures are read by
people, side by side in one run, never checked against a bound here).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from benchmarks import bench, coldstart

# Options between the sections too, as people type them (``keys --cold-starts 9 warm``).
SMALLEST = [
    *list(bench.SECTIONS)[:2],
    "--rounds",
    "1",
    *list(bench.SECTIONS)[2:],
    "--cold-starts",
    "1",
    "--warm-samples",
    "1",
    "--threads",
    "1",
    "--mib",
    "4",
    "--preprocess-images",
    "1",
    "--runtime-images",
    "1",
    "--pixels",
    "40000",
    "--images",
    "2",
]


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The JSON rows of one run of every section with the smallest sizes."""
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    assert bench.main([*SMALLEST, "--out", str(out)]) == 0
    written: list[dict[str, Any]] = json.loads(out.read_text())["rows"]
    return written


def measured(rows: list[dict[str, Any]], section: str) -> set[tuple[str, str]]:
    return {(row["case"], row["measured"].strip()) for row in rows if row["section"] == section}


def missing(
    figures: set[tuple[str, str]], cases: set[str] | tuple[str, ...], names: tuple[str, ...]
) -> set[tuple[str, str]]:
    """The (case, measured) pairs of every case with every name that are not in ``figures``."""
    return {(case, name) for case in cases for name in names} - figures


@pytest.mark.slow
def test_every_section_reports_finite_figures_positive_but_for_differences(rows):
    # GIVEN one run of every section at its smallest (the fixture)
    # THEN every section printed rows, every figure is a number, and all but the
    # differences of two medians (which noise may tip below zero) and the RSS growths
    # (nothing, for a refused image) are above zero
    assert {row["section"] for row in rows} == {
        "engine",
        "threads",
        "cold start",
        "memory",
        "keys",
        "warm",
        "auth",
        "sealed",
        "cost",
        "preprocess",
        "runtime",
        "hostile",
        "backfill",
        "imports",
        "coldstart",
        "snapstart",
    }
    for row in rows:
        assert math.isfinite(row["value"]), row
        if "growth" in row["measured"]:  # an image refused from its header adds nothing
            assert row["value"] >= 0, row
        elif "difference" not in row["measured"]:
            assert row["value"] > 0, row


@pytest.mark.slow
def test_the_engine_section_sets_end_to_end_against_session_run_per_case(rows):
    assert not missing(
        measured(rows, "engine"),
        ("coco-val64 (64 JPEGs)", "12 MP JPEG (4000x3000)"),
        (
            "end-to-end median",
            "session.run median",
            "ratio end-to-end / session.run",
            "stage median: decode",
            "floor: 1 + decode / session.run",
        ),
    )


@pytest.mark.slow
def test_the_keys_section_times_every_key_mode_and_compressor_against_the_plain_model(rows):
    figures = measured(rows, "keys")
    sealed = {
        "sealed zstd, KMS, S3",
        "sealed zlib, KMS, S3",
        "sealed zstd, KMS, /tmp cache",
        "sealed zstd, Secrets Manager, S3",
        "sealed zstd, SSM SecureString, S3",
    }
    assert {case for case, _ in figures} == {bench.PLAIN, *sealed}
    assert not missing(
        figures,
        sealed,
        (
            "median unwrap_key",
            "median decrypt",
            "median decompress",
            "median total",
            "ratio total / plain .onnx",
        ),
    )
    assert (bench.PLAIN, "median session") in figures


@pytest.mark.slow
def test_the_auth_section_times_one_verification_per_key_type(rows):
    assert measured(rows, "auth") == {
        (case, "median per verification")
        for case in ("HS256 secret", "RS256 PEM", "ES256 PEM", "RS256 JWKS (cached)")
    }


@pytest.mark.slow
def test_the_sealed_section_reports_times_and_the_peak_allocation_of_opening(rows):
    names = {name for _, name in measured(rows, "sealed")}
    assert names == {
        "seal",
        "seal throughput",
        "open",
        "open throughput",
        "open step: decrypt",
        "open step: decompress",
        "allocated at peak while opening",
        "peak allocation / payload",
    }
    (case,) = {case for case, _ in measured(rows, "sealed")}
    assert case.startswith("4 MiB random, zstd level 1, ")


@pytest.mark.slow
def test_the_warm_section_answers_json_and_jpeg_per_image_kind(rows):
    figures = measured(rows, "warm")
    cases = {case for case, _ in figures}
    assert len(cases) == 4  # COCO, 1080p, 12 MP, PNG; one thread
    assert not missing(
        figures,
        cases,
        (
            "handler p50",
            "handler p99",
            "ratio p50 handler / session.run",
            "ratio p50 handler / engine detect",
            "handler, JPEG answer p50",
            "ratio p50 JPEG answer / JSON answer",
        ),
    )


@pytest.mark.slow
def test_the_cold_section_reports_steps_memory_and_the_sealing_share(rows):
    cold = measured(rows, "cold start")
    for case in ("sealed, S3 + KMS", "plain file"):
        assert (case, "median cold_start") in cold
        assert (case, "median imports") in cold
    assert ("sealed, S3 + KMS", "median unwrap_key") in cold
    assert any(name == "sealing steps / plain cold start" for _, name in cold)
    assert len(measured(rows, "memory")) == 4


@pytest.mark.slow
def test_the_cost_section_prices_each_warm_case_and_a_cold_start_per_architecture(rows):
    cases = {case for case, _ in measured(rows, "cost")}
    for architecture in ("x86_64", "arm64"):
        assert f"{architecture}, one cold start" in cases
        assert f"{architecture}, coco-val64 (64 JPEGs)" in cases


@pytest.mark.slow
def test_the_preprocess_section_times_and_scores_every_candidate_against_ours(rows):
    figures = measured(rows, "preprocess")
    coco = {case for case, _ in figures if case.startswith("coco-val64 (1 JPEGs): ")}
    scored = {case.removeprefix("accuracy: ") for case, _ in figures if case.startswith("accuracy")}
    named = {case.removeprefix("coco-val64 (1 JPEGs): ") for case in coco}
    # ours, the fused fill, box, two point-bilinear ones and OpenCV's at the least
    assert len(named) >= 6
    assert scored == named
    assert not missing(figures, coco, ("CPU median", "wall median", "CPU / ours"))
    assert any(case.startswith("12 MP JPEG: ours") for case, _ in figures)
    ours = "coco-val64 (1 JPEGs): ours: Pillow decode + antialiased bilinear"
    (ratio,) = (r["value"] for r in rows if r["case"] == ours and r["measured"] == "CPU / ours")
    assert ratio == 1.0


@pytest.mark.slow
def test_the_runtime_section_sets_the_handler_against_the_opencv_floor(rows):
    figures = measured(rows, "runtime")
    (case,) = {case for case, _ in figures}
    assert "awslambdaric" in case
    assert not missing(
        figures,
        {case},
        (
            "handler median",
            "bare OpenCV floor median",
            "ratio handler / floor",
            "handler step median: decode",
            "floor step median: decode",
            "ratio of the work around session.run",
        ),
    )


@pytest.mark.slow
def test_the_hostile_section_reports_time_and_memory_of_normal_worst_and_refused_images(rows):
    figures = measured(rows, "hostile")
    cases = {case for case, _ in figures}
    kinds = {case.partition(":")[0] for case in cases}
    assert kinds == {"normal", "time", "memory", "refused"}
    assert "normal: 12 MP JPEG (4000x3000)" in cases
    assert not missing(
        figures,
        cases,
        ("file size", "decode time", "peak RSS growth", "peak RSS growth / RGB size"),
    )


@pytest.mark.slow
def test_the_backfill_section_reports_throughput_over_the_images_it_was_given(rows):
    assert measured(rows, "backfill") == {
        ("coco-val64 (2 JPEGs), 1 thread(s)", name)
        for name in (
            "images/s, the command's run",
            "first image (cold start)",
            "warm image median",
            "images/s, warm median",
            "engine alone median, same images",
            "ratio warm image / engine alone",
        )
    }


@pytest.mark.slow
def test_the_import_section_sets_each_handler_against_the_floor_tracing_on_and_off(rows):
    figures = measured(rows, "imports")
    handlers = {f"{h} handler, tracing {t}" for h in ("api", "s3") for t in ("on", "off")}
    # and the floor with what each handler needs: the bound on how close it can come
    bounds = {case for case, _ in figures if case.startswith("floor + what the ")}
    assert len(bounds) == len(coldstart.NEEDED_IMPORTS)
    assert {case for case, _ in figures} == {coldstart.FLOOR, *handlers, *bounds}
    assert not missing(figures, handlers | bounds, ("median", "ratio to the floor"))


@pytest.mark.slow
def test_the_coldstart_section_sets_each_cold_start_against_the_floor(rows):
    figures = measured(rows, "coldstart")
    ours = set(coldstart.COLD_CASES) - {"floor"}
    assert not missing(
        figures,
        set(coldstart.COLD_CASES),
        ("median start → init done", "median start → first detection"),
    )
    assert not missing(figures, ours, ("ratio to the floor",))


@pytest.mark.slow
def test_the_snapstart_section_sets_the_first_detection_after_a_restore_against_warm_ones(rows):
    names = {name for _, name in measured(rows, "snapstart")}
    assert {
        "median warm detection",
        "median first detection after the restore",
        "ratio first after the restore / warm",
        "ratio restore → first answered / warm",
    } <= names


def test_the_benchmark_refuses_an_unknown_section(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        bench.main(["nonsense", "--out", str(tmp_path / "b.json")])
