import pytest

from abaco_registration.actor_fields import parse_actor_body
from abaco_shared.auth import Principal
from abaco_shared.enums import Role
from abaco_shared.errors import PermissionDenied, ValidationError

USER = Principal("alice", "dev", frozenset({Role.USER}))
PRIV = Principal("root", "dev", frozenset({Role.PRIVILEGED}))
QUEUES = ("default", "special")


def test_defaults_are_filled_in():
    values = parse_actor_body({"image": "abaco/echo:latest"}, USER, QUEUES)
    assert values["stateless"] is True and values["queue"] == "default" and values["hints"] == []
    assert values["default_environment"] == {} and values["description"] == ""


def test_camel_case_and_string_booleans_are_accepted():
    values = parse_actor_body(
        {"image": "abaco/echo", "defaultEnvironment": {"A": 1}, "stateless": "false", "useContainerUid": "1"},
        PRIV,
        QUEUES,
    )
    assert values["default_environment"] == {"A": "1"}
    assert values["stateless"] is False and values["use_container_uid"] is True


def test_ignored_fields_from_old_clients_are_dropped():
    values = parse_actor_body({"image": "abaco/echo", "status": "READY", "uid": "0", "owner": "mallory"}, USER, QUEUES)
    assert "status" not in values and "uid" not in values and "owner" not in values


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({}, "image"),
        ({"image": 3}, "image"),
        ({"image": "UPPER CASE"}, "image"),
        ({"image": "a", "bogus": 1}, "bogus"),
        ({"image": "a", "hints": ["ok", "{bad}"]}, "hints"),
        ({"image": "a", "log_ex": -1}, "log_ex"),
        ({"image": "a", "max_run_time": "soon"}, "max_run_time"),
        ({"image": "a", "default_environment": {"A=B": "x"}}, "default_environment"),
        ({"image": "a", "default_environment": {"A": {"nested": 1}}}, "default_environment"),
        ({"image": "a", "webhook": "http://[::1"}, "webhook"),
        ({"image": "a", "webhook": "https://host:port/x"}, "webhook"),
        ({"image": "a", "webhook": "http:///nohost"}, "webhook"),
        ({"image": "a", "webhook": "http://127.0.0.1/" + "x" * 2100}, "webhook"),
        ({"image": "a", "stateless": False, "min_workers": 2}, "min_workers"),
    ],
)
def test_bad_fields_name_the_field(body, fragment):
    with pytest.raises(ValidationError) as err:
        parse_actor_body(body, USER, QUEUES)
    assert fragment in str(err.value)


def test_min_workers_may_not_exceed_max_workers():
    with pytest.raises(ValidationError, match="min_workers: 5 is more than max_workers \\(2\\)"):
        parse_actor_body({"image": "a", "min_workers": 5, "max_workers": 2}, PRIV, QUEUES)
    assert parse_actor_body({"image": "a", "min_workers": 2, "max_workers": 2}, PRIV, QUEUES)["min_workers"] == 2


def test_a_good_webhook_is_kept_and_a_long_bad_image_is_not_echoed_whole():
    url = "https://[::1]:8443/hook?x=1"
    assert parse_actor_body({"image": "a", "webhook": url}, USER, QUEUES)["webhook"] == url
    with pytest.raises(ValidationError) as err:
        parse_actor_body({"image": "BAD " * 50_000}, USER, QUEUES)
    assert len(str(err.value)) < 200


def test_privileged_fields_need_the_role():
    for field, value in [("privileged", True), ("max_workers", 4), ("mem_limit", "1g"), ("queue", "special")]:
        with pytest.raises(PermissionDenied):
            parse_actor_body({"image": "a", field: value}, USER, QUEUES)
        assert parse_actor_body({"image": "a", field: value}, PRIV, QUEUES)[field] == value


def test_queue_must_be_served_and_stateful_actors_have_one_worker():
    with pytest.raises(ValidationError, match="queue"):
        parse_actor_body({"image": "a", "queue": "gpu"}, PRIV, QUEUES)
    with pytest.raises(ValidationError, match="stateful"):
        parse_actor_body({"image": "a", "stateless": False, "max_workers": 3}, PRIV, QUEUES)


def test_only_privileged_users_may_run_as_the_images_own_user():
    with pytest.raises(PermissionDenied, match="use_container_uid"):
        parse_actor_body({"image": "abaco/echo", "use_container_uid": True}, USER, QUEUES)


def test_log_ex_defaults_from_config_is_capped_and_a_put_keeps_the_stored_value():
    from abaco_registration.actor_fields import Limits

    limits = Limits(log_ex=3600, default_log_ex=600)
    assert parse_actor_body({"image": "a"}, USER, QUEUES, limits)["log_ex"] == 600
    assert parse_actor_body({"image": "a", "log_ex": 60}, USER, QUEUES, limits)["log_ex"] == 60
    with pytest.raises(ValidationError, match="log_ex: at most 3600 seconds"):
        parse_actor_body({"image": "a", "log_ex": 7200}, USER, QUEUES, limits)
    assert parse_actor_body({"image": "a"}, USER, QUEUES, Limits(log_ex=60, default_log_ex=600))["log_ex"] == 60
    assert parse_actor_body({"image": "a"}, USER, QUEUES, Limits())["log_ex"] is None
    stored = {"image": "a", "log_ex": None}
    assert parse_actor_body({"image": "b"}, USER, QUEUES, limits, current=stored)["log_ex"] is None


def test_only_privileged_users_may_update_an_actor_that_runs_privileged_or_as_its_images_user():
    for held in ("privileged", "use_container_uid"):
        current = parse_actor_body({"image": "abaco/echo", held: True}, PRIV, QUEUES)
        with pytest.raises(PermissionDenied, match=held):
            parse_actor_body({"image": "abaco/other"}, USER, QUEUES, current=current)
        with pytest.raises(PermissionDenied):
            parse_actor_body({"description": "only this"}, USER, QUEUES, current=current)
        assert parse_actor_body({"image": "abaco/other"}, PRIV, QUEUES, current=current)["image"] == "abaco/other"
    tuned = parse_actor_body({"image": "abaco/echo", "max_workers": 4}, PRIV, QUEUES)
    assert parse_actor_body({"image": "abaco/other"}, USER, QUEUES, current=tuned)["max_workers"] == 4
