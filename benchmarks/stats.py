"""Summary figures shared by the benchmark scripts."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: int) -> float:
    """The ``q``-th percentile (1-99), inclusive method; one sample is every percentile."""
    if len(values) == 1:  # statistics.quantiles wants two points
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]
