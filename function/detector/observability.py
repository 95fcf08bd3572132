"""The model as the handlers use it: loaded and run with metrics and trace subsegments.

Powertools' ``Tracer`` and ``Metrics`` share their state across instances, so passing the
handler's module-level objects here adds to the same trace and the same metric flush.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from detector.aws import AwsClients
from detector.model.store import LoadedModel, ModelHolder
from detector.pipeline.engine import DetectionResult, DetectOptions
from detector.settings import Settings


def powertools(settings: Settings) -> tuple[Logger, Tracer, Metrics]:
    """A handler's logger, tracer and metrics, named after the service.

    Powertools reads its other settings itself (``POWERTOOLS_TRACE_DISABLED``,
    ``POWERTOOLS_LOG_LEVEL``, ...). Logs are JSON with the request id and cold-start flag;
    events are never logged: API events carry bearer tokens.
    """
    # /health, the page and refused requests publish no metric by design; Powertools would
    # warn on each of them, burying real warnings in the log.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    return (
        Logger(service=settings.service_name, json_serializer=log_line),
        Tracer(service=settings.service_name),
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


class MeasuredModel:
    """Wraps the container's ``ModelHolder``: ``ModelLoadMs``, ``InferenceMs``, ``Detections``."""

    def __init__(
        self, settings: Settings, clients: AwsClients, tracer: Tracer, metrics: Metrics
    ) -> None:
        # Each cold-start step gets its own subsegment of this tracer's trace.
        self.holder = ModelHolder(settings, clients=clients, span=tracer.provider.in_subsegment)
        self._tracer = tracer
        self._metrics = metrics

    def get(self) -> LoadedModel:
        """The model, loaded on first use (``ModelUnavailableError`` if that fails)."""
        cold = not self.holder.loaded
        with self._tracer.provider.in_subsegment("## load_model"):
            model = self.holder.get()
        if cold:
            total = model.timings_ms.get("total", sum(model.timings_ms.values()))
            self._metrics.add_metric(name="ModelLoadMs", unit=MetricUnit.Milliseconds, value=total)
        return model

    def detect(self, model: LoadedModel, image: bytes, options: DetectOptions) -> DetectionResult:
        with self._tracer.provider.in_subsegment("## inference"):
            result = model.detector.detect(image, options)
        inference = result.timing_ms.get("inference", result.timing_ms.get("total", 0.0))
        self._metrics.add_metric(name="InferenceMs", unit=MetricUnit.Milliseconds, value=inference)
        self._metrics.add_metric(
            name="Detections", unit=MetricUnit.Count, value=len(result.detections)
        )
        return result
