"""Inputs that once gave 500s: each is a clear 400 now."""

import pytest

from abaco_shared.envvars import MAX_VALUE, check_name, check_value
from abaco_shared.errors import ValidationError
from abaco_shared.http import MAX_JSON_DEPTH, parse_json, request_id
from abaco_shared.workflows.mailbox import IncomingMessage


def test_deep_json_is_a_400_not_a_recursion_error():
    with pytest.raises(ValidationError, match="nested too deeply"):
        parse_json("[" * 100_000 + "]" * 100_000, "The body")
    with pytest.raises(ValidationError, match="nested too deeply"):
        parse_json("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "The body")
    assert parse_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, "The body")
    assert parse_json('{"a": [{"b": {"c": 1}}]}', "The body") == {"a": [{"b": {"c": 1}}]}


def test_invalid_json_names_the_subject():
    with pytest.raises(ValidationError, match="The body is not valid JSON"):
        parse_json(b"{", "The body")
    with pytest.raises(ValidationError, match="not valid JSON"):
        parse_json(b"\xff\xfe", "The body")


@pytest.mark.parametrize("name", ["$where", "a.b", "", "1X", "a=b", "a\x00b", "x" * 300, 7, None])
def test_bad_variable_names(name):
    with pytest.raises(ValidationError, match="bad variable name"):
        check_name(name, "query parameter")


@pytest.mark.parametrize("name", ["X", "_abaco_x", "my-param", "A_1"])
def test_good_variable_names(name):
    assert check_name(name, "x") == name


def test_bad_values():
    with pytest.raises(ValidationError, match="NUL"):
        check_value("X", "a\x00b", "query parameter")
    with pytest.raises(ValidationError, match="over"):
        check_value("X", "x" * (MAX_VALUE + 1), "query parameter")


def test_a_message_with_a_bad_parameter_is_refused_before_anything_is_recorded():
    with pytest.raises(ValidationError, match="query parameter"):
        IncomingMessage("hi", "str", {"$ne": "x"})
    with pytest.raises(ValidationError, match="NUL"):
        IncomingMessage("hi", "str", {"X": "a\x00"})


@pytest.mark.parametrize("given", [None, "", "ÿþ", "a b", "x" * 200, "a\nb"])
def test_unsafe_request_ids_are_replaced(given):
    rid = request_id(given)
    assert rid != given and len(rid) == 32


def test_a_plain_request_id_is_echoed():
    assert request_id("req-42.a_b") == "req-42.a_b"
