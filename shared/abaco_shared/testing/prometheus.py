"""A strict parser of the Prometheus text exposition format 0.0.4, for tests.

It refuses what Prometheus's own parser refuses and a little more: a sample line outside the
grammar, a bad metric or label name, a bad escape, a sample before its family's TYPE, a family
split in two blocks or declared twice, a duplicate series, a missing final newline, and a
histogram whose buckets are not cumulative or do not end with ``le="+Inf"`` equal to ``_count``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

__all__ = ["ParsedFamily", "ParseError", "parse", "value_of"]

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
VALUE = r"[-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf|NaN)"
_QUOTED = r'"(?:[^"\\\n]|\\[\\"n])*"'
_SAMPLE = re.compile(rf"({NAME})(?:\{{((?:{LABEL}={_QUOTED})(?:,{LABEL}={_QUOTED})*,?)?\}})? ({VALUE})(?: -?[0-9]+)?")
_PAIR = re.compile(rf"({LABEL})=({_QUOTED})")
_HELP = re.compile(rf"# HELP ({NAME}) ?(.*)")
_TYPE = re.compile(rf"# TYPE ({NAME}) (counter|gauge|histogram|summary|untyped)")
_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}


class ParseError(ValueError):
    pass


Labels = tuple[tuple[str, str], ...]


@dataclass
class ParsedFamily:
    name: str
    type: str = "untyped"
    help: str = ""
    samples: list[tuple[str, Labels, float]] = field(default_factory=list)


def _unescape(quoted: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], quoted[1:-1])


def _value(text: str) -> float:
    return float(text.replace("Inf", "inf").replace("NaN", "nan"))


def _family_of(name: str, families: dict[str, ParsedFamily]) -> str:
    for family in families.values():
        if name == family.name or any(name == family.name + s for s in _SUFFIXES.get(family.type, ())):
            return family.name
    return name


def parse(text: str) -> dict[str, ParsedFamily]:
    """The families of an exposition, by name; ParseError on any violation."""
    if not text.endswith("\n"):
        raise ParseError("the exposition must end with a newline")
    families: dict[str, ParsedFamily] = {}
    closed: set[str] = set()
    declared: set[tuple[str, str]] = set()  # (family, "HELP" | "TYPE")
    series: set[tuple[str, Labels]] = set()
    current = ""
    for number, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {number}: {line!r}"
        if not line.strip():
            continue
        meta = _HELP.fullmatch(line) or _TYPE.fullmatch(line)
        match = None
        if line.startswith(("# HELP", "# TYPE")) and meta is None:
            raise ParseError(f"{where}: malformed HELP or TYPE")
        if line.startswith("#") and meta is None:
            continue  # a comment
        if meta is not None:
            name, kind = meta[1], line[2:6]
        else:
            match = _SAMPLE.fullmatch(line)
            if match is None:
                raise ParseError(f"{where}: not a sample line")
            name = _family_of(match[1], families)
        if name != current:  # a family's lines form one block
            if name in closed:
                raise ParseError(f"{where}: family {name} appears in two blocks")
            if current:
                closed.add(current)
            current = name
        family = families.setdefault(name, ParsedFamily(name))
        if meta is not None:
            if (name, kind) in declared or (kind == "TYPE" and family.samples):
                raise ParseError(f"{where}: {kind} twice, or after the family's samples")
            declared.add((name, kind))
            if kind == "TYPE":
                family.type = meta[2]
            else:
                family.help = re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], meta[2])
            continue
        assert match is not None
        labels = tuple((k, _unescape(v)) for k, v in _PAIR.findall(match[2] or ""))
        if len({k for k, _ in labels}) != len(labels):
            raise ParseError(f"{where}: a label appears twice")
        if (match[1], labels) in series:
            raise ParseError(f"{where}: duplicate series")
        series.add((match[1], labels))
        family.samples.append((match[1], labels, _value(match[3])))
    for family in families.values():
        if family.type == "histogram":
            _check_histogram(family)
    return families


def _check_histogram(family: ParsedFamily) -> None:
    groups: dict[Labels, list[tuple[float, float]]] = {}
    counts: dict[Labels, float] = {}
    for name, labels, value in family.samples:
        if name == family.name + "_bucket":
            le = dict(labels).get("le")
            if le is None:
                raise ParseError(f"{family.name}: a bucket without le")
            rest = tuple((k, v) for k, v in labels if k != "le")
            groups.setdefault(rest, []).append((_value(le), value))
        elif name == family.name + "_count":
            counts[labels] = value
        elif name != family.name + "_sum":
            raise ParseError(f"{family.name}: unexpected sample {name} in a histogram")
    for labels, buckets in groups.items():
        bounds = [b for b, _ in buckets]
        if bounds != sorted(bounds) or not math.isinf(bounds[-1]):
            raise ParseError(f'{family.name}{labels}: buckets must ascend and end with le="+Inf"')
        values = [v for _, v in buckets]
        if any(b < a for a, b in zip(values, values[1:], strict=False)):
            raise ParseError(f"{family.name}{labels}: bucket counts are not cumulative")
        if counts.get(labels) != values[-1]:
            raise ParseError(f"{family.name}{labels}: _count differs from the +Inf bucket")


def value_of(families: dict[str, ParsedFamily], name: str, **labels: str) -> float | None:
    """The value of the one sample called ``name`` whose labels include ``labels``, or None."""
    family = families.get(_family_of(name, families))
    if family is None:
        return None
    found = [v for n, ls, v in family.samples if n == name and labels.items() <= dict(ls).items()]
    if len(found) > 1:
        raise ParseError(f"{name}{labels} matches {len(found)} samples")
    return found[0] if found else None
