"""The model as the handlers use it: loaded and run with metrics and trace subsegments.

Powertools' ``Tracer`` and ``Metrics`` share their state across instances, so passing the
handler's module-level objects here adds to the same trace and the same metric flush.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

from detector.model.store import LoadedModel, ModelHolder
from detector.pipeline.engine import DetectionResult, DetectOptions
from detector.settings import Settings


def powertools(settings: Settings) -> tuple[Logger, Tracer, Metrics]:
    """A handler's logger, tracer and metrics, named after the service.

    Powertools reads its other settings itself (``POWERTOOLS_LOG_LEVEL``, ...). Logs are
    JSON with the request id and cold-start flag; events are never logged: API events carry
    bearer tokens. With tracing off (``POWERTOOLS_TRACE_DISABLED``) the tracer is a no-op.
    """
    # /health, the page and refused requests publish no metric by design; Powertools would
    # warn on each of them, burying real warnings in the log.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    return (
        Logger(service=settings.service_name, json_serializer=log_line),
        tracer(settings),
        Metrics(namespace=settings.metrics_namespace, service=settings.service_name),
    )


def log_line(record: dict[str, Any]) -> str:
    """A log record as one line of JSON that any UTF-8 stream can write.

    Like Powertools' own, non-ASCII text stays readable; but a lone surrogate (text from a
    request can carry one, in an exception message for instance) made the write fail: the
    line was lost and logging printed its own traceback instead. It is escaped, as JSON
    allows (``"\\ud800"``); JSON has already escaped every backslash before it.
    """
    text = json.dumps(record, default=str, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def tracer(settings: Settings) -> Tracer:
    """Powertools' X-Ray tracer, or with tracing off one whose provider does nothing.

    Powertools' own ``Tracer(disabled=True)`` still imports the X-Ray SDK, whose recorder
    builds a botocore client at import: a third of the handler's import time. A provider of
    our own keeps the SDK out of the process; ``disabled=False`` because disabling would
    make Powertools switch the (never imported) SDK off, importing it.
    """
    if settings.tracing:
        return Tracer(service=settings.service_name)
    return Tracer(
        service=settings.service_name, provider=NoTracing(), auto_patch=False, disabled=False
    )


class NoSegment(BaseSegment):
    """A trace segment that records nothing."""

    def close(self, end_time: int | None = None) -> None:
        pass

    def add_subsegment(self, subsegment: Any) -> None:
        pass

    def remove_subsegment(self, subsegment: Any) -> None:
        pass

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        pass


class NoTracing(BaseProvider):
    """Powertools' tracing provider interface, doing nothing: tracing is off."""

    @contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Iterator[BaseSegment]:
        yield NoSegment()

    @asynccontextmanager
    async def in_subsegment_async(
        self, name: str | None = None, **kwargs: Any
    ) -> AsyncIterator[BaseSegment]:
        yield NoSegment()

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def patch(self, modules: Sequence[str]) -> None:
        pass

    def patch_all(self) -> None:
        pass


class MeasuredModel:
    """Wraps the container's ``ModelHolder``: ``ModelLoadMs``, ``InferenceMs``, ``Detections``."""

    def __init__(self, holder: ModelHolder, tracer: Tracer, metrics: Metrics) -> None:
        self.holder = holder
        self._tracer = tracer
        self._metrics = metrics
        self._counted: LoadedModel | None = None  # the load ModelLoadMs was reported for

    def get(self) -> LoadedModel:
        """The model, loaded on first use (``ModelUnavailableError`` if that fails).

        A load this call makes has each step in a subsegment of the request's trace; the
        first request to get a model reports its load time.
        """
        with self._tracer.provider.in_subsegment("## load_model"):
            model = self.holder.get(span=self._tracer.provider.in_subsegment)
        if model is not self._counted:
            self._counted = model
            total = model.timings_ms.get("total", sum(model.timings_ms.values()))
            self._metrics.add_metric(name="ModelLoadMs", unit=MetricUnit.Milliseconds, value=total)
        return model

    def load_for_snapshot(self) -> LoadedModel:
        """The model, for a SnapStart snapshot: no request waited for this load, and every
        instance restored from the snapshot has it, so it is reported by none of them."""
        self._counted = self.holder.get()
        return self._counted

    def detect(self, model: LoadedModel, image: bytes, options: DetectOptions) -> DetectionResult:
        with self._tracer.provider.in_subsegment("## inference"):
            result = model.detector.detect(image, options)
        inference = result.timing_ms.get("inference", result.timing_ms.get("total", 0.0))
        self._metrics.add_metric(name="InferenceMs", unit=MetricUnit.Milliseconds, value=inference)
        self._metrics.add_metric(
            name="Detections", unit=MetricUnit.Count, value=len(result.detections)
        )
        return result
