"""Actor state records (``actors.get_state``/``set_state``/``check_state``) against mongomock."""

import pytest

from abaco_shared import actors
from abaco_shared.errors import PayloadTooLarge, ValidationError

pytestmark = pytest.mark.usefixtures("mongo")


def make(**values):
    return actors.create("dev", "alice", {"image": "abaco/echo:latest", **values})


def test_set_state_stores_the_value_and_updates_the_object():
    actor = make(stateless=False)

    assert actors.set_state(actor, {"n": [1, 2.5, "x", None, True]}) is True

    assert actor.state == {"n": [1, 2.5, "x", None, True]}
    assert actors.get_state(actors.get(actor.db_id)) == {"n": [1, 2.5, "x", None, True]}


@pytest.mark.parametrize("value", [None, False, 0, "", [], "s", 7])
def test_any_json_value_is_a_state(value):
    actor = make(stateless=False)

    actors.set_state(actor, value)

    assert actors.get(actor.db_id).state == value


def test_a_stateless_actor_has_no_state():
    actor = make()

    with pytest.raises(ValidationError, match="is stateless"):
        actors.get_state(actor)
    with pytest.raises(ValidationError, match="is stateless"):
        actors.set_state(actor, 1)
    assert actors.get(actor.db_id).state == {}


def test_a_new_actor_starts_with_an_empty_state():
    assert make(stateless=False).state == {}
    assert actors.get(make().db_id).state == {}


def test_a_null_state_reads_back_as_null_not_the_default():
    actor = make(stateless=False)
    actors.set_state(actor, None)

    assert actor.state is None and actors.get(actor.db_id).state is None


def test_a_state_too_big_for_the_environment_is_refused():
    actor = make(stateless=False)

    assert actors.set_state(actor, "é" * 50, max_bytes=100) is True
    with pytest.raises(PayloadTooLarge, match="101 bytes"):
        actors.set_state(actor, "é" * 50 + "x", max_bytes=100)
    with pytest.raises(PayloadTooLarge):
        actors.set_state(actor, {"a": "x" * 100}, max_bytes=100)  # rendered as its repr
    assert actor.state == "é" * 50


def test_set_state_of_a_deleted_actor_is_false():
    actor = make(stateless=False)
    actors.delete(actor.db_id)

    assert actors.set_state(actor, 1) is False


@pytest.mark.parametrize(
    "value",
    [
        {"a.b": 1},
        {"$where": 1},
        {"_cls": "Actor", "image": "x"},
        [{"ok": {"x\x00y": 1}}],
        {1: "non-string key"},
        {"f": float("nan")},
        {"i": 2**63},
        {"o": object()},
        b"bytes",
    ],
)
def test_check_state_refuses_what_mongodb_cannot_store(value):
    with pytest.raises(ValidationError, match="Invalid state"):
        actors.check_state(value)


def test_check_state_bounds_the_nesting():
    ok: object = 1
    for _ in range(actors.MAX_STATE_DEPTH):
        ok = [ok]
    actors.check_state(ok)

    with pytest.raises(ValidationError, match="nested"):
        actors.check_state([ok])


def test_key_with_a_dollar_inside_is_fine():
    actors.check_state({"price$": 1, "a-b c": {"-x": -(2**63)}})


@pytest.mark.parametrize(
    "values, new_revision",
    [({"token": True}, True), ({"token": False}, False), ({"description": "d"}, False)],
)
def test_turning_tokens_on_or_off_gives_a_new_revision(values, new_revision):
    actor = make()

    assert actors.apply_update(actor, values, force=False) is new_revision
    assert actor.revision == (2 if new_revision else 1)
