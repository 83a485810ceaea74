"""The Prometheus text format: values, escaping, families and histograms, and the strict parser."""

import math

import pytest

from abaco_shared.exposition import (
    Family,
    HistogramData,
    Sample,
    escape_help,
    escape_label_value,
    format_value,
    render,
)
from abaco_shared.testing.prometheus import ParseError, parse, value_of


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (3.0, "3"), (-2, "-2"), (0.25, "0.25"), (1e-05, "1e-05"), (math.inf, "+Inf"), (-math.inf, "-Inf")],
)
def test_values_are_written_as_prometheus_writes_them(value, text):
    assert format_value(value) == text


def test_nan():
    assert format_value(math.nan) == "NaN"


def test_label_values_escape_backslash_quote_and_newline():
    assert escape_label_value('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    assert escape_help('a\\b"c\nd') == 'a\\\\b"c\\nd'  # quotes stay as they are in HELP


def test_a_gauge_renders_help_type_and_samples_in_order():
    family = Family("abaco_x", "Things.", "gauge", [Sample.of(2, tenant="dev", actor="A"), Sample.of(0.5)])

    assert render([family]) == (
        '# HELP abaco_x Things.\n# TYPE abaco_x gauge\nabaco_x{tenant="dev",actor="A"} 2\nabaco_x 0.5\n'
    )


def test_escaped_label_values_survive_a_round_trip():
    nasty = 'quote " backslash \\ newline \n end'
    text = render([Family("abaco_x", "help\nwith \\ lines", "gauge", [Sample.of(7, actor=nasty)])])

    families = parse(text)
    assert value_of(families, "abaco_x", actor=nasty) == 7
    assert families["abaco_x"].help == "help\nwith \\ lines"


def test_a_histogram_renders_cumulative_buckets_sum_and_count():
    hist = HistogramData(bounds=(0.1, 1.0), cumulative=(1, 3), count=4, sum=12.5)
    text = render([Family("abaco_h_seconds", "H.", "histogram", histograms=[hist])])

    assert text.splitlines()[2:] == [
        'abaco_h_seconds_bucket{le="0.1"} 1',
        'abaco_h_seconds_bucket{le="1"} 3',
        'abaco_h_seconds_bucket{le="+Inf"} 4',
        "abaco_h_seconds_sum 12.5",
        "abaco_h_seconds_count 4",
    ]
    assert parse(text)["abaco_h_seconds"].type == "histogram"


@pytest.mark.parametrize(
    "family",
    [
        lambda: Family("1abc", "x", "gauge"),
        lambda: Family("a-b", "x", "gauge"),
        lambda: Family("abc", "x", "summary"),
        lambda: Family("abc", "x", "gauge", [Sample.of(1, **{"le": "1"})]),
        lambda: Family("abc", "x", "gauge", [Sample(((("__name", "v"),)), 1)]),
        lambda: Family("abc", "x", "gauge", [Sample(((("a-b", "v"),)), 1)]),
    ],
)
def test_bad_names_and_types_fail_where_they_are_made(family):
    with pytest.raises(ValueError):
        family()


def test_a_family_is_rendered_once():
    with pytest.raises(ValueError, match="twice"):
        render([Family("abc", "x", "gauge"), Family("abc", "y", "gauge")])


# the strict parser refuses what is outside the format
GOOD = "# HELP a A.\n# TYPE a gauge\na 1\n"


@pytest.mark.parametrize(
    "text",
    [
        "# TYPE a gauge\na 1",  # no final newline
        '# TYPE a gauge\na{x="1"} one\n',  # a bad value
        "# TYPE a gauge\na{x='1'} 1\n",  # a bad quote
        '# TYPE a gauge\na{x="\\t"} 1\n',  # a bad escape
        '# TYPE a gauge\na{x="1",x="2"} 1\n',  # a label twice
        "# TYPE a gauge\na 1\na 2\n",  # a duplicate series
        "a 1\n# TYPE a gauge\n",  # TYPE after the samples
        "# TYPE a gauge\n# TYPE a gauge\na 1\n",  # TYPE twice
        '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x="1"} 2\n',  # a family in two blocks
        "# TYPE a gaug\na 1\n",  # an unknown type
        '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\nh_sum 0\n',  # not cumulative
        '# TYPE h histogram\nh_bucket{le="1"} 1\nh_count 1\nh_sum 0\n',  # no +Inf bucket
        '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_count 1\nh_sum 0\n',  # count differs
    ],
)
def test_the_parser_is_strict(text):
    with pytest.raises(ParseError):
        parse(text)


def test_the_parser_reads_good_text_and_comments():
    families = parse("# a comment\n" + GOOD + "\n")
    assert (families["a"].type, families["a"].help, value_of(families, "a")) == ("gauge", "A.", 1)
