"""The Prometheus text exposition format (version 0.0.4): metric families rendered as text.

    # HELP <name> <help, with \\ and newlines escaped>
    # TYPE <name> counter|gauge|histogram
    <name>{<label>="<value, with \\ " and newlines escaped>",...} <value>

A histogram family renders ``<name>_bucket{le="..."}`` (cumulative, ending with ``le="+Inf"``),
``<name>_sum`` and ``<name>_count``. Every family is written in one block, HELP and TYPE first;
the text ends with a newline. Names are checked here, so a bad one fails where it is made.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "CONTENT_TYPE",
    "Sample",
    "Family",
    "HistogramData",
    "escape_help",
    "escape_label_value",
    "format_value",
    "render",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TYPES = ("counter", "gauge", "histogram")
METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    """A sample value as Prometheus writes it: integers without a fraction, ``+Inf``/``-Inf``/``NaN``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**63:
        return str(int(value))
    return repr(float(value))


@dataclass(frozen=True)
class Sample:
    """One series of a counter or gauge: its labels (in order) and its value."""

    labels: tuple[tuple[str, str], ...]
    value: float

    @classmethod
    def of(cls, value: float, **labels: str) -> Sample:
        return cls(tuple(labels.items()), value)


@dataclass(frozen=True)
class HistogramData:
    """One histogram series: per-bound cumulative counts (bounds ascending, without +Inf), the
    count of every observation (the +Inf bucket) and their sum."""

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]
    count: int
    sum: float
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Family:
    """A metric family: a name, its help, its type and its series."""

    name: str
    help: str
    type: str
    samples: Sequence[Sample] = ()
    histograms: Sequence[HistogramData] = field(default=())

    def __post_init__(self) -> None:
        if not METRIC_NAME.fullmatch(self.name):
            raise ValueError(f"invalid metric name {self.name!r}")
        if self.type not in TYPES:
            raise ValueError(f"invalid metric type {self.type!r}")
        for labels in [s.labels for s in self.samples] + [h.labels for h in self.histograms]:
            for name, _ in labels:
                if not LABEL_NAME.fullmatch(name) or name.startswith("__") or name == "le":
                    raise ValueError(f"invalid label name {name!r} in {self.name}")

    def lines(self) -> Iterable[str]:
        yield f"# HELP {self.name} {escape_help(self.help)}"
        yield f"# TYPE {self.name} {self.type}"
        for sample in self.samples:
            yield f"{self.name}{_labels(sample.labels)} {format_value(sample.value)}"
        for hist in self.histograms:
            for bound, count in zip(hist.bounds, hist.cumulative, strict=True):
                le = (("le", format_value(bound)),)
                yield f"{self.name}_bucket{_labels(hist.labels + le)} {count}"
            yield f"{self.name}_bucket{_labels(hist.labels + (('le', '+Inf'),))} {hist.count}"
            yield f"{self.name}_sum{_labels(hist.labels)} {format_value(hist.sum)}"
            yield f"{self.name}_count{_labels(hist.labels)} {hist.count}"


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{escape_label_value(value)}"' for name, value in labels) + "}"


def render(families: Iterable[Family]) -> str:
    """The exposition text of ``families`` (names must be unique)."""
    out: list[str] = []
    seen: set[str] = set()
    for family in families:
        if family.name in seen:
            raise ValueError(f"metric family {family.name} rendered twice")
        seen.add(family.name)
        out.extend(family.lines())
    return "\n".join(out) + "\n"
