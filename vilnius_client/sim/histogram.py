"""Latency histograms with bounded memory (HdrHistogram), in seconds."""

from __future__ import annotations

import math

from hdrh.histogram import HdrHistogram

__all__ = ["LatencyHistogram"]

#: Values are kept in microseconds, from 1 µs to one hour; longer latencies count as one hour.
_LOWEST_US = 1
_HIGHEST_US = 3_600_000_000


class LatencyHistogram:
    """Latencies in seconds, counted in an HdrHistogram instead of kept one by one.

    Memory does not grow with the number of samples; percentiles are exact to
    ``significant_figures`` decimal digits (3: within 0.1 %).

    Args:
        significant_figures: Precision of the recorded values (1-5).
    """

    def __init__(self, significant_figures: int = 3) -> None:
        self._significant_figures = significant_figures
        self._h = HdrHistogram(_LOWEST_US, _HIGHEST_US, significant_figures)

    def record(self, seconds: float) -> None:
        """Count one latency of ``seconds`` (clamped to 1 µs - 1 h)."""
        micros = min(_HIGHEST_US, max(_LOWEST_US, round(seconds * 1_000_000)))
        self._h.record_value(micros)

    def add(self, other: LatencyHistogram) -> None:
        """Add every latency counted by ``other`` to this histogram."""
        if other.count:
            self._h.add(other._h)

    @property
    def count(self) -> int:
        """How many latencies were recorded."""
        return int(self._h.get_total_count())

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0-100) in seconds; NaN when empty."""
        if not self.count:
            return math.nan
        return float(self._h.get_value_at_percentile(q)) / 1_000_000

    @property
    def min(self) -> float:
        """The smallest latency in seconds; NaN when empty."""
        return float(self._h.get_min_value()) / 1_000_000 if self.count else math.nan

    @property
    def max(self) -> float:
        """The largest latency in seconds; NaN when empty."""
        return float(self._h.get_max_value()) / 1_000_000 if self.count else math.nan

    @property
    def mean(self) -> float:
        """The mean latency in seconds; NaN when empty."""
        return float(self._h.get_mean_value()) / 1_000_000 if self.count else math.nan

    def encode(self) -> str:
        """The histogram in HdrHistogram's own encoding (compressed, base64: ``HISTF...``),
        which every HdrHistogram implementation decodes; values in microseconds."""
        return str(self._h.encode().decode("ascii"))

    @classmethod
    def decode(cls, text: str) -> LatencyHistogram:
        """A histogram from `encode`'s text (or any HdrHistogram of microseconds).

        Raises:
            ValueError: ``text`` is not an encoded HdrHistogram.
        """
        try:
            decoded = HdrHistogram.decode(text.encode("ascii"))
        except Exception as exc:  # hdrh raises assorted errors on bad input
            raise ValueError(f"not an encoded HdrHistogram: {exc}") from None
        if decoded is None:
            raise ValueError("not an encoded HdrHistogram")
        histogram = cls()
        histogram._h.add(decoded)
        return histogram

    def copy_empty(self) -> LatencyHistogram:
        """A new, empty histogram of the same precision."""
        return LatencyHistogram(self._significant_figures)
